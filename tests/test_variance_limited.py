"""workbench.variance_limited: Bahri et al.'s variance-limited exponents, planted and measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import errorsources as es
from workbench import variance_limited as vl
from workbench.errors import InputError


def planted(x_col, xs, k, floor, a, units=((0, 0), (0, 1), (1, 0), (1, 1)), noise=0.0, **const):
    """Per-student rows: y = a·x^(−k) + floor, times 1 + noise·N(0, 1) per (teacher, seed) unit."""
    rng = np.random.default_rng(0)
    rows = []
    for t, s in units:
        for x in xs:
            y = (a * x ** (-k) + floor) * (1 + noise * rng.normal())
            rows.append({"task_seed": t, "seed": s, x_col: x, "test_loss": y, **const})
    return pd.DataFrame(rows)


def test_planted_exponents_are_recovered_with_intervals_around_them():
    sizes = [256, 512, 1024, 2048, 4096, 8192, 16384]
    lin = planted("n", sizes, 1.0, 0.1, 2.0, depth=0, width=1, params=21)
    mlp = planted("n", sizes, 0.7, 0.03, 5.0, depth=1, width=8, params=177, noise=0.002)
    d = vl.data_exponents(pd.concat([lin, mlp]), min_ratio=4, interval=True)
    assert list(d.params) == [21, 177]
    assert list(d.n_min) == [256, 1024]  # n >= 4 × params only
    assert d.exponent.iloc[0] == pytest.approx(1.0, rel=1e-3)
    assert d.floor.iloc[0] == pytest.approx(0.1, rel=1e-3)
    assert d.exponent.iloc[1] == pytest.approx(0.7, abs=0.1)
    # the interval is around the estimate; whether it holds 0.7 is a draw (the 20-resample percentile interval it
    # replaced missed 2 noise draws in 12, e.g. 0.701-0.708, helper-91), not a property of one data set
    assert d.ci_low.iloc[1] <= d.exponent.iloc[1] <= d.ci_high.iloc[1] and d.ci_high.iloc[1] > d.ci_low.iloc[1]
    w = vl.width_exponents(planted("width", [64, 128, 256, 512, 1024], 1.0, 0.02, 0.3, n=256), interval=True)
    assert w.exponent.iloc[0] == pytest.approx(1.0, rel=1e-3) and w.floor.iloc[0] == pytest.approx(0.02, rel=1e-3)
    assert w.n.iloc[0] == 256 and w.points.iloc[0] == 5


def test_too_few_sizes_with_n_much_larger_than_params_fails_clearly():
    t = planted("n", [256, 512, 1024, 2048], 1.0, 0.1, 2.0, depth=1, width=8, params=177)
    with pytest.raises(InputError, match="n >= 4 × params"):
        vl.data_exponents(t, min_ratio=4)


def test_a_linear_student_is_variance_limited_in_data_with_exponent_near_1(tmp_path):
    """Real training: least squares on a nonlinear teacher, averaged over 8 teachers (each its own pool);
    Bahri et al.: test MSE − L∞ ∝ 1/n once n ≫ P = 21.

    All 20 inputs vary (intrinsic_dim=20), so all 21 parameters are fitted: at d = 8 only 9 were, the excess
    was ~9·0.2/n (0.0004 at n = 4096) and its draw-to-draw scatter (relative ~sqrt(2/9) per teacher) put the
    4-teacher exponent outside 0.7-1.3 on 6 of 10 teacher draws (0.01-2.16). Here, over 10 draws of the 8
    teachers: 0.82-1.19, and over 10 student seeds: 0.99-1.11."""
    cfgs = [es.teacher_sweep(widths=[1], depth=0, sizes=[256, 512, 1024, 2048, 4096, 8192], seeds=(0,), steps=800,
                             lr_schedule="wsd", early_stopping=False, intrinsic_dim=20, lr=3e-3, task_seed=t,
                             task="teacher-regression") for t in range(8)]
    table = es.run_sweeps(cfgs, tmp_path, progress=False)
    d = vl.data_exponents(table, min_ratio=4, interval=True)
    assert d.params.iloc[0] == 21 and d.points.iloc[0] == 6
    assert 0.7 <= d.exponent.iloc[0] <= 1.3


def test_a_missing_value_is_refused_not_skipped():
    # groupby().mean() skipped the NaN: n=256 was the mean of one seed, and a NaN n dropped its row unsaid
    rows = [{"n": n, "seed": s, "width": 8, "depth": 1, "params": 10, "test_loss": 0.1 + 1.0 / n + 0.001 * s}
            for n in (64, 128, 256, 512, 1024) for s in (0, 1)]
    table = pd.DataFrame(rows)
    fit, _, _ = vl.fit_curve(table, "n")
    assert fit.params["b"] == pytest.approx(1.0, rel=1e-6)
    for col in ("test_loss", "n"):
        bad = table.copy()
        bad.loc[4, col] = np.nan
        with pytest.raises(InputError, match=f"column '{col}' must have no missing \\(NaN\\) values; got 1"):
            vl.fit_curve(bad, "n")
        with pytest.raises(InputError, match=f"column '{col}' must have no missing"):
            vl.data_exponents(bad, min_ratio=1.0)
    for bad in (20, 2.5, "yes"):  # 20: a count of seed resamples, as the bootstrap interval took
        with pytest.raises(InputError, match=rf"^interval must be True or False; got {bad!r}$"):
            vl.fit_curve(table, "n", interval=bad)
