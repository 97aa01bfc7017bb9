"""The whole cost-tuning comparison on held-out inputs: what the CLI prints and the notebooks draw.

1. The outcome table (cached). 2. Baseline curves: static settings, cascades, oracle bins,
per-input oracle. 3. RL: the ladder and its law predictions (``ladder``, train inputs only), then
the guided cascade agent (``cascade_agent``) with dual ascent at each of ``n_budgets`` budgets
(log-spaced between the cheapest and the top rung's cost), at every rung's cost and at the requested
budget; each run's
iterate-averaged policy is evaluated exactly on the held-out inputs, and their Pareto front is RL's
curve. 4. Guidance: at the requested budget's final λ, the guided and the unguided agent with λ
held fixed, and the real environment steps each takes to reach 98% of its own final expected reward.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.costtune import policies as P
from workbench.costtune.agent import steps_to_fraction
from workbench.costtune.cascade_agent import CascadeAgentConfig, evaluate, train
from workbench.costtune.cascade_env import VectorCascade
from workbench.costtune.ladder import Ladder, build_ladder
from workbench.costtune.outcomes import OutcomeConfig, OutcomeTable, outcome_table
from workbench.errors import InputError


@dataclass(frozen=True)
class StudyConfig:
    """One cost-tuning study."""

    outcome: OutcomeConfig = field(default_factory=OutcomeConfig)
    """The task, family and settings (the outcome table's cache key)."""
    budget: float | None = None
    """Mean FLOPs per input for the RL policy (None: half the most accurate static setting's cost)."""
    steps: int = 300_000
    """Real environment steps (rung runs and stops) per agent."""
    n_budgets: int = 10
    """Budgets (log-spaced) that trace RL's cost–error curve."""
    seed: int = 0
    """Agent seed."""
    spacing: float = 1.5
    """Least cost ratio between adjacent ladder rungs (``ladder.frontier_rungs``)."""
    n_bins: int = 8
    """Confidence bins per rung (the agent's states)."""
    episodes: int = 256
    """Episodes per policy update of the agent."""
    estimator: str = "all_actions"
    """Policy-gradient estimator of the agent (``cascade_agent.CascadeAgentConfig``)."""
    policy: str = "tabular"
    """Policy parametrisation of the agent (``cascade_agent.CascadeAgentConfig``)."""
    top_se: float = 0.0
    """The ladder's top rung: the cheapest train-frontier setting within this many standard errors of
    the lowest train error (``ladder.frontier_rungs``)."""


@dataclass
class StudyResult:
    """Curves, points and learning curves of one study."""

    config: StudyConfig
    table: OutcomeTable
    ladder: Ladder
    pareto: dict[str, np.ndarray]
    """policy -> (M, 2) Pareto (cost, error) curve on held-out inputs."""
    policies: dict[str, dict]
    """policy -> {'error', 'cost'} at the budget."""
    curves: pd.DataFrame
    """Learning curves: step, reward, error, cost, lam, agent (guided / unguided)."""
    rl_runs: pd.DataFrame
    """One row per RL budget: budget, lam, cost, error (held-out), train_cost, train_error."""
    spend: pd.DataFrame
    """Mean cost and error of the RL policy at the budget per probe difficulty bin (held-out)."""
    summary: dict = field(default_factory=dict)


def run_study(cfg: StudyConfig, cache_dir=None) -> StudyResult:
    """The study of ``cfg`` on its (cached) outcome table."""
    return study_table(outcome_table(cfg.outcome, cache_dir), cfg)


def study_table(table: OutcomeTable, cfg: StudyConfig) -> StudyResult:
    """The study on a given outcome table (``cfg.outcome`` is not read)."""
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
    if cfg.n_budgets < 2:
        raise InputError(f"--n-budgets must be >= 2; got {cfg.n_budgets!r}")
    ladder = build_ladder(table, cfg.spacing, n_bins=cfg.n_bins, top_se=cfg.top_se)
    env = VectorCascade(table, ladder, "train")
    held = VectorCascade(table, ladder, "heldout").t
    agent = CascadeAgentConfig(steps=cfg.steps, seed=cfg.seed, eval_every=max(1, cfg.steps // 40),
                               episodes=cfg.episodes, estimator=cfg.estimator, policy=cfg.policy)

    # RL's curve: the guided agent with dual ascent at log-spaced budgets (and the requested one)
    lo, hi = ladder.cost[0] * 1.2, max(ladder.cost[-1], ladder.cost[0] * 1.5)
    # plus every rung's cost above the cheapest: log spacing alone leaves few budgets where the rungs
    # are dense (a costly top rung stretches the range)
    budgets = sorted(set(np.geomspace(lo, hi, cfg.n_budgets).tolist()) | set(ladder.cost[1:].tolist())
                     | {float(budget)})
    runs, at_budget = [], None
    for b in budgets:
        res = train(env, dataclasses.replace(agent, budget=b, eval_every=cfg.steps))  # no learning curve needed
        ev, ev_tr = evaluate(res.probs, held, ho, res.lam), evaluate(res.probs, env.t, env.t.rows)
        runs.append({"budget": b, "lam": res.lam, "error": ev["error"], "cost": ev["cost"],
                     "train_error": ev_tr["error"], "train_cost": ev_tr["cost"]})
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
    # the fair comparator of the most accurate static setting: the one chosen on the train inputs
    tr = table.inputs("train")
    sel = int(np.argmin(1.0 - table.correct[tr].mean(0) + 1e-12 * table.cost))
    sel_cost, sel_err = float(table.cost[sel]), float(1.0 - table.correct[ho, sel].mean())
    rl_cost_at_sel = P.cost_at_error(pareto["rl"], sel_err)
    # RL vs oracle bins at every RL point: cost ratio at RL's error
    rl_over_ob = [float(c / P.cost_at_error(pareto["oracle_bins"], e)) for c, e in pareto["rl"]
                  if np.isfinite(P.cost_at_error(pareto["oracle_bins"], e))]
    per = evaluate(res_b.probs, held, ho, per_input=True)
    spend = pd.DataFrame({"bin": P.probe_bins(table)[ho], "cost": per["flops"],
                          "error": 1.0 - per["correct"]}).groupby("bin").mean().reset_index()
    summary = {
        "task": table.config.task, "family": table.config.family, "budget": float(budget),
        "policies": policies,
        "cost_ratio_at_matched_error": float(best_cost / rl_cost_at_best) if np.isfinite(rl_cost_at_best) else None,
        "static_most_accurate": {"cost": float(best_cost), "error": float(best_err)},
        "rl_cost_over_oracle_bins_cost_at_rl_error": float(ev_b["cost"] / ob_cost) if np.isfinite(ob_cost) else None,
        "rl_over_oracle_bins_along_rl_curve": rl_over_ob,
        "static_train_selected": {"setting": str(table.settings["name"][sel]), "cost": sel_cost, "error": sel_err},
        "cost_ratio_at_train_selected_static_error": (float(sel_cost / rl_cost_at_sel)
                                                      if np.isfinite(rl_cost_at_sel) else None),
        "ladder": {"settings": list(ladder.names), "cost": ladder.cost.tolist()},
        "rl_runs": rl_runs.to_dict("list"),
        "area_under_cost_error": areas, "area_range_flops": [float(lo_c), float(best_cost)],
        "pareto": {k: v.tolist() for k, v in pareto.items()},
        "steps_to_98pct": steps98, "lambda": float(res_b.lam), "steps": cfg.steps, "seed": cfg.seed,
        "n_settings": int(len(table.cost)), "table_key": table.config.key(),
    }
    return StudyResult(cfg, table, ladder, pareto, policies, curves, rl_runs, spend, summary)
