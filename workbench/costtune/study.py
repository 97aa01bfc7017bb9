"""The whole cost-tuning comparison on held-out inputs: what the CLI prints and the notebooks draw.

1. The outcome table (cached). 2. Baseline curves: static settings, cascades, oracle bins,
per-input oracle. 3. RL: the guided agent with dual ascent at each of ``n_budgets`` budgets
(its Pareto curve) and at the requested budget. 4. Guidance: at the requested budget's final λ,
the guided and the unguided agent with λ held fixed, and the real environment steps each takes to
reach 98% of its own final expected reward.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.costtune import policies as P
from workbench.costtune.agent import AgentConfig, evaluate, steps_to_fraction, train
from workbench.costtune.env import InputRoutingEnv
from workbench.costtune.guidance import fit_guidance
from workbench.costtune.outcomes import OutcomeConfig, OutcomeTable, outcome_table
from workbench.errors import InputError


@dataclass(frozen=True)
class StudyConfig:
    """One cost-tuning study."""

    outcome: OutcomeConfig = field(default_factory=OutcomeConfig)
    """The task, family and settings (the outcome table's cache key)."""
    budget: float | None = None
    """Mean FLOPs per input for the RL policy (None: half the most accurate static setting's cost)."""
    steps: int = 30000
    """Real environment steps per agent."""
    n_budgets: int = 5
    """Budgets (log-spaced) that trace RL's cost–error curve."""
    seed: int = 0
    """Agent seed."""


@dataclass
class StudyResult:
    """Curves, points and learning curves of one study."""

    config: StudyConfig
    table: OutcomeTable
    pareto: dict[str, np.ndarray]
    """policy -> (M, 2) Pareto (cost, error) curve on held-out inputs."""
    policies: dict[str, dict]
    """policy -> {'error', 'cost'} at the budget."""
    curves: pd.DataFrame
    """Learning curves: step, reward, error, cost, lam, agent (guided / unguided)."""
    rl_runs: pd.DataFrame
    """One row per RL budget: budget, lam, cost, error (held-out)."""
    spend: pd.DataFrame
    """Mean cost and error of the RL policy at the budget per difficulty bin (held-out)."""
    summary: dict = field(default_factory=dict)


def _rl_point(env, cfg: AgentConfig, rows):
    res = train(env, cfg)
    return res, evaluate(res.policy, env, rows, res.lam)


def run_study(cfg: StudyConfig, cache_dir=None) -> StudyResult:
    table = outcome_table(cfg.outcome, cache_dir)
    ho = table.inputs("heldout")
    budget = cfg.budget
    static = P.pareto(P.static_points(table, ho))
    best_cost, best_err = static[-1]
    if budget is None:
        budget = best_cost / 2
    if not budget >= table.cost.min():
        raise InputError(f"--budget must be >= the cheapest setting's cost {table.cost.min():.4g} FLOPs; "
                         f"got {budget!r}")
    if cfg.steps < 1:
        raise InputError(f"--steps must be a positive integer; got {cfg.steps!r}")
    guidance = fit_guidance(table)
    env = InputRoutingEnv(table, "train", guidance=guidance)
    agent = AgentConfig(steps=cfg.steps, seed=cfg.seed, eval_every=max(1, cfg.steps // 40))

    # RL's curve: the guided agent with dual ascent at log-spaced budgets (and the requested one)
    lo = max(table.probe_cost * 1.5, table.cost.min())
    budgets = sorted(set(np.geomspace(lo, max(best_cost, lo * 1.01), cfg.n_budgets).tolist()) | {float(budget)})
    runs, at_budget = [], None
    for b in budgets:
        res, ev = _rl_point(env, dataclasses.replace(agent, budget=b), ho)
        runs.append({"budget": b, "lam": res.lam, **ev})
        if b == float(budget):
            at_budget = res, ev
    rl_runs = pd.DataFrame(runs)
    pareto = {"rl": P.pareto(rl_runs[["cost", "error"]].to_numpy()), "static": static,
              "cascade": P.pareto(P.cascade_points(table)), "oracle_bins": P.pareto(P.oracle_bins_points(table)),
              "oracle_input": P.pareto(P.oracle_input_points(table))}

    # guidance: fixed λ (the budget run's), guided vs unguided
    res_b, ev_b = at_budget
    curves = []
    steps98 = {}
    for name, guided in (("guided", True), ("unguided", False)):
        res = train(env, dataclasses.replace(agent, guided=guided, lam=res_b.lam, budget=None))
        curves.append(res.curve.assign(agent=name))
        steps98[name] = steps_to_fraction(res.curve, 0.98)
    curves = pd.concat(curves, ignore_index=True)

    policies = {"rl": {"error": ev_b["error"], "cost": ev_b["cost"]},
                "static_best": P.static_best(table, budget)}
    for name in ("cascade", "oracle_bins", "oracle_input"):
        front = pareto[name]
        c = float(min(budget, front[-1, 0]))
        policies[name] = {"error": P.error_at_cost(front, c), "cost": c}

    rl_cost_at_best = P.cost_at_error(pareto["rl"], best_err)
    lo_c = max(front[0, 0] for front in pareto.values())
    areas = {k: P.area(v, lo_c, best_cost) for k, v in pareto.items()} if lo_c < best_cost else {}
    ob_cost = P.cost_at_error(pareto["oracle_bins"], ev_b["error"])
    bins = P.probe_bins(table)[ho]
    probs = res_b.policy.probs(env.observation(ho), res_b.lam)
    spend = pd.DataFrame({"bin": bins, "cost": probs @ env.cost,
                          "error": 1.0 - (probs * table.correct[ho]).sum(1)}).groupby("bin").mean().reset_index()
    summary = {
        "task": table.config.task, "family": table.config.family, "budget": float(budget),
        "policies": policies,
        "cost_ratio_at_matched_error": float(best_cost / rl_cost_at_best) if np.isfinite(rl_cost_at_best) else None,
        "static_most_accurate": {"cost": float(best_cost), "error": float(best_err)},
        "rl_cost_over_oracle_bins_cost_at_rl_error": float(ev_b["cost"] / ob_cost) if np.isfinite(ob_cost) else None,
        "area_under_cost_error": areas, "area_range_flops": [float(lo_c), float(best_cost)],
        "pareto": {k: v.tolist() for k, v in pareto.items()},
        "steps_to_98pct": steps98, "lambda": float(res_b.lam), "steps": cfg.steps, "seed": cfg.seed,
        "n_settings": int(len(table.cost)), "table_key": table.config.key(),
    }
    return StudyResult(cfg, table, pareto, policies, curves, rl_runs, spend, summary)
