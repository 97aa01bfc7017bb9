"""How often a fit's 95% bootstrap band holds the planted law 4× and 10× beyond the data.

For each one-input law, its planted parameters and design (``workbench.data.PLANTED``) give a noiseless curve;
each repeat multiplies it by log-normal noise, fits the law with ``bootstrap`` resamples of the points, and asks
whether ``FitResult.predict_interval`` (the 2.5–97.5 percentiles of the refits' predictions) holds the planted
law's value at 4× and 10× the largest x. A 95% confidence band would hold it in 95% of the repeats; the spread
of the point predictions over the repeats against the band's width / 3.92 says whether the band is too narrow.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fit_coverage.py --laws m1,m3,bnsl,coverage --reps 100
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from workbench.data import PLANTED
from workbench.fit import fit_law
from workbench.laws import get_law


def coverage(law: str, reps: int, noise: float, bootstrap: int) -> dict:
    case, lw = PLANTED[law], get_law(law)
    if len(lw.inputs) != 1:
        raise SystemExit(f"{law}: only one-input laws are run here (it takes {lw.inputs})")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--laws", default="m1,m3,bnsl,coverage", help="comma-separated one-input laws")
    ap.add_argument("--reps", type=int, default=100, help="fresh noisy datasets per law (default 100)")
    ap.add_argument("--noise", type=float, default=0.02, help="log-normal noise sd (default 0.02)")
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples per fit (default 200)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for law in args.laws.split(","):
        t0 = time.perf_counter()
        row = coverage(law, args.reps, args.noise, args.bootstrap)
        rows.append({**row, "seconds": time.perf_counter() - t0})
        print(f"{law:9s} {row['points']:3d} points: coverage at 4x / 10x {row['coverage_4x']:.2f} / "
              f"{row['coverage_10x']:.2f} over {args.reps} datasets; sd of the predictions "
              f"{row['sd_rel_error'][0]:.2%} / {row['sd_rel_error'][1]:.2%} against band width / 3.92 "
              f"{row['band_width_over_3.92'][0]:.2%} / {row['band_width_over_3.92'][1]:.2%} "
              f"({rows[-1]['seconds']:.0f} s)", flush=True)
    out = Path(__file__).parent / "results" / "bench_fit_coverage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"noise": args.noise, "reps": args.reps, "bootstrap": args.bootstrap, "laws": rows},
                              indent=1))


if __name__ == "__main__":
    main()
