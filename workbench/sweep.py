"""Batched sweep engine: a grid of students -> one tidy table, cached row by row on disk.

    cfg = SweepConfig(task=task_config("teacher-regression"), widths=(8, 32), sizes=(256, 1024))
    table = run_sweep(cfg)            # one row per student; rerun = instant

Runs that share a shape and optimiser settings (``RunConfig.group_key``: everything but n and
seed) are trained together in one stacked tensor, at most ``max_group`` at a time. Groups are
formed from the *full* grid before the cache is consulted, so a resumed sweep stacks students
exactly as an uninterrupted one would. When a group finishes, each of its rows is written to
``<cache_dir>/sweep/<key>.json`` atomically (temp file + ``os.replace``); the key hashes the
row's full config, so an interrupted sweep keeps all finished groups and a rerun trains only
what is missing. Ctrl-C waits for a group's rows to be written (``cache.deferred_interrupts``): a group
resumed in part would be trained as a smaller stack, whose numbers differ by float rounding. A process
killed outright between a stack's row writes leaves part of it cached; its cached rows name a stack of
the full size (``group_size``), so the rerun trains the whole stack again and writes only the missing
rows. The returned table holds the rows as those files hold them, so a resumed table equals an
uninterrupted one exactly. A file that cannot be its run's row (unreadable, truncated, not a JSON
object, another configuration's row, a column missing) is named in a
:class:`~workbench.errors.CacheWarning` and trained again, never used.

``run_grids`` trains several grids together and, with ``workers`` > 1 on a CPU, their stacks in worker
processes (:mod:`workbench.workers`), the costliest first: the stacks are those the grids would form one
after another, each trained as in this process (bit-identical), and this process writes each stack's rows
as it ends, so the cache and resume rules above are unchanged.
"""

from __future__ import annotations

import json
import os
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
from tqdm import tqdm

from workbench.cache import config_mismatch, deferred_interrupts, read_cached, remove_stale_temps, write_json_atomic
from workbench.data import cache_dir as default_cache_dir
from workbench.errors import InputError, canonical_numbers, is_real_number, is_whole_number
from workbench.students import StudentSpec, count_params, flops_infer, flops_train
from workbench.sweep_train import LR_SCHEDULES, RunConfig, resolve_device, spec_of, train_stack
from workbench.tasks import MAX_SEED, TaskConfig, make_task, task_in_dim, task_out_dim
from workbench.workers import check_workers, each_result, worker_count

# generous upper limits, so that a mistyped huge number is an InputError, not a crash or an 88 TB allocation
LIMITS = {"widths": 65536, "depths": 1024, "seeds": MAX_SEED, "steps": 10 ** 9, "batch_size": 2 ** 20,
          "eval_every": 10 ** 9}
MAX_PARAMS = 2 ** 30
"""Most parameters of one student (4 GiB of float32, before Adam's two moments)."""
SEQUENCE_TASKS = ("mnist1d",)
"""Tasks whose input is a sequence (one value per time step), the only ones the ``gru`` family reads."""


