"""workbench.costtune cascade: the ladder, the cascade environments, the REINFORCE agent, the study."""

import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from workbench.costtune import policies as P
from workbench.costtune.cascade_agent import (CascadeAgentConfig, evaluate, law_critic, law_lambda, prior_logits,
                                              state_features, train)
from workbench.costtune.cascade_env import CascadeEnv, VectorCascade, state_index, transition
from workbench.costtune.ladder import build_ladder, frontier_rungs
from workbench.costtune.outcomes import OutcomeConfig, outcome_table
from workbench.costtune.study import StudyConfig, study_table
from workbench.errors import InputError

from conftest import informative_probe, tiny_outcome_config

TINY = tiny_outcome_config(n_inputs=1200)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return informative_probe(outcome_table(TINY, tmp_path_factory.mktemp("cache")))


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
    with pytest.raises(InputError, match=r"max_stages must lie in \[2, 12\]; got 13"):
        build_ladder(table, max_stages=13)  # the exact evaluation is over 2^L sets of rungs
    # one-standard-error rule: a cheaper top rung whose train error is within top_se SEs of the lowest
    n = len(tr)
    for k in (1.0, 3.0):
        top = frontier_rungs(table, spacing=2.0, top_se=k)[-1]
        assert table.cost[top] <= table.cost[ladder.settings[-1]]
        assert err[top] <= err.min() + k * np.sqrt(err.min() * (1 - err.min()) / n) + 1e-12
    # and it does pick a cheaper top rung when one is within 3 SEs: whether the tiny table has one depends on its
    # seed (10 of 24 seeds had none), so the frontier point below the top is made one train answer worse than it
    top = ladder.settings[-1]
    below = frontier_rungs(table, spacing=1.0, max_stages=12)[-2]
    correct = table.correct.copy()
    correct[tr, below] = correct[tr, top]
    correct[tr[np.flatnonzero(correct[tr, top])[0]], below] = False
    near = dataclasses.replace(table, correct=correct)
    assert table.cost[frontier_rungs(near, top_se=3.0)[-1]] < table.cost[top]
    assert frontier_rungs(near, top_se=0.0)[-1] == top  # no SEs: still the most accurate


def test_transition_known_answers():
    # action 3 = answer with the most confident rung so far (runs rung 0 when nothing has run)
    stage, action = np.array([0, 0, 2, 2, 3, 3, 0, 2, 3]), np.array([0, 2, 0, 2, 2, 1, 3, 3, 3])
    new, stop, best = transition(stage, action, n_stages=3)
    assert new.tolist() == [1, 3, 2, 3, 3, 3, 1, 2, 3]
    assert stop.tolist() == [False, False, True, False, True, True, False, True, True]
    assert best.tolist() == [False] * 7 + [True, True]
    assert state_index(np.array([0, 1, 2]), np.array([0, 3, 1]), np.array([0, 0, 1]), n_bins=4).tolist() == [0, 7, 12]


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
    # run rung 0, then rung 2, then answer with the more confident of the two
    L = ladder.n_stages
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        row, rungs = info["input"], ladder.settings
        total = sum(env.step(a)[1] for a in (0, 2))
        obs, r, done, _, step_info = env.step(L)
        conf = table.conf[row, rungs[[0, 2]]]
        pick = rungs[2] if conf[1] > conf[0] else rungs[0]
        assert done and obs[L + 3 + 4] == float(conf[1] < conf[0])  # the "earlier rung more confident" bit
        assert total + r == pytest.approx(float(table.correct[row, pick])
                                          - 0.7 * (ladder.cost[0] + ladder.cost[2]) / table.cost_ref)


def test_gym_env_refuses_a_step_outside_an_episode(table, ladder):
    """helper-70: a step after the answer paid its reward again (term=True, r=1.0 twice), and a step before any
    reset stepped on row 0 of the table, whatever the split (a held-out input for a train env)."""
    from workbench.errors import InputError

    env = CascadeEnv(table, ladder, "train")
    with pytest.raises(InputError, match="no episode is running: call reset"):
        env.step(0)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, done, _, _ = env.step(ladder.n_stages)  # answer at once
    with pytest.raises(InputError, match="no episode is running"):
        env.step(0)
    env.reset(seed=1)
    env.step(0)  # a new episode steps again


