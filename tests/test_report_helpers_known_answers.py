"""Known-answer tests for what no other test pinned down in the fitting objectives and fit metrics, the planted data
and the cache folder, TeX-to-MathML, report parameters and notebook selection, the notebooks' checks, the plots'
defaults and HTML bundle, and the test-split limits: session 29's mutation review (92 hand-made changes, 65 let
through by the rest of the suite). Every expected value is derived by hand in the comment beside it."""

from __future__ import annotations

import math
import warnings

import nbformat
import numpy as np
import plotly.graph_objects as go
import pytest

from workbench import plots, report_params
from workbench.data import PLANTED, planted
from workbench.errors import InputError
from workbench.notebook_checks import (check_real_benchmarks, check_rl_cost_tuning, check_test_time_compute,
                                       check_variance_limited)
from workbench.objectives import fit_metrics, get_objective, rho
from workbench.plots import PLOTLY_MIME, SliderView
from workbench.report_math import markdown_math_to_mathml, tex_to_mathml


# --- objectives ------------------------------------------------------------------------------------------------

def test_each_objectives_residual_and_its_derivative_at_a_hand_point():
    yhat, y = np.array([3.0]), np.array([2.0])
    lsq, div, l1p = get_objective("lsq"), get_objective("divergence"), get_objective("lsq_log1p")
    # lsq: r = log 3 - log 2, dr/dŷ = 1/ŷ = 1/3
    assert lsq.residual(yhat, y)[0] == pytest.approx(math.log(1.5), rel=1e-12)
    assert lsq.dresidual(yhat, y)[0] == pytest.approx(1 / 3, rel=1e-12)
    # divergence: r = ŷ/y - 1 = 0.5, dr/dŷ = 1/y = 0.5 (not 1/ŷ)
    assert div.residual(yhat, y)[0] == pytest.approx(0.5, rel=1e-12)
    assert np.broadcast_to(div.dresidual(yhat, y), (1,))[0] == pytest.approx(0.5, rel=1e-12)
    # lsq_log1p: r = log(1+3) - log(1+2) = log(4/3), dr/dŷ = 1/(1+ŷ) = 1/4 (log ŷ - log y would give log 1.5, 1/3)
    assert l1p.residual(yhat, y)[0] == pytest.approx(math.log(4 / 3), rel=1e-12)
    assert l1p.dresidual(yhat, y)[0] == pytest.approx(0.25, rel=1e-12)


def test_least_squares_rho_is_half_the_square():
    # the module's docstring: ρ(r) = ½r² when not robust: r = 2 -> 2, r = -0.5 -> 0.125
    np.testing.assert_allclose(rho(np.array([2.0, -0.5]), False, 1e-3), [2.0, 0.125], rtol=1e-12)


def test_fit_metrics_of_a_hand_made_fit():
    # y = [1, 2, 4], ŷ = [2, 1, 4]: δ = (ŷ - y)/y = [1, -0.5, 0]; mean 1/6; population std sqrt(5/12 - 1/36) =
    # sqrt(7/18); mean |δ| = 0.5; log errors [ln 2, -ln 2, 0]: RMSE = ln 2 · sqrt(2/3)
    m = fit_metrics(np.array([1.0, 2.0, 4.0]), np.array([2.0, 1.0, 4.0]))
    assert m["mean_rel_divergence"] == pytest.approx(1 / 6, rel=1e-12)
    assert m["std_rel_divergence"] == pytest.approx(math.sqrt(7 / 18), rel=1e-12)
    assert m["mean_abs_rel_divergence"] == pytest.approx(0.5, rel=1e-12)
    assert m["rmse_log"] == pytest.approx(math.log(2) * math.sqrt(2 / 3), rel=1e-12)


