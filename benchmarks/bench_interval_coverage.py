"""How often ``real_benchmarks.data_exponents``' seed-resampling interval holds the true exponent.

A digits-like curve y = 2·n^(−0.8) + 0.01 at notebook 07's digits sizes is planted, each seed's error drawn
with independent multiplicative noise; the power law is fitted to the seed means and the interval taken from
``bootstrap`` seed resamples, as notebook 07 does. The share of repeats whose interval contains 0.8 is the
interval's coverage (a 95% confidence interval would hold it in 95% of them).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_interval_coverage.py --seeds 2,5 --reps 150
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from workbench import real_benchmarks as rb

SIZES = np.array([75, 150, 300, 600, 1197])
A, B, C = 2.0, 0.8, 0.01


def coverage(seeds: int, reps: int, noise: float, bootstrap: int, rng: np.random.Generator) -> dict:
    truth = A * SIZES ** -B + C
    hits, widths, estimates = 0, [], []
    for r in range(reps):
        y = truth[:, None] * (1 + noise * rng.standard_normal((len(SIZES), seeds)))
        rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2,
                             "n": np.repeat(SIZES, seeds), "seed": np.tile(np.arange(seeds), len(SIZES)),
                             "test_error": y.ravel()})
        ex = rb.data_exponents(rows, bootstrap=bootstrap, seed=r).iloc[0]
        hits += bool(ex.ci_low <= B <= ex.ci_high)
        widths.append(ex.ci_high - ex.ci_low)
        estimates.append(ex.exponent)
    return {"seeds": seeds, "coverage": hits / reps, "hits": hits, "reps": reps,
            "median_width": float(np.median(widths)), "sd_of_estimate": float(np.std(estimates))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="2,5", help="seeds per size, comma-separated")
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.05, help="relative sd of one seed's error")
    ap.add_argument("--bootstrap", type=int, default=100, help="seed resamples per interval (notebook 07's default)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # fits of noisy resamples may warn about their covariance
    rng = np.random.default_rng(123)
    for seeds in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        res = coverage(seeds, args.reps, args.noise, args.bootstrap, rng)
        print(f"{seeds} seeds a size, noise {args.noise:.0%}: interval holds b = {B} in {res['hits']} of {res['reps']} "
              f"({res['coverage']:.0%}); median width {res['median_width']:.3f}; sd of the estimate over repeats "
              f"{res['sd_of_estimate']:.3f}; {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
