"""The per-model comparison: at several FLOPs budgets, the AMC-like agent's per-layer (density,
precision) against uniform compression at the same budget, on held-out test inputs.

Baselines, each filling the budget as closely as its rounding allows:

- ``uniform_fp32``: uniform pruning (every layer keeps the same share d = budget / dense FLOPs), fp32;
- ``uniform_bf16`` / ``uniform_int8``: uniform quantization, every layer at that precision, with the
  uniform density that fills the budget (capped at 1, when the whole model at that precision is cheaper);
- ``uniform_best``: the one of those three with the lowest *validation* error (chosen like the agent);
- ``global_int8``: int8 with global magnitude pruning (``compress.magnitude_prune``: one threshold for
  all layers), a stronger non-learned reference than per-layer uniform pruning.

The agent (``amc_agent``) reports the best sequence it explored on validation and the greedy one;
``agent`` in the table is the best-explored one (He et al.), ``agent_greedy`` the other. No
fine-tuning after compression, neither for the agent nor for the baselines (AMC's search setting).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.compress import PRECISION_BITS, magnitude_prune
from workbench.costtune.amc_agent import AmcAgentConfig, AmcResult, train
from workbench.costtune.amc_env import (AmcConfig, AmcProblem, compressed_error, layer_flops, prune_layer,
                                        quantize_weight)
from workbench.errors import InputError


@dataclass(frozen=True)
class AmcStudyConfig:
    """One per-model study."""

    env: AmcConfig = field(default_factory=AmcConfig)
    """The student and the action grids."""
    agent: AmcAgentConfig = field(default_factory=AmcAgentConfig)
    """The agent (one run per budget, same seed)."""
    budgets: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3)
    """Budgets as fractions of the dense fp32 model's FLOPs per example."""

    def validate(self) -> "AmcStudyConfig":
        if not self.budgets or not all(0 < b <= 1 for b in self.budgets):
            raise InputError(f"budgets must be fractions in (0, 1] of the dense FLOPs; got {self.budgets!r}")
        self.env.validate(), self.agent.validate()
        return self


def uniform_layers(prob: AmcProblem, density: float, precision: str) -> tuple[list[tuple], float]:
    """Every layer pruned to ``density`` (per layer) at ``precision``: (layers, FLOPs per example)."""
    keep = np.maximum(1, np.round(prob.numel * density)).astype(int)
    layers = [(quantize_weight(prune_layer(w, int(k)), precision), b) for (w, b), k in zip(prob.layers, keep)]
    return layers, float(layer_flops(keep, PRECISION_BITS[precision]).sum())


def global_layers(prob: AmcProblem, density: float, precision: str) -> tuple[list[tuple], float, np.ndarray]:
    """Global magnitude pruning (one threshold for all layers) to ``density`` at ``precision``:
    (layers, FLOPs per example, per-layer densities it implies)."""
    params = {k: v for i, (w, b) in enumerate(prob.layers) for k, v in ((f"w{i}", w), (f"b{i}", b))}
    pruned, masks = magnitude_prune(prob.spec, params, density)
    kept = np.array([int(masks[f"w{i}"].sum()) for i in range(prob.n_layers)])
    layers = [(quantize_weight(pruned[f"w{i}"], precision), pruned[f"b{i}"]) for i in range(prob.n_layers)]
    return layers, float(layer_flops(kept, PRECISION_BITS[precision]).sum()), kept / prob.numel


def _row(prob: AmcProblem, policy: str, layers, precisions, flops, densities) -> dict:
    errs = {f"{s}_error": compressed_error(layers, list(precisions), *prob.splits[s]) for s in ("val", "test")}
    return {"policy": policy, "flops": flops, **errs, "densities": [round(float(d), 3) for d in densities],
            "precisions": list(precisions)}


def _agent_row(prob: AmcProblem, policy: str, seq) -> dict:
    d, p = seq
    layers = [prob.options[t][d[t]][p[t]] for t in range(prob.n_layers)]
    dens = [prob.kept[t, d[t]] / prob.numel[t] for t in range(prob.n_layers)]
    return _row(prob, policy, layers, [prob.cfg.precisions[i] for i in p], prob.flops(d, p), dens)


def run_amc_study(cfg: AmcStudyConfig, cache_dir=None) -> tuple[pd.DataFrame, dict[float, AmcResult]]:
    """One row per (budget, policy): budget (fraction and FLOPs), flops, val_error, test_error and the
    per-layer densities and precisions; plus the agent's result per budget fraction."""
    cfg.validate()
    prob = AmcProblem(cfg.env, None, cache_dir)
    rows, results = [], {}
    for frac in cfg.budgets:
        prob.set_budget(frac * prob.full_flops)
        res = train(prob, cfg.agent)
        results[frac] = res
        block = [_agent_row(prob, "agent", res.best), _agent_row(prob, "agent_greedy", res.greedy)]
        for prec in ("fp32", "bf16", "int8"):
            density = min(1.0, prob.budget / (prob.full_flops * PRECISION_BITS[prec] / 32))
            layers, flops = uniform_layers(prob, density, prec)
            block.append(_row(prob, f"uniform_{prec}", layers, [prec] * prob.n_layers, flops,
                              [density] * prob.n_layers))
        uni = [r for r in block if r["policy"].startswith("uniform_")]
        block.append({**min(uni, key=lambda r: r["val_error"]), "policy": "uniform_best"})
        density = min(1.0, prob.budget / (prob.full_flops * PRECISION_BITS["int8"] / 32))
        layers, flops, kept = global_layers(prob, density, "int8")
        block.append(_row(prob, "global_int8", layers, ["int8"] * prob.n_layers, flops, kept))
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
    return out


def with_agent(cfg: AmcStudyConfig, **changes) -> AmcStudyConfig:
    """A copy of cfg with some agent fields changed."""
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **changes))
