"""How often a fit's 95% bootstrap band holds the planted law 4× and 10× beyond the data.

For each one-input law, its planted parameters and design (``workbench.data.PLANTED``) give a noiseless curve;
each repeat multiplies it by log-normal noise, fits the law with ``bootstrap`` resamples of the points, and asks
whether ``FitResult.predict_interval`` (the 2.5–97.5 percentiles of the refits' predictions) holds the planted
law's value at 4× and 10× the largest x. A 95% confidence band would hold it in 95% of the repeats; the spread
of the point predictions over the repeats against the band's width / 3.92 says whether the band is too narrow.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fit_coverage.py --laws m1,m3,bnsl,coverage --reps 100

The two-input laws ``chinchilla`` and ``rosenfeld`` also get *parameter* coverage: each repeat draws a fresh data set
with ``planted(law, noise, seed=r)`` (chinchilla: Epoch's fit on 240 random (N, D) pairs, drawn afresh per seed, as
notebook 01 does), fits it with ``bootstrap`` resamples and ``seed=r``, and asks whether each free parameter's
``FitResult.ci`` (2.5–97.5 percentiles of the refits) holds the truth; the median interval width against 3.92 × the
sd of the point estimates over the repeats says whether the intervals are too narrow (< 1) or too wide (> 1), and
``bias_sd`` is (median estimate − truth) / that sd. The band is then checked at 4× and 10× beyond the data in both
inputs: chinchilla at (4·max N, 4·max D) and (10·max N, 10·max D) of the same fit's design; rosenfeld refitted on the
lower-left 5 × 5 corner of its 7 × 7 grid (m ≤ 1e6, n ≤ 10^4.33: 25 of the 49 points of that data set) and checked at
4× and 10× the corner's largest m and n (10× lies beyond the whole grid in n). Each setting is one run; ``--out``
keeps their results apart:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fit_coverage.py \
        --laws chinchilla,rosenfeld --reps 200 --noise 0.02 --bootstrap 20 \
        --out benchmarks/results/bench_fit_coverage_2d_noise0.02_B20.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from workbench import allocate
from workbench.data import PLANTED, planted
from workbench.fit import fit_law
from workbench.laws import get_law


def coverage(law: str, reps: int, noise: float, bootstrap: int) -> dict:
    case, lw = PLANTED[law], get_law(law)
    if len(lw.inputs) != 1:
        raise SystemExit(f"{law}: only one-input laws and {', '.join(TWO_INPUT)} are run here (it takes {lw.inputs})")
    xs = case.design(np.random.default_rng(0))
    far = (np.array([4.0, 10.0]) * xs[0].max(),)
    truth = lw.predict(far, case.params)
    fix = {k: case.params[k] for k in case.fix}
    hits, errors, widths = np.zeros(2), [], []
    for r in range(reps):
        rng = np.random.default_rng(1000 + r)
        y = lw.predict(xs, case.params) * np.exp(noise * rng.standard_normal(xs[0].shape))
        fit = fit_law(law, xs, y, fix=fix, bootstrap=bootstrap, seed=r)
        lo, hi = fit.predict_interval(far)
        hits += (lo <= truth) & (truth <= hi)
        errors.append(fit.predict(far) / truth - 1)
        widths.append((hi - lo) / truth)
    return {"law": law, "points": int(xs[0].size), "coverage_4x": hits[0] / reps, "coverage_10x": hits[1] / reps,
            "sd_rel_error": np.std(errors, axis=0).tolist(), "band_width_over_3.92": (np.median(widths, axis=0) / 3.92).tolist()}


# Two-input laws: the planted parameters, and which points of a data set the extrapolation fit may use.
TWO_INPUT = {
    "chinchilla": (allocate.published_fit("epoch2024"), lambda m, n: np.ones(m.shape, bool)),  # notebook 01's truth
    "rosenfeld": (dict(PLANTED["rosenfeld"].params), lambda m, n: (m <= 1.0001e6) & (n <= 10 ** 4.334)),
}


def coverage2(law: str, reps: int, noise: float, bootstrap: int) -> dict:
    """Parameter-interval coverage in-sample, and band coverage at 4× and 10× beyond the data in both inputs."""
    lw, (truth, corner) = get_law(law), TWO_INPUT[law]
    fix = {k: truth[k] for k in PLANTED[law].fix}
    free = [p for p in lw.param_names if p not in fix]
    est, ci, hits, errors, widths = [], [], np.zeros(2), [], []
    for r in range(reps):
        pts = planted(law, noise=noise, seed=r, params=truth)
        xs, y = tuple(pts[c].to_numpy() for c in lw.inputs), pts.y.to_numpy()
        fit = fit_law(law, xs, y, fix=fix, bootstrap=bootstrap, seed=r)
        est.append([fit.params[p] for p in free])
        ci.append([fit.ci[p] for p in free])
        keep = corner(*xs)
        if not keep.all():
            fit = fit_law(law, tuple(x[keep] for x in xs), y[keep], fix=fix, bootstrap=bootstrap, seed=r)
        far = tuple(np.array([4.0, 10.0]) * x[keep].max() for x in xs)
        at = lw.predict(far, truth)
        lo, hi = fit.predict_interval(far)
        hits += (lo <= at) & (at <= hi)
        errors.append(fit.predict(far) / at - 1)
        widths.append((hi - lo) / at)
    est, ci, t = np.array(est), np.array(ci), np.array([truth[p] for p in free])  # (reps, P), (reps, P, 2), (P,)
    sd = est.std(axis=0)
    params = {p: {"coverage": float(np.mean((ci[:, j, 0] <= t[j]) & (t[j] <= ci[:, j, 1]))),
                  "miss_low": float(np.mean(ci[:, j, 1] < t[j])), "miss_high": float(np.mean(ci[:, j, 0] > t[j])),
                  "width_over_3.92sd": float(np.median(ci[:, j, 1] - ci[:, j, 0]) / (3.92 * sd[j])),
                  "bias_sd": float((np.median(est[:, j]) - t[j]) / sd[j])} for j, p in enumerate(free)}
    return {"law": law, "points": int(xs[0].size), "extrapolation_points": int(keep.sum()), "noise": noise,
            "bootstrap": bootstrap, "reps": reps, "binomial_se_at_0.95": float(np.sqrt(0.95 * 0.05 / reps)),
            "params": params, "coverage_4x": hits[0] / reps, "coverage_10x": hits[1] / reps,
            "sd_rel_error": np.std(errors, axis=0).tolist(),
            "band_width_over_3.92": (np.median(widths, axis=0) / 3.92).tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--laws", default="m1,m3,bnsl,coverage", help="comma-separated one-input laws, chinchilla, rosenfeld")
    ap.add_argument("--reps", type=int, default=100, help="fresh noisy datasets per law (default 100)")
    ap.add_argument("--noise", type=float, default=0.02, help="log-normal noise sd (default 0.02)")
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples per fit (default 200)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_fit_coverage.json",
                    help="results JSON (default benchmarks/results/bench_fit_coverage.json)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for law in args.laws.split(","):
        t0 = time.perf_counter()
        if law in TWO_INPUT:
            row = coverage2(law, args.reps, args.noise, args.bootstrap)
            rows.append({**row, "seconds": time.perf_counter() - t0})
            print(f"{law:9s} {row['points']:3d} points, noise {args.noise:g}, B = {args.bootstrap}, {args.reps} datasets "
                  f"(binomial se at 0.95: {row['binomial_se_at_0.95']:.3f}); parameter coverage (interval width / "
                  "3.92 sd of the estimates, median bias / sd): " + ", ".join(
                      f"{p} {v['coverage']:.2f} ({v['width_over_3.92sd']:.2f}, {v['bias_sd']:+.2f})"
                      for p, v in row["params"].items()), flush=True)
            print(f"{'':9s} fitted on {row['extrapolation_points']} points: coverage at 4x / 10x "
                  f"{row['coverage_4x']:.2f} / {row['coverage_10x']:.2f}; sd of the predictions "
                  f"{row['sd_rel_error'][0]:.2%} / {row['sd_rel_error'][1]:.2%} against band width / 3.92 "
                  f"{row['band_width_over_3.92'][0]:.2%} / {row['band_width_over_3.92'][1]:.2%} "
                  f"({rows[-1]['seconds']:.0f} s)", flush=True)
            continue
        row = coverage(law, args.reps, args.noise, args.bootstrap)
        rows.append({**row, "seconds": time.perf_counter() - t0})
        print(f"{law:9s} {row['points']:3d} points: coverage at 4x / 10x {row['coverage_4x']:.2f} / "
              f"{row['coverage_10x']:.2f} over {args.reps} datasets; sd of the predictions "
              f"{row['sd_rel_error'][0]:.2%} / {row['sd_rel_error'][1]:.2%} against band width / 3.92 "
              f"{row['band_width_over_3.92'][0]:.2%} / {row['band_width_over_3.92'][1]:.2%} "
              f"({rows[-1]['seconds']:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"noise": args.noise, "reps": args.reps, "bootstrap": args.bootstrap, "laws": rows},
                                   indent=1))


if __name__ == "__main__":
    main()
