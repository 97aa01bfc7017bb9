"""workbench.real_benchmarks: Greydanus's MNIST-1D models as students, the reference table, data exponents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import real_benchmarks as rb
from workbench.errors import InputError
from workbench.errorsources import run_sweeps
from workbench.students import StudentSpec, count_params


def test_reference_models_have_the_published_parameter_counts():
    """Greydanus's models on 40-sample signals and 10 classes: a logistic regression 40·10 + 10 = 410, the MLP
    40-100-100-10 15,210, the CNN 5,210 and the GRU 5,134 parameters (RESULTS_sweep §2)."""
    counts = {name: count_params(StudentSpec(r.family, 40, 10, r.width, r.depth)) for name, r in rb.REFERENCES.items()}
    assert counts == {"logistic": 410, "mlp": 15210, "cnn": 5210, "gru": 5134}


def test_reference_sweeps_use_the_papers_split_and_recipe():
    cfgs = rb.reference_sweeps(["cnn", "gru"], seeds=2)
    cnn = cfgs["cnn"]
    assert (cnn.family, cnn.widths, cnn.depths, cnn.sizes, cnn.seeds) == ("cnn", (25,), (3,), (4000,), (0, 1))
    assert (cnn.steps, cnn.batch_size, cnn.lr, cnn.early_stopping) == (6000, 100, 1e-2, False)
    task = cnn.task
    assert (task.name, task.pool_size, task.val_size, task.test_size) == ("mnist1d", 4000, 500, 1000)
    assert cfgs["gru"].family == "gru" and cfgs["gru"].task == task


@pytest.mark.parametrize("names, message", [([], "at least one"), (["vgg"], "got 'vgg'"), (["mlp", "mlp"], "once")])
def test_reference_names_are_checked(names, message):
    with pytest.raises(InputError, match=message):
        rb.reference_sweeps(names)


def test_a_gru_on_digits_is_refused_before_training():
    from workbench.tasks import task_config

    with pytest.raises(InputError, match="sequence"):
        rb.benchmark_sweeps(["gru"], task_config("digits"), (100, 200))


def test_seed_counts_may_be_numpy_integers_but_not_fractions_or_bools():
    import numpy as np

    from workbench.tasks import task_config

    task = task_config("digits")
    assert rb.benchmark_sweeps(["mlp"], task, (100,), np.int64(2))["mlp"].seeds == (0, 1)  # helper-69: refused
    for bad in (2.5, True, 0, "2"):
        with pytest.raises(InputError, match="seeds must be an integer >= 1"):
            rb.benchmark_sweeps(["mlp"], task, (100,), bad)


def test_reference_table_known_answers():
    rows = pd.DataFrame({"n": [4000, 4000, 4000, 1000], "test_error": [0.1, 0.2, 0.3, 0.9], "params": [5210] * 4,
                         "seconds": [1.0, 2.0, 3.0, 4.0]})
    t = rb.reference_table({"cnn": rows}).iloc[0]
    assert t["accuracy"] == pytest.approx(0.8) and t["sd"] == pytest.approx(0.1) and t["seeds"] == 3
    assert t["difference_points"] == pytest.approx(-14.0) and t["seconds"] == pytest.approx(6.0)
    with pytest.raises(InputError, match="n=4000"):
        rb.reference_table({"cnn": rows[rows["n"] == 1000]})


def test_data_exponents_recover_a_planted_power_law():
    """Two students, error = a·n^(−b) + c with 2% multiplicative noise over 2 seeds: b and c recovered, and an
    interval over the seeds around the estimate (refits without each seed, Student's t with 1 degree of freedom)."""
    rng = np.random.default_rng(0)
    ns = np.array([100, 400, 1600, 6400, 25600, 102400])  # 100..3200 left the floor loose: 3 data draws in 20 missed
    planted = {16: (3.0, 0.5, 0.05), 64: (8.0, 0.8, 0.02)}
    rows = [{"task": "digits", "family": "mlp", "width": w, "depth": 1, "n": n, "seed": s,
             "test_error": (a * n ** -b + c) * (1 + 0.02 * rng.standard_normal())}
            for w, (a, b, c) in planted.items() for n in ns for s in (0, 1)]
    ex = rb.data_exponents(pd.DataFrame(rows)).set_index("width")
    for w, (a, b, c) in planted.items():
        assert ex.loc[w, "exponent"] == pytest.approx(b, rel=0.15)
        # t(1) over 2 seeds: wide, but not the law's whole range 0 - 10 (over 20 noise draws of this design the widths
        # had median 0.17 and max 0.80; the bound 0.5 of the percentile interval before failed 8 of those 40)
        assert ex.loc[w, "ci_low"] <= ex.loc[w, "exponent"] <= ex.loc[w, "ci_high"] < ex.loc[w, "ci_low"] + 1.0
        assert ex.loc[w, "floor"] == pytest.approx(c, abs=0.01)
        assert ex.loc[w, "sizes"] == 6 and ex.loc[w, "mean_abs_rel_divergence"] < 0.03 and ex.loc[w, "at_bounds"] == ""
    # a student's interval is its own: the same with the other student left out (notebook 07's changed with its models)
    alone = rb.data_exponents(pd.DataFrame(rows)[lambda d: d["width"] == 64]).iloc[0]
    assert (alone.ci_low, alone.ci_high, alone.floor_ci_low) == tuple(ex.loc[64, ["ci_low", "ci_high", "floor_ci_low"]])
    with pytest.raises(InputError, match=">= 4 training-set sizes"):
        rb.data_exponents(pd.DataFrame(rows)[lambda d: d["n"] <= 400])


def test_a_tiny_reference_run_reads_back_from_the_cache(tmp_path):
    cfgs = rb.reference_sweeps(["logistic"], seeds=1, steps=50)
    first = run_sweeps(list(cfgs.values()), tmp_path, progress=False)
    again = run_sweeps(list(cfgs.values()), tmp_path, progress=False)
    assert first.equals(again) and len(first) == 1 and first["params"].iloc[0] == 410
    table = rb.reference_table({"logistic": first})
    assert 0 <= table["accuracy"].iloc[0] <= 1 and np.isnan(table["sd"].iloc[0])


def test_m4_follows_the_descent_from_the_random_guess_plateau_where_a_power_law_cannot():
    """A planted M4 curve, (y − 0.03)/(0.9 − y) = 300·n^(−1) (α = 1), over n = 125 … 4000: errors 0.64 → 0.09,
    falling faster and faster on log axes as a CNN's MNIST-1D errors do. M4 with ε0 fixed at 0.9 recovers the
    exponent 1 and the floor; the power law fits it far worse."""
    ns = np.array([125, 250, 500, 1000, 2000, 4000])
    k = 300.0 / ns
    rows = pd.DataFrame({"task": "mnist1d", "family": "cnn", "width": 25, "depth": 3, "n": ns, "seed": 0,
                         "test_error": (0.03 + 0.9 * k) / (1 + k)})
    m4 = rb.data_exponents(rows, law="m4", interval=False).iloc[0]
    power = rb.data_exponents(rows, law="power", interval=False).iloc[0]
    assert m4["law"] == "m4" and m4["exponent"] == pytest.approx(1.0, rel=0.02) and m4["floor"] == pytest.approx(0.03, abs=0.005)
    assert m4["mean_abs_rel_divergence"] < 0.001 and power["mean_abs_rel_divergence"] > 0.05
    with pytest.raises(InputError, match="law must be one of power, m4"):
        rb.data_exponents(rows, law="bnsl")
    with pytest.raises(InputError, match="law m4 needs >= 5"):
        rb.data_exponents(rows[rows["n"] <= 1000], law="m4")


def test_an_m4_exponent_set_by_the_curvature_limit_is_flagged_not_reported():
    """Notebook 07's MNIST-1D MLP curve (seed means, session 23): M4's α ends on its limit 10, where the exponent is
    4.96; fixed at 1 or 3 the fit is about as good with exponents 0.68 or 1.70. The report printed "4.96 (1.02 – 5.22)"
    as a finding."""
    ns = np.array([125, 250, 500, 1000, 2000, 4000])
    rows = pd.DataFrame({"task": "mnist1d", "family": "mlp", "width": 100, "depth": 2, "n": ns, "seed": 0,
                         "test_error": [0.7655, 0.709, 0.637, 0.545, 0.4275, 0.33]})
    row = next(rb.data_exponents(rows, law="m4", interval=False).itertuples())
    assert "alpha" in row.at_bounds and row.pinned_by == "alpha = 10" and row.exponent > 4
    assert rb.exponent_text(row) == f"{row.exponent:.2f} (not identified: set by alpha = 10, a limit of the law, not by the data)"
    k = 300.0 / ns  # a planted M4 curve with α = 1: identified
    planted = rows.assign(test_error=(0.03 + 0.9 * k) / (1 + k))
    assert rb.data_exponents(planted, law="m4", interval=False)["pinned_by"].iloc[0] == ""


def test_a_zero_seed_mean_is_refused_naming_the_student_and_n():
    # a student that gets every example right at some n (e.g. y_col="train_error"): the message was
    # "column 'y' must be > 0 for law 'power' ...; got 0 at row 5", naming neither the column nor the student
    ns = [125, 250, 500, 1000, 2000, 4000]
    rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": ns, "seed": 0,
                         "train_error": [0.3, 0.2, 0.1, 0.05, 0.01, 0.0]})
    with pytest.raises(InputError, match=r"every seed mean must be > 0; \{'task': 'digits', 'family': 'mlp', "
                                         r"'width': 100, 'depth': 2\} has train_error 0 at n=4000"):
        rb.data_exponents(rows, y_col="train_error", interval=False)