def test_vector_env_and_exact_evaluation_agree_with_sampling(table, ladder):
    env = VectorCascade(table, ladder, "train", lam=0.3)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(ladder.n_stages + 1), size=env.t.n_states)  # (S, L + 1) a random policy
    exact = evaluate(probs, env.t, env.t.rows, lam=0.3)
    s, ret = env.reset(rng, 40_000), np.zeros(40_000)
    while not env.done.all():
        a = (rng.random((len(s), 1)) > probs[s].cumsum(1)).sum(1).clip(max=ladder.n_stages)
        s, r, live = env.step(a)
        ret += r
    assert env.cost.mean() == pytest.approx(exact["cost"], rel=0.03)
    assert 1.0 - env.correct.mean() == pytest.approx(exact["error"], abs=0.01)
    assert ret.mean() == pytest.approx(exact["reward"], abs=0.01)


def test_exact_evaluation_caches_per_row_set(table, ladder):
    """The policy-independent part of exact evaluation is cached per set of rows: interleaving row sets,
    and more of them than the cache keeps, gives what a fresh environment gives."""
    env = VectorCascade(table, ladder, "train")
    probs = np.random.default_rng(1).dirichlet(np.ones(ladder.n_stages + 1), size=env.t.n_states)
    sets = [env.t.rows[k * 40: k * 40 + 60] for k in range(6)]
    first = [evaluate(probs, env.t, r) for r in sets]
    assert len(env.t._levels) == 4  # bounded: the oldest row sets were dropped
    again = [evaluate(probs, env.t, r) for r in sets[::-1]][::-1]
    fresh = [evaluate(probs, VectorCascade(table, ladder, "train").t, r) for r in sets]
    assert first == again == fresh
    assert len({ev["error"] for ev in first}) > 1  # the row sets differ, so a mix-up would show
    # int32 [a, 0] has the bytes of int64 [a]: the cache must still tell them apart
    one, two = env.t.rows[:1].astype(np.int64), np.array([env.t.rows[0], 0], np.int32)
    evaluate(probs, env.t, one)
    assert evaluate(probs, env.t, two, per_input=True)["flops"].tolist() == \
        evaluate(probs, VectorCascade(table, ladder, "train").t, two, per_input=True)["flops"].tolist()
    with pytest.raises(InputError, match="row indices"):
        evaluate(probs, env.t, env.t.rows[:5] > 0)


def test_exact_evaluation_of_a_fixed_two_rung_ensemble(table, ladder):
    """Known answer: 'run rung 1, then the top rung, answer with the more confident' evaluated exactly
    equals the table's correctness of the more confident of the two, and its cost their sum."""
    env = VectorCascade(table, ladder, "heldout")
    L, S = ladder.n_stages, env.t.n_states
    probs = np.zeros((S, L + 1))
    probs[0, 1] = 1.0  # stage 0: run rung 1
    probs[1 + 2 * ladder.n_bins * 1: 1 + 2 * ladder.n_bins * 2, L - 1] = 1.0  # after rung 1: run the top rung
    probs[1 + 2 * ladder.n_bins * (L - 1):, L] = 1.0  # after the top rung: answer with the most confident
    rows = env.t.rows
    ev = evaluate(probs, env.t, rows)
    conf = table.conf[np.ix_(rows, ladder.settings[[1, L - 1]])]
    right = np.where(conf[:, 1] > conf[:, 0], table.correct[rows, ladder.settings[L - 1]],
                     table.correct[rows, ladder.settings[1]])
    assert ev["error"] == pytest.approx(1.0 - right.mean(), abs=1e-12)
    assert ev["cost"] == pytest.approx(ladder.cost[1] + ladder.cost[L - 1])


