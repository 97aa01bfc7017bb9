"""Batched training of many students at once, and the plain per-model loop it must agree with.

Each student's randomness depends only on its own config: the init comes from a generator
seeded by (shape, seed), the minibatch indices from a generator seeded by (n, batch size, seed,
task). Minibatches are drawn uniformly with replacement from the student's own nested training
prefix, in fixed chunks of ``INDEX_CHUNK`` steps, so what else shares the stack never changes a
student's numbers (up to float summation order).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from workbench.students import (StudentSpec, float32_default, forward, forward_shared, init_params, mlp_grads, pad_params,
                                shared_chunk, stack_params, to_module)
from workbench.errors import InputError, canonical_numbers
from workbench.sweep_adam import StackAdam
from workbench.tasks import EXACT_ROWS, Task, TaskConfig

INDEX_CHUNK = 64  # steps of minibatch indices drawn per generator call
LR_SCHEDULES = ("constant", "cosine", "wsd")
WSD_DECAY_FRACTION = 0.2  # share of the steps over which "wsd" decays the lr linearly to 0


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at (0-based) update ``step`` of ``total``.

    ``constant``: 1. ``cosine``: 0.5·(1 + cos(π·step/total)), from 1 at the first update down to
    ~0 at the last (no warm-up). ``wsd`` (warm-up-stable-decay without the warm-up; Hägele et al.
    2024): 1 for the first 80% of the updates, then linearly down to 1/(decay steps) at the last.
    Used by both the batched engine and the per-model reference loop, so they apply bit-identical
    learning rates.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    if schedule == "wsd":
        decay = max(1, round(WSD_DECAY_FRACTION * total))
        return min(1.0, (total - step) / decay)
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {schedule!r}")


@dataclass(frozen=True)
class RunConfig:
    """One student's full training config: one row of a sweep table, and its cache key."""

    task: TaskConfig
    """The task (teacher, data sizes, noise)."""
    family: str = "mlp"
    """Student family: ``mlp``, ``cnn`` or ``gru``."""
    width: int = 32
    """Hidden units (MLP), channels (CNN) or hidden units per direction (GRU)."""
    depth: int = 1
    """Hidden layers (MLP), conv layers (CNN) or stacked bidirectional GRU layers (GRU)."""
    n: int = 1024
    """Training examples: the first n rows of the task's pool."""
    seed: int = 0
    """Student seed: init and minibatch order."""
    steps: int = 1000
    """Adam steps (the fixed budget)."""
    batch_size: int = 256
    """Examples per step, drawn with replacement from the n training examples."""
    lr: float = 1e-3
    """Adam learning rate."""
    early_stopping: bool = False
    """Keep the parameters with the lowest validation loss seen at the evaluation points."""
    eval_every: int = 100
    """Steps between validation evaluations when early_stopping is on."""
    lr_schedule: str = "constant"
    """Learning-rate schedule over the run's steps: ``constant``, ``cosine`` or ``wsd`` (see ``lr_factor``)."""

    def __post_init__(self):
        canonical_numbers(self)  # width 8.0 -> 8: same value, same cache key and seeds

    def key(self) -> str:
        """Stable hash of the full config (the cache key)."""
        # "v": bump when training changes its numbers, so old cached rows stop matching. v2: MLP
        # classification gradients take the softmax over a transposed copy (``students.mlp_grads``),
        # float rounding apart from v1; every other run keeps v1 and its cached rows
        fields = asdict(self)
        if fields["lr_schedule"] == "constant":  # keys of constant-lr runs predate the field
            del fields["lr_schedule"]
        version = 2 if self.family == "mlp" and self.task.kind == "classification" else 1
        if self.task.name in ("mnist1d", "digits") and self.task.label_noise > 0:
            version = 3  # v3: label noise on the real tasks, which before session 5 was silently not applied
        if self.task.kind == "classification" and self.task.label_noise > 0:
            version = 4  # v4: flipped labels drawn row by row, nested across pool sizes (``tasks._flip_labels``)
        if self.family == "mlp" and self.task.kind == "classification":
            # v5 (v6 with label noise, from v2 / v4): the head's weight gradient computed as (gᵀ acts)ᵀ, 4-13x faster
            # on a CPU and float rounding apart (``students.mlp_grads``, session 33)
            version = 6 if version == 4 else 5
        blob = json.dumps({"v": version, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def group_key(self, pack_widths: bool = False) -> tuple:
        """Runs with equal group keys are trained in one stack (n and seed may differ; with
        pack_widths, the width too: narrower students are zero-padded to the widest)."""
        return (self.task, self.family, None if pack_widths else self.width, self.depth,
                self.steps, self.batch_size, self.lr, self.early_stopping, self.eval_every, self.lr_schedule)


def _seed_of(*parts) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:15], 16)


