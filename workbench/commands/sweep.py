"""``python -m workbench sweep``: train a grid of students (batched), write one CSV row each.

Rows are cached under ``--cache-dir`` by the hash of their full config, so rerunning the same
command (same --out or not) trains only what is missing and gives an identical table.
"""

from __future__ import annotations

import argparse
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from workbench.commands.paths import check_cache_dir, check_out, write_csv_atomic  # noqa: F401 (prune and costtune import them here)
from workbench.errors import CacheWriteError, InputError, Interrupted, repeats, stopped_by
from workbench.limits import TASKS
from workbench.workers import check_workers

MAX_THREADS = 1024
MAX_SEEDS = 10000


def int_list(name: str, text: str) -> tuple[int, ...]:
    """Parse '4,8,16' into (4, 8, 16); InputError naming the parameter otherwise (an empty item too: '4,,16' ran
    the grid of 4 and 16, a typo's smaller grid with no word)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise InputError(f"--{name} must be a comma-separated list of integers; got {text!r} (empty)")
    if not all(parts):
        raise InputError(f"--{name} has an empty item; got {text!r}")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"--{name} must be a comma-separated list of integers; got {text!r}") from None
    repeated = sorted(repeats(values))
    if repeated:
        raise InputError(f"--{name} lists {', '.join(map(str, repeated))} more than once; got {text!r}")
    return values


def add_task_arguments(p: argparse.ArgumentParser,
                       families: str = "mlp, cnn or gru (bidirectional, --task mnist1d only)") -> None:
    """Task options shared by ``sweep`` and ``prune`` (``families``: the ``--family`` values the verb takes)."""
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--family", default="mlp", help=f"student family: {families} (default mlp)")
    p.add_argument("--intrinsic-dim", type=int, default=None, help="teacher tasks: varying input features d (default 4)")
    p.add_argument("--label-noise", type=float, default=0.0,
                   help="gaussian noise std (regression) or flipped-label fraction (classification)")
    p.add_argument("--teacher-width", type=int, default=None, help="teacher tasks: teacher hidden width (default 64)")
    p.add_argument("--teacher-depth", type=int, default=None, help="teacher tasks: teacher hidden layers (default 2)")
    p.add_argument("--task-seed", type=int, default=0, help="seed of the teacher and the data")
    p.add_argument("--pool-size", type=int, default=None, help="training pool rows (default per task)")
    p.add_argument("--val-size", type=int, default=None, help="validation rows (default per task)")
    p.add_argument("--test-size", type=int, default=None, help="test rows (default per task)")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps per student (default 1000)")
    p.add_argument("--batch-size", type=int, default=256, help="examples per step (default 256)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: robust when the machine is shared)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes training stacks at once on a CPU, each with --threads threads (0: one per "
                        "CPU core; never more than the cores over --threads; default 1); the numbers do not "
                        "depend on it")
    p.add_argument("--out", required=True, help="CSV file to write")
    # not an option: argparse's prefix matching read `--seed 3` (the seed, as in fit and costtune) as --seeds 3
    p.add_argument("--seed", dest="seed_given", default=None, help=argparse.SUPPRESS)


# config fields -> the flags that set them (prune spells the grid in the singular)
TASK_FLAGS = {"steps": "--steps", "batch_size": "--batch-size", "lr": "--lr", "label_noise": "--label-noise",
              "pool_size": "--pool-size", "val_size": "--val-size", "test_size": "--test-size",
              "teacher_width": "--teacher-width", "teacher_depth": "--teacher-depth",
              "intrinsic_dim": "--intrinsic-dim", "seed": "--task-seed"}
SWEEP_FLAGS = {**TASK_FLAGS, "widths": "--widths", "depths": "--depths", "sizes": "--sizes",
               "eval_every": "--eval-every"}


@contextmanager
def named_as_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """The library's checks name a config field (``lr must be finite and > 0; got 0.0``); on the command
    line the error names the flag that set it (``--lr must be ...``)."""
    try:
        yield
    except InputError as exc:
        text = str(exc)
        field = re.match(r"(\w+)(?=\s+must\b|\s+is\b|=|\s+\()", text)
        if field is None or field.group(1) not in flags:
            raise
        raise InputError(flags[field.group(1)] + text[field.end():]) from None


def task_from_args(args):
    """The TaskConfig the task options describe."""
    from workbench.tasks import task_config

    if args.task not in TASKS:
        raise InputError(f"--task must be one of {', '.join(TASKS)}; got {args.task!r}")
    sizes = {k: getattr(args, k) for k in ("pool_size", "val_size", "test_size")
             if getattr(args, k) is not None}
    teacher = {"intrinsic_dim": args.intrinsic_dim, "teacher_width": args.teacher_width,
               "teacher_depth": args.teacher_depth}
    given = {k: v for k, v in teacher.items() if v is not None}
    if not args.task.startswith("teacher"):
        if given:  # a real benchmark has no teacher: the option would be ignored without a word
            flags = ", ".join(f"{TASK_FLAGS[k]} {v}" for k, v in given.items())
            raise InputError(f"{flags}: only the teacher tasks have a teacher and an intrinsic dimension; "
                             f"got --task {args.task}")
        given = {}
    return task_config(args.task, seed=args.task_seed, label_noise=args.label_noise, **given, **sizes)


def check_common(args) -> None:
    if args.seed_given is not None:
        raise InputError(f"--seed is not an option here; got --seed {args.seed_given}: --seeds K trains seeds 0..K-1 "
                         "of every configuration, --task-seed seeds the teacher and the data")
    if args.task not in TASKS:  # here as well as in task_from_args: before torch is imported
        raise InputError(f"--task must be one of {', '.join(TASKS)}; got {args.task!r}")
    if args.family not in ("mlp", "cnn", "gru"):
        raise InputError(f"--family must be mlp, cnn or gru; got {args.family!r}")
    if not 1 <= args.threads <= MAX_THREADS:
        raise InputError(f"--threads must be in [1, {MAX_THREADS}]; got {args.threads!r}")
    check_workers(args.workers, "--workers")
    check_device(args.device)
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise InputError(f"--seeds must be a positive number of seeds <= {MAX_SEEDS}; got {args.seeds!r}")


def check_device(device: str | None) -> None:
    """``--device``: absent (CUDA when present), cpu or cuda."""
    if device not in (None, "cpu", "cuda"):
        raise InputError(f"--device must be cpu or cuda; got {device!r}")


def set_up_torch(args) -> None:
    """Thread count, and a clear error when CUDA is asked for but absent."""
    import torch

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch.cuda.is_available() is False")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_task_arguments(p)
    p.add_argument("--widths", required=True, help="comma-separated widths, e.g. 4,8,16")
    p.add_argument("--depths", default="1", help="comma-separated depths (default 1)")
    p.add_argument("--sizes", required=True, help="comma-separated training sizes, e.g. 256,1024")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds K (seeds 0..K-1; default 1)")
    p.add_argument("--lr-schedule", default="constant",
                   help="learning-rate schedule over each student's steps: constant, cosine, or wsd "
                        "(constant, then a linear decay over the last 20%%) (default constant)")
    p.add_argument("--early-stopping", action="store_true", help="keep the best-validation parameters")
    p.add_argument("--eval-every", type=int, default=100, help="steps between validation checks (default 100)")
    p.add_argument("--max-group", type=int, default=64, help="most students in one stacked tensor (default 64)")
    p.add_argument("--cache-dir", default=None, help="row cache (default $WORKBENCH_CACHE, else data/cache of the "
                                                     "source checkout, else ~/.cache/scaling-workbench)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar on stderr")


def run(args) -> dict:
    check_common(args)
    check_out(args.out)
    check_cache_dir(args.cache_dir, sub="sweep")
    if args.max_group < 1:
        raise InputError(f"--max-group must be >= 1; got {args.max_group!r}")
    if args.lr_schedule not in ("constant", "cosine", "wsd"):
        raise InputError(f"--lr-schedule must be constant, cosine or wsd; got {args.lr_schedule!r}")
    widths, depths, sizes = (int_list(k, getattr(args, k)) for k in ("widths", "depths", "sizes"))

    from workbench.data import cache_dir
    from workbench.sweep import SweepConfig, cached_count, run_sweep

    with named_as_flags(SWEEP_FLAGS):
        task = task_from_args(args)
        set_up_torch(args)
        cfg = SweepConfig(task, args.family, widths, depths, sizes, tuple(range(args.seeds)), args.steps,
                          args.batch_size, args.lr, args.early_stopping, args.eval_every,
                          args.lr_schedule).validate()
    t0 = time.perf_counter()
    cached = cached_count(cfg.runs(), Path(args.cache_dir) if args.cache_dir is not None else cache_dir())
    try:
        with named_as_flags(SWEEP_FLAGS):
            table = run_sweep(cfg, cache_dir=args.cache_dir, device=args.device, max_group=args.max_group,
                              progress=not args.no_progress, workers=args.workers)
        out = write_csv_atomic(table, args.out)
    except CacheWriteError as exc:  # disk full, or the folder made read-only during the run
        runs = cfg.runs()
        cache = Path(args.cache_dir) if args.cache_dir is not None else cache_dir()
        raise CacheWriteError(f"{exc}: {cached_count(runs, cache)} of {len(runs)} rows are kept in {cache / 'sweep'}; "
                              "make room there, then rerun the same command to resume (it trains only the missing "
                              "rows)") from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated)
        runs = cfg.runs()
        cache = Path(args.cache_dir) if args.cache_dir is not None else cache_dir()
        raise Interrupted(f"sweep interrupted ({stopped_by(exc)}): {cached_count(runs, cache)} of {len(runs)} rows "
                          f"are kept in {cache / 'sweep'}; rerun the same command to resume (it trains only the "
                          "missing rows)", exc) from None
    return {"rows": int(len(table)), "trained": int(len(table)) - cached, "from_cache": cached,
            "seconds": time.perf_counter() - t0, "out": str(out), "mean_test_error": float(table["test_error"].mean())}