def test_policy_features_and_law_prior_known_answers():
    L, B = 3, 4
    S = 1 + 2 * L * B
    assert np.array_equal(state_features(L, B, "tabular"), np.eye(S))
    phi = state_features(L, B, "linear")  # (S, 2·(1 + 2L)): group one-hot, then one-hot × bin/(B − 1)
    assert phi.shape == (S, 2 * (1 + 2 * L))
    s = 1 + 2 * ((2 - 1) * B + 3) + 1  # stage 2, bin 3 (least confident), earlier rung more confident
    g = 1 + 2 * (2 - 1) + 1
    assert phi[s].tolist() == [float(i == g) for i in range(1 + 2 * L)] + [float(i == g) for i in range(1 + 2 * L)]
    assert phi[0, 0] == 1.0 and phi[0].sum() == 1.0
    pred = np.full((1 + L * B, L), 0.1)
    pred[:, 2] = 0.05
    cost = np.array([1.0, 2.0, 4.0])
    z = prior_logits(pred, cost, lam=0.0, cost_ref=4.0, temperature=0.01, n_bins=B)  # (S, L + 1)
    assert z[0, L] < -1e8  # ANSWER_BEST masked before any rung ran
    assert z[0, 2] - z[0, 0] == pytest.approx(5.0)  # 0.05 lower predicted error at τ = 0.01
    # stage 2: targets 0, 1 and ANSWER_BEST are the 3 stop actions, each −log 3 below the plain stop score
    assert z[s, 0] == z[s, 1] == z[s, L] == pytest.approx(-0.1 / 0.01 - np.log(3))
    ok, flops = law_critic(pred, cost, 4.0, B)
    assert ok[s].tolist() == pytest.approx([0.9, 0.9, 0.95, 0.9]) and flops[s].tolist() == [0, 0, 1.0, 0]
    with pytest.raises(InputError, match="policy"):
        CascadeAgentConfig(policy="deep").validate()
    with pytest.raises(InputError, match="estimator"):
        CascadeAgentConfig(estimator="ppo").validate()


def test_a_guided_critic_pinned_to_the_laws_steers_to_their_choice_at_every_lambda(table, ladder):
    # the guided critic starts from the laws' correctness *and* FLOPs to go (law_critic); with that start weighted
    # as 1e12 episodes and never decayed it is the laws' Q(s, a) throughout, and a nearly flat prior (τ = 1) leaves
    # the choice to it: the first state's most probable action must be the laws' argmax of ok − λ·FLOPs at each λ.
    # A critic started without its FLOPs (session 28's surviving mutant) escalates to the top rung at every λ
    env = VectorCascade(table, ladder)
    L = ladder.n_stages
    ok0, flops0 = law_critic(ladder.pred_error, ladder.cost, env.t.cost_ref, ladder.n_bins)
    chosen, best = [], []
    for lam in (0.0, 1.0, 5.0):
        cfg = CascadeAgentConfig(steps=20_000, lam=lam, prior_count=1e12, critic_decay=1.0, prior_temperature=1.0,
                                 eval_every=10**9, seed=1)
        chosen.append(int(train(env, cfg).probs[0].argmax()))
        best.append(int(np.argmax(ok0[0, :L] - lam * flops0[0, :L])))
    assert len(set(best)) == 3  # the three λ make the laws pick three different rungs: the test can tell them apart
    assert chosen == best


@pytest.mark.parametrize("kw", [{}, {"policy": "linear"}, {"estimator": "reinforce"}])
def test_every_agent_variant_is_seeded_and_beats_its_start(table, ladder, kw):
    env = VectorCascade(table, ladder)
    cfg = CascadeAgentConfig(steps=40_000, guided=False, lam=0.2, seed=3, eval_every=5_000, **kw)
    a, b = train(env, cfg), train(env, cfg)
    assert np.array_equal(a.probs, b.probs) and a.curve.equals(b.curve)
    assert a.curve["reward"].iloc[-1] > a.curve["reward"].iloc[0] + 0.05  # uniform start is far from good


def test_agent_is_seeded(table, ladder):
    env = VectorCascade(table, ladder)
    cfg = CascadeAgentConfig(steps=20_000, episodes=256, budget=float(ladder.cost[2]), seed=7)
    a, b = train(env, cfg), train(env, cfg)
    assert np.array_equal(a.probs, b.probs) and a.lam == b.lam and a.curve.equals(b.curve)
    c = train(env, dataclasses.replace(cfg, seed=8))
    assert not np.array_equal(a.probs, c.probs)