def test_exponent_text_shows_no_interval_without_one():
    """Notebook 07 with bootstrap = 0 (the parameter's "0: none" before the jackknife) wrote each exponent as
    "1.01 (nan – nan)"."""
    import re

    ns_ = np.repeat([125, 250, 500, 1000, 2000], 2)  # two seeds a size, 1% apart: the seeds give the interval
    rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": ns_, "seed": [0, 1] * 5,
                         "test_error": (2.0 * ns_ ** -0.5 + 0.01) * np.tile([0.995, 1.005], 5)})
    for interval, text in ((False, r"^\d+\.\d\d$"), (True, r"^\d+\.\d\d \(\d+\.\d\d – \d+\.\d\d\)$")):
        row = next(rb.data_exponents(rows, interval=interval).itertuples())
        assert pytest.approx(0.5, rel=0.05) == row.exponent
        assert re.match(text, rb.exponent_text(row)), rb.exponent_text(row)
    on_bound = row._replace(law="power", exponent=10.0, at_bounds="c, b")  # a flat curve pushes b to its bound
    assert rb.exponent_text(on_bound) == "10.00 (on its bound: no such law over these sizes)"
    assert rb.exponent_text(on_bound._replace(law="m4", at_bounds="b")) == f"10.00 ({row.ci_low:.2f} – {row.ci_high:.2f})"  # m4: c


