"""workbench.costtune cascade: the ladder, the cascade environments, the REINFORCE agent, the study."""

import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from workbench.costtune import policies as P
from workbench.costtune.cascade_agent import CascadeAgentConfig, evaluate, law_lambda, train
from workbench.costtune.cascade_env import CascadeEnv, VectorCascade, transition
from workbench.costtune.ladder import build_ladder, frontier_rungs
from workbench.costtune.outcomes import OutcomeConfig, outcome_table
from workbench.errors import InputError

from conftest import tiny_outcome_config

TINY = tiny_outcome_config(n_inputs=1200)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return outcome_table(TINY, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def ladder(table):
    return build_ladder(table, spacing=2.0, n_bins=4)


def test_ladder_is_the_thinned_train_frontier(table, ladder):
    tr = table.inputs("train")
    err = 1.0 - table.correct[tr].mean(0)
    assert np.all(np.diff(ladder.cost) > 0) and np.all(ladder.cost[1:] >= 2.0 * ladder.cost[:-1] - 1e-9)
    assert err[ladder.settings[-1]] == err.min()  # the top rung is the most accurate train setting
    assert np.all(np.diff(err[ladder.settings]) < 0)  # every rung is more accurate than the one below
    assert ladder.pred_error.shape == (1 + ladder.n_stages * 4, ladder.n_stages)
    assert np.all((ladder.pred_error >= 0) & (ladder.pred_error <= 1))
    # confident states predict lower error of the rung just run than unconfident ones (bin 0 vs 3)
    j = ladder.n_stages // 2
    assert ladder.pred_error[1 + j * 4, j] < ladder.pred_error[1 + j * 4 + 3, j]
    assert len(frontier_rungs(table, spacing=1.0, max_stages=30)) >= ladder.n_stages
    with pytest.raises(InputError, match="spacing"):
        frontier_rungs(table, spacing=0.5)


def test_transition_known_answers():
    stage, action = np.array([0, 0, 2, 2, 3, 3]), np.array([0, 2, 0, 2, 2, 1])
    new, stop = transition(stage, action, n_stages=3)
    assert new.tolist() == [1, 3, 2, 3, 3, 3]
    assert stop.tolist() == [False, False, True, False, True, True]


def test_gym_env_passes_check_and_its_return_is_correct_minus_lambda_cost(table, ladder):
    env = CascadeEnv(table, ladder, "train", lam=0.7)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=5)
    assert obs.shape == env.observation_space.shape and obs[0] == 1.0  # stage 0: nothing run
    total, done = 0.0, False
    for a in (1, 0, 3, 3):  # run rung 1, then target 0 (below rung 1) stops and answers with rung 1
        obs, r, done, trunc, step_info = env.step(min(a, ladder.n_stages - 1))
        total += r
        if done:
            break
    row = info["input"]
    expected = float(table.correct[row, ladder.settings[1]]) - 0.7 * ladder.cost[1] / table.cost_ref
    assert done and step_info["episode_cost"] == ladder.cost[1]
    assert total == pytest.approx(expected)


def test_vector_env_and_exact_evaluation_agree_with_sampling(table, ladder):
    env = VectorCascade(table, ladder, "train", lam=0.3)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(ladder.n_stages), size=ladder.n_states)  # (S, L) a random policy
    exact = evaluate(probs, env.t, env.t.rows, lam=0.3)
    s, ret = env.reset(rng, 40_000), np.zeros(40_000)
    while not env.done.all():
        a = (rng.random((len(s), 1)) > probs[s].cumsum(1)).sum(1).clip(max=ladder.n_stages - 1)
        s, r, live = env.step(a)
        ret += r
    assert env.cost.mean() == pytest.approx(exact["cost"], rel=0.03)
    assert 1.0 - env.correct.mean() == pytest.approx(exact["error"], abs=0.01)
    assert ret.mean() == pytest.approx(exact["reward"], abs=0.01)


def test_agent_is_seeded(table, ladder):
    env = VectorCascade(table, ladder)
    cfg = CascadeAgentConfig(steps=20_000, episodes=256, budget=float(ladder.cost[2]), seed=7)
    a, b = train(env, cfg), train(env, cfg)
    assert np.array_equal(a.probs, b.probs) and a.lam == b.lam and a.curve.equals(b.curve)
    c = train(env, dataclasses.replace(cfg, seed=8))
    assert not np.array_equal(a.probs, c.probs)


def test_dual_ascent_moves_lambda_toward_the_budget(table, ladder):
    env = VectorCascade(table, ladder)
    rows = env.t.rows
    free = train(env, CascadeAgentConfig(steps=60_000, guided=False))
    free_cost = evaluate(free.probs, env.t, rows)["cost"]
    budget = free_cost / 4
    tight = train(env, CascadeAgentConfig(steps=60_000, guided=False, budget=budget, dual_lr=0.5))
    assert tight.lam > 0  # over budget -> λ rose
    assert evaluate(tight.probs, env.t, rows)["cost"] < 0.5 * free_cost
    guided = train(env, CascadeAgentConfig(steps=60_000, budget=budget))
    assert evaluate(guided.probs, env.t, rows)["cost"] == pytest.approx(budget, rel=0.25)
    loose = train(env, CascadeAgentConfig(steps=20_000, guided=False, budget=ladder.cost.sum() * 10))
    assert loose.lam == 0.0  # always under budget -> λ pinned at 0
    assert law_lambda(ladder.pred_error[0], ladder.cost, ladder.cost[1], table.cost_ref) > 0


def test_rl_cascade_beats_the_static_frontier_on_heldout_inputs():
    """On the CLI's default teacher/MLP table (the shared cache; built once, ~15-40 s, if missing), the
    learned cascade's held-out curve: at each of its points the static frontier needs (almost) as much
    cost for the same error, somewhere at least 2x as much, and the area under it is lower."""
    table = outcome_table(OutcomeConfig())
    ladder = build_ladder(table)
    env = VectorCascade(table, ladder)
    held = VectorCascade(table, ladder, "heldout").t
    ho = table.inputs("heldout")
    pts = []
    for b in np.geomspace(ladder.cost[0] * 1.2, ladder.cost[-1], 8):
        res = train(env, CascadeAgentConfig(steps=150_000, budget=float(b)))
        ev = evaluate(res.probs, held, ho)
        pts.append((ev["cost"], ev["error"]))
    rl, static = P.pareto(pts), P.pareto(P.static_points(table, ho))
    ratios = np.array([P.cost_at_error(static, e) / c for c, e in rl])  # static cost / RL cost at RL's error
    assert np.all(ratios[np.isfinite(ratios)] >= 0.95) and np.nanmax(ratios) >= 2.0
    lo, hi = max(rl[0, 0], static[0, 0]), static[-1, 0]
    assert P.area(rl, lo, hi) < P.area(static, lo, hi) - 0.003