class _SecondBatchScaled:
    """A VectorCascade whose rewards in the second rollout batch (the second reset) are ``c`` times the real ones."""

    def __init__(self, env, c):
        self.env, self.c, self.resets = env, c, 0

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, rng, n):
        self.resets += 1
        return self.env.reset(rng, n)

    def step(self, action):
        s, r, live = self.env.step(action)
        return s, (self.c * r if self.resets == 2 else r), live


def test_reinforce_normalises_each_batchs_advantage_by_its_spread(table, ladder):
    """Mutant (the one session 29 could not kill): REINFORCE's advantage centred but not divided by its std. With the
    baseline held at 0 (value_lr = 0) the advantage is the return minus the batch mean; batch 2's rewards x10 scale it
    by 10 exactly, and normalised it is the same, so the averaged policy is unchanged (within 1.1e-9 on seeds 0-4;
    the 1e-8 in the std's denominator). Without the division batch 2's gradient is 10x the others', which Adam's
    later steps weigh differently: the policy moves by 0.059-0.095 (it moved 0.19-0.27 from its start)."""
    cfg = CascadeAgentConfig(steps=2000, episodes=256, estimator="reinforce", value_lr=0.0, guided=False, lam=0.2,
                             lr=0.3, average_last=0.3, eval_every=10**6, seed=0)
    start = train(VectorCascade(table, ladder), dataclasses.replace(cfg, steps=1)).probs
    probs = train(_SecondBatchScaled(VectorCascade(table, ladder), 1.0), cfg).probs
    assert np.abs(probs - start).max() > 0.1  # it learned something
    np.testing.assert_allclose(train(_SecondBatchScaled(VectorCascade(table, ladder), 10.0), cfg).probs, probs,
                               rtol=0, atol=1e-6)


def test_dual_ascent_moves_lambda_toward_the_budget(table, ladder):
    env = VectorCascade(table, ladder)
    rows = env.t.rows
    free = train(env, CascadeAgentConfig(steps=60_000, guided=False))
    free_cost = evaluate(free.probs, env.t, rows)["cost"]
    budget = free_cost / 4
    tight = train(env, CascadeAgentConfig(steps=60_000, guided=False, budget=budget, dual_lr=0.5))
    # over budget -> λ rose. Not necessarily to the end: at dual_lr 0.5 the step can overshoot, the policy then spends
    # far under the budget and λ is projected back to 0 (the final λ was 0 on 6 of 12 trained tables for the
    # cascade, 3 of 24 for the router; the curve's λ rose on all of them, helper-92)
    assert tight.curve["lam"].max() > 0
    assert evaluate(tight.probs, env.t, rows)["cost"] < 0.5 * free_cost
    guided = train(env, CascadeAgentConfig(steps=60_000, budget=budget))
    assert evaluate(guided.probs, env.t, rows)["cost"] == pytest.approx(budget, rel=0.25)
    loose = train(env, CascadeAgentConfig(steps=20_000, guided=False, budget=ladder.cost.sum() * 10))
    assert loose.lam == 0.0  # always under budget -> λ pinned at 0
    assert law_lambda(ladder.pred_error[0], ladder.cost, ladder.cost[1], table.cost_ref) > 0


def test_rl_cascade_beats_the_static_frontier_on_heldout_inputs():
    """On the CLI's default teacher/MLP table (the shared cache; built once, ~30-60 s, if missing) with the
    study's ladder, the learned cascade's held-out curve (both curves as lower convex hulls, what mixing
    reaches): at its points the static frontier typically needs 1.2x RL's cost for the same error or more,
    somewhere at least 1.5x, nowhere less than 0.6x, and the area under RL's curve is no larger. Measured
    on the 10,000 held-out inputs, seed 0: static cost / RL cost 0.71-2.21 (median 1.64) along the curve
    (0.90-2.21 when both curves interpolated adjacent Pareto points, before session 8: the static hull
    reaches one RL point's error at 0.71x its cost); areas 0.0667 vs 0.0675 over this range, which starts
    at RL's cheapest point, where RL is weakest."""
    table = outcome_table(OutcomeConfig())
    cfg = StudyConfig()
    ladder = build_ladder(table, cfg.spacing, n_bins=cfg.n_bins, top_se=cfg.top_se)
    env = VectorCascade(table, ladder)
    held = VectorCascade(table, ladder, "heldout").t
    ho = table.inputs("heldout")
    pts = []
    for b in np.geomspace(ladder.cost[0] * 1.2, ladder.cost[-1], 8):
        res = train(env, CascadeAgentConfig(steps=150_000, budget=float(b), episodes=cfg.episodes,
                                            eval_every=150_000))
        ev = evaluate(res.probs, held, ho)
        pts.append((ev["cost"], ev["error"]))
    rl, static = P.frontier(pts), P.frontier(P.static_points(table, ho))
    ratios = np.array([P.cost_at_error(static, e) / c for c, e in rl])  # static cost / RL cost at RL's error
    finite = ratios[np.isfinite(ratios)]
    assert np.all(finite >= 0.6) and np.median(finite) >= 1.2 and finite.max() >= 1.5
    lo, hi = max(rl[0, 0], static[0, 0]), static[-1, 0]
    assert P.area(rl, lo, hi) <= P.area(static, lo, hi) + 0.0005


