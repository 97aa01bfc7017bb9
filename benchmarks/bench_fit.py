"""Side-by-side: the batched multi-start chinchilla fit vs one scipy L-BFGS-B call per grid start.

Both minimise the same objective (Σ Huber_δ(log L̂ − log L), δ = 1e-3, Hoffmann's 4,500-point grid) on
the same 240-point planted data set, in one process, single-threaded BLAS. The baseline gets the
analytic gradient (a fair, fast baseline). Reported: wall time of each, the speed ratio, both optima,
and the time of 200 bootstrap refits.

    python benchmarks/bench_fit.py [--points 240] [--noise 0.01] [--seed 0] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from workbench.data import planted  # noqa: E402
from workbench.fit import fit_law, rho  # noqa: E402
from workbench.laws import get_law, start_grid  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def huber_objective(theta, logN, logD, logy, delta):
    """Σ Huber_δ(LSE(a − α log N, b − β log D, e) − log y) and its gradient; θ = (e, a, b, α, β)."""
    e, a, b, alpha, beta = theta
    t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])  # (3, n)
    m = t.max(axis=0)
    w = np.exp(t - m)
    s = w.sum(axis=0)
    r = m + np.log(s) - logy
    soft = w / s  # ∂LSE/∂term
    psi = np.clip(r, -delta, delta)  # Huber'(r)
    grad = np.array([
        (psi * soft[2]).sum(), (psi * soft[0]).sum(), (psi * soft[1]).sum(),
        -(psi * soft[0] * logN).sum(), -(psi * soft[1] * logD).sum(),
    ])
    return float(rho(r, True, delta).sum()), grad


def baseline(N, D, y, delta=1e-3):
    """One scipy L-BFGS-B call per point of Hoffmann's grid; keep the best (the plain multi-start search)."""
    law = get_law("chinchilla")
    grid = start_grid(law, (N, D), y, law.param_names)  # (4500, 5) in (e, a, b, α, β)
    logN, logD, logy = np.log(N), np.log(D), np.log(y)
    best = (np.inf, None)
    for x0 in grid:
        res = minimize(huber_objective, x0, args=(logN, logD, logy, delta), jac=True, method="L-BFGS-B")
        if res.fun < best[0]:
            best = (res.fun, res.x)
    return best, len(grid)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=240)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of the batched fit (median)")
    args = ap.parse_args(argv)

    law = get_law("chinchilla")
    rng = np.random.default_rng(args.seed)
    N, D = 10 ** rng.uniform(7, 11, args.points), 10 ** rng.uniform(8, 12, args.points)
    df = planted("chinchilla", noise=args.noise, seed=args.seed, x=(N, D))
    y = df["y"].to_numpy()

    with threadpool_limits(1):
        fit_law(law, (N, D), y)  # warm-up: imports and first-call costs out of the timing
        times = []
        for _ in range(args.repeats):  # median of a few: the machine may be shared
            t = time.perf_counter()
            ours = fit_law(law, (N, D), y)
            times.append(time.perf_counter() - t)
        t_ours = float(np.median(times))

        t = time.perf_counter()
        (base_val, base_theta), n_starts = baseline(N, D, y)
        t_base = time.perf_counter() - t

        t = time.perf_counter()
        boot = fit_law(law, (N, D), y, bootstrap=args.bootstrap, seed=args.seed)
        t_boot = time.perf_counter() - t

    base_params = dict(zip(law.param_names, [np.exp(base_theta[0]), np.exp(base_theta[1]),
                                             np.exp(base_theta[2]), base_theta[3], base_theta[4]]))
    out = {
        "points": args.points, "starts": n_starts, "cpu_count": os.cpu_count(),
        "batched_seconds": t_ours, "batched_seconds_all": times, "scipy_per_start_seconds": t_base, "speedup": t_base / t_ours,
        "batched_objective": ours.objective_value, "scipy_objective": base_val,
        "objective_rel_diff": (ours.objective_value - base_val) / base_val,
        "batched_params": ours.params, "scipy_params": base_params,
        "max_param_rel_diff": max(abs(ours.params[k] / base_params[k] - 1) for k in law.param_names),
        "bootstrap_refits": args.bootstrap, "bootstrap_seconds": t_boot, "bootstrap_ci": boot.ci,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_fit.json").write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps(out, indent=2, default=float))
    ok = out["objective_rel_diff"] <= 1e-6
    print(f"\nbatched {t_ours:.2f}s vs scipy per start {t_base:.1f}s: {t_base / t_ours:.0f}x; "
          f"same optimum: {ok}; {args.bootstrap} bootstrap refits in {t_boot:.1f}s", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
