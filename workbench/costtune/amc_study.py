"""The per-model comparison: at several FLOPs budgets, the AMC-like agent's per-layer (density,
precision) against uniform compression at the same budget, on held-out test inputs.

Baselines, each filling the budget as closely as its rounding allows:

- ``uniform_fp32``: uniform pruning (every layer keeps the same share d = budget / dense FLOPs), fp32;
- ``uniform_bf16`` / ``uniform_int8``: uniform quantization, every layer at that precision, with the
  uniform density that fills the budget (capped at 1, when the whole model at that precision is cheaper);
- ``uniform_best``: the one of those three with the lowest *validation* error (chosen like the agent;
  ``uniform_best_ft``: the same choice on the fine-tuned validation errors);
- ``global_int8``: int8 with global magnitude pruning (``compress.magnitude_prune``: one threshold for
  all layers), a stronger non-learned reference than per-layer uniform pruning.

The agent (``amc_agent``) reports the best sequence it explored on validation and the greedy one;
``agent`` in the table is the best-explored one (He et al.), ``agent_greedy`` the other.

The search itself never fine-tunes (AMC's search setting: the reward is the compressed model's error
as is). As He et al. do for the model they finally pick, every row is then also **fine-tuned**
(``finetune_steps`` > 0): its kept weights and all biases get that many more Adam steps on the
student's own training examples, pruned weights held at 0, then the row's precisions are applied
again; the ``*_ft`` columns are those models' errors. All rows of a budget are fine-tuned together
in one stack with the same minibatches, so the comparison is paired. The dense model at a
precision is fine-tuned too (every mask all ones): extra training alone is not credited to pruning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.compress import PRECISION_BITS, magnitude_prune
from workbench.costtune.amc_agent import AmcAgentConfig, AmcResult, train
from workbench.costtune.amc_env import (AmcConfig, AmcProblem, compressed_error, layer_flops, min_budget_fraction,
                                        prune_mask, quantize_weight)
from workbench.errors import InputError, is_real_number, is_whole_number
from workbench.sweep_train import default_device, train_stack
from workbench.tasks import make_task


@dataclass(frozen=True)
class AmcStudyConfig:
    """One per-model study."""

    env: AmcConfig = field(default_factory=AmcConfig)
    """The student and the action grids."""
    agent: AmcAgentConfig = field(default_factory=AmcAgentConfig)
    """The agent (one run per budget, same seed)."""
    budgets: tuple[float, ...] = (0.03, 0.05, 0.1, 0.15, 0.2, 0.3)
    """Budgets as fractions of the dense fp32 model's FLOPs per example."""
    finetune_steps: int = 500
    """Adam steps of fine-tuning after compression for every row (0: none, no ``*_ft`` columns)."""
    finetune_lr: float = 3e-4
    """Adam learning rate of the fine-tuning."""

    def validate(self) -> "AmcStudyConfig":
        if not self.budgets or not all(is_real_number(b) and 0 < b <= 1 for b in self.budgets) \
                or len(set(self.budgets)) != len(self.budgets):  # a repeated budget overwrote its results
            raise InputError(f"budgets must be distinct fractions in (0, 1] of the dense FLOPs; got {self.budgets!r}")
        if not is_whole_number(self.finetune_steps) or self.finetune_steps < 0:  # 2.5 was truncated to 2
            raise InputError(f"finetune_steps must be a whole number >= 0; got {self.finetune_steps!r}")
        if not (is_real_number(self.finetune_lr) and 0 < self.finetune_lr < float("inf")):
            raise InputError(f"finetune_lr must be finite and > 0; got {self.finetune_lr!r}")
        self.env.validate(), self.agent.validate()
        # below every layer at its cheapest option the study failed mid-loop, in FLOPs, after the agents of the
        # larger budgets had run ("budget must be >= 18.5 FLOPs; got 14.72" for budgets=(0.01,))
        least = min_budget_fraction(self.env.spec(), self.env.densities, self.env.precisions)
        low = [b for b in self.budgets if b < least]
        if low:
            raise InputError(f"budgets must be >= {least:.4g} (every layer at its cheapest option) for this student; "
                             f"got {low[0]!r}")
        return self


@dataclass(frozen=True)
class Candidate:
    """One compressed model: per-layer 0/1 weight masks of the dense student and per-layer precisions."""

    policy: str
    masks: list[torch.Tensor]
    precisions: list[str]
    flops: float
    densities: list[float]


def uniform_candidate(prob: AmcProblem, policy: str, density: float, precision: str) -> Candidate:
    """Every layer pruned to ``density`` (per layer) at ``precision``."""
    keep = np.maximum(1, np.round(prob.numel * density)).astype(int)
    masks = [prune_mask(w, int(k)) for (w, _), k in zip(prob.layers, keep)]
    return Candidate(policy, masks, [precision] * prob.n_layers,
                     float(layer_flops(keep, PRECISION_BITS[precision]).sum()), [density] * prob.n_layers)


def global_candidate(prob: AmcProblem, policy: str, density: float, precision: str) -> Candidate:
    """Global magnitude pruning (one threshold for all layers) to ``density`` at ``precision``."""
    params = {k: v for i, (w, b) in enumerate(prob.layers) for k, v in ((f"w{i}", w), (f"b{i}", b))}
    _, masks = magnitude_prune(prob.spec, params, density)
    ms = [masks[f"w{i}"] for i in range(prob.n_layers)]
    kept = np.array([int(m.sum()) for m in ms])
    return Candidate(policy, ms, [precision] * prob.n_layers,
                     float(layer_flops(kept, PRECISION_BITS[precision]).sum()), list(kept / prob.numel))


