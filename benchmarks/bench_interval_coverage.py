"""How often an interval over seeds (the leave-one-seed-out jackknife-t of ``workbench.seed_interval``) holds the
truth: ``real_benchmarks.data_exponents``' exponent, ``errorsources.floors_by_width``' floor,
``variance_limited.data_exponents``' exponent, or ``errorsources.exponents_by_dim``' model-size exponent.

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

``--what vl``: a variance-limited curve y = 20·n^(−1) + 0.03 at n = 1024 … 16384 (doubling; notebook 03's width-8
student, 177 parameters, fitted from n = 4 × 177); ``--seeds`` counts teachers, each teacher's loss with its own
multiplicative noise (``--noise``) at every n, and two student seeds per teacher adding 0.5% each, as notebook 03 has
(8 teachers × 2 seeds); ``variance_limited.data_exponents(interval=True)`` and the share of repeats whose interval
holds k = 1.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_interval_coverage.py --what vl --seeds 4,8 --reps 200

``--what dim``: a model-size curve y = 3·m^(−0.5) over notebook 03's widths 16 … 256 (m = 22·width + 1 parameters),
each unit's (teacher's) loss with independent multiplicative noise; ``exponents_by_dim(interval=True)`` (floor fixed
at 0, as notebook 03 fits it; 4 units there) and, on the same draws, the point bootstrap notebook 03 used before
(``fit_law(..., bootstrap=20)`` on the unit-averaged curve).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_interval_coverage.py --what dim --seeds 4 --reps 200 --noise 0.1
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from workbench import errorsources as es
from workbench import real_benchmarks as rb
from workbench import variance_limited as vl
from workbench.fit import fit_law

SIZES = np.array([75, 150, 300, 600, 1197])
A, B, C = 2.0, 0.8, 0.01
FLOOR_SIZES = 256 * 2 ** np.arange(6)
FLOOR_A, FLOOR_B = 2.0, 0.7
VL_SIZES = 1024 * 2 ** np.arange(5)
VL_A, VL_K, VL_C = 20.0, 1.0, 0.03
DIM_PARAMS = 22.0 * np.array([16, 32, 64, 128, 256]) + 1
DIM_A, DIM_B = 3.0, 0.5


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


def vl_interval(n, teacher, y, r):
    student = np.random.default_rng([7, r]).standard_normal((2, len(y)))  # two student seeds per teacher
    rows = pd.concat([pd.DataFrame({"depth": 1, "width": 8, "params": 177, "n": n, "task_seed": teacher, "seed": s,
                                    "test_loss": y * (1 + 0.005 * student[s])}) for s in (0, 1)], ignore_index=True)
    ex = vl.data_exponents(rows, min_ratio=4.0, interval=True).iloc[0]
    return ex.ci_low, ex.ci_high, ex.exponent


def dim_interval(n, seed, y, r):
    rows = pd.DataFrame({"params": n, "n": 4096, "task_seed": seed, "test_loss": y})
    ex = es.exponents_by_dim({4: rows}, interval=True).iloc[0]
    return ex.ci_low, ex.ci_high, ex.exponent


def dim_point_bootstrap(n, seed, y, r):
    curve = pd.DataFrame({"params": n, "test_loss": y}).groupby("params").test_loss.mean()
    fit = fit_law("power", curve.index.to_numpy(float), curve.to_numpy(), fix={"c": 0.0}, bootstrap=20, seed=r)
    return (*fit.ci["b"], fit.params["b"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="2,5", help="seeds per size, comma-separated")
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.05, help="relative sd of one seed's error")
    ap.add_argument("--what", choices=("exponent", "floor", "vl", "dim"), default="exponent",
                    help="data_exponents' exponent (digits-like), floors_by_width's floor, or variance_limited's "
                         "exponent in data, or exponents_by_dim's model-size exponent")
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
        elif args.what == "dim":
            truth = DIM_A * DIM_PARAMS ** -DIM_B
            before = coverage(seeds, args.reps, args.noise, DIM_PARAMS, truth, DIM_B, dim_point_bootstrap,
                              np.random.default_rng([123, seeds]))  # the same draws for both intervals
            print(f"  (point bootstrap of the averaged curve, 20 resamples, same draws: {before['hits']} of "
                  f"{before['reps']}; median width {before['median_width']:.3g})", flush=True)
            res = coverage(seeds, args.reps, args.noise, DIM_PARAMS, truth, DIM_B, dim_interval,
                           np.random.default_rng([123, seeds]))
            target = f"b = {DIM_B:g}"
        elif args.what == "vl":
            res = coverage(seeds, args.reps, args.noise, VL_SIZES, VL_A * VL_SIZES ** -VL_K + VL_C, VL_K,
                           vl_interval, rng)
            target = f"k = {VL_K:g}"
        else:
            res = coverage(seeds, args.reps, args.noise, SIZES, A * SIZES ** -B + C, B,
                           exponent_interval, rng)
            target = f"b = {B}"
        unit = "teachers (2 seeds each)" if args.what == "vl" else "seeds"
        print(f"{seeds} {unit} a size, noise {args.noise:.0%}: interval holds {target} in {res['hits']} of {res['reps']} "
              f"({res['coverage']:.0%}); median width {res['median_width']:.3g}; sd of the estimate over repeats "
              f"{res['sd_of_estimate']:.3g}; {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