@dataclass(frozen=True)
class SweepConfig:
    """A grid of students: widths x depths x sizes x seeds on one task with one optimiser."""

    task: TaskConfig = field(default_factory=TaskConfig)
    """The task every student is trained on."""
    family: str = "mlp"
    """Student family: ``mlp``, ``cnn`` or ``gru`` (sequence tasks only: ``SEQUENCE_TASKS``)."""
    widths: tuple[int, ...] = (8, 32)
    """Hidden widths (MLP units, CNN channels or GRU hidden units per direction)."""
    depths: tuple[int, ...] = (1,)
    """Hidden layers (MLP), conv layers (CNN) or stacked bidirectional GRU layers (GRU)."""
    sizes: tuple[int, ...] = (256, 1024)
    """Training-set sizes n (nested prefixes of the task pool)."""
    seeds: tuple[int, ...] = (0,)
    """Student seeds."""
    steps: int = 1000
    """Adam steps per student."""
    batch_size: int = 256
    """Examples per step."""
    lr: float = 1e-3
    """Adam learning rate."""
    early_stopping: bool = False
    """Restore the parameters with the best validation loss (checked every eval_every steps)."""
    eval_every: int = 100
    """Steps between validation checks when early_stopping is on."""
    lr_schedule: str = "constant"
    """Learning-rate schedule over each student's steps: ``constant``, ``cosine`` or ``wsd``
    (``sweep_train.lr_factor``)."""

    def __post_init__(self):
        canonical_numbers(self)  # 8.0 -> 8, label_noise 0 -> 0.0: same value, same cache key and seeds

    def validate(self) -> "SweepConfig":
        """Raise InputError naming the first bad field; return self."""
        if not isinstance(self.task, TaskConfig):  # a task name was an AttributeError ('str' has no validate)
            raise InputError(f"task must be a TaskConfig (from tasks.task_config(name)); got {self.task!r}")
        self.task.validate()
        if self.family == "gru" and self.task.name not in SEQUENCE_TASKS:
            raise InputError(f"family gru reads each input as a sequence of single values, so it is only for the "
                             f"sequence task {' or '.join(SEQUENCE_TASKS)}; got task {self.task.name!r} "
                             "(use family mlp or cnn)")
        for name in ("widths", "depths", "sizes", "seeds"):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):  # widths=8: "int has no len()"
                raise InputError(f"{name} must be a list or tuple of integers; got {values!r}")
            if len(values) == 0:
                raise InputError(f"{name} must list at least one value; got an empty grid")
            low = 0 if name in ("depths", "seeds") else 1
            bad = [v for v in values if not is_whole_number(v) or v < low]
            if bad:
                raise InputError(f"{name} must be integers >= {low}; got {bad[0]!r}")
            too_big = [v for v in values if name in LIMITS and v > LIMITS[name]]
            if too_big:
                raise InputError(f"{name} must be <= {LIMITS[name]}; got {too_big[0]!r}")
            twice = [v for i, v in enumerate(values) if v in values[:i]]
            if twice:  # the same student twice: duplicate rows, counted as two seeds by seed_mean
                raise InputError(f"{name} must list each value once; got {twice[0]!r} twice")
        too_big = [n for n in self.sizes if n > self.task.pool_size]
        if too_big:
            raise InputError(f"sizes must be <= the task's pool_size={self.task.pool_size}; "
                             f"got {too_big[0]} (raise pool_size: --pool-size on the command line)")
        for name in ("steps", "batch_size", "eval_every"):
            if not is_whole_number(getattr(self, name)) or getattr(self, name) < 1:  # True passed as 1
                raise InputError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
            if getattr(self, name) > LIMITS[name]:
                raise InputError(f"{name} must be <= {LIMITS[name]}; got {getattr(self, name)!r}")
        if not is_real_number(self.lr) or not 0 < self.lr < float("inf"):  # '0.1' was a TypeError
            raise InputError(f"lr must be finite and > 0; got {self.lr!r}")
        if not isinstance(self.early_stopping, bool):  # 'False' and 'no' turned it on; 1 keyed apart from True
            raise InputError(f"early_stopping must be True or False; got {self.early_stopping!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {self.lr_schedule!r}")
        if 0 in self.depths and len(self.widths) > 1 and self.family == "mlp":
            raise InputError(f"depth 0 is a linear model, which has no width: with widths {list(self.widths)} its "
                             "students would be one model labelled with different widths; sweep depth 0 with one "
                             "width, the others apart")
        for w in self.widths:  # shape checks, e.g. a CNN too deep for its input length
            for d in self.depths:
                n_params = count_params(StudentSpec(self.family, task_in_dim(self.task), task_out_dim(self.task), w, d))
                if n_params > MAX_PARAMS:
                    raise InputError(f"a {self.family} student of width {w} and depth {d} has {n_params:.3g} "
                                     f"parameters; at most {MAX_PARAMS} (2**30) are allowed")
        return self

    def runs(self) -> list[RunConfig]:
        """Every student of the grid, in a fixed order."""
        self.validate()
        return [RunConfig(self.task, self.family, w, d, n, s, self.steps, self.batch_size,
                          self.lr, self.early_stopping, self.eval_every, self.lr_schedule)
                for w in self.widths for d in self.depths for n in self.sizes for s in self.seeds]


def groups(runs: list[RunConfig], max_group: int = 64, pack_widths: bool = False) -> list[list[RunConfig]]:
    """Split runs into stacks: equal group_key, at most max_group each, in first-seen order."""
    by_key: dict[tuple, list[RunConfig]] = {}
    for r in runs:
        by_key.setdefault(r.group_key(pack_widths), []).append(r)
    return [rs[i:i + int(max_group)] for rs in by_key.values() for i in range(0, len(rs), int(max_group))]