def init_seed(run: RunConfig, spec: StudentSpec) -> int:
    """Init depends on shape and seed only: students differing only in n, or only in their task (another teacher's
    task seed), share their init; their minibatches (:func:`data_seed`, which holds the task) differ."""
    return _seed_of("init", spec, run.seed)


def data_seed(run: RunConfig) -> int:
    return _seed_of("data", run.task, run.n, run.batch_size, run.seed)


def spec_of(run: RunConfig, task: Task) -> StudentSpec:
    return StudentSpec(run.family, task.in_dim, task.out_dim, run.width, run.depth)


def stack_spec(runs: list[RunConfig], task: Task) -> StudentSpec:
    """The shape of a stack: the widest member's (all members share family and depth)."""
    return spec_of(max(runs, key=lambda r: r.width), task)


def default_device() -> str:
    """``cuda`` when present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device) -> str:
    """The device a library call trains on, as a string: None is :func:`default_device`; ``cpu``, ``cuda``,
    ``cuda:N`` or a ``torch.device`` of those; ``meta`` too (shapes only, no numbers: it rejects mixed devices as
    CUDA does, so the CUDA path can be traced without a GPU; RESULTS_sweep §5). A misspelt name (torch's own error
    named no argument), another kind of device (the engine is built and tested for these), or a CUDA device this
    machine lacks is an InputError naming the value."""
    if device is None:
        return default_device()
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda", "meta"):
        raise InputError(f"device must be 'cpu', 'cuda' or 'cuda:N' (None: CUDA when present); got {device!r}")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {str(device)!r} was asked for but torch.cuda.is_available() is False")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InputError(f"device {str(device)!r} was asked for but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return str(device)


def exact_cudnn(fn):
    """Run ``fn`` with cuDNN's TF32 off and its deterministic kernels on. PyTorch lets cuDNN round
    convolution inputs to TF32 (10-bit mantissa) on recent GPUs by default, so CNN students trained on
    CUDA would differ from CPU ones by more than summation order, while sharing their cache keys (which
    hold no device). No effect on CPU."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, benchmark=False,
                                        deterministic=True, allow_tf32=False):
            return fn(*args, **kwargs)
    return wrapper


def keeps_torch_rng(fn):
    """Run ``fn``, which seeds torch's global generators for its own reproducible initialisations, and put the
    caller's generator states back after it (CPU and every CUDA device): a library call must not reseed the
    user's randomness, least of all only when a cache was cold."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            return fn(*args, **kwargs)
    return wrapper


def make_adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with PyTorch's fused kernel where the build has it (same maths, fewer launches)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def initial_params(run: RunConfig, spec: StudentSpec) -> dict[str, torch.Tensor]:
    return init_params(spec, torch.Generator().manual_seed(init_seed(run, spec)))


class _Batches:
    """Per-student minibatch indices, drawn INDEX_CHUNK steps at a time from own generators."""

    def __init__(self, runs: list[RunConfig], device):
        self.gens = [torch.Generator().manual_seed(data_seed(r)) for r in runs]
        self.runs, self.device, self.idx = runs, device, None

    def at(self, step: int) -> torch.Tensor:
        j = step % INDEX_CHUNK
        if j == 0:  # (INDEX_CHUNK, S, B): each step's slice is contiguous
            self.idx = torch.stack([torch.randint(r.n, (INDEX_CHUNK, r.batch_size), generator=g)
                                    for r, g in zip(self.runs, self.gens)], dim=1).to(self.device)
        return self.idx[j]  # (S, B)


def per_example_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, error) per example, each (S, N): cross-entropy and 0/1 error, or squared error
    (mean over outputs) for both in regression."""
    if kind == "classification":
        s, n, c = out.shape
        loss = F.cross_entropy(out.reshape(s * n, c), y.reshape(-1), reduction="none").view(s, n)
        return loss, (out.argmax(-1) != y).float()
    loss = ((out - y) ** 2).mean(-1)
    return loss, loss


