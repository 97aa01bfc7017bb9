"""Build an :class:`~workbench.costtune.outcomes.OutcomeTable` by running every setting for real.

1. Train the family's dense students together (``train_stack``, widths zero-padded into one stack).
2. Prune each to every density < 1 (one-shot global magnitude) and fine-tune with the mask held.
3. Every (width, density, precision): quantize (``workbench.compress``), run on the inputs.
4. Test-time compute on the dense fp32 students: ``max_k`` noisy samples, a verifier and a refiner
   trained on the pool (``workbench.testtime``), then best-of-k, majority vote, refine-t.
Latency is wall time of the batched computation divided by the number of inputs.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from workbench.compress import PRECISION_BITS, CompressedStudent, bitops, magnitude_prune, unstack
from workbench.costtune.outcomes import OutcomeConfig, OutcomeTable
from workbench.errors import InputError
from workbench.prune import macs_per_weight
from workbench.students import StudentSpec, float32_default, pad_params, param_shapes, stack_params
from workbench.sweep_train import RunConfig, keeps_torch_rng, resolve_device, spec_of, train_stack
from workbench.tasks import REAL_CLASSES, make_task, task_config, task_in_dim
from workbench.testtime import (argmax_outcome, bon_outcome, sample_answers, train_refiner, train_verifier,
                                vote_outcome)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def train_family(cfg: OutcomeConfig, device: str | None = None):
    """Dense students and their pruned, fine-tuned versions: {(width, density): (spec, params, masks)},
    trained on ``device`` (default: CUDA when present); the params come back on the CPU."""
    device = resolve_device(device)
    task = make_task(task_config(cfg.task, seed=cfg.task_seed, test_size=cfg.n_inputs))
    runs = [RunConfig(task.config, cfg.family, w, cfg.depth, task.config.pool_size, cfg.seed, cfg.steps,
                      cfg.batch_size, cfg.lr) for w in cfg.widths]
    dense = train_stack(task, runs, device)  # params come back on the CPU
    out = {}
    specs = [spec_of(r, task) for r in runs]
    for i, spec in enumerate(specs):
        out[(spec.width, 1.0)] = (spec, unstack(dense.params, i, spec), None)
        diverged = [k for k, v in out[(spec.width, 1.0)][1].items() if not bool(torch.isfinite(v).all())]
        if diverged:  # before: magnitude_prune's "params['w0'] must hold finite numbers", naming no student
            raise InputError(f"the {cfg.family} student of width {spec.width} diverged in training ({diverged[0]} "
                             f"holds NaN/inf weights after {cfg.steps} Adam steps at lr={cfg.lr!r}); lower lr")
    sparse = sorted(d for d in cfg.densities if d < 1.0)
    if sparse:  # every (width, density) fine-tuned together in one padded stack
        big = specs[-1]
        keys, inits, masks = [], [], []
        for d in sparse:
            for spec in specs:
                p, m = magnitude_prune(spec, out[(spec.width, 1.0)][1], d)
                keys.append((spec, d, m))
                inits.append(pad_params(p, spec, big))
                masks.append(pad_params({**m, **{k: v for k, v in p.items() if k not in m}}, spec, big))
        names = list(keys[0][2])
        stacked_masks = {k: torch.stack([m[k] for m in masks]) for k in names}
        ft_runs = [runs[specs.index(spec)] for spec, _, _ in keys]
        tuned = train_stack(task, ft_runs, device, init=stack_params(inits), masks=stacked_masks,
                            steps=cfg.finetune_steps)
        for i, (spec, d, m) in enumerate(keys):
            out[(spec.width, d)] = (spec, unstack(tuned.params, i, spec), m)
    return task, out


def cheapest_cost_bound(cfg: OutcomeConfig) -> tuple[float, str, bool]:
    """(cost, name, exact): a lower bound on every setting's cost (FLOPs per input), known before any
    student trains, so that an impossible budget is refused before the table is built. The cheapest
    setting is one argmax pass of the narrowest student at the lowest density and precision, keeping
    round(density × weights) weights (as ``magnitude_prune`` does). Exact for an MLP (one MAC per
    weight per input); for a CNN, where a conv weight costs one MAC per output position and training
    decides which layers keep their weights, the bound keeps the cheapest weights first."""
    cfg = cfg.resolved()
    tc = task_config(cfg.task, seed=cfg.task_seed, test_size=cfg.n_inputs)
    out_dim = REAL_CLASSES if cfg.task == "mnist1d" else tc.n_classes
    spec = StudentSpec(cfg.family, task_in_dim(tc), out_dim, min(cfg.widths), cfg.depth)
    per_weight, shapes = macs_per_weight(spec), param_shapes(spec)
    total = sum(math.prod(shapes[k]) for k in per_weight)
    density = min(cfg.densities)
    keep = total if density == 1.0 else max(1, round(density * total))
    precision = min(cfg.precisions, key=PRECISION_BITS.__getitem__)
    macs = 0
    for k in sorted(per_weight, key=per_weight.__getitem__):  # cheapest weights first
        take = min(keep, math.prod(shapes[k]))
        macs, keep = macs + take * per_weight[k], keep - take
    cost = 2.0 * bitops(macs, PRECISION_BITS[precision])
    name = _name({"width": spec.width, "density": density, "precision": precision, "strategy": "argmax", "k": 1})
    return cost, name, len(set(per_weight.values())) == 1


@keeps_torch_rng  # it seeds torch's global generator (cfg.seed): the caller's is put back
@float32_default
def build_outcomes(cfg: OutcomeConfig, device: str | None = None, progress=None) -> OutcomeTable:
    """Run every setting on the task's test inputs; see the module docstring. The students train on
    ``device`` (default: CUDA when present); everything after training runs on the CPU. ``progress``: wraps
    the build's stages (``progress(iterable, desc=..., unit=...)``, e.g. tqdm): the family's training, the
    compressed settings, the verifier and refiner, then each width's samples."""
    cfg = cfg.resolved()
    device = resolve_device(device)
    tt = cfg.testtime
    stages = ["students", "compressed settings", "verifier and refiner"] + [f"w{w} samples" for w in cfg.widths]
    stage = iter((progress or (lambda it, **_: it))(stages, desc="outcome table", unit="stage"))
    next(stage)
    torch.manual_seed(cfg.seed)
    task, family = train_family(cfg, device)
    next(stage)
    x, y = task.x_test, task.y_test
    n, n_classes = len(y), task.out_dim
    rows, cols = [], []  # settings, and per-setting outcome dicts

    def add(row: dict, outcome: dict, seconds: float):
        rows.append({**row, "latency_s": seconds / n})
        cols.append(outcome)

    # -- compression settings: argmax of each (width, density, precision) ----------------------------
    fp32 = {}
    for (width, density), (spec, params, masks) in family.items():
        for precision in cfg.precisions:
            model = CompressedStudent(spec, params, density, precision, masks)
            logits, sec = _timed(lambda: model.logits(x))
            c = model.cost
            add({"width": width, "density": density, "precision": precision, "strategy": "argmax", "k": 1,
                 "macs": c["macs"], "bitops": c["bitops"], "flops": c["flops"]}, argmax_outcome(logits, y), sec)
            if density == 1.0 and precision == "fp32":
                fp32[width] = (model, logits, c["flops"], sec)
            if density == 1.0 and precision == cfg.probe_precision and width == cfg.widths[cfg.probe_width_index]:
                probe_logits = logits

    # -- test-time compute on dense fp32 students -----------------------------------------------------
    next(stage)
    feature_std = task.x_pool.std(0)
    pool_x, pool_y = task.x_pool[: tt.train_inputs], task.y_pool[: tt.train_inputs]
    students = [fp32[w][0].logits for w in cfg.widths]
    verifier = train_verifier(students, pool_x, pool_y, n_classes, feature_std, tt)
    refiner = train_refiner(students, pool_x, pool_y, n_classes, tt)
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + 1)
    pass_counts = np.zeros((n, len(cfg.widths)), dtype=np.int16)
    for j, width in enumerate(cfg.widths):
        next(stage)
        model, logits, f, sec1 = fp32[width]
        (answers, probs), sec_s = _timed(lambda: sample_answers(model.logits, x, tt.max_k, feature_std, tt, gen))
        scores, sec_v = _timed(lambda: verifier.score(x, answers))
        pass_counts[:, j] = (answers == y).sum(0).numpy()
        base = {"width": width, "density": 1.0, "precision": "fp32", "macs": 0.0, "bitops": 0.0}
        for k in tt.ks:
            share = k / tt.max_k
            add({**base, "strategy": "vote", "k": k, "flops": k * f},
                vote_outcome(answers[:k], probs[:k], y, n_classes), share * sec_s)
            add({**base, "strategy": "bon", "k": k, "flops": k * (f + verifier.flops())},
                bon_outcome(answers[:k], scores[:k], y, n_classes), share * (sec_s + sec_v))
        with torch.no_grad():
            steps, sec_r = _timed(lambda: refiner(x, torch.softmax(logits, -1), max(tt.refine_steps)))
        for t in tt.refine_steps:
            add({**base, "strategy": "refine", "k": t, "flops": f + t * refiner.flops()},
                argmax_outcome(steps[t - 1], y), sec1 + sec_r * t / max(tt.refine_steps))

    next(stage, None)  # the last stage done: the bar reaches its end
    settings = pd.DataFrame(rows)
    settings.insert(0, "name", [_name(r) for r in rows])
    settings["macs"] = np.where(settings["strategy"] == "argmax", settings["macs"], settings["flops"] / 2)
    settings["bitops"] = np.where(settings["strategy"] == "argmax", settings["bitops"], settings["flops"] / 2)
    probe_setting = int(settings.index[(settings["width"] == cfg.widths[cfg.probe_width_index])
                                       & (settings["density"] == 1.0) & (settings["precision"] == cfg.probe_precision)
                                       & (settings["strategy"] == "argmax")][0])
    p = torch.softmax(probe_logits, -1)
    top2 = p.topk(2, dim=1).values
    probe = torch.stack([top2[:, 0], top2[:, 0] - top2[:, 1], -(p * p.clamp_min(1e-12).log()).sum(1)], 1)
    split = np.zeros(n, dtype=np.int8)
    split[np.random.default_rng(cfg.seed).permutation(n)[n // 2:]] = 1
    stack = lambda key, dtype: np.stack([c[key] for c in cols], axis=1).astype(dtype)  # noqa: E731 (N, A)
    return OutcomeTable(cfg, settings, stack("correct", bool), stack("loss", np.float32), stack("conf", np.float32),
                        split, probe.numpy().astype(np.float32), pass_counts, probe_setting, device=device)


def _name(r: dict) -> str:
    base = f"w{r['width']}"
    if r["strategy"] != "argmax":
        return f"{base}-{r['strategy']}{r['k']}"
    return base + (f"-d{r['density']:g}" if r["density"] < 1 else "") + (f"-{r['precision']}" if r["precision"] != "fp32" else "")
