"""How often an interval over seeds (the leave-one-seed-out jackknife-t of ``workbench.seed_interval``) holds the
truth: ``real_benchmarks.data_exponents``' exponent, or ``errorsources.floors_by_width``' floor.

``--what exponent``: a digits-like curve y = 2·n^(−0.8) + 0.01 at notebook 07's digits sizes is planted, each seed's
error drawn with independent multiplicative noise; the power law is fitted to the seed means and the interval taken
from refits without one seed each, as notebook 07 does. The share of repeats whose interval contains 0.8 is the
interval's coverage (a 95% confidence interval would hold it in 95% of them).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_interval_coverage.py --seeds 2,5 --reps 150

``--what floor``: y = 2·n^(−0.7) + c at n = 256 … 8192 (doubling), c = ``--floor`` (0.002: a realizable width's
floor, where the curve still bends; 0.06: a narrow width's, nearly flat), each seed's error with independent
multiplicative noise; ``floors_by_width(interval=True)`` (as notebook 03 calls it, which has 4 seeds) and the share
of repeats whose [floor_low, floor_high] holds c.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_interval_coverage.py --what floor --seeds 4,6 --reps 100
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from workbench import errorsources as es
from workbench import real_benchmarks as rb

SIZES = np.array([75, 150, 300, 600, 1197])
A, B, C = 2.0, 0.8, 0.01
FLOOR_SIZES = 256 * 2 ** np.arange(6)
FLOOR_A, FLOOR_B = 2.0, 0.7


def coverage(seeds: int, reps: int, noise: float, sizes: np.ndarray, truth: np.ndarray, target: float,
             interval, rng: np.random.Generator) -> dict:
    """``interval(n, seed, y, r)`` -> (low, high, estimate) for one repeat's per-seed errors ``y`` at sizes ``n``."""
    hits, widths, estimates = 0, [], []
    for r in range(reps):
        y = truth[:, None] * (1 + noise * rng.standard_normal((len(sizes), seeds)))
        low, high, estimate = interval(np.repeat(sizes, seeds), np.tile(np.arange(seeds), len(sizes)), y.ravel(), r)
        hits += bool(low <= target <= high)
        widths.append(high - low)
        estimates.append(estimate)
    return {"seeds": seeds, "coverage": hits / reps, "hits": hits, "reps": reps,
            "median_width": float(np.median(widths)), "sd_of_estimate": float(np.std(estimates))}


def exponent_interval(n, seed, y, r):
    rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": n, "seed": seed,
                         "test_error": y})
    ex = rb.data_exponents(rows).iloc[0]
    return ex.ci_low, ex.ci_high, ex.exponent


def floor_interval(n, seed, y, r):
    rows = pd.DataFrame({"width": 16, "n": n, "seed": seed, "test_loss": y})
    fl = es.floors_by_width(rows, interval=True).iloc[0]
    return fl.floor_low, fl.floor_high, fl.floor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="2,5", help="seeds per size, comma-separated")
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.05, help="relative sd of one seed's error")
    ap.add_argument("--what", choices=("exponent", "floor"), default="exponent",
                    help="data_exponents' exponent (digits-like) or floors_by_width's floor")
    ap.add_argument("--floor", type=float, default=0.002, help="the planted floor c (--what floor)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # fits of noisy resamples may warn about their covariance
    rng = np.random.default_rng(123)
    for seeds in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        if args.what == "floor":
            res = coverage(seeds, args.reps, args.noise, FLOOR_SIZES, FLOOR_A * FLOOR_SIZES ** -FLOOR_B + args.floor,
                           args.floor, floor_interval, rng)
            target = f"c = {args.floor:g}"
        else:
            res = coverage(seeds, args.reps, args.noise, SIZES, A * SIZES ** -B + C, B,
                           exponent_interval, rng)
            target = f"b = {B}"
        print(f"{seeds} seeds a size, noise {args.noise:.0%}: interval holds {target} in {res['hits']} of {res['reps']} "
              f"({res['coverage']:.0%}); median width {res['median_width']:.3g}; sd of the estimate over repeats "
              f"{res['sd_of_estimate']:.3g}; {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