def test_std_of_divergences_whose_squares_overflow_is_finite():
    # δ = [2e155, 0]: δ² = 4e310 overflows a float, but the spread is 1e155 (half the gap of two points)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = fit_metrics(np.array([1.0, 1.0]), np.array([1.0 + 2e155, 1.0]))
    assert m["std_rel_divergence"] == pytest.approx(1e155, rel=1e-9)


# --- planted data ----------------------------------------------------------------------------------------------

def test_planted_noise_is_multiplicative_log_normal():
    # y = y_true · exp(noise · z), z ~ N(0, 1): log(y / y_true) has mean 0 and std = noise, and y > 0 always
    # (1 + noise · z would go negative at z < -2 for noise 0.5). 20000 draws: std of the sample std ≈ 0.5/200.
    df = planted("power", noise=0.5, seed=3, x=(np.full(20000, 10.0),))
    assert (df["y"] > 0).all()
    log_ratio = np.log(df["y"] / df["y_true"])
    assert abs(log_ratio.mean()) < 0.02 and log_ratio.std() == pytest.approx(0.5, rel=0.03)


def test_planted_designs_are_as_documented():
    # chinchilla: log-uniform model sizes 1e7..1e11 and data sizes 1e8..1e12 (240 draws span nearly all of it)
    n, d = PLANTED["chinchilla"].design(np.random.default_rng(0))
    assert len(n) == 240 and 7 <= np.log10(n).min() < 7.2 and 10.8 < np.log10(n).max() <= 11
    assert 8 <= np.log10(d).min() < 8.2 and 11.8 < np.log10(d).max() <= 12
    # rosenfeld: every pair of 7 log-spaced m in 1e4..1e7 and 7 log-spaced n in 1e3..1e5
    m, n = PLANTED["rosenfeld"].design(None)
    pairs = {(round(math.log10(a), 9), round(math.log10(b), 9)) for a, b in zip(m, n)}
    assert len(m) == 49 and pairs == {(round(4 + 0.5 * i, 9), round(3 + j / 3, 9)) for i in range(7) for j in range(7)}
    # pruning-joint: 3 depths x 4 widths x densities 0.8^0, 0.8^2, ..., 0.8^30 (16), each network's dense error
    # falling as it grows wider or deeper
    depth, width, dens, eps_np = PLANTED["pruning-joint"].design(None)
    assert len(depth) == 3 * 4 * 16
    np.testing.assert_allclose(np.unique(dens), np.sort(0.8 ** np.arange(0, 31, 2)), rtol=1e-12)
    e = {(a, b): c for a, b, c in zip(depth, width, eps_np)}
    assert e[(2.0, 16.0)] > e[(2.0, 128.0)] and e[(2.0, 16.0)] > e[(8.0, 16.0)]
    # coverage: k are distinct whole numbers from 1 to 1000
    (k,) = PLANTED["coverage"].design(None)
    assert len(set(k)) == len(k) and k.min() == 1 and k.max() == 1000 and np.all(k == np.round(k))


def test_cache_dir_fallbacks(tmp_path, monkeypatch):
    import workbench.data as data

    # an empty $WORKBENCH_CACHE is unset: the checkout's data/cache, not the working directory
    monkeypatch.setenv("WORKBENCH_CACHE", "")
    assert data.cache_dir() == data.DATA_DIR / "cache"
    # installed (no data/ beside the package), no $XDG_CACHE_HOME: ~/.cache/scaling-workbench
    monkeypatch.delenv("WORKBENCH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "site-packages" / "data")
    assert data.cache_dir() == tmp_path / ".cache" / "scaling-workbench"


# --- report_math -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "run ``a `$x$` b`` here",  # a double-backtick code span holding a backtick: all of it is code
    "a $$x$ b",  # an unclosed display opener: its second $ opens no inline math
    "prices $5/$10 a month",  # a closing $ followed by a digit is a price
    "costs $ 5 or x$",  # an opening $ followed by a space opens nothing
    "pay $5 and $ more",  # a closing $ preceded by a space closes nothing
    "a $x\ny$ b",  # inline math does not span lines
])
def test_text_that_is_not_math_stays_as_written(text):
    assert tex_to_mathml(text) == text