def test_seeds_by_size_pairs_each_sizes_seeds_and_one_seed_gives_no_interval():
    g = pd.DataFrame({"n": [100, 100, 200, 200, 400, 400], "seed": [0, 1, 1, 0, 0, 1],
                      "test_error": [0.4, 0.6, 0.3, 0.2, 0.1, 0.15]})
    sizes, wide = rb.seeds_by_size(g, "test_error", {"width": 8})
    assert sizes.tolist() == [100, 200, 400] and wide.tolist() == [[0.4, 0.2, 0.1], [0.6, 0.3, 0.15]]  # row: a seed
    with pytest.raises(InputError, match=r"\{'width': 8\} has no test_error for seed 1 at n=400"):
        rb.seeds_by_size(g.iloc[:5], "test_error", {"width": 8})
    ns = np.array([125, 250, 500, 1000, 2000])
    one_seed = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": ns, "seed": 0,
                             "test_error": 2.0 * ns ** -0.5 + 0.01})
    row = rb.data_exponents(one_seed).iloc[0]
    assert np.isnan(row["ci_low"]) and np.isnan(row["floor_ci_high"]) and row["exponent"] == pytest.approx(0.5, rel=0.02)
    for bad in (20, 0, "yes"):  # 20: a count of seed resamples, as the bootstrap interval took
        with pytest.raises(InputError, match=rf"^interval must be True or False; got {bad!r}$"):
            rb.data_exponents(one_seed, interval=bad)


def test_a_seed_with_no_error_and_a_floor_on_its_bound_give_no_false_certainty():
    # a seed with 0 test error at one n (digits: 400 test images) left the other seed's mean to a refit without it,
    # which failed naming a column 'y'; a floor fitted as ~1e-27 (on its bound) had the interval 0 – 1e-19
    ns = np.array([125, 250, 500, 1000, 2000])
    rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": np.repeat(ns, 2),
                         "seed": [0, 1] * 5, "test_error": np.repeat(2.0 * ns ** -0.5, 2) * np.tile([0.97, 1.03], 5)})
    zero = rows.copy()
    zero.loc[(zero.n == 2000) & (zero.seed == 0), "test_error"] = 0.0
    with pytest.raises(InputError, match=r"'depth': 2\}: without seed 1 the mean test_error at n=2000 is 0, and the "
                                         r"interval refits its log; pass interval=False, or add seeds"):
        rb.data_exponents(zero)
    assert np.isfinite(rb.data_exponents(zero, interval=False).exponent.iloc[0])
    row = rb.data_exponents(rows).iloc[0]  # no floor planted: c ends on its bound 0
    assert "c" in row.at_bounds and np.isnan(row.floor_ci_low) and np.isnan(row.floor_ci_high)
    assert row.ci_low < row.exponent < row.ci_high  # the exponent's interval stands


def test_rows_are_named_by_their_reference_model():
    rows = pd.DataFrame({"family": ["mlp", "cnn", "mlp"], "width": [100, 25, 100], "depth": [0, 3, 2]})
    assert rb.with_model_names(rows)["model"].tolist() == ["logistic", "cnn", "mlp"]
    assert "model" not in rows  # a copy
    with pytest.raises(InputError, match=r"\('mlp', 64, 1\) is none of Greydanus's models"):
        rb.with_model_names(pd.DataFrame({"family": ["mlp"], "width": [64], "depth": [1]}))