@dataclass
class StackResult:
    """What training a stack returns: per-student metrics, final and (optionally) rewind params."""

    metrics: list[dict]
    params: dict[str, torch.Tensor]
    rewind: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0


@torch.no_grad()
def split_means(kind: str, spec: StudentSpec, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                ns: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and error (each (S,)) of S stacked students over a shared split x (N, in), y (N[, out]);
    with ``ns``, student s averages over the first ns[s] rows only (its training prefix).

    A split of up to ``EXACT_ROWS`` rows is scored in one piece, as always, so its numbers (which are in
    cached rows) stay bit-identical. A larger split is scored a forward chunk at a time with float64
    sums, so memory does not grow with N: in one piece the outputs, losses and argmax of 64 students on
    2^24 rows take tens of GB.
    """
    device = next(iter(params.values())).device
    s, n = next(iter(params.values())).shape[0], len(x)
    x, y = x.to(device), y.to(device)
    lengths = torch.tensor(ns if ns is not None else [n] * s, device=device)
    if n <= EXACT_ROWS:
        out = forward_shared(spec, params, x)  # (S, N, out)
        loss, err = per_example_loss(kind, out, y.unsqueeze(0).expand(s, *y.shape))
        if ns is None:
            return loss.mean(1), err.mean(1)
        keep = (torch.arange(n, device=device)[None, :] < lengths[:, None]).float()  # (S, N)
        return (loss * keep).sum(1) / keep.sum(1), (err * keep).sum(1) / keep.sum(1)
    chunk = shared_chunk(spec, s)  # forward_shared then makes one pass per chunk
    sums = torch.zeros(2, s, dtype=torch.float64, device=device)  # (loss, error) x S
    for start in range(0, n, chunk):
        xc, yc = x[start:start + chunk], y[start:start + chunk]
        out = forward_shared(spec, params, xc, chunk)  # (S, C, out)
        loss, err = per_example_loss(kind, out, yc.unsqueeze(0).expand(s, *yc.shape))
        keep = (torch.arange(start, start + len(xc), device=device)[None, :] < lengths[:, None])  # (S, C)
        sums[0] += torch.where(keep, loss, 0).sum(1, dtype=torch.float64)
        sums[1] += torch.where(keep, err, 0).sum(1, dtype=torch.float64)
    means = (sums / lengths.clamp(max=n).to(torch.float64)).to(torch.float32)
    return means[0], means[1]


@torch.no_grad()
def evaluate(task: Task, spec: StudentSpec, params: dict[str, torch.Tensor], ns: list[int]) -> list[dict]:
    """train/val/test loss and error of S stacked students; student s's train set is its prefix."""
    s, max_n = len(ns), max(ns)
    res: list[dict] = [{} for _ in ns]
    splits = {"train": (task.x_pool[:max_n], task.y_pool[:max_n]), "val": (task.x_val, task.y_val),
              "test": (task.x_test, task.y_test)}
    for split, (x, y) in splits.items():
        # average each student's train split over its own prefix only
        loss, err = split_means(task.kind, spec, params, x, y, ns if split == "train" else None)
        for i in range(s):
            res[i][f"{split}_loss"] = float(loss[i])
            res[i][f"{split}_error"] = float(err[i])
    return res


@exact_cudnn
@float32_default
def train_stack(task: Task, runs: list[RunConfig], device="cpu", *,
                init: dict[str, torch.Tensor] | None = None,
                masks: dict[str, torch.Tensor] | None = None,
                steps: int | None = None, rewind_step: int | None = None, resume_at: int = 0) -> StackResult:
    """Train S students (equal ``group_key``) together with Adam on stacked parameters.

    init: stacked starting params (default: each run's own seeded init). masks: stacked 0/1
    tensors for some params (pruning); masked entries are held at exactly 0. steps: override
    of the run's step budget. rewind_step: also return the params after that many steps.
    The learning-rate schedule (``RunConfig.lr_schedule``) spans the steps trained in this call; with
    ``resume_at`` = k > 0 (``init`` holds weights rewound to step k) it goes on from step k of the run's own
    budget instead, as training after weight rewinding does (Frankle et al. 2020).
    """
    t0 = time.perf_counter()
    device = str(device)
    spec = stack_spec(runs, task)  # widest member; narrower students are zero-padded (exact)
    lr, budget = runs[0].lr, runs[0].steps if steps is None else steps
    schedule = runs[0].lr_schedule
    schedule_steps = runs[0].steps if resume_at else budget  # the steps the schedule spans
    start = init if init is not None else stack_params(
        [pad_params(initial_params(r, spec_of(r, task)), spec_of(r, task), spec) for r in runs])
    autograd = spec.family != "mlp"  # MLPs use the hand-written backward (students.mlp_grads)
    params = {k: v.detach().clone().to(device).requires_grad_(autograd) for k, v in start.items()}
    masks = {k: m.to(device) for k, m in (masks or {}).items()}
    with torch.no_grad():
        for k, m in masks.items():
            params[k].mul_(m)
    opt = StackAdam(list(params.values()), lr)
    x_pool = task.x_pool[: max(r.n for r in runs)].to(device)
    y_pool = task.y_pool[: len(x_pool)].to(device)
    batches = _Batches(runs, device)
    s = len(runs)
    # gather a whole chunk of minibatches at once unless that would take much memory
    chunk_elems = INDEX_CHUNK * sum(r.batch_size for r in runs) * (x_pool[:1].numel() + y_pool[:1].numel())
    whole_chunk = chunk_elems * x_pool.element_size() <= 2 ** 25  # 32 MB
    x_buf = y_buf = None
    # one-value rows (regression targets) gather ~4x faster from a flat view
    y_flat = y_pool.view(-1) if y_pool[:1].numel() == 1 else y_pool
    early = runs[0].early_stopping
    best_loss = torch.full((s,), float("inf"), device=device)
    best_step = torch.full((s,), budget, dtype=torch.long)
    best = {k: v.detach().clone() for k, v in params.items()} if early else None
    rewind = None
    for step in range(budget + 1):
        if rewind_step is not None and step == rewind_step:
            rewind = {k: v.detach().clone().cpu() for k, v in params.items()}
        if early and (step % runs[0].eval_every == 0 or step == budget):
            with torch.no_grad():
                vloss = split_means(task.kind, spec, params, task.x_val, task.y_val)[0]
                better = vloss < best_loss
                best_loss = torch.where(better, vloss, best_loss)
                best_step = torch.where(better.cpu(), torch.tensor(step), best_step)
                for k in params:
                    shape = (s,) + (1,) * (params[k].dim() - 1)
                    best[k] = torch.where(better.view(shape), params[k].detach(), best[k])
        if step == budget:
            break
        j = step % INDEX_CHUNK
        if j == 0 or not whole_chunk:
            idx = batches.at(step)
            if whole_chunk:  # gather the minibatches of INDEX_CHUNK steps in two kernels
                idx = batches.idx.reshape(-1)  # (INDEX_CHUNK * S * B,)
                if x_buf is None:  # reused for every chunk: a fresh multi-MB buffer costs ~0.5 ms
                    # of page faults per chunk on a CPU, about as much as the gather itself
                    x_buf = x_pool.new_empty((len(idx), *x_pool.shape[1:]))
                    y_buf = y_flat.new_empty((len(idx), *y_flat.shape[1:]))
                xs = torch.index_select(x_pool, 0, idx, out=x_buf).view(INDEX_CHUNK, s, -1, *x_pool.shape[1:])
                ys = torch.index_select(y_flat, 0, idx, out=y_buf).view(INDEX_CHUNK, s, -1, *y_pool.shape[1:])
            else:
                idx = idx.reshape(-1)  # (S * B,)
                xs = x_pool.index_select(0, idx).view(1, s, -1, *x_pool.shape[1:])
                ys = y_pool.index_select(0, idx).view(1, s, -1, *y_pool.shape[1:])
        xb, yb = (xs[j], ys[j]) if whole_chunk else (xs[0], ys[0])  # (S, B, in), (S, B[, out])
        if autograd:
            out = forward(spec, params, xb)  # (S, B, out)
            loss = per_example_loss(task.kind, out, yb)[0].mean(1).sum()  # sum of per-student means
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        else:  # hand-written backward: same numbers, far less overhead
            grads = mlp_grads(spec, params, xb, yb, task.kind)
        for k, m in masks.items():
            grads[k].mul_(m)
        opt.step([grads[k] for k in params],
                 lr if schedule == "constant" else lr * lr_factor(schedule, resume_at + step, schedule_steps))
        if masks:
            with torch.no_grad():
                for k, m in masks.items():
                    params[k].mul_(m)
    final = {k: (best[k] if early else v).detach() for k, v in params.items()}
    metrics = evaluate(task, spec, final, [r.n for r in runs])
    for m, b in zip(metrics, best_step.tolist()):
        m["best_step"] = int(b)
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()
    return StackResult(metrics, {k: v.cpu() for k, v in final.items()}, rewind,
                       time.perf_counter() - t0)


@exact_cudnn
@float32_default
def train_single(task: Task, run: RunConfig, device="cpu", fused_adam: bool = True) -> dict:
    """Reference: a plain per-model loop (``students.to_module``: ``nn.Sequential``, or ``nn.GRU`` + ``nn.Linear``
    for the GRU; its own ``torch.optim.Adam``), with
    the same init and minibatch indices as the batched engine. No early stopping.
    fused_adam=False uses ``torch.optim.Adam``'s defaults instead of its fused kernel."""
    t0 = time.perf_counter()
    spec = spec_of(run, task)
    model = to_module(spec, initial_params(run, spec)).to(device)
    opt = (make_adam(list(model.parameters()), run.lr) if fused_adam
           else torch.optim.Adam(model.parameters(), lr=run.lr))
    sched = (None if run.lr_schedule == "constant" else
             torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(run.lr_schedule, t, run.steps)))
    batches = _Batches([run], device)
    x_pool, y_pool = task.x_pool[: run.n].to(device), task.y_pool[: run.n].to(device)
    reshape = (lambda x: x.unsqueeze(1)) if spec.family == "cnn" else (lambda x: x)
    for step in range(run.steps):
        idx = batches.at(step)[0]  # (B,)
        out = model(reshape(x_pool[idx]))  # (B, out)
        if task.kind == "classification":
            loss = F.cross_entropy(out, y_pool[idx])
        else:
            loss = ((out - y_pool[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    with torch.no_grad():
        res = {}
        for split, (x, y) in {"train": (x_pool, y_pool), "test": (task.x_test, task.y_test)}.items():
            out = model(reshape(x.to(device)))[None]
            loss, err = per_example_loss(task.kind, out, y.to(device)[None])
            res[f"{split}_loss"], res[f"{split}_error"] = float(loss.mean()), float(err.mean())
    res["seconds"] = time.perf_counter() - t0
    return res