def row_columns(run: RunConfig) -> dict:
    """The config columns of a run's row (task columns first). ``lr_schedule`` appears only when
    it is not ``constant``, so constant-lr rows are identical to those cached before the field."""
    cols = {**run.task.columns(), "family": run.family, "width": run.width, "depth": run.depth,
            "n": run.n, "seed": run.seed, "steps": run.steps, "batch_size": run.batch_size,
            "lr": run.lr, "early_stopping": run.early_stopping, "eval_every": run.eval_every}
    if run.lr_schedule != "constant":
        cols["lr_schedule"] = run.lr_schedule
    return cols


CONFIG_COLUMNS = ("family", "width", "depth", "n", "seed", "steps", "batch_size", "lr", "early_stopping", "eval_every",
                  "lr_schedule", "method", "rewind_step", "fraction", "round")
"""The columns of a sweep's or a pruning study's rows that say how a student was trained (beside ``task`` and the
``task_*`` columns): what an average over seeds must not mix."""


def check_one_config(df: pd.DataFrame, by: list[str], over: Sequence[str] = ("seed",), what: str = "the average") -> None:
    """Refuse a table whose ``by`` groups hold students that differ in a configuration column other than
    ``over``: an average over them would mix, say, two step budgets and call their spread seed noise."""
    cols = [c for c in df.columns if (c in CONFIG_COLUMNS or c == "task" or c.startswith("task_"))
            and c not in by and c not in over]
    if not cols or df.empty:
        return
    counts = df.groupby(by, dropna=False)[cols].nunique(dropna=False)
    for col in cols:
        if (counts[col] > 1).any():
            values = sorted(map(str, df[col].unique()))
            raise InputError(f"{what} over {', '.join(over)} would mix students that differ in {col!r} (values "
                             f"{', '.join(values[:6])}{' ...' if len(values) > 6 else ''}) within one group of "
                             f"{', '.join(by)}; keep one value of {col!r} in the table, or pass it in over=(...) to "
                             "average over it too")


MEASURED_COLUMNS = ("params", "flops_train", "flops_infer", "train_loss", "train_error", "val_loss", "val_error",
                    "test_loss", "test_error", "best_step", "seconds", "group_size", "device", "key")
"""Columns every cached row holds beside its config columns (``train_group`` has always written them)."""


def _cache_path(cache_dir: Path, run: RunConfig) -> Path:
    return Path(cache_dir) / "sweep" / f"{run.key()}.json"


def read_row(cache_dir: Path, run: RunConfig, warn: bool = True) -> dict | None:
    """``run``'s cached row, or None (none cached, or a file that cannot be its row: see :func:`workbench.cache.read_cached`)."""
    expected = {**row_columns(run), "key": run.key()}

    def check(row):
        if isinstance(row, dict) and row.get("lr_schedule", "constant") != run.lr_schedule:
            return f"lr_schedule is {row.get('lr_schedule', 'constant')!r}, not {run.lr_schedule!r}"
        return config_mismatch(row, expected, MEASURED_COLUMNS, text=("device", "key"))

    return read_cached(_cache_path(cache_dir, run), check, warn)


def cached_count(runs: list[RunConfig], cache_dir: str | Path | None = None) -> int:
    """How many of ``runs`` have their row in the cache (``run_sweep`` trains only the others)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return sum(read_row(cache_dir, r, warn=False) is not None for r in runs)


def train_group(group: list[RunConfig], device: str) -> list[dict]:
    """Train one stack and return its finished rows (config + measured columns)."""
    task = make_task(group[0].task)
    res = train_stack(task, group, device)
    rows = []
    for run, m in zip(group, res.metrics):
        spec = spec_of(run, task)
        rows.append({**row_columns(run), "params": count_params(spec),
                     "flops_train": flops_train(spec, run.steps * run.batch_size),
                     "flops_infer": flops_infer(spec), **m,
                     "seconds": res.seconds / len(group), "group_size": len(group),
                     "device": device, "key": run.key()})
    return rows


def stack_to_train(group: list[RunConfig], cached_sizes: dict) -> list[RunConfig]:
    """What to train for a stack of the grid, given ``cached_sizes``: each member of ``group`` that has cached
    results, mapped to the stack size they record (None when they record none). The members without results
    alone, or the whole stack when every cached member was trained in a stack of this size, i.e. a run of this
    grid was killed (SIGKILL, power loss) between the stack's writes: trained alone, the missing members would
    differ from an uninterrupted run's by float rounding and in ``group_size``. Sweeps and pruning studies
    both call it."""
    missing = [r for r in group if r not in cached_sizes]
    if cached_sizes and all(cached_sizes[r] == len(group) for r in cached_sizes):
        return list(group)
    return missing


def progress_bar(progress: bool | Callable, **bar_kwargs):
    """A bar for ``total`` steps: text tqdm on stderr (``progress`` True), none (False), or what the bar
    factory ``progress`` makes of ``(None, **bar_kwargs)``, e.g. ``workbench.report.progress`` with a
    notebook's ``interactive``."""
    return progress(None, **bar_kwargs) if callable(progress) else tqdm(**bar_kwargs, disable=not progress)


