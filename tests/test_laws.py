"""The registry: every law is complete, evaluates where its paper says, and matches its closed forms."""

import numpy as np
import pandas as pd
import pytest

from workbench.data import PLANTED, planted
from workbench.fit import fit_law
from workbench.errors import InputError
from workbench.laws import LAWS, get_law, start_grid


@pytest.mark.parametrize("name", list(LAWS))
def test_law_is_complete(name):
    law = LAWS[name]
    assert law.inputs and law.params and law.source and law.doc
    assert law.objective in {"huber", "lsq", "divergence", "lsq_log1p"}
    assert len(set(law.param_names)) == len(law.param_names)
    for p in law.params:
        assert p.lower < p.upper, p.name
    assert name in PLANTED, "every registered law needs a planted case (tests recover it)"


@pytest.mark.parametrize("name", list(LAWS))
def test_law_broadcasts_over_starts(name):
    law = LAWS[name]
    case = PLANTED[name]
    xs = case.design(np.random.default_rng(0))
    y = law.predict(xs, case.params)
    assert y.shape == xs[0].shape and np.all(np.isfinite(y)) and np.all(y > 0)
    grid = start_grid(law, xs, y, law.param_names)
    assert grid.shape[1] == len(law.params) and grid.shape[0] >= 2
    two = {n: np.array([[case.params[n]], [case.params[n]]]) for n in law.param_names}
    assert law.fn(xs, **two).shape == (2, xs[0].size)


def test_chinchilla_grid_is_hoffmanns():
    law = get_law("chinchilla")
    xs = PLANTED["chinchilla"].design(np.random.default_rng(0))
    grid = start_grid(law, xs, np.ones_like(xs[0]), law.param_names)
    assert grid.shape == (4500, 5)
    assert set(np.unique(grid[:, 1])) == {0.0, 5.0, 10.0, 15.0, 20.0, 25.0}  # a = log A
    assert set(np.unique(grid[:, 3])) == {0.0, 0.5, 1.0, 1.5, 2.0}  # alpha
    assert set(np.unique(grid[:, 0])) == {-1.0, -0.5, 0.0, 0.5, 1.0}  # e = log E
    assert set(np.unique(grid[:, 2])) == {0.0, 5.0, 10.0, 15.0, 20.0, 25.0}  # b = log B
    assert set(np.unique(grid[:, 4])) == {0.0, 0.5, 1.0, 1.5, 2.0}  # beta


def test_rosenfeld_alpha_is_the_data_exponent_and_beta_the_models():
    # m != n and b != 1, so swapping the model and data terms changes the value (0.8835 instead of 0.6864)
    p = dict(alpha=0.66, b=2.0, beta=0.53, c_inf=0.0, eta=0.01, eps0=0.9)
    m, n = 1e6, 1e3
    eps_tilde = n ** -0.66 + 2.0 * m ** -0.53
    expected = 0.9 * eps_tilde / np.hypot(eps_tilde, 0.01)  # eps0 * |eps~ / (eps~ - i eta)|
    assert get_law("rosenfeld").predict((np.array([m]), np.array([n])), p)[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.686428, abs=1e-6)


def test_chinchilla_values():
    law = get_law("chinchilla")
    p = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    N, D = np.array([1e9]), np.array([2e10])
    expected = 1.69 + 406.4 / 1e9**0.34 + 410.7 / 2e10**0.28
    assert law.predict((N, D), p)[0] == pytest.approx(expected, rel=1e-12)


def test_analytic_gradients_match_finite_differences():
    for name in [n for n, law in LAWS.items() if law.grad is not None]:
        law = get_law(name)
        case = PLANTED[name]
        xs = case.design(np.random.default_rng(0))
        grads = law.grad(xs, **case.params)
        for g, pname in zip(grads, law.param_names):
            h = 1e-6 * abs(case.params[pname])
            up = dict(case.params, **{pname: case.params[pname] + h})
            fd = (law.predict(xs, up) - law.predict(xs, case.params)) / h
            np.testing.assert_allclose(np.broadcast_to(g, fd.shape), fd, rtol=1e-4, atol=1e-10)


def test_rosenfeld_envelope_limits():
    law = get_law("rosenfeld")
    p = dict(alpha=0.5, b=1.0, beta=0.5, c_inf=0.0, eta=0.01, eps0=0.9)
    tiny = law.predict((np.array([1.0]), np.array([1.0])), p)[0]  # ε̃ = 2 ≫ η: random guessing
    assert tiny == pytest.approx(0.9, rel=1e-4)
    big = law.predict((np.array([1e12]), np.array([1e12])), p)  # ε̃ ≪ η: power law ε0·ε̃/η
    assert big[0] == pytest.approx(0.9 * 2e-6 / 0.01, rel=1e-6)


