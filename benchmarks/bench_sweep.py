"""Batched sweep engine vs a plain per-model training loop, side by side in one process.

The grid: widths 4..128 x sizes 256..8192 (36 students, one hidden layer, 1000 Adam steps,
batch 256) on the teacher-regression task. Both sides use the same inits and minibatches; the
per-model side is ``nn.Sequential`` + its own ``torch.optim.Adam``, one model after another.
Neither side reads the row cache. Results go to benchmarks/results/bench_sweep.json.

    .venv/bin/python benchmarks/bench_sweep.py [--steps 1000] [--threads 1] [--max-group 64]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from workbench.sweep import SweepConfig, groups, train_group
from workbench.sweep_train import default_device, train_single
from workbench.tasks import make_task, task_config
from workbench.workers import cpu_model

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-group", type=int, default=64)
    p.add_argument("--device", default=None)
    p.add_argument("--default-adam-too", action="store_true",
                   help="also time the per-model loop with torch.optim.Adam's default (non-fused) settings")
    p.add_argument("--pack-widths", action="store_true",
                   help="stack all widths together, zero-padded to the widest (exact)")
    p.add_argument("--plain-head-too", action="store_true",
                   help="also time the batched side with students._dense never turning a one-output product, "
                        "alternating with the default three times (the two tables must be equal)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = args.device or default_device()
    cfg = SweepConfig(task=task_config("teacher-regression"), widths=(4, 8, 16, 32, 64, 128),
                      depths=(1,), sizes=(256, 512, 1024, 2048, 4096, 8192), seeds=(0,),
                      steps=args.steps, batch_size=args.batch_size, lr=1e-3)
    runs = cfg.runs()
    task = make_task(cfg.task)
    train_single(task, dataclasses.replace(runs[0], steps=5), device)  # warm-up: lazy inits, imports

    t0 = time.perf_counter()
    rows = [row for g in groups(runs, args.max_group, args.pack_widths) for row in train_group(g, device)]
    batched_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    single = [train_single(task, r, device) for r in runs]
    loop_s = time.perf_counter() - t0

    head = plain_head_ab(runs, args, device) if args.plain_head_too else None

    loop_default_s, err_d = None, None
    if args.default_adam_too:
        t0 = time.perf_counter()
        single_default = [train_single(task, r, device, fused_adam=False) for r in runs]
        loop_default_s = time.perf_counter() - t0
        err_d = np.array([r["test_error"] for r in single_default])

    err_b = np.array([r["test_error"] for r in rows])
    err_l = np.array([r["test_error"] for r in single])
    result = {
        "grid": "widths 4,8,16,32,64,128 x sizes 256..8192, depth 1, teacher-regression (d=4)",
        "students": len(runs), "steps": args.steps, "batch_size": args.batch_size,
        "device": device, "threads": args.threads, "max_group": args.max_group, "pack_widths": args.pack_widths,
        "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_model(),
        "batched_seconds": batched_s, "per_model_seconds": loop_s, "speedup": loop_s / batched_s,
        "per_model_default_adam_seconds": loop_default_s,
        "speedup_vs_default_adam": loop_default_s / batched_s if loop_default_s else None,
        "batched_mean_test_error": float(err_b.mean()), "per_model_mean_test_error": float(err_l.mean()),
        "per_model_default_adam_mean_test_error": None if err_d is None else float(err_d.mean()),
        "max_abs_test_error_diff": float(np.abs(err_b - err_l).max()),
        "test_error_by_width_batched": {int(w): float(err_b[[r.width == w for r in runs]].mean())
                                        for w in sorted({r.width for r in runs})},
        "plain_head_ab": head,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_sweep_{device}_t{args.threads}{'_packed' if args.pack_widths else ''}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


def plain_head_ab(runs, args, device, pairs: int = 3) -> dict:
    """The batched side timed with the one-output product never turned and with the per-shape choice
    (``students._dense``), alternately, ``pairs`` times each; every row must be the same either way."""
    from workbench import students

    tuned = students._turned_is_faster
    seconds = {"plain": [], "tuned": []}
    tables = {}
    try:
        for _ in range(pairs):
            for mode in ("plain", "tuned"):
                students._TURNED.clear()
                students._turned_is_faster = tuned if mode == "tuned" else (lambda h, w: False)
                t0 = time.perf_counter()
                rows = [row for g in groups(runs, args.max_group, args.pack_widths) for row in train_group(g, device)]
                seconds[mode].append(time.perf_counter() - t0)
                tables[mode] = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
        turned = sorted(key[0][2] for key, on in students._TURNED.items() if on)
    finally:
        students._turned_is_faster = tuned
        students._TURNED.clear()
    return {"plain_seconds": seconds["plain"], "tuned_seconds": seconds["tuned"],
            "rows_equal": tables["plain"] == tables["tuned"], "turned_fan_in": turned}


if __name__ == "__main__":
    main()
