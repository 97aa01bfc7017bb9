"""Intervals over seeds: the leave-one-seed-out jackknife with Student's t.

A curve measured with s seeds at each size is fitted to its seed mean; how far the fitted constant would move
with other seeds is what an interval must say. With the 4 – 6 seeds a sweep can afford, resampling the seeds
with replacement (the percentile bootstrap) understates that spread: on a planted curve with 4 seeds its
95% interval held the true floor in 80 – 83 of 100 repeats (session 30, ``benchmarks/bench_interval_coverage.py``).
The jackknife refits the curve s times, each without one seed, estimates the standard error from those fits
(Efron & Stein's (s − 1)/s · Σ(θ₍ᵢ₎ − θ̄)²), and takes Student's t with s − 1 degrees of freedom, which pays
for estimating that error from s seeds: wider with 4 seeds, as it should be, and s fits instead of hundreds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
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