def test_pruning_limits():
    law = get_law("pruning")
    p = dict(eps_np=0.05, eps_up=0.9, p=0.02, gamma=2.0)
    assert law.predict(np.array([1e6]), p)[0] == pytest.approx(0.05, rel=1e-6)  # dense plateau
    assert law.predict(np.array([1e-9]), p)[0] == pytest.approx(0.9, rel=1e-6)  # ε↑ at d → 0


def test_pruning_joint_invariant():
    law = get_law("pruning-joint")
    p = dict(eps_up=0.9, p=0.5, gamma=2.0, phi=0.5, psi=1.0)
    # equal m* = l^φ·w^ψ·d ⇒ equal error (same dense error)
    a = law.predict((np.array([4.0]), np.array([32.0]), np.array([0.25]), np.array([0.1])), p)
    b = law.predict((np.array([16.0]), np.array([16.0]), np.array([0.25]), np.array([0.1])), p)
    assert a[0] == pytest.approx(b[0], rel=1e-12)


def test_m4_solves_its_equation():
    law = get_law("m4")
    p = dict(eps_inf=0.3, eps0=1.0, alpha=0.5, beta=300.0, c=-0.4)
    x = np.logspace(4, 9, 11)
    eps = law.predict(x, p)
    lhs = (eps - 0.3) / (1.0 - eps) ** 0.5
    np.testing.assert_allclose(lhs, 300.0 * x**-0.4, rtol=1e-9)


def test_m4_at_alpha_zero_is_m2():
    """(ε0 − ε)^0 = 1, so α = 0 gives ε = ε∞ + β·x^c, above ε0 too (it was once capped at ε0)."""
    law = get_law("m4")
    x = np.array([10.0, 1e3, 1e5])
    p = dict(eps_inf=0.5, eps0=3.0, alpha=0.0, beta=20.0, c=-0.4)
    np.testing.assert_allclose(law.predict(x, p), 0.5 + 20.0 * x**-0.4, rtol=1e-12)  # 8.46 at x = 10
    grads = law.grad((x,), **p)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_coverage_is_a_probability():
    law = get_law("coverage")
    cov = law.predict(np.array([1.0, 10.0, 1e4]), dict(a=-2.0, b=-0.4))
    assert np.all((cov > 0) & (cov < 1)) and np.all(np.diff(cov) > 0)


def test_a_coverage_fit_refuses_values_above_one():
    # before: y from 1.5 down to 0.99 "fitted" with exit 0, its parameters on their bounds
    from workbench.fit import fit_law

    k = np.array([1.0, 2.0, 4.0, 8.0])
    with pytest.raises(InputError, match=r"column 'y' must be in \(0, 1\] for law 'coverage' .*; got 1.5 at row 0"):
        fit_law("coverage", k, np.array([1.5, 1.2, 1.0, 0.99]))
    assert fit_law("coverage", k, np.exp(-1.0 * k ** -0.5)).params["b"] == pytest.approx(-0.5, rel=1e-3)


def test_unknown_law_and_param():
    with pytest.raises(InputError, match="unknown law 'nope'"):
        get_law("nope")
    with pytest.raises(InputError, match="has no parameter 'zeta'"):
        get_law("chinchilla").param("zeta")


