"""Magnitude pruning and iterative magnitude pruning (IMP) with weight rewinding, batched.

IMP as in Frankle et al. / Rosenfeld et al. 2021: train dense, remember the weights after
``rewind_step`` steps; each round keep the largest-magnitude surviving weights so that the density
(kept / prunable weights) is 0.8^round, rewind the survivors to their step-``rewind_step`` values
and retrain for the remaining ``steps - rewind_step`` steps with the pruned weights held at 0.
Pruning is global per student over all weight matrices and conv kernels (biases are never pruned).
The kept count is round(0.8^r * prunable), so densities are reached exactly up to one weight.
``method="oneshot"`` prunes the dense weights straight to each density instead (round r starts
from the dense weights, not from round r-1's survivors).

Deviations, noted: the rewound retraining starts a fresh Adam (moments at 0) and replays the
student's minibatch order from its beginning; the papers rewind by epochs, here by steps.
Students of equal shape (sizes, seeds) are pruned and retrained together in one stack; with ``workers`` > 1
on a CPU, stacks are pruned in worker processes (:mod:`workbench.workers`), with the same numbers.

With a ``cache_dir``, each student's rows (all its rounds) are stored as
``<cache_dir>/prune/student-<key>.json`` as soon as its stack finishes (the key hashes the student's
run config and the pruning settings), so an interrupted study keeps every finished stack and a rerun
trains only the students that are missing. Stacks are formed from the *full* grid, as an uninterrupted
study forms them. A student's rows can differ by float rounding with the others sharing its stack (a CNN's
val_loss does), so they record the stack's size (``group_size``): after a ``kill -9`` between a stack's student
writes, the rerun trains that stack whole again and writes only the missing students (as ``run_sweep`` does),
and the table equals an uninterrupted study's. Rows cached before ``group_size`` was recorded are used as they
are; a stack they belong to trains its missing students alone. A file that cannot hold the student's rows
(unreadable, truncated, another configuration's rows, a round or column missing) is named in a
:class:`~workbench.errors.CacheWarning` and trained again, never used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from workbench.cache import config_mismatch, deferred_interrupts, read_cached, remove_stale_temps, write_json_atomic
from workbench.errors import InputError, canonical_numbers, is_real_number, is_whole_number
from workbench.students import StudentSpec, conv_lengths, count_params, param_shapes
from workbench.sweep import SweepConfig, check_run_limits, groups, progress_bar, resolve_cache_dir, row_columns, stack_cost, stack_to_train
from workbench.sweep_train import resolve_device, spec_of, train_stack
from workbench.tasks import make_task
from workbench.workers import check_workers, each_result, worker_count

METHODS = ("imp", "oneshot")
FAMILIES = ("mlp", "cnn")
"""Student families pruning is built and tested for (not ``gru``)."""


@dataclass(frozen=True)
class PruneConfig:
    """A pruning study: a sweep grid, plus how to prune it."""

    sweep: SweepConfig = field(default_factory=SweepConfig)
    """The students (task, widths, depths, sizes, seeds, steps, batch size, lr)."""
    rounds: int = 5
    """Pruning rounds R; round r has density (1 − fraction)^r, 0.8^r by default (round 0 is the dense network)."""
    rewind_step: int = 50
    """Survivors are rewound to their weights after this many steps (0 = back to init)."""
    fraction: float = 0.2
    """Share of the surviving weights removed per round (density (1 - fraction)^r)."""
    method: str = "imp"
    """``imp`` (iterative, from the previous round's survivors) or ``oneshot``."""

    def __post_init__(self):
        canonical_numbers(self)  # 1 -> 1.0 in a float field: same value, same cache key

    def validate(self) -> "PruneConfig":
        if not isinstance(self.sweep, SweepConfig):  # None was "'NoneType' has no attribute 'validate'"
            raise InputError(f"sweep must be a SweepConfig (the students to prune); got {self.sweep!r}")
        self.sweep.validate()
        for name in ("rounds", "rewind_step"):  # 2.5 passed here and was a TypeError in range() after training
            if not is_whole_number(getattr(self, name)):
                raise InputError(f"{name} must be a whole number; got {getattr(self, name)!r}")
        if not is_real_number(self.fraction):
            raise InputError(f"fraction must be a number in (0, 1); got {self.fraction!r}")
        if self.sweep.family not in FAMILIES:  # gru: its MACs per weight and rewinding were never checked here
            raise InputError(f"pruning supports the {' and '.join(FAMILIES)} families only; got family "
                             f"{self.sweep.family!r}")
        if self.sweep.early_stopping:
            raise InputError("early_stopping is not supported with pruning; got early_stopping=True")
        if self.rounds < 0:
            raise InputError(f"rounds must be >= 0; got {self.rounds!r}")
        if not 0 <= self.rewind_step < self.sweep.steps:
            raise InputError(f"rewind_step must be in [0, steps={self.sweep.steps}); got {self.rewind_step!r}")
        if not 0 < self.fraction < 1:
            raise InputError(f"fraction must be in (0, 1); got {self.fraction!r}")
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        return self


def prunable(spec: StudentSpec) -> list[str]:
    """Names of the prunable tensors: every weight matrix / conv kernel."""
    return [k for k in param_shapes(spec) if k.startswith("w")]


def macs_per_weight(spec: StudentSpec) -> dict[str, int]:
    """MACs one weight costs per example: 1 for dense layers, the output length for conv kernels, the
    sequence length for GRU input and recurrent weights (used once per time step)."""
    out = {k: spec.in_dim if spec.family == "gru" and k[:2] in ("wi", "wh") else 1 for k in prunable(spec)}
    if spec.family == "cnn":
        for i, length in enumerate(conv_lengths(spec)[1:]):
            out[f"w{i}"] = length
    return out


def magnitude_masks(params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                    keep: int) -> dict[str, torch.Tensor]:
    """Per student, keep the ``keep`` largest |w| among the surviving weights, across all layers.

    params, masks: stacked (S, ...) tensors for the prunable names. Returns new 0/1 masks with
    exactly ``keep`` ones per student (ties broken by ``torch.topk``).
    """
    names = list(masks)
    s = masks[names[0]].shape[0]
    scores = torch.cat([torch.where(masks[k] > 0, params[k].abs(), torch.tensor(-1.0)).reshape(s, -1)
                        for k in names], dim=1)  # (S, total); pruned weights score below any survivor
    top = torch.topk(scores, keep, dim=1).indices  # (S, keep)
    flat = torch.zeros_like(scores).scatter_(1, top, 1.0)
    out, start = {}, 0
    for k in names:
        size = masks[k][0].numel()
        out[k] = flat[:, start:start + size].reshape(masks[k].shape)
        start += size
    return out


def _rows(cfg: PruneConfig, group, res, masks, rnd: int, spec: StudentSpec, total: int, device: str) -> list[dict]:
    """One row per student of a round. FLOPs count only surviving weights: flops_infer =
    2 * sparse MACs per example; flops_train = 6 * sparse MACs * examples seen in this round's
    (re)training (dense steps for round 0, steps - rewind_step after). ``device``: where the stack trained."""
    per_weight = macs_per_weight(spec)
    rows = []
    for i, (run, m) in enumerate(zip(group, res.metrics)):
        kept = {k: int(masks[k][i].sum()) if masks else math.prod(param_shapes(spec)[k]) for k in per_weight}
        macs = sum(kept[k] * per_weight[k] for k in per_weight)
        n_kept = sum(kept.values())
        examples = (run.steps - (cfg.rewind_step if rnd > 0 else 0)) * run.batch_size
        rows.append({**row_columns(run), "method": cfg.method, "rewind_step": cfg.rewind_step,
                     "fraction": cfg.fraction, "round": rnd, "density": n_kept / total, "target_density": (1 - cfg.fraction) ** rnd,
                     "weights_kept": n_kept, "weights_prunable": total, "params": count_params(spec),
                     "params_nonzero": count_params(spec) - total + n_kept,
                     "flops_infer": 2 * macs, "flops_train": 6 * macs * examples,
                     **m, "seconds": res.seconds / len(group), "group_size": len(group), "device": device})
    return rows


def student_key(cfg: PruneConfig, run) -> str:
    """Cache key of one student's pruning rows: its run config and the pruning settings. Version 2 for a
    learning-rate schedule other than constant: until session 22 a rewound round restarted the schedule (from
    full rate, over the shorter budget) instead of going on from the rewind step; constant rates were unaffected
    and keep their keys."""
    blob = json.dumps({"v": 1 if run.lr_schedule == "constant" else 2, "run": run.key(), "rounds": cfg.rounds,
                       "rewind_step": cfg.rewind_step,
                       "fraction": cfg.fraction, "method": cfg.method}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _student_path(cache_dir: Path, cfg: PruneConfig, run) -> Path:
    return Path(cache_dir) / "prune" / f"student-{student_key(cfg, run)}.json"


MEASURED_COLUMNS = ("density", "target_density", "weights_kept", "weights_prunable", "params", "params_nonzero",
                    "flops_infer", "flops_train", "train_loss", "train_error", "val_loss", "val_error", "test_loss",
                    "test_error", "best_step", "seconds")
"""Columns every cached round holds beside its config columns (``_rows`` has always written them)."""


def read_student(cache_dir: Path, cfg: PruneConfig, run, warn: bool = True) -> list[dict] | None:
    """The cached rows of ``run`` (one per round), or None: none cached, or a file that cannot hold them
    (see :func:`workbench.cache.read_cached`)."""
    expected = {**row_columns(run), "method": cfg.method, "rewind_step": cfg.rewind_step}

    def check(rows):
        if not isinstance(rows, list) or len(rows) != cfg.rounds + 1:
            return f"not a list of {cfg.rounds + 1} rounds"
        for r, row in enumerate(rows):
            problem = config_mismatch(row, {**expected, "round": r}, MEASURED_COLUMNS)
            if problem is None and row.get("fraction", cfg.fraction) != cfg.fraction:
                problem = f"fraction is {row['fraction']!r}, not {cfg.fraction!r}"
            if problem is not None:
                return f"round {r}: {problem}"
        return None

    rows = read_cached(_student_path(Path(cache_dir), cfg, run), check, warn)
    return None if rows is None else [_with_new_columns(row, cfg) for row in rows]


def _with_new_columns(row: dict, cfg: PruneConfig) -> dict:
    """A cached row with the columns added in session 25, as new rows have them: ``fraction`` (after
    ``rewind_step``; the student's cache key holds it, so it is the config's) and ``device`` (last; ``unknown``
    where the row was written before it was recorded)."""
    out = {}
    for name, value in row.items():
        if name == "round":
            out.setdefault("fraction", cfg.fraction)
        out[name] = value
    out.setdefault("device", "unknown")
    return out


def _prune_group(cfg: PruneConfig, group, device: str, bar=None) -> list[list[dict]]:
    """Dense training and every pruning round of one stack: per student, its rows by round (``bar``, when
    given, is advanced once per round)."""
    task = make_task(group[0].task)
    spec = spec_of(group[0], task)
    dense = train_stack(task, group, device, rewind_step=cfg.rewind_step)
    names = prunable(spec)
    total = sum(dense.params[k][0].numel() for k in names)
    rows = [_rows(cfg, group, dense, {}, 0, spec, total, device)]
    if bar is not None:
        bar.update()
    masks = {k: torch.ones_like(dense.params[k]) for k in names}
    last = dense
    for rnd in range(1, cfg.rounds + 1):
        keep = round(total * (1 - cfg.fraction) ** rnd)
        source = dense if cfg.method == "oneshot" else last
        start = {k: torch.ones_like(m) for k, m in masks.items()} if cfg.method == "oneshot" else masks
        masks = magnitude_masks(source.params, start, keep)
        last = train_stack(task, group, device, init=dense.rewind, masks=masks,
                           steps=group[0].steps - cfg.rewind_step, resume_at=cfg.rewind_step)
        rows.append(_rows(cfg, group, last, masks, rnd, spec, total, device))
        if bar is not None:
            bar.update()
    return [[by_round[i] for by_round in rows] for i in range(len(group))]


def _check_rounds(cfg: PruneConfig, runs) -> None:
    """Before any training: every network keeps at least one weight after the last round."""
    for run in runs:
        spec = spec_of(run, make_task(run.task))
        total = sum(math.prod(param_shapes(spec)[k]) for k in prunable(spec))
        if round(total * (1 - cfg.fraction) ** cfg.rounds) < 1:
            last = next(r for r in range(1, cfg.rounds + 1) if round(total * (1 - cfg.fraction) ** r) < 1)
            raise InputError(f"rounds={cfg.rounds} prunes the {total}-weight network (width {run.width}, depth "
                             f"{run.depth}) to no weights at round {last}; use fewer rounds")


def run_prune(cfg: PruneConfig, device: str | None = None, max_group: int = 64,
              progress: bool | Callable = True, cache_dir: str | Path | bool | None = None,
              max_new_groups: int | None = None, workers: int = 1) -> pd.DataFrame:
    """Dense training + ``rounds`` pruning rounds for every student; one row per (student, round).

    progress: True/False for a text tqdm bar on stderr, or a bar factory called as
    ``progress(None, total=..., desc=..., unit=...)``, e.g. ``workbench.report.progress`` with the
    notebook's ``interactive`` (a widget in JupyterLab, one text line in a report).

    cache_dir: keep each finished student's rows there and train only the missing students (see the
    module docstring); None is the default cache, as for :func:`workbench.sweep.run_sweep` (it stored nothing
    until session 25), False trains everything and stores nothing. max_new_groups: stop after this many
    newly trained stacks (simulates an interruption; the table then holds the students finished so far).
    workers: on a CPU, processes pruning stacks at once (0: one per CPU core), as in
    :func:`workbench.sweep.run_grids`: the numbers do not depend on it.
    """
    if not isinstance(cfg, PruneConfig):  # a SweepConfig was "no attribute 'sweep'"
        raise InputError(f"cfg must be a PruneConfig (a SweepConfig and how to prune it); got {type(cfg).__name__}")
    cfg.validate()
    check_workers(workers)
    check_run_limits(max_group, max_new_groups)
    device = resolve_device(device)
    runs = cfg.sweep.runs()
    _check_rounds(cfg, runs)
    cache_dir = resolve_cache_dir(cache_dir)
    done: dict = {}
    if cache_dir is not None:
        remove_stale_temps(Path(cache_dir) / "prune")  # a killed run's half-written rows
        for run in runs:
            rows = read_student(Path(cache_dir), cfg, run)
            if rows is not None:
                done[run] = rows
    # stacks of the full grid, as an uninterrupted study forms them; a stack killed between its student writes
    # is trained whole again (its cached students' group_size), and only its missing students are written
    todo = [(stack_to_train(g, {r: done[r][0].get("group_size") for r in g if r in done}), missing)
            for g in groups(runs, max_group) if (missing := [r for r in g if r not in done])]
    if max_new_groups is not None:
        todo = todo[:int(max_new_groups)]
    workers = worker_count(workers, len(todo)) if not device.startswith("cuda") else 1
    order = sorted(range(len(todo)), key=lambda i: -stack_cost(todo[i][0])) if workers > 1 else None
    bar = progress_bar(progress, total=len(todo) * (cfg.rounds + 1), desc="prune", unit="round")
    with bar:  # closed on Ctrl-C too, so the bar ends its line before the CLI's one-line message
        jobs = [(cfg, stack, device, bar if workers == 1 else None) for stack, _ in todo]  # a bar stays here
        with closing(each_result(_prune_group, jobs, workers, order)) as results:  # the workers end as Ctrl-C unwinds
            for i, by_student in results:
                trained = dict(zip(todo[i][0], by_student))
                with deferred_interrupts():  # a stack's students land together: Ctrl-C never leaves part of a stack cached
                    for run in todo[i][1]:  # a cached student is never replaced
                        done[run] = trained[run]
                        if cache_dir is not None:
                            write_json_atomic(_student_path(Path(cache_dir), cfg, run), trained[run])
                if workers > 1:
                    bar.update(cfg.rounds + 1)
    # the uncached order: stack by stack, round by round, student by student
    return pd.DataFrame([done[run][r] for group in groups(runs, max_group) for r in range(cfg.rounds + 1)
                         for run in group if run in done])


def cached_students(cfg: PruneConfig, cache_dir: str | Path) -> int:
    """How many of the study's students have their rows (every round) in ``cache_dir``."""
    return sum(read_student(Path(cache_dir), cfg, run, warn=False) is not None for run in cfg.sweep.runs())


def with_sweep(cfg: PruneConfig, **changes) -> PruneConfig:
    """A copy of cfg with some SweepConfig fields changed."""
    return dataclasses.replace(cfg, sweep=dataclasses.replace(cfg.sweep, **changes))
