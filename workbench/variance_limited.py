"""Bahri et al. (2021)'s variance-limited scaling regimes, measured on teacher-student sweeps.

Bahri, Dyer, Kaplan, Lee & Sharma, "Explaining Neural Scaling Laws", split scaling into four regimes.
In the two *variance-limited* ones one resource is effectively infinite against the other, and the
loss approaches its limit as the inverse of the scaled resource, with exponent 1 whatever the data:

- **in data**: a fixed model of P parameters trained on D ≫ P examples: L(D) − L∞(P) ∝ 1/D (the
  fluctuations of the fitted parameters around the infinite-data fit are O(1/√D), and the test loss,
  smooth at that fit, rises by their square);
- **in width**: a fixed training set of D examples and width ≫ D: L(w) − L∞(D) ∝ 1/w (the network's
  fluctuations around its infinite-width limit are O(1/√w)).

(The other two, resolution-limited, give exponents ≈ 4/d: :func:`workbench.errorsources.exponents_by_dim`.)

Both are fitted here with the ``power`` law y = a·x^(−k) + c of :mod:`workbench.laws` (c = L∞, k the
exponent; theory k = 1) through :func:`workbench.fit.fit_law`, on the seed-mean test loss. A smooth
loss is needed: Bahri et al. use the test loss, and the 0/1 error has no such expansion.

In data the limit is an average over *training sets*: the excess at one n is one draw (for least
squares, P·L∞/D times a chi-square of P degrees of freedom over P, so about √(2/P) relative spread),
and a task's training sets are nested prefixes of one pool, so their draws are correlated. The sweeps
therefore use several task seeds (each its own teacher, pool and test set) and average the loss over
them and the student seeds.

Intervals come from the teachers, as in :func:`workbench.errorsources.floors_by_width` from the seeds: the curve
is refitted once without each teacher (``task_seed``, its student seeds averaged: they share its training sets and
test set), and k's 95% interval is Student's t with teachers − 1 degrees of freedom on those refits' spread
(:func:`workbench.seed_interval.jackknife_t`, :func:`workbench.seed_interval.units_table`). On a planted curve with
a teacher effect and two seeds per teacher (``benchmarks/bench_interval_coverage.py --what vl``) it held k in 190
of 200 repeats with 4 teachers and 192 with 8; leaving out one (teacher, seed) pair at a time instead held it in 167
and 153 (a review found that; the pairs of one teacher are not independent draws).
(``fit_law``'s own bootstrap resamples the 4 – 6 points of a curve, and a resample that repeats a few of them
leaves k on its bound of 10 far too often to be an interval.)

Every function takes the per-student table of :func:`workbench.sweep.run_sweep` (``seed``, and
``task_seed`` when several teachers are pooled, for intervals) and returns a new frame; none mutates its input.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import InputError, check_flag, is_real_number, no_missing
from workbench.fit import FitResult, fit_law
from workbench.laws import get_law
from workbench.seed_interval import jackknife_t, units_table

THEORY = 1.0
"""Bahri et al.'s exponent in both variance-limited regimes."""
MIN_POINTS = 4
"""Fewest curve points for a fit of the three-parameter ``power`` law (one more than it has)."""
K_BOUNDS = next((p.lower, p.upper) for p in get_law("power").params if p.name == "b")
"""The exponent k's bounds (the ``power`` law's b): an interval is clipped to them."""


def _need(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"the table must have column(s) {', '.join(missing)}; "
                         f"it has {', '.join(map(str, df.columns))}")


def fit_curve(table: pd.DataFrame, x_col: str, y_col: str = "test_loss", *, floor: float | None = None,
              interval: bool = False) -> tuple[FitResult, float, float]:
    """``power`` y = a·x^(−k) + c fitted to the seed mean of ``y_col`` against ``x_col`` (one curve:
    every row of ``table`` belongs to it). ``floor``: fix c (``None``: fitted, L∞).

    Returns (fit, ci_low, ci_high): with ``interval``, k's 95% leave-one-out jackknife-t interval over the teachers
    (each averaged over its student seeds; over the seeds when there is one teacher:
    :func:`workbench.seed_interval.units_table`), clipped to k's bounds (nan without ``interval``, with fewer than 2
    units, or with k on a bound). A unit without every value of ``x_col`` is an InputError. Teachers are not fully
    independent either: a student's initial weights depend on its shape and student seed only
    (:func:`workbench.sweep_train.init_seed`), so every teacher's students start from the same weights (their
    training sets, teachers and minibatches differ), which can make the interval a little narrow."""
    _need(table, [x_col, y_col])
    no_missing(table, [x_col, y_col] + [c for c in ("task_seed", "seed") if c in table.columns])
    interval = check_flag(interval, "interval")
    curve = table.groupby(x_col, sort=True)[y_col].mean()
    if len(curve) < MIN_POINTS:
        raise InputError(f"a variance-limited fit needs >= {MIN_POINTS} values of {x_col}; "
                         f"got {len(curve)}: {list(curve.index)!r}")
    fix = None if floor is None else {"c": float(floor)}
    x = curve.index.to_numpy(float)
    fit = fit_law("power", x, curve.to_numpy(float), fix=fix)
    low = high = np.nan
    units = [c for c in ("task_seed", "seed") if c in table.columns]
    wide = units_table(table, x_col, y_col, f"the curve against {x_col}") if interval and units else None
    if wide is not None and len(wide) >= 2 and "b" not in fit.at_bounds:  # k on its bound: nothing measured
        xs, (lower, upper) = wide.columns.to_numpy(float), K_BOUNDS
        low, high = (float(v) for v in jackknife_t(lambda w: fit_law("power", xs, w.mean(0), fix=fix).params["b"],
                                                   wide.to_numpy(), lower=lower, upper=upper))
    return fit, low, high