def test_a_list_of_k_rows_of_k_numbers_is_refused_not_read_as_columns():
    # [[N1, D1], [N2, D2]] (two models as rows) was read as the columns N = (N1, D1), D = (N2, D2): a wrong loss
    # unsaid (2.98 for the first model instead of 2.51); three such rows were read as rows
    law, p = get_law("chinchilla"), {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    with pytest.raises(InputError, match=r"list of 2 lists of 2 numbers: rows or columns\? pass a tuple of 2 columns"):
        law.predict([[1e9, 2e10], [2e9, 4e10]], p)
    rows = law.predict(np.array([[1e9, 2e10], [2e9, 4e10]]), p)
    assert law.predict(([1e9, 2e9], [2e10, 4e10]), p) == pytest.approx(rows)  # a tuple is columns
    assert law.predict([np.array([1e9, 2e9]), np.array([2e10, 4e10])], p) == pytest.approx(rows)  # arrays too
    assert law.predict([[1e9, 2e10], [2e9, 4e10], [4e9, 8e10]], p)[:2] == pytest.approx(rows)  # 3 rows: rows


def test_predict_names_a_parameter_that_is_not_a_number():
    # before: compute_optimal(params={'E': 'x', ...}) and predict raised a bare "could not convert string to float"
    from workbench import allocate
    p = {**allocate.published_fit("epoch2024"), "E": "x"}
    with pytest.raises(InputError, match="parameter E of law 'chinchilla' must be a number; got 'x'"):
        get_law("chinchilla").predict(([1e9], [1e10]), p)
    with pytest.raises(InputError, match="parameter E of law 'chinchilla' must be a number"):
        allocate.compute_optimal("chinchilla", p, 1e21)


def test_predict_at_a_scalar_says_how_to_wrap_it():
    # before: "got an array of shape ()", which does not say that one point needs a list
    with pytest.raises(InputError, match=r"got the scalar 3.0: wrap one point in a list, e.g. \[3.0\]"):
        get_law("power").predict(3.0, {"a": 1.0, "b": 1.0, "c": 0.0})
    assert get_law("power").predict([3.0], {"a": 1.0, "b": 1.0, "c": 0.0}) == pytest.approx([1 / 3])


def test_a_dataframe_x_is_read_by_column_name():
    df = planted("chinchilla", seed=0)
    right = fit_law("chinchilla", (df["N"], df["D"]), df["y"])
    swapped = fit_law("chinchilla", df[["D", "N"]], df["y"])  # was fitted as N=D, D=N: alpha and beta swapped
    for name in right.params:
        assert swapped.params[name] == pytest.approx(right.params[name], rel=1e-9)
    grid = pd.DataFrame({"D": [1e10, 1e11], "N": [1e8, 1e9]})
    np.testing.assert_allclose(right.predict(grid), right.predict((grid["N"], grid["D"])), rtol=1e-12)
    unnamed = pd.DataFrame({"params": df["N"], "tokens": df["D"]})  # no input's name: by position
    np.testing.assert_allclose(right.predict(unnamed), right.predict((df["N"], df["D"])), rtol=1e-12)
    in_place = pd.DataFrame({"N": df["N"], "tokens": df["D"]})  # N where N goes: by position
    np.testing.assert_allclose(right.predict(in_place), right.predict((df["N"], df["D"])), rtol=1e-12)
    with pytest.raises(InputError, match=r"N named after an input but not in its place"):
        right.predict(pd.DataFrame({"tokens": [1e10], "N": [1e8]}))
    with pytest.raises(InputError, match=r"takes 2 input\(s\) \(N, D\); got a DataFrame with 3 column"):
        fit_law("chinchilla", df[["N", "D", "y"]], df["y"])
    # a sweep table's (params, n) for rosenfeld's inputs (m, n), as a notebook would pass it
    sweep = pd.DataFrame({"params": [100.0, 1000.0], "n": [256.0, 4096.0]})
    p = {"eps0": 0.9, "alpha": 0.5, "beta": 0.7, "b": 3.0, "c_inf": 0.0, "eta": 0.1}
    rosenfeld = get_law("rosenfeld")
    p = {k: p[k] for k in rosenfeld.param_names}
    np.testing.assert_allclose(rosenfeld.predict(sweep, p), rosenfeld.predict((sweep["params"], sweep["n"]), p))


def test_power_law_on_tiny_losses_recovers_the_planted_curve():
    # the scale start log(ptp(y) + 1e-12) put every start 10+ orders above these losses: b ended on its bound 10
    x = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6])
    for scale in (1e-20, 1e-40):
        fit = fit_law("power", x, scale * (5 * x ** -0.3 + 0.2))
        assert fit.params["b"] == pytest.approx(0.3, rel=1e-6)
        assert fit.params["a"] / scale == pytest.approx(5.0, rel=1e-5)
        assert fit.params["c"] / scale == pytest.approx(0.2, rel=1e-5)


def test_law_of_the_wrong_type_is_named():
    with pytest.raises(InputError, match=r"law must be the name of a registered law .*got \['power'\]"):
        get_law(["power"])