def grid_runs(grid) -> list[RunConfig]:
    """The students of one grid: a :class:`SweepConfig` (validated), or a list of :class:`RunConfig`, each checked
    as the one-student grid it is (a list skipped every check: steps=-5 trained and was cached, n beyond the
    pool was an IndexError mid-training) and never listed twice; anything else is an InputError naming its type."""
    if isinstance(grid, SweepConfig):
        return grid.runs()
    if isinstance(grid, (list, tuple)) and all(isinstance(r, RunConfig) for r in grid):
        seen = set()
        for r in grid:
            if r in seen:  # trained twice in one stack, and two rows of one student in every mean over seeds
                raise InputError(f"a list of runs holds the same run twice: {r!r:.200}")
            seen.add(r)
            SweepConfig(r.task, r.family, (r.width,), (r.depth,), (r.n,), (r.seed,), r.steps, r.batch_size, r.lr,
                        r.early_stopping, r.eval_every, r.lr_schedule).validate()
        return list(grid)
    raise InputError(f"a grid must be a SweepConfig or a list of RunConfig; got {type(grid).__name__} {grid!r:.80}")


def check_run_limits(max_group, max_new_groups) -> None:
    """run_sweep's and run_prune's ``max_group`` (a positive whole number) and ``max_new_groups`` (None or a
    whole number >= 0): -1 returned an empty table, or dropped the last stack, unsaid."""
    if not is_whole_number(max_group) or max_group < 1:
        raise InputError(f"max_group must be a positive integer (students per stack); got {max_group!r}")
    if max_new_groups is not None and (not is_whole_number(max_new_groups) or max_new_groups < 0):
        raise InputError(f"max_new_groups must be None or an integer >= 0 (stacks to train); got {max_new_groups!r}")


def resolve_cache_dir(cache_dir: str | Path | bool | None) -> Path | None:
    """The folder a sweep or a pruning study caches its rows in: None is the default cache
    (:func:`workbench.data.cache_dir`: ``$WORKBENCH_CACHE`` or ``data/cache``), ``False`` none (every student
    is trained, nothing read or written), else the folder given."""
    if cache_dir is None:
        return default_cache_dir()
    if cache_dir is False:
        return None
    if isinstance(cache_dir, bool) or not isinstance(cache_dir, (str, os.PathLike)) or not str(cache_dir):
        raise InputError(f"cache_dir must be a folder, None (the default cache) or False (no cache); got {cache_dir!r}")
    return Path(cache_dir)


def run_sweep(cfg: SweepConfig | list[RunConfig], cache_dir: str | Path | bool | None = None,
              device: str | None = None, max_group: int = 64, progress: bool | Callable = True,
              max_new_groups: int | None = None, pack_widths: bool | None = None, workers: int = 1) -> pd.DataFrame:
    """Train every student of the grid that is not cached; return the full tidy table.

    progress: True/False for a text tqdm bar on stderr, or a bar factory called as
    ``progress(None, total=..., desc=..., unit=...)``, e.g. ``workbench.report.progress`` with the
    notebook's ``interactive`` (a widget in JupyterLab, one line on stdout in a report, not stderr's red box).
    cache_dir: where each finished stack's rows are kept, so a rerun trains only what is missing
    (:func:`resolve_cache_dir`: None the default cache, False none). max_new_groups: stop after training this many groups (simulates an interruption; the
    returned table then holds only the rows finished so far). pack_widths: stack students of
    different widths together, zero-padded (exact; fewer, larger kernels); default on CUDA only,
    where padding is nearly free. workers: processes training stacks at once on a CPU (0: one per core;
    see :func:`run_grids`).
    """
    return run_grids([cfg], cache_dir, device, max_group, progress, max_new_groups, pack_widths, workers)[0]