def data_exponents(table: pd.DataFrame, y_col: str = "test_loss", min_ratio: float = 4.0,
                   interval: bool = False) -> pd.DataFrame:
    """Variance-limited in data: per model (``depth``, ``width``), the ``power`` law in n fitted over
    the sizes with n ≥ ``min_ratio`` × params (D ≫ P), its exponent k against Bahri et al.'s 1.

    Columns: depth, width, params, n_min, n_max, points, exponent, ci_low, ci_high, floor (L∞(P)),
    excess_at_n_min (mean loss − L∞ at the smallest fitted n), at_bounds, theory, fit.
    """
    _need(table, ["depth", "width", "params", "n", y_col])
    no_missing(table, ["depth", "width", "params", "n", y_col])
    if not (is_real_number(min_ratio) and min_ratio > 0):
        raise InputError(f"min_ratio must be > 0; got {min_ratio!r}")
    rows = []
    for (depth, width), sub in table.groupby(["depth", "width"], sort=True):
        params = int(sub["params"].iloc[0])
        used = sub[sub["n"] >= min_ratio * params]
        if used["n"].nunique() < MIN_POINTS:
            raise InputError(f"depth {depth}, width {width} ({params} parameters) has {used['n'].nunique()} sizes "
                             f"with n >= {min_ratio:g} × params; the fit needs >= {MIN_POINTS}")
        fit, lo, hi = fit_curve(used, "n", y_col, interval=interval)
        n_min = int(used["n"].min())
        rows.append({"depth": int(depth), "width": int(width), "params": params, "n_min": n_min,
                     "n_max": int(used["n"].max()), "points": int(used["n"].nunique()), "exponent": fit.params["b"],
                     "ci_low": lo, "ci_high": hi, "floor": fit.params["c"],
                     "excess_at_n_min": float(used.loc[used["n"] == n_min, y_col].mean() - fit.params["c"]),
                     "at_bounds": ", ".join(fit.at_bounds), "theory": THEORY, "fit": fit})
    return pd.DataFrame(rows)


def width_exponents(table: pd.DataFrame, y_col: str = "test_loss", interval: bool = False) -> pd.DataFrame:
    """Variance-limited in width: per training size n, the ``power`` law in width fitted over every
    width in ``table`` (choose them ≫ n), its exponent k against Bahri et al.'s 1.

    Columns: n, width_min, width_max, points, exponent, ci_low, ci_high, floor (L∞(n)),
    excess_at_width_min, at_bounds, max_train_loss (the largest seed-mean training loss: ≈ 0 when every
    width interpolates, as the regime assumes), theory, fit.
    """
    _need(table, ["width", "n", y_col])
    no_missing(table, ["width", "n", y_col])
    rows = []
    for n, sub in table.groupby("n", sort=True):
        fit, lo, hi = fit_curve(sub, "width", y_col, interval=interval)
        w_min = int(sub["width"].min())
        train = (sub.groupby("width")["train_loss"].mean().max() if "train_loss" in sub.columns else np.nan)
        rows.append({"n": int(n), "width_min": w_min, "width_max": int(sub["width"].max()),
                     "points": int(sub["width"].nunique()), "exponent": fit.params["b"], "ci_low": lo,
                     "ci_high": hi, "floor": fit.params["c"],
                     "excess_at_width_min": float(sub.loc[sub["width"] == w_min, y_col].mean() - fit.params["c"]),
                     "at_bounds": ", ".join(fit.at_bounds), "max_train_loss": float(train), "theory": THEORY,
                     "fit": fit})
    return pd.DataFrame(rows)


def excess_curve(table: pd.DataFrame, x_col: str, floor: float, y_col: str = "test_loss") -> pd.DataFrame:
    """Seed-mean ``y_col`` − ``floor`` against ``x_col`` (for plotting L − L∞ on log axes; a non-positive
    excess, seed noise below the fitted floor, is kept and left for the plot to drop)."""
    _need(table, [x_col, y_col])
    no_missing(table, [x_col, y_col])
    curve = table.groupby(x_col, sort=True)[y_col].mean()
    return pd.DataFrame({x_col: curve.index, "excess": curve.to_numpy() - float(floor)})


def label_of(row: Mapping) -> str:
    """'linear (21 params)' or 'width 8 (177 params)' for a row of :func:`data_exponents`."""
    name = "linear" if int(row["depth"]) == 0 else f"width {int(row['width'])}"
    return f"{name} ({int(row['params'])} params)"