def test_display_math_over_several_lines_becomes_one_block():
    out = tex_to_mathml("before\n$$\nx^2\n$$\nafter")
    assert out.count("<math") == 1 and 'display="block"' in out and "$" not in out


def test_only_markdown_cells_are_converted():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("a $x$"),
                                         nbformat.v4.new_code_cell("s = '$x$'")])
    markdown_math_to_mathml(nb)
    assert "<math" in nb.cells[0].source and nb.cells[1].source == "s = '$x$'"


# --- report_params ---------------------------------------------------------------------------------------------

def test_coerce_bool_words_whitespace_and_passthrough():
    for text, want in [("yes", True), (" YES ", True), ("no", False), ("0", False), ("1", True)]:
        assert report_params.coerce("flag", text, "bool") is want
    with pytest.raises(InputError, match=r"^parameter 'flag' must be of type bool; got 'maybe'$"):
        report_params.coerce("flag", "maybe", "bool")
    assert report_params.coerce("xs", " [1, 2] ", "list") == [1, 2]  # surrounding spaces (a shell's quoting)
    assert report_params.coerce("name", " m4 ", "str") == " m4 "  # a str is taken as given
    assert report_params.coerce("v", "hello", "Any") == "hello"  # an Any parameter keeps an unreadable string
    assert report_params.coerce("n", 3, "int") == 3 and report_params.coerce("xs", [1], "list") == [1]  # not str


def test_coerce_refuses_the_wrong_container_and_names_only_containers_parts():
    for kind, text in [("tuple", "[1, 2]"), ("set", "[1, 2]")]:
        with pytest.raises(InputError, match=f"'t' must be of type {kind}"):
            report_params.coerce("t", text, kind)
    # an int parameter given a name: the type message, not "x is not a Python literal"
    with pytest.raises(InputError, match=r"^parameter 'n' must be of type int; got 'abc'$"):
        report_params.coerce("n", "abc", "int")
    # a unary + is part of a literal: the part named is the nested name, not "+"
    with pytest.raises(InputError, match=r"could not be read as a list: nan is not a Python literal"):
        report_params.coerce("xs", "[+1, [nan]]", "list")


def _nb(path, params_src, smoke=None):
    from test_report import _write_nb  # the report tests' notebook writer (parameters cell, kernelspec, smoke)

    return _write_nb(path, params_src, ["print(1)"], smoke=smoke)


def test_select_and_discover_in_a_folder(tmp_path):
    a = _nb(tmp_path / "01_alpha.ipynb", "n: int = 1")
    b = _nb(tmp_path / "02_beta.ipynb", "n: int = 1")
    _nb(tmp_path / "01_alpha.executed.ipynb", "n: int = 1")  # a run's copy, not a notebook of the report
    assert report_params.discover(tmp_path) == [a, b]
    assert report_params.select(["01_alpha.ipynb"], tmp_path) == [a]  # the file name
    assert report_params.select(["01", "alpha"], tmp_path) == [a]  # one notebook named twice, listed once
    _nb(tmp_path / "01_gamma.ipynb", "n: int = 1")
    with pytest.raises(InputError, match="got '01'"):  # two notebooks start 01: ambiguous
        report_params.select(["01"], tmp_path)


def test_resolve_parameters_smoke_overrides_and_interactive(tmp_path):
    path = _nb(tmp_path / "01_a.ipynb", "interactive: bool = True\nn: int = 5", smoke={"n": 2})
    assert report_params.resolve_parameters([path], {"interactive": "false"}, smoke=True) == {
        path: {"n": 2, "interactive": False}}
    assert report_params.resolve_parameters([path], {"n": "7"}, smoke=True)[path] == {"n": 7, "interactive": False}
    bad = _nb(tmp_path / "02_b.ipynb", "n: int = 5", smoke={"m": 1})
    with pytest.raises(InputError, match=r"metadata.workbench.smoke of 02_b.ipynb must name parameters .*\['m'\]"):
        report_params.resolve_parameters([bad], {}, smoke=True)


