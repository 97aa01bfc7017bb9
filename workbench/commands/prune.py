"""``python -m workbench prune``: iterative magnitude pruning with rewinding; one CSV row per
(student, round) with density, round, errors, losses and FLOPs. Each student's rows are cached under
``--cache-dir`` when its stack finishes, so an interrupted run resumes and a rerun trains nothing."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workbench.commands.sweep import (TASK_FLAGS, add_task_arguments, check_cache_dir, check_common, check_out,
                                      int_list, named_as_flags, set_up_torch, task_from_args, write_csv_atomic)
from workbench.errors import CacheWriteError, InputError, Interrupted, stopped_by


PRUNE_FLAGS = {**TASK_FLAGS, "widths": "--width", "depths": "--depth", "sizes": "--size", "rounds": "--rounds",
               "rewind_step": "--rewind-step", "method": "--method"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_task_arguments(p, families="mlp or cnn")
    p.add_argument("--width", required=True, help="student width (or a comma-separated list)")
    p.add_argument("--depth", default="1", help="student depth (or a comma-separated list)")
    p.add_argument("--size", required=True, help="training size n (or a comma-separated list)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds K (seeds 0..K-1; default 1)")
    p.add_argument("--rounds", type=int, default=5, help="pruning rounds; round r has density 0.8^r (default 5)")
    p.add_argument("--rewind-step", type=int, default=None,
                   help="rewind survivors to the weights after this many steps (default: 5%% of --steps)")
    p.add_argument("--method", default="imp", help="imp (iterative, the default) or oneshot")
    p.add_argument("--cache-dir", default=None,
                   help="per-student row cache: a rerun trains only what is missing (default $WORKBENCH_CACHE, else "
                        "data/cache of the source checkout, else ~/.cache/scaling-workbench)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar on stderr")


def run(args) -> dict:
    check_common(args)
    check_out(args.out)
    check_cache_dir(args.cache_dir, sub="prune")
    if args.rounds < 0:
        raise InputError(f"--rounds must be >= 0; got {args.rounds!r}")
    widths, depths, sizes = (int_list(k, getattr(args, a)) for k, a in
                             (("width", "width"), ("depth", "depth"), ("size", "size")))

    from workbench.data import cache_dir
    from workbench.prune import PruneConfig, cached_students, run_prune
    from workbench.sweep import SweepConfig

    with named_as_flags(PRUNE_FLAGS):
        task = task_from_args(args)
        set_up_torch(args)
        rewind = args.rewind_step if args.rewind_step is not None else max(0, args.steps // 20)
        cfg = PruneConfig(SweepConfig(task, args.family, widths, depths, sizes, tuple(range(args.seeds)),
                                      args.steps, args.batch_size, args.lr), rounds=args.rounds,
                          rewind_step=rewind, method=args.method).validate()
    t0 = time.perf_counter()
    cache = Path(args.cache_dir) if args.cache_dir is not None else cache_dir()
    cached = cached_students(cfg, cache)
    try:
        with named_as_flags(PRUNE_FLAGS):
            table = run_prune(cfg, device=args.device, progress=not args.no_progress, cache_dir=cache,
                              workers=args.workers)
        out = write_csv_atomic(table, args.out)
    except CacheWriteError as exc:  # disk full, or the folder made read-only during the run
        kept, total = cached_students(cfg, cache), len(cfg.sweep.runs())
        raise CacheWriteError(f"{exc}: the rows of {kept} of {total} students are kept in {cache / 'prune'}; make room "
                              "there, then rerun the same command to resume (it trains only the missing students)") from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated)
        kept, total = cached_students(cfg, cache), len(cfg.sweep.runs())
        raise Interrupted(f"prune interrupted ({stopped_by(exc)}): the rows of {kept} of {total} students "
                          f"({kept * (cfg.rounds + 1)} of {total * (cfg.rounds + 1)} rows) are kept in {cache / 'prune'}; "
                          "rerun the same command to resume (it trains only the missing students)", exc) from None
    last = table[table["round"] == table["round"].max()]
    keys = [k for k in ("width", "depth", "n", "seed") if k in last.columns]
    # final_density and final_test_error are means over the networks; "final" lists each one's last round
    students = len(cfg.sweep.runs())
    return {"rows": int(len(table)), "students_trained": students - cached, "students_from_cache": cached,
            "seconds": time.perf_counter() - t0, "out": str(out), "networks": int(len(last)),
            "final_density": float(last["density"].mean()), "final_test_error": float(last["test_error"].mean()),
            "final": [{**{k: int(r[k]) for k in keys}, "density": float(r["density"]), "test_error": float(r["test_error"])}
                      for _, r in last.iterrows()]}