def agent_candidate(prob: AmcProblem, policy: str, seq) -> Candidate:
    """The agent's (density indices, precision indices) sequence."""
    d, p = seq
    masks = [prune_mask(w, int(prob.kept[t, d[t]])) for t, (w, _) in enumerate(prob.layers)]
    return Candidate(policy, masks, [prob.cfg.precisions[i] for i in p], prob.flops(d, p),
                     [prob.kept[t, d[t]] / prob.numel[t] for t in range(prob.n_layers)])


def finetune(prob: AmcProblem, masks: list[list[torch.Tensor]], steps: int, lr: float) -> list[list[tuple]]:
    """Fine-tune the dense student under each mask set (module docstring), all in one stack: the fp32
    layers [(W, b)] of each."""
    run = dataclasses.replace(prob.cfg.run(), steps=int(steps), lr=float(lr), early_stopping=False)  # all steps
    L, k = prob.n_layers, len(masks)
    init = {**{f"w{i}": torch.stack([prob.layers[i][0] * m[i] for m in masks]) for i in range(L)},
            **{f"b{i}": prob.layers[i][1].expand(k, -1).clone() for i in range(L)}}
    stacked = {f"w{i}": torch.stack([m[i] for m in masks]) for i in range(L)}
    res = train_stack(make_task(run.task), [run] * k, default_device(), init=init, masks=stacked)
    return [[(res.params[f"w{i}"][j], res.params[f"b{i}"][j]) for i in range(L)] for j in range(k)]


def _errors(prob: AmcProblem, layers: list[tuple], precisions: list[str], suffix: str = "") -> dict:
    quantized = [(quantize_weight(w, p), b) for (w, b), p in zip(layers, precisions)]
    return {f"{s}_error{suffix}": compressed_error(quantized, precisions, *prob.splits[s]) for s in ("val", "test")}


def evaluate_candidates(prob: AmcProblem, cands: list[Candidate], finetune_steps: int = 0,
                        finetune_lr: float = 3e-4) -> list[dict]:
    """One row per candidate: policy, flops, val/test error as compressed (and ``*_ft`` after fine-tuning),
    densities, precisions."""
    rows = []
    for c in cands:
        layers = [(w * m, b) for (w, b), m in zip(prob.layers, c.masks)]
        rows.append({"policy": c.policy, "flops": c.flops, **_errors(prob, layers, c.precisions),
                     "densities": [round(float(d), 3) for d in c.densities], "precisions": list(c.precisions)})
    if finetune_steps > 0:
        tuned = finetune(prob, [c.masks for c in cands], finetune_steps, finetune_lr)
        for row, c, layers in zip(rows, cands, tuned):
            row.update(_errors(prob, layers, c.precisions, "_ft"))
    return rows


def run_amc_study(cfg: AmcStudyConfig, cache_dir=None) -> tuple[pd.DataFrame, dict[float, AmcResult]]:
    """One row per (budget, policy): budget (fraction and FLOPs), flops, val_error, test_error (and
    their ``_ft`` after fine-tuning) and the per-layer densities and precisions; plus the agent's
    result per budget fraction."""
    cfg.validate()
    prob = AmcProblem(cfg.env, None, cache_dir)
    rows, results = [], {}
    for frac in cfg.budgets:
        prob.set_budget(frac * prob.full_flops)
        res = train(prob, cfg.agent)
        results[frac] = res
        cands = [agent_candidate(prob, "agent", res.best), agent_candidate(prob, "agent_greedy", res.greedy)]
        density = {prec: min(1.0, prob.budget / (prob.full_flops * PRECISION_BITS[prec] / 32))
                   for prec in ("fp32", "bf16", "int8")}
        cands += [uniform_candidate(prob, f"uniform_{prec}", d, prec) for prec, d in density.items()]
        cands.append(global_candidate(prob, "global_int8", density["int8"], "int8"))
        block = evaluate_candidates(prob, cands, cfg.finetune_steps, cfg.finetune_lr)
        uni = [r for r in block if r["policy"].startswith("uniform_")]  # the best chosen like the agent: on validation
        block.append({**min(uni, key=lambda r: r["val_error"]), "policy": "uniform_best"})
        if cfg.finetune_steps > 0:
            block.append({**min(uni, key=lambda r: r["val_error_ft"]), "policy": "uniform_best_ft"})
        rows += [{"budget_fraction": frac, "budget": prob.budget, **r} for r in block]
    return pd.DataFrame(rows), results


def summary(table: pd.DataFrame) -> list[dict]:
    """Per budget: test error of the agent, the best uniform policy and global int8, and their difference."""
    out = []
    for frac, g in table.groupby("budget_fraction"):
        e = g.set_index("policy")
        out.append({"budget_fraction": float(frac), "budget_flops": float(e["budget"].iloc[0]),
                    "agent_flops": float(e.loc["agent", "flops"]), "agent_test_error": float(e.loc["agent", "test_error"]),
                    "uniform_pruning_test_error": float(e.loc["uniform_fp32", "test_error"]),
                    "uniform_int8_test_error": float(e.loc["uniform_int8", "test_error"]),
                    "uniform_best_test_error": float(e.loc["uniform_best", "test_error"]),
                    "global_int8_test_error": float(e.loc["global_int8", "test_error"])})
        if "uniform_best_ft" in e.index:  # fine-tuned: the best uniform policy is chosen on its tuned errors
            out[-1].update({f"{k}_test_error_ft": float(e.loc[k, "test_error_ft"])
                            for k in ("agent", "uniform_int8", "global_int8")})
            out[-1]["uniform_best_test_error_ft"] = float(e.loc["uniform_best_ft", "test_error_ft"])
    return out


def with_agent(cfg: AmcStudyConfig, **changes) -> AmcStudyConfig:
    """A copy of cfg with some agent fields changed."""
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **changes))