# --- notebook_checks -------------------------------------------------------------------------------------------

def test_test_time_compute_refuses_an_infinite_ratio():
    with pytest.raises(InputError, match=r"^ratios must be finite numbers >= 0 .*; got inf in \[0.0, inf\]$"):
        check_test_time_compute(train_steps=300, max_k=16, ratios=[0.0, float("inf")])


RL = dict(train_steps=300, agent_steps=3000, n_budgets=2, amc_width=32, amc_depth=3, amc_train_steps=300,
          amc_episodes=256, amc_budgets=[0.1, 0.2], amc_finetune_steps=100)


def test_rl_cost_tuning_budget_fractions_are_in_0_1_inclusive_of_1():
    check_rl_cost_tuning(**{**RL, "amc_budgets": [0.5, 1.0]})  # the dense model's own FLOPs: allowed
    with pytest.raises(InputError, match=r"^amc_budgets must be fractions in \(0, 1\] .*; got 0.0 in \[0.0, 0.5\]$"):
        check_rl_cost_tuning(**{**RL, "amc_budgets": [0.0, 0.5]})


VL = dict(vl_linear=True, vl_widths=[], vl_sizes=[21, 42, 84, 168], vl_ratio=1.0, vl_teachers=1, vl_seeds=1,
          vl_steps=10, vl_n=64, vl_width_widths=[8, 16, 32, 64], vl_width_seeds=1, vl_interval=False)


def test_variance_limited_counts_sizes_at_the_ratio_and_distinct_sizes_only():
    # the linear student on teacher regression has 21 parameters (see test_notebook_checks: "2 × 21"); at ratio 1
    # n = 21 is exactly n >= ratio × parameters, so all four sizes count and the power law's 3 constants + 1 fit
    check_variance_limited(**VL)
    with pytest.raises(InputError, match=r"^vl_sizes must hold >= 4 sizes .*; got 1 in \[512, 512, 512, 512\]$"):
        check_variance_limited(**{**VL, "vl_sizes": [512, 512, 512, 512]})  # one size, four times


def test_real_benchmarks_refuses_a_repeated_digits_model():
    kw = dict(references=["mlp"], mnist_models=["mlp"], digits_models=["mlp", "mlp"], seeds=1, scaling_seeds=1,
              steps=10, mnist_sizes=[250, 500, 1000, 2000], digits_sizes=[100, 200, 400, 800], laws=["power"],
              interval=False)
    with pytest.raises(InputError, match=r"^digits_models must not repeat a value; got 'mlp' twice"):
        check_real_benchmarks(**kw)


def test_a_check_names_the_first_bad_value():
    with pytest.raises(InputError, match=r"got -1.0 in \[-1.0, -2.0\]$"):
        check_test_time_compute(train_steps=300, max_k=16, ratios=[-1.0, -2.0])
    kw = dict(references=["vgg", "resnet"], mnist_models=["mlp"], digits_models=[], seeds=1, scaling_seeds=1,
              steps=10, mnist_sizes=[250, 500, 1000, 2000], digits_sizes=[], laws=["power"], interval=False)
    with pytest.raises(InputError, match=r"got 'vgg' in \['vgg', 'resnet'\]$"):
        check_real_benchmarks(**kw)


# --- plots -----------------------------------------------------------------------------------------------------

def test_log_axes_defaults_to_a_log_x_with_power_labels():
    fig = plots.log_axes(go.Figure())
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.exponentformat == "power"
    assert fig.layout.yaxis.type is None  # y left linear unless asked
    both = plots.log_axes(go.Figure(), x=False, y=True)
    assert both.layout.yaxis.type == "log" and both.layout.xaxis.type is None