def stack_cost(stack: list[RunConfig]) -> float:
    """Training FLOPs of a stack: the order in which worker processes take stacks (the longest first)."""
    return sum(flops_train(StudentSpec(r.family, task_in_dim(r.task), task_out_dim(r.task), r.width, r.depth),
                           r.steps * r.batch_size) for r in stack)


def run_grids(cfgs: list[SweepConfig | list[RunConfig]], cache_dir: str | Path | bool | None = None,
              device: str | None = None, max_group: int = 64, progress: bool | Callable = True,
              max_new_groups: int | None = None, pack_widths: bool | None = None,
              workers: int = 1) -> list[pd.DataFrame]:
    """:func:`run_sweep` for several grids at once: one table per grid, in order. Every stack missing from
    the cache, over all the grids, is trained once (a student in two grids is trained with the first), so
    with ``workers`` > 1 the stacks of all the grids share the worker processes, the costliest first.

    workers: on a CPU, the number of processes training stacks at once (0: one per CPU core), each with
    this process's torch thread count, and never more than fit the cores at that count
    (:func:`workbench.workers.worker_count`); a stack's numbers are bit-identical to training it here, and each
    finished stack's rows are written as it ends (Ctrl-C keeps them and ends the workers; an error in one stack
    ends the run, and stacks still training in other workers are lost). A row's ``seconds`` is its stack's
    wall time over the stack's size, measured where it trained: with workers, while other stacks share the
    cores. On CUDA the stacks train here, one at a time, whatever ``workers`` says: the GPU is shared, not split.
    """
    check_workers(workers)
    check_run_limits(max_group, max_new_groups)
    if not isinstance(cfgs, (list, tuple)):
        raise InputError(f"cfgs must be a list of grids (SweepConfig, or lists of RunConfig); got {type(cfgs).__name__}")
    grids = [grid_runs(c) for c in cfgs]
    device = resolve_device(device)  # a torch.device works too; a misspelt one is named
    pack_widths = device.startswith("cuda") if pack_widths is None else pack_widths
    cache_dir = resolve_cache_dir(cache_dir)
    if cache_dir is not None:
        remove_stale_temps(cache_dir / "sweep")  # a killed run's half-written rows
    cached = {}
    for runs in grids:  # a wrong file reads as missing
        cached.update({r: read_row(cache_dir, r) if cache_dir is not None else None for r in runs if r not in cached})
    sizes = {r: row["group_size"] for r, row in cached.items() if row is not None}  # cached, or trained below
    todo = []
    for runs in grids:  # as if the grids ran one after another: a stack sees the rows the earlier ones write
        for g in groups(runs, max_group, pack_widths):
            if missing := [r for r in g if r not in sizes]:
                todo.append((stack_to_train(g, {r: sizes[r] for r in g if r in sizes}), missing))
                sizes.update({r: len(todo[-1][0]) for r in missing})
    if max_new_groups is not None:
        todo = todo[:int(max_new_groups)]
    workers = worker_count(workers, len(todo)) if not device.startswith("cuda") else 1
    order = sorted(range(len(todo)), key=lambda i: -stack_cost(todo[i][0])) if workers > 1 else None
    # closed on Ctrl-C too, so the bar ends its line before the CLI's one-line message
    bar = progress_bar(progress, total=sum(len(m) for _, m in todo), desc="sweep", unit="student")
    # closing(): the workers end as Ctrl-C unwinds here, not whenever the generator is collected
    with bar, closing(each_result(train_group, [(stack, device) for stack, _ in todo], workers, order)) as results:
        for i, stack_rows in results:
            rows = dict(zip(todo[i][0], stack_rows))
            with deferred_interrupts():  # a stack's rows land together: Ctrl-C never leaves part of a stack cached
                for run in todo[i][1]:  # a cached row is never replaced
                    if cache_dir is not None:
                        write_json_atomic(_cache_path(cache_dir, run), rows[run])
                    cached[run] = json.loads(json.dumps(rows[run]))  # the row as its file holds it
            bar.update(len(todo[i][1]))
    return [pd.DataFrame([cached[r] for r in runs if cached[r] is not None]) for runs in grids]
