"""Intervals over seeds: the leave-one-seed-out jackknife with Student's t.

A curve measured with s seeds (or teachers) at each size is fitted to its seed mean; how far the fitted constant
would move with other seeds is what an interval must say. With the 2 – 6 seeds a sweep can afford, resampling the
seeds with replacement (the percentile bootstrap, used here until session 31) understates that spread: on planted
curves its 95% intervals held the truth in 70 – 87% of repeats. The jackknife refits the curve s times, each without
one seed, estimates the standard error from those fits (Tukey's (s − 1)/s · Σ(θ₍ᵢ₎ − θ̄)², which Efron & Stein (1981)
showed errs on the large side in expectation), and takes Student's t with s − 1 degrees of freedom, which pays for
estimating that error from s seeds: wide with 2 – 4 seeds, as it should be, and s fits instead of hundreds. On the
planted designs of ``benchmarks/bench_interval_coverage.py`` it held the truth in 91 – 98% of repeats (100 –
400 repeats a design and seed count).

Used by :func:`workbench.errorsources.floors_by_width`, :func:`workbench.errorsources.noise_floors`,
:func:`workbench.errorsources.exponents_by_dim`, :func:`workbench.real_benchmarks.data_exponents` and
:mod:`workbench.variance_limited`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import InputError

LEVEL = 0.95


def jackknife_t(estimate: Callable[[np.ndarray], np.ndarray], wide: np.ndarray, level: float = LEVEL,
                lower: np.ndarray | float = -np.inf, upper: np.ndarray | float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the ``level`` interval of ``estimate(wide)`` over the rows (seeds) of ``wide``.

    ``wide``: (seeds, sizes), one row per seed with a value at every size. ``estimate`` maps such an array (all
    rows, or all but one) to the fitted constants (an array, or one number). The interval is centred on the
    estimate from every seed, ± t(s − 1) × the jackknife standard error, and clipped to [``lower``, ``upper``]
    (the constants' bounds in the law: a floor below 0 is no floor)."""
    wide = np.asarray(wide, float)
    if wide.ndim != 2 or len(wide) < 2:
        raise InputError(f"a jackknife over seeds needs >= 2 seeds (rows); got an array of shape {wide.shape}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1); got {level!r}")
    s = len(wide)
    full = np.asarray(estimate(wide), float)
    loo = np.array([estimate(np.delete(wide, i, axis=0)) for i in range(s)], float)  # (s, constants...)
    se = np.sqrt((s - 1) / s * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    half = stats.t.ppf(0.5 + level / 2, s - 1) * se
    return np.maximum(full - half, lower), np.minimum(full + half, upper)


def units_table(rows: pd.DataFrame, x_cols: str | Sequence[str], y_col: str, where: str) -> pd.DataFrame:
    """The jackknife's units as rows, the values of ``x_cols`` as columns, each cell the unit's mean ``y_col``.

    A unit is a teacher (``task_seed``) when ``rows`` hold two or more, averaged over its student seeds: a
    teacher's seeds share its training sets and test set, so they are not independent draws, and leaving out one
    (teacher, seed) pair at a time made the variance-limited interval about 40% too narrow (a review's simulation,
    8 teachers × 2 seeds: 80% coverage). Each teacher then needs the same seeds at every x and as many as every
    other teacher, so that the mean of the teachers' means is the mean of every row the reported fit used.
    Otherwise a unit is a ``seed``. Each unit needs every x. Every gap is an InputError naming it, in ``where``
    (the student or curve)."""
    x_cols = [x_cols] if isinstance(x_cols, str) else list(x_cols)
    teachers = rows["task_seed"].nunique() if "task_seed" in rows.columns else 0
    unit = "task_seed" if teachers >= 2 or (teachers and "seed" not in rows.columns) else "seed"
    if unit not in rows.columns:
        raise InputError(f"an interval over seeds needs a 'seed' or 'task_seed' column; {where} has neither")
    full = rows.groupby(x_cols).size().index  # every x that any unit has
    if unit == "task_seed" and "seed" in rows.columns:  # a teacher's mean must be over the same seeds everywhere,
        pairs = rows.pivot_table(index=["task_seed", "seed"], columns=x_cols, values=y_col).reindex(columns=full)
        counts = pairs.groupby(level="task_seed").size()  # and every teacher's over as many, or the centre moves
        if pairs.isna().to_numpy().any():
            i, j = np.argwhere(pairs.isna().to_numpy())[0]
            at = ", ".join(f"{c}={v:g}" for c, v in zip(x_cols, np.atleast_1d(full[j])))
            raise InputError(f"the interval leaves out one teacher at a time, averaged over its seeds, so every "
                             f"(task_seed, seed) needs every {'/'.join(x_cols)}; {where} has no {y_col} for task_seed "
                             f"{pairs.index[i][0]}, seed {pairs.index[i][1]} at {at} (or pass interval=False)")
        if counts.nunique() > 1:
            per_teacher = {k: int(v) for k, v in counts.items()}
            raise InputError(f"the interval leaves out one teacher at a time, averaged over its seeds, so every "
                             f"teacher needs as many seeds; {where} has {per_teacher} seeds per task_seed "
                             "(or pass interval=False)")
    wide = rows.pivot_table(index=unit, columns=x_cols, values=y_col, aggfunc="mean")
    wide = wide.reindex(columns=full)
    if wide.isna().to_numpy().any():
        i, j = np.argwhere(wide.isna().to_numpy())[0]
        at = ", ".join(f"{c}={v:g}" for c, v in zip(x_cols, np.atleast_1d(wide.columns[j])))
        raise InputError(f"the interval leaves out one {unit} at a time, so every {unit} needs every "
                         f"{'/'.join(x_cols)}; {where} has no {y_col} for {unit} {wide.index[i]} at {at} "
                         "(or pass interval=False)")
    return wide
