"""Guidance (real environment steps to 98% of the final reward, guided vs unguided agent) read on evaluation grids
of different spacing, at one λ: what the study's measure resolves (RESULTS_costtune.md, session 22).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_guidance_grid.py --task mnist1d --family mlp \\
        --lam 1.8564929121478055 --every 7500,750,1 --seeds 0,1,2

The λ is a binding budget's final λ from the study's JSON (``guidance[0].lam`` of ``costtune --json``). The outcome
table is read from (or built into) the cache; agents as in ``study.study_table``'s guidance runs.
"""

from __future__ import annotations

import argparse

from workbench.costtune.agent import final_reward, steps_to_fraction
from workbench.costtune.cascade_agent import CascadeAgentConfig, train
from workbench.costtune.cascade_env import VectorCascade
from workbench.costtune.ladder import build_ladder
from workbench.costtune.outcomes import OutcomeConfig, outcome_table
from workbench.costtune.study import GUIDANCE_STEPS, StudyConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--family", default="mlp")
    ap.add_argument("--lam", type=float, required=True)
    ap.add_argument("--every", default="7500,750,1", help="evaluation spacings in env steps (1: every update)")
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    cfg = StudyConfig(OutcomeConfig(task=args.task, family=args.family))
    table = outcome_table(cfg.outcome)
    env = VectorCascade(table, build_ladder(table, cfg.spacing, n_bins=cfg.n_bins, top_se=cfg.top_se))
    for every in (int(e) for e in args.every.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            got = {}
            for name, guided in (("guided", True), ("unguided", False)):
                agent = CascadeAgentConfig(steps=GUIDANCE_STEPS, seed=seed, eval_every=every, episodes=cfg.episodes,
                                           estimator=cfg.estimator, policy=cfg.policy, guided=guided, lam=args.lam)
                curve = train(env, agent).curve
                got[name] = (steps_to_fraction(curve, 0.98), final_reward(curve), len(curve))
            g, u = got["guided"], got["unguided"]
            print(f"every {every} steps, seed {seed}: steps to 98% guided {g[0]:,} / unguided {u[0]:,} "
                  f"(ratio {g[0] / max(u[0], 1):.3f}); final rewards {g[1]:.4f} / {u[1]:.4f}; {g[2]} / {u[2]} evaluations",
                  flush=True)


if __name__ == "__main__":
    main()