def test_the_law_prior_reaches_98pct_of_its_final_reward_in_at_most_half_the_unguided_steps():
    """Guidance as the study measures it (``study.guidance_runs``), on the CLI's default teacher/MLP table (the
    shared cache) at a binding λ: 300,000 steps per agent, curves evaluated before every update, final reward =
    the mean over the last 5% of the steps. Measured (session 24, λ = 1.5 exactly, seed 0): guided 0 steps (the
    prior alone is at 98% of its final reward), unguided 19,227; final rewards 0.9060 / 0.9121 (the study's λ,
    1.5001, gives 0.8995 / 0.9122: the prior can settle lower, which the study reports as
    ``guided_worse_final_reward_lams``). Against the study's common target, 0.005 below the better final reward,
    the guided agent is the slower one here: 104,595 steps against 40,144 (``steps_to_common_target``)."""
    from workbench.costtune.agent import final_reward, steps_to_fraction
    from workbench.costtune.study import GUIDANCE_STEPS

    table = outcome_table(OutcomeConfig())
    cfg = StudyConfig()
    ladder = build_ladder(table, cfg.spacing, n_bins=cfg.n_bins, top_se=cfg.top_se)
    env = VectorCascade(table, ladder)
    steps, finals = {}, {}
    for guided in (True, False):
        res = train(env, CascadeAgentConfig(steps=GUIDANCE_STEPS, guided=guided, lam=1.5, episodes=cfg.episodes,
                                            eval_every=1))
        gaps = np.diff(res.curve["step"].to_numpy())  # one update: 1 to L + 1 steps per episode
        assert cfg.episodes <= gaps.min() and gaps.max() <= (ladder.n_stages + 1) * cfg.episodes
        steps[guided], finals[guided] = steps_to_fraction(res.curve, 0.98), final_reward(res.curve)
    assert steps[True] <= steps[False] / 2 and steps[False] >= 5_000
    assert finals[True] >= 0.95 * finals[False]  # not a prior stuck far below what learning finds


@pytest.mark.parametrize("kw, needle", [({"n_boot": 0}, "n_boot"), ({"n_budgets": 1}, "n_budgets"),
                                        ({"steps": 0}, "steps")])
def test_study_rejects_bad_settings_before_training(table, kw, needle):
    with pytest.raises(InputError, match=needle):
        study_table(table, StudyConfig(**kw))


def test_the_reported_policy_averages_iterates_by_their_own_visits():
    """Per state, each iterate's probabilities weigh by how often its batch visited the state, so the mixture keeps
    the iterates' average cost and correctness; a plain per-state average does not (module docstring). Before, no
    test could tell the two apart."""
    from workbench.costtune.cascade_agent import IterateAverage

    avg = IterateAverage(3, 2)
    avg.add(np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]]), np.array([0, 0, 0, 1]), lam=1.0)
    avg.add(np.array([[0.0, 1.0], [0.9, 0.1], [0.6, 0.4]]), np.array([0]), lam=3.0)
    probs, lam = avg.result()
    np.testing.assert_allclose(probs[0], [0.75, 0.25])  # 3 visits of the first iterate, 1 of the second
    np.testing.assert_allclose(probs[1], [0.5, 0.5])  # only the first iterate visited state 1
    np.testing.assert_allclose(probs[2], [0.4, 0.6])  # never visited: the plain average
    assert lam == 2.0
