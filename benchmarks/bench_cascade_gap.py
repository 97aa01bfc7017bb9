"""How far the cascade agent is from the best threshold cascade of its own ladder, on its training objective.

For each λ (fixed, no budget) the agent is trained on the train inputs of an outcome table and its exact
expected reward (correct − λ·FLOPs/C_ref) is compared with the best *chain*: 1 to 3 ladder rungs run in
order, answering at a rung when its confidence bin (the agent's own bins) is below a per-rung cut; chain and
cuts found by exhaustive search on the same train inputs (``policies.ladder_cascade_configs``; an in-sample
maximum, so slightly optimistic).
The agent's state space expresses every such chain, so a positive gap is the agent's optimisation falling
short. Held-out inputs are never read.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cascade_gap.py --task mnist1d --family mlp \\
        --lams 0.005,0.02,0.0577,0.2,0.5,2
"""

from __future__ import annotations

import argparse

import numpy as np

from workbench.costtune import policies as P
from workbench.costtune.cascade_agent import CascadeAgentConfig, evaluate, train
from workbench.costtune.cascade_env import VectorCascade
from workbench.costtune.ladder import build_ladder
from workbench.costtune.outcomes import OutcomeConfig, outcome_table
from workbench.costtune.study import StudyConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--family", default="mlp")
    ap.add_argument("--lams", default="0.005,0.02,0.0577,0.2,0.5,2", help="fixed Lagrange multipliers")
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    study = StudyConfig()
    table = outcome_table(OutcomeConfig(task=args.task, family=args.family))
    ladder = build_ladder(table, study.spacing, n_bins=study.n_bins)
    env = VectorCascade(table, ladder, "train")
    # (error, FLOPs) of the train-efficient chains: the best chain at any λ is one of them
    pts = P.ladder_cascade_configs(table, ladder)[1][:, ::-1]
    print(f"{args.task}/{args.family}: ladder {', '.join(ladder.names)}; {len(pts)} train-efficient chains")
    gaps = {"guided": [], "unguided": []}
    for lam in (float(v) for v in args.lams.split(",")):
        reward = 1.0 - pts[:, 0] - lam * pts[:, 1] / table.cost_ref
        best = int(np.argmax(reward))
        line = f"λ = {lam:g}: best chain {reward[best]:.4f} (error {pts[best, 0]:.4f}, {pts[best, 1]:,.0f} FLOPs)"
        for name in gaps:
            res = train(env, CascadeAgentConfig(steps=args.steps, eval_every=args.steps, lam=lam, budget=None,
                                                guided=name == "guided", seed=args.seed))
            ev = evaluate(res.probs, env.t, env.t.rows, lam)
            gaps[name].append(reward[best] - ev["reward"])
            line += f"; {name} {ev['reward']:.4f} (error {ev['error']:.4f}, {ev['cost']:,.0f} FLOPs)"
        print(line, flush=True)
    for name, g in gaps.items():
        print(f"{name}: gap to the best chain, mean {np.mean(g):.4f}, max {np.max(g):.4f}")


if __name__ == "__main__":
    main()
