"""Stacks trained in worker processes vs in one process, side by side in one run.

The grid is notebook 03's main sweep at a quarter of its steps: teacher classification, widths 16..256 x
sizes 256..16384, 2 seeds, Adam steps log-linear in n from 500 to 2,000: 98 students in 49 stacks (7 grids, one per step
budget). Both sides train every student from an empty cache of their own (so both write their rows, as a
real sweep does) with one torch thread per process; the worker side uses ``--workers`` processes (default:
one per CPU core) through ``workbench.sweep.run_grids``. The tables must agree exactly (all but the
``seconds`` column). Results go to benchmarks/results/bench_workers.json.

    .venv/bin/python benchmarks/bench_workers.py [--workers 0] [--steps-small 500] [--steps-large 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from workbench import errorsources as es
from workbench.sweep import run_grids
from workbench.workers import cpu_cores, cpu_model, worker_count

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=0, help="worker processes (0: one per CPU core)")
    p.add_argument("--steps-small", type=int, default=500)
    p.add_argument("--steps-large", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [256, 512, 1024, 2048, 4096, 8192, 16384]
    cfgs = es.teacher_sweeps(widths=[16, 24, 32, 48, 64, 128, 256], sizes=sizes, seeds=tuple(range(args.seeds)),
                             steps=es.step_schedule(sizes, args.steps_small, args.steps_large),
                             task="teacher-classification", intrinsic_dim=8, lr=3e-3)
    timings, tables = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, workers in (("one_process", 1), ("workers", args.workers)):
            t0 = time.perf_counter()
            tables[name] = pd.concat(run_grids(cfgs, Path(tmp) / name, device="cpu", progress=False,
                                               workers=workers), ignore_index=True)
            timings[name] = time.perf_counter() - t0
    a, b = (tables[k].drop(columns="seconds") for k in ("one_process", "workers"))
    out = {
        "students": len(a),
        "workers": worker_count(args.workers, 10 ** 6), "cpu_cores": cpu_cores(),
        "one_process_s": round(timings["one_process"], 2), "workers_s": round(timings["workers"], 2),
        "speedup": round(timings["one_process"] / timings["workers"], 2),
        "tables_equal": bool(a.equals(b)),
        "mean_test_error": float(a["test_error"].mean()),
        "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_model(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_workers.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