def test_mimebundle_config_is_responsive_in_both_renderings_and_480_px_high():
    bundle = plots.mimebundle(go.Figure(go.Scatter(y=[1, 2])), include_plotlyjs=False, config={"displaylogo": False})
    assert bundle[PLOTLY_MIME]["config"] == {"responsive": True, "displaylogo": False}  # JupyterLab reads it here
    assert '"responsive": true' in bundle["text/html"] and '"displaylogo": false' in bundle["text/html"]
    assert "height:480px" in bundle["text/html"]  # a fixed height: "100%" of an output div is no height


def test_sci_drops_leading_zeros_of_exponents():
    # f"{1e5:.3g}" = "1e+05" -> "1e5"; f"{1.5e-5:.3g}" = "1.5e-05" -> "1.5e-5"
    assert plots.sci(1e5) == "1e5" and plots.sci(1.5e-5) == "1.5e-5"


def test_json_safe_nulls_inf_and_2d_arrays():
    assert plots._json_safe([1.0, math.inf, -math.inf, math.nan]) == [1.0, None, None, None]
    assert plots._json_safe(np.array([[1.0, math.nan]])) == [[1.0, None]]


def _two_controls(default):
    return SliderView(controls={"form": ["a", "b"], "k": [1, 2, 3]},
                      traces=lambda form, k: [go.Scatter(x=[0], y=[k * (2 if form == "b" else 1)])],
                      title=lambda form, k: f"{form} {k}", default=default)


def test_static_figure_with_two_controls_starts_at_the_defaults():
    fig = _two_controls({"form": "b", "k": 3}).figure()
    # combos in order (a,1) (a,2) (a,3) (b,1) (b,2) (b,3): the default (b, 3) is trace 5
    assert [t.visible for t in fig.data] == [False] * 5 + [True]
    assert fig.layout.title.text == "b 3" and fig.layout.updatemenus[0].active == 1
    assert fig.layout.sliders[0].active == 2 and fig.layout.sliders[0].currentvalue.prefix == "k: "
    # each dropdown entry keeps the slider's value (k = 3) and shows that block
    for i_form, button in enumerate(fig.layout.updatemenus[0].buttons):
        vis, layout = button.args
        assert [j for j, v in enumerate(vis["visible"]) if v] == [3 * i_form + 2]
        assert layout["sliders"][0]["active"] == 2 and layout["title.text"] == f"{'ab'[i_form]} 3"


def test_widget_starts_at_the_defaults():
    fw, sliders = _two_controls({"form": "b", "k": 3}).widget_parts()
    assert sliders["form"].value == 1 and sliders["k"].value == 2
    assert list(fw.data[0].y) == [6] and fw.layout.title.text == "b 3"


# --- limits ----------------------------------------------------------------------------------------------------

def test_max_test_rows_leaves_room_for_the_default_pool_and_validation_split():
    from workbench.limits import max_test_rows

    assert max_test_rows("digits")[0] == 1797 - 1197 - 200  # 400: every digit there is, less pool and val
    assert max_test_rows("mnist1d")[0] == 2 ** 20 - 8000 - 1000
    assert max_test_rows("teacher-regression")[0] == 2 ** 24


@pytest.mark.parametrize("check, kw, message", [
    (check_variance_limited, {**VL, "vl_teachers": True}, "vl_teachers must be an integer >= 1; got True"),
    (check_variance_limited, {**VL, "vl_sizes": [21, 42, 84, True]}, "vl_sizes must be training sizes"),
    (check_test_time_compute, dict(train_steps=300, max_k=16, ratios=[0.0, True]), "ratios must be finite numbers"),
])
def test_a_bool_is_no_count_and_no_number_in_a_notebooks_parameters(check, kw, message):
    """helper-89: True passed as a count of 1 (an int subclass), where planted() and the CLI refuse it."""
    with pytest.raises(InputError, match=message):
        check(**kw)