def test_predict_refuses_a_parameter_name_the_law_does_not_have():
    # before: a mistyped name beside the right ones was ignored ({"alhpa": 2} predicted with no word)
    law, p = get_law("power"), {"a": 1.0, "b": 1.0, "c": 0.0}
    with pytest.raises(InputError, match=r"law 'power' has no parameter\(s\) 'alhpa'; its parameters are a, b, c"):
        law.predict([1.0, 2.0], {**p, "alhpa": 2.0})
    assert law.predict([1.0, 2.0], p) == pytest.approx([1.0, 0.5])
    draws = {n: np.full((3, 1), v) for n, v in p.items()}  # bootstrap draws: (B, 1) against n points
    assert law.predict([1.0, 2.0], draws).shape == (3, 2)
    fitted = fit_law("power", [1.0, 2.0, 4.0, 8.0, 16.0], [1.5, 0.9, 0.6, 0.45, 0.38], fix={"c": 0.3})
    assert fitted.predict([1.0]).shape == (1,)  # its params (fixed ones included) are the law's names


def test_boolean_complex_and_text_inputs_are_refused_not_converted():
    # before: True was read as x = 1.0, 2+1j as 2.0 (a ComplexWarning only), '4' as 4.0
    law, p = get_law("power"), {"a": 1.0, "b": 1.0, "c": 0.0}
    with pytest.raises(InputError, match=r"x for law 'power' must hold real numbers; got the boolean True .*index 0"):
        law.predict([True, 2.0], p)
    with pytest.raises(InputError, match=r"got the boolean False \(it would be read as 1.0 or 0.0\)"):
        law.predict(np.array([False, True]), p)
    with pytest.raises(InputError, match=r"got the complex number \(2\+1j\) \(its imaginary part would be dropped"):
        law.predict(np.array([2 + 1j, 1.0]), p)
    with pytest.raises(InputError, match=r"got the text '4'"):
        law.predict([1.0, "4"], p)
    chin = get_law("chinchilla")
    cp = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    with pytest.raises(InputError, match=r"input 'D' of law 'chinchilla' must hold real numbers; got the boolean"):
        chin.predict(([1e9, 2e9], np.array([True, True])), cp)
    with pytest.raises(InputError, match=r"column 'N' must hold real numbers; got the boolean True"):
        chin.predict(pd.DataFrame({"N": [True], "D": [1e10]}), cp)
    assert law.predict(np.array([1, 2]), p) == pytest.approx([1.0, 0.5])  # integers are numbers


def test_a_scalar_input_is_broadcast_against_the_other_columns():
    # before: predict((N, 1e10)) failed inside numpy ("inhomogeneous shape after 1 dimensions")
    law = get_law("chinchilla")
    p = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    N = np.array([1e8, 1e9, 1e10])
    expected = law.predict((N, np.full(3, 1e10)), p)
    np.testing.assert_array_equal(law.predict((N, 1e10), p), expected)
    np.testing.assert_array_equal(law.predict([N, np.float64(1e10)], p), expected)
    np.testing.assert_array_equal(law.predict((1e9, N), p), law.predict((np.full(3, 1e9), N), p))
    joint = get_law("pruning-joint")  # two scalars among four inputs
    jp = {"eps_up": 0.9, "p": 1e-3, "gamma": 2.0, "phi": 0.5, "psi": 1.0}
    dens = np.array([1.0, 0.1, 0.01])
    np.testing.assert_array_equal(joint.predict((2, 16, dens, np.array([0.1, 0.1, 0.1])), jp),
                                  joint.predict(([2.0] * 3, [16.0] * 3, dens, [0.1] * 3), jp))
    with pytest.raises(InputError, match=r"inputs of law 'chinchilla' must have equal lengths; got \[3, 2\]"):
        law.predict((N, [1e10, 2e10]), p)  # two arrays of different lengths are still refused
    with pytest.raises(InputError, match=r"got an array of shape \(2,\)"):
        law.predict((1e9, 1e10), p)  # only scalars: not broadcast (one point is ([N], [D]))


def test_the_readmes_law_table_names_each_laws_inputs_and_parameters_in_order():
    """The README's registry table is what a user reads to write ``--x`` and ``--fix``: it must match the code."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The law registry"):].split("\n\n")[1].splitlines()[2:]
    seen = set()
    for row in table:
        names, _, io = [c.strip() for c in row.strip("|").split(" | ")][:3]
        inputs, params = io.split(" → ")
        base = params.split(" (")[0].split(", ")
        for k, name in enumerate(names.split(", ")):
            extra = [] if k == 0 else params.split(": + ")[1].rstrip(")").split(", ")
            law = get_law(name)
            assert inputs.split(", ") == list(law.inputs), name
            assert base + extra == [p.name for p in law.params], name
            seen.add(name)
    assert seen == set(LAWS)
