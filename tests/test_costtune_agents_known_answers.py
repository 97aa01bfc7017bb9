"""Known-answer tests for what no other test pinned down in the per-input router agent (agent.py), the law
guidance (guidance.py), the AMC study (amc_study.py) and the AMC agent's update rule (amc_agent.py): session 29's
mutation review (84 hand-made changes, 62 let through by the rest of the suite). One update of each agent is worked
out by hand (Adam's first step is ±lr per entry), the guidance fits exact power laws, and the AMC study's rows are
computed from the documented rounding. Toy tables are SimpleNamespaces holding just what InputRoutingEnv and
fit_guidance read."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.costtune.agent import AgentConfig, Policy, evaluate, law_support, train
from workbench.costtune.env import InputRoutingEnv
from workbench.costtune.guidance import Guidance, prior_logits
from workbench.errors import InputError


def _toy_env(correct, cost, cost_ref, pred=None, probe=(0.55, 0.2, 0.0)):
    """An InputRoutingEnv over a hand-made table: every input has the same probe features (max prob 0.55 -> max-prob
    bin 3, margin 0.2 -> margin bin 1, i.e. feature columns 3 and 11 + 1 = 12) unless ``probe`` is (n, 3); one guidance
    bin."""
    correct = np.asarray(correct, bool)
    n, a = correct.shape
    probe = np.asarray(probe, np.float32)
    probe = np.tile(probe, (n, 1)) if probe.ndim == 1 else probe
    table = SimpleNamespace(correct=correct, probe=probe, cost_ref=cost_ref,
                            inputs=lambda split: np.arange(n), route_cost=lambda: np.asarray(cost, float))
    pred = np.zeros((1, a)) if pred is None else np.asarray(pred, float)
    return InputRoutingEnv(table, "train", guidance=Guidance(pred, {}, np.zeros(n, int)))


# -- agent.py: configuration -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [({"steps": 0}, "steps must be a positive integer"),
                                             ({"batch": 0}, "batch must be a positive integer"),
                                             ({"budget": 0.0}, "budget must be finite and > 0 FLOPs"),
                                             ({"lam": -0.1}, "lam must be finite and >= 0")])
def test_router_config_refuses_a_zero_count_a_zero_budget_and_a_negative_lambda(change, message):
    """Mutants: counts checked with `< 0` (steps=0 passed); budget checked with `>= 0`; the lam check removed."""
    with pytest.raises(InputError, match=message):
        AgentConfig(**change).validate()


# -- agent.py: the law support ---------------------------------------------------------------------------------------

def test_law_support_is_the_union_of_each_bins_strict_cost_error_front():
    """Mutants: the running best error never updated (every setting kept); ties kept (`<= best`). Costs 1, 2, 3, 4, 4.
    Bin 0 errors 0.5, 0.3, 0.4, 0.1, 0.2: walking up in cost (ties: lower error first) the front is a0 (0.5), a1
    (0.3), a3 (0.1); a2 (0.4 > 0.3) and a4 (same cost as a3, worse) are not on it. Bin 1 errors 0.5, 0.5, 0.2, 0.3,
    0.3: a0, then a2 (0.2); a1 ties a0 at a higher cost, so it is not on bin 1's front (it is on bin 0's)."""
    cost = np.array([1.0, 2.0, 3.0, 4.0, 4.0])
    assert law_support(np.array([[0.5, 0.3, 0.4, 0.1, 0.2]]), cost).tolist() == [True, True, False, True, False]
    assert law_support(np.array([[0.5, 0.5, 0.2, 0.3, 0.3]]), cost).tolist() == [True, False, True, False, False]
    both = law_support(np.array([[0.5, 0.3, 0.4, 0.1, 0.2], [0.5, 0.5, 0.2, 0.3, 0.3]]), cost)
    assert both.tolist() == [True, True, True, True, False]


# -- agent.py: the policy and its evaluation -------------------------------------------------------------------------

def test_the_guided_policy_adds_the_law_prior_to_the_logits():
    """Mutants: the prior subtracted from the logits; (guidance.prior_logits) λ·cost as a bonus, × τ instead of / τ,
    cost not over cost_ref. Predicted errors 0.1, 0.3, costs 1, 3, C_ref 2, λ = 0.2, τ = 0.1, W = 0:
    logits −(0.1 + 0.2·0.5)/0.1 = −2 and −(0.3 + 0.2·1.5)/0.1 = −6, so p0 = 1/(1 + e^−4)."""
    np.testing.assert_allclose(prior_logits(np.array([0.1, 0.3]), np.array([1.0, 3.0]), 0.2, 2.0, 0.1), [-2.0, -6.0])
    pol = Policy(np.zeros((18, 2)), np.array([1.0, 3.0]), 2.0, True, 0.1)
    obs = np.array([[0.55, 0.2, 0.0, 0.1, 0.3]])
    p0 = 1.0 / (1.0 + math.exp(-4.0))
    np.testing.assert_allclose(pol.probs(obs, 0.2), [[p0, 1.0 - p0]], rtol=1e-6)


def test_greedy_evaluation_takes_each_inputs_most_probable_setting():
    """Mutant: greedy from the argmin. Action 0 always right, action 1 always wrong (costs 1 and 3, C_ref 2); W puts
    +1 on action 1 in every feature column, and an input has two active columns: p1 = 1/(1 + e^−2). Greedy: action 1
    everywhere -> error 1, cost 3; stochastic: error p1, cost 1 + 2·p1."""
    env = _toy_env([[True, False]] * 4, [1.0, 3.0], 2.0)
    W = np.zeros((18, 2))
    W[:, 1] = 1.0
    pol = Policy(W, env.cost, env.cost_ref, False, 0.01)
    rows = np.arange(4)
    g = evaluate(pol, env, rows, lam=0.5, greedy=True)
    assert g["error"] == pytest.approx(1.0) and g["cost"] == pytest.approx(3.0)
    assert g["reward"] == pytest.approx(0.0 - 0.5 * 3.0 / 2.0)
    p1 = 1.0 / (1.0 + math.exp(-2.0))
    s = evaluate(pol, env, rows, lam=0.0)
    assert s["error"] == pytest.approx(p1, rel=1e-6) and s["cost"] == pytest.approx(1.0 + 2.0 * p1, rel=1e-6)


# -- agent.py: one update, by hand -----------------------------------------------------------------------------------

def test_one_update_is_an_adam_first_step_of_lr_times_the_gradients_sign():
    """Mutants: Adam's bias correction dropped (step lr·0.1·g); lr ignored; the score function's sign flipped; the final
    curve point not recorded; batches not cut at the step budget (n = batch). Action 0 always right, action 1 always
    wrong, λ = 0: with the uniform start, 64 steps sample both actions; the normalised advantage is > 0 exactly for
    action 0, so ∂/∂W[f, 0] of E[adv log π] is > 0 and ∂/∂W[f, 1] < 0 for the two active columns f = 3, 12, and 0 for the
    others. Adam's first step is lr·g/(|g| + 1e-8) = ±lr. The curve: step 0 (uniform: reward 0.5) and step 64, whose
    policy has logits ±2·0.3: reward p0 = 1/(1 + e^−1.2)."""
    env = _toy_env([[True, False]] * 4, [1.0, 1.0], 1.0)
    res = train(env, AgentConfig(steps=64, batch=64, lr=0.3, guided=False, eval_every=1000, seed=0))
    want = np.zeros((18, 2))
    want[[3, 12]] = [0.3, -0.3]
    np.testing.assert_allclose(res.policy.W, want, rtol=1e-6, atol=1e-12)
    p0 = 1.0 / (1.0 + math.exp(-1.2))
    assert res.curve["step"].tolist() == [0, 64]
    np.testing.assert_allclose(res.curve["reward"], [0.5, p0], rtol=1e-6)
    short = train(env, AgentConfig(steps=100, batch=64, guided=False, eval_every=1000, seed=0))
    assert short.curve["step"].tolist() == [0, 100]  # 64 + 36 steps, not 2 x 64


def test_the_entropy_bonus_pushes_toward_the_uniform_policy():
    """Mutant: the entropy gradient subtracted. Every action right, λ = 0: every reward is 1, the normalised advantage
    0, so only the entropy term moves W. Guided start, predicted errors 0.3 and 0.1 (both on the law front: costs 1, 3),
    τ = 0.1: p = softmax(−3, −1), action 1 the more probable; ∂H/∂z = −p(log p − Σ p log p) is > 0 for the less probable
    action 0 and < 0 for action 1. Adam's first step: W[f] = (+lr, −lr) in the active columns f = 3, 12. Without the
    bonus W stays exactly 0."""
    env = _toy_env([[True, True]] * 4, [1.0, 3.0], 3.0, pred=[[0.3, 0.1]])
    cfg = AgentConfig(steps=32, batch=32, lr=0.2, ent_coef=0.5, prior_temperature=0.1, eval_every=1000, seed=0)
    want = np.zeros((18, 2))
    want[[3, 12]] = [0.2, -0.2]
    np.testing.assert_allclose(train(env, cfg).policy.W, want, rtol=1e-6, atol=1e-12)
    assert not train(env, AgentConfig(steps=32, batch=32, prior_temperature=0.1, seed=0)).policy.W.any()


class _ScaledRewards:
    """An env whose rewards are ``c`` times ``env``'s (everything else passed through)."""

    def __init__(self, env, c):
        self.env, self.c = env, c

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, self.c * reward, terminated, truncated, info


def test_the_router_agents_policy_does_not_depend_on_the_rewards_unit():
    """Mutant (the one session 29 could not kill): the advantage not divided by its std. Rewards 10x give the same
    policy: the baseline starts at 0 and its update is linear in the rewards, so it scales with them and the normalised
    advantage does not, and the entropy bonus keeps its weight ent_coef against the policy-gradient term. Without the
    division that term is 10x heavier against the entropy's, a change of direction Adam's per-coordinate scaling cannot
    undo: W moved by 0.029 (of 0.39) in that mutant, by 4e-10 here."""
    probe = [[0.9, 0.8, 0.0], [0.35, 0.05, 0.0], [0.55, 0.2, 0.0], [0.7, 0.5, 0.0]]
    correct = [[True, False], [False, True], [True, True], [False, False]]
    cfg = AgentConfig(steps=512, batch=64, lr=0.05, ent_coef=0.1, guided=False, eval_every=100_000, seed=0)
    w = train(_toy_env(correct, [1.0, 2.0], 2.0, probe=probe), cfg).policy.W
    w10 = train(_ScaledRewards(_toy_env(correct, [1.0, 2.0], 2.0, probe=probe), 10.0), cfg).policy.W
    assert np.abs(w).max() > 0.1  # it learned something
    np.testing.assert_allclose(w10, w, rtol=0, atol=1e-6)


def test_the_guided_agent_never_picks_a_setting_off_the_law_front():
    """Mutant: the guided agent trained without its support. Predicted errors 0.1, 0.3 at costs 1, 3: setting 1 is
    dearer and worse, off the front; its probability is exactly 0 after training, whatever it learned."""
    env = _toy_env([[False, True]] * 4, [1.0, 3.0], 3.0, pred=[[0.1, 0.3]])
    res = train(env, AgentConfig(steps=256, batch=64, seed=0))
    assert res.policy.support.tolist() == [True, False]
    assert res.policy.probs(env.observation(np.arange(4)), res.lam)[:, 1].max() == 0.0


def test_the_learned_baseline_absorbs_a_reward_that_depends_only_on_the_input():
    """Mutants: the baseline's SGD step with the wrong sign (it diverges); value_lr ignored (no baseline). Input 0 is
    answered right by every setting, input 1 by none, and their feature columns are disjoint (max prob 0.9 / margin
    0.8 -> columns 6, 15; 0.35 / 0.05 -> columns 1, 11): the reward carries no information about the action. The linear
    baseline learns each input's reward geometrically (the residual shrinks by 1 − 2·value_lr·share per update, about
    0.8), so after ~100 updates the advantage is 0 to float precision and W stops moving: between update 200 and 300
    (same seed: the shorter run is the longer one's prefix) W moves by less than 1e-3·lr (what is left of Adam's
    momentum). Without the baseline (or with a diverging one) the normalised advantage is ±1 by input for ever and W
    keeps taking steps of order lr."""
    probe = [[0.9, 0.8, 0.0], [0.35, 0.05, 0.0]]
    env = _toy_env([[True, True], [False, False]], [1.0, 1.0], 1.0, probe=probe)
    cfg = AgentConfig(steps=16 * 200, batch=16, lr=0.1, guided=False, eval_every=100_000, seed=0)
    w200 = train(env, cfg).policy.W
    w300 = train(env, AgentConfig(**{**cfg.__dict__, "steps": 16 * 300})).policy.W
    assert np.abs(w300 - w200).max() < 1e-4


# -- agent.py: the curve and the dual ascent -------------------------------------------------------------------------

def test_the_curve_is_evaluated_every_eval_every_steps_at_eval_lam_with_the_training_lambda_column():
    """Mutants: evaluations at steps ≡ 1 (mod eval_every); eval_lam ignored; the lam column holding eval_lam. Costs 1
    (C_ref 1), fixed λ = 0.5, eval_lam = 0: the step-0 row is the uniform policy, reward 0.5 (at λ = 0), lam 0.5; rows
    at 0, 128, 256."""
    env = _toy_env([[True, False]] * 4, [1.0, 1.0], 1.0)
    res = train(env, AgentConfig(steps=256, batch=64, guided=False, lam=0.5, eval_every=128, seed=0), eval_lam=0.0)
    assert res.curve["step"].tolist() == [0, 128, 256]
    assert res.curve["lam"].tolist() == [0.5, 0.5, 0.5]
    assert res.curve["reward"].iloc[0] == pytest.approx(0.5)


@pytest.mark.parametrize("lam0, budget, want", [(0.2, 1.6, 0.3), (0.12, 4.0, 0.0)])
def test_dual_ascent_steps_lambda_by_eta_times_the_relative_overspend(lam0, budget, want):
    """Mutants: no clamp at 0; the step not divided by the budget; dual_lr ignored (0.05); the env left at the old λ.
    Every setting costs 2 FLOPs, so every batch's mean cost is 2; 4 updates of λ ← max(0, λ + η·(2 − B)/B), η = 0.1:
    B = 1.6: +0.025 each, 0.2 -> 0.3; B = 4: −0.05 each, 0.12 -> 0.07 -> 0.02 -> 0 -> 0."""
    env = _toy_env([[True, False]] * 4, [2.0, 2.0], 2.0)
    res = train(env, AgentConfig(steps=256, batch=64, guided=False, lam=lam0, budget=budget, dual_lr=0.1, seed=0))
    assert res.lam == pytest.approx(want, abs=1e-12) and env.lam == pytest.approx(want, abs=1e-12)
    assert res.curve["lam"].iloc[0] == lam0


# -- guidance.py -----------------------------------------------------------------------------------------------------

def _col(err, n):
    """n answers of which round(err·n) are wrong: a column whose mean error is exactly err."""
    c = np.ones(n, bool)
    c[:int(round(err * n))] = False
    return c


def _guidance_table(bin_errors, probe_maxprob, strategy, cost, n=1000, heldout=None):
    """A hand-made outcome table: bin b's n train inputs have max probability probe_maxprob[b] and the per-setting
    errors bin_errors[b]; ``heldout``: the same for extra held-out rows (split 1)."""
    blocks = [np.stack([_col(e, n) for e in errs], 1) for errs in bin_errors]
    probe = [np.tile([m, 0.5, 0.0], (n, 1)) for m in probe_maxprob]
    split = [np.zeros(n, int)] * len(blocks)
    if heldout is not None:
        blocks.append(heldout[0])
        probe.append(np.tile([heldout[1], 0.5, 0.0], (len(heldout[0]), 1)))
        split.append(np.ones(len(heldout[0]), int))
    split = np.concatenate(split)
    return SimpleNamespace(correct=np.concatenate(blocks), probe=np.concatenate(probe).astype(np.float32),
                           cost=np.asarray(cost, float), settings=pd.DataFrame({"strategy": strategy}),
                           inputs=lambda s: np.flatnonzero(split == (1 if s == "heldout" else 0)))


COST = [1.0, 4.0, 16.0, 64.0, 1.0, 4.0, 16.0, 64.0, 2.0, 8.0]
STRATEGY = ["argmax"] * 4 + ["vote"] * 4 + ["bon"] * 2
EASY = [0.85, 0.45, 0.25, 0.15, 0.0, 0.0, 0.0, 0.0, 0.3, 0.2]
HARD = [0.95, 0.55, 0.35, 0.25, 1.0, 0.9, 0.2, 0.1, 0.6, 0.5]


def test_guidance_fits_each_bins_error_per_strategy_group_at_the_settings_cost():
    """Mutants: the accuracy fitted instead of the error; the law evaluated at 2x the FLOPs; the floor 1e-2 (or added,
    not a floor); a failed fit's settings predicted 0 (not their empirical error); predictions not clipped to [0, 1];
    bin b fitted on bin b + 1's rows; probe_bins at its default 5 bins whatever n_bins; fits keyed (group, bin).
    By hand, 2 bins (max prob 0.9 = easiest = bin 0, 0.3 = bin 1), 1000 train rows each:
    - argmax errors are exactly 0.8·C^−0.5 + 0.05 (easy: 0.85, 0.45, 0.25, 0.15 at C = 1, 4, 16, 64) and + 0.15
      (hard): the power law fits them exactly, so the prediction is the error itself;
    - vote, easy: no errors at all: floored at 1e-3, a constant the law fits exactly: 1e-3 everywhere;
    - vote, hard: 1.0, 0.9, 0.2, 0.1 are no power law; the best fit overshoots 1 at C = 1, clipped to exactly 1;
    - bon: 2 settings, too few points for 3 parameters: the fit fails and the empirical error is used."""
    from workbench.costtune.guidance import fit_guidance

    g = fit_guidance(_guidance_table([EASY, HARD], [0.9, 0.3], STRATEGY, COST), n_bins=2)
    assert g.pred_error.shape == (2, 10) and g.bins.tolist() == [0] * 1000 + [1] * 1000
    np.testing.assert_allclose(g.pred_error[0, :4], EASY[:4], rtol=1e-4)
    np.testing.assert_allclose(g.pred_error[1, :4], HARD[:4], rtol=1e-4)
    np.testing.assert_allclose(g.pred_error[0, 4:8], 1e-3, rtol=1e-3)
    assert g.pred_error[1, 4] == 1.0 and (g.pred_error[1, 5:8] < 1.0).all() and (g.pred_error[1, 5:8] > 0.0).all()
    np.testing.assert_allclose(g.pred_error[:, 8:], [EASY[8:], HARD[8:]], rtol=1e-9)
    assert sorted(g.fits) == [(0, "argmax"), (0, "vote"), (1, "argmax"), (1, "vote")]


def test_guidance_defaults_to_five_probe_bins():
    """Mutant: n_bins default 4. Five max-probability levels, 200 train rows each, the same errors: 5 rows of
    predictions, bin 0 the most confident inputs."""
    from workbench.costtune.guidance import fit_guidance

    t = _guidance_table([EASY] * 5, [0.9, 0.8, 0.7, 0.6, 0.5], STRATEGY, COST, n=200)
    g = fit_guidance(t)
    assert g.pred_error.shape == (5, 10) and g.bins[::200].tolist() == [0, 1, 2, 3, 4]


def test_coverage_fit_reads_pass_at_k_of_the_chosen_width_up_to_max_k():
    """Mutants: ks only below max_k (k < n); the first width's pass counts whatever width_index. n = 4 samples:
    ks 1, 2, 4. The last width: half the train inputs 1 of 4 right, half 2 of 4: pass@1 = (1/4 + 2/4)/2 = 0.375,
    pass@2 = (1 − C(3,2)/C(4,2) + 1 − C(2,2)/C(4,2))/2 = (1/2 + 5/6)/2 = 2/3, pass@4 = 1. The first width never right
    (coverage 0, floored at 1e-3 for the fit); held-out rows all 4 of 4 (never read by default)."""
    from workbench.costtune.guidance import coverage_fit

    pc = np.array([[0, 1]] * 50 + [[0, 2]] * 50 + [[4, 4]] * 20)
    split = np.r_[np.zeros(100, int), np.ones(20, int)]
    t = SimpleNamespace(pass_counts=pc, config=SimpleNamespace(testtime=SimpleNamespace(max_k=4)),
                        inputs=lambda s: np.flatnonzero(split == (1 if s == "heldout" else 0)))
    ks, cover, fit = coverage_fit(t)
    assert ks.tolist() == [1, 2, 4]
    np.testing.assert_allclose(cover, [0.375, 2 / 3, 1.0], rtol=1e-9)
    assert fit.law == "coverage"
    _, cover0, _ = coverage_fit(t, width_index=0)
    assert cover0.tolist() == [0.0, 0.0, 0.0]
    _, held, _ = coverage_fit(t, inputs="heldout")
    assert held.tolist() == [1.0, 1.0, 1.0]


# -- amc_study.py ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def amc_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("amc")


@pytest.fixture(scope="module")
def amc_prob(amc_cache):
    from workbench.costtune.amc_env import AmcConfig, AmcProblem

    return AmcProblem(AmcConfig(width=32, depth=3, n=4096, steps=400), None, amc_cache)


def _hand_flops(numel, densities, bits):
    """Σ_t 2·max(1, round(d_t·n_t))·bits_t/32 (module docstrings of amc_env: 2 FLOPs per kept weight at fp32)."""
    return sum(2.0 * max(1, round(d * n)) * b / 32 for n, d, b in zip(numel, densities, bits))


def test_amc_study_config_accepts_the_dense_budget_and_refuses_just_below_the_floor():
    """Mutants: budgets checked with `< 1` (the dense budget 1.0 refused); the floor check loosened (b < least/2). The
    documented range is (0, 1]; the floor is every layer at its cheapest option."""
    from workbench.costtune.amc_env import min_budget_fraction
    from workbench.costtune.amc_study import AmcStudyConfig

    cfg = AmcStudyConfig(budgets=(1.0,))
    assert cfg.validate() is cfg
    least = min_budget_fraction(cfg.env.spec(), cfg.env.densities, cfg.env.precisions)
    AmcStudyConfig(budgets=(least,)).validate()
    with pytest.raises(InputError, match="budgets must be >="):
        AmcStudyConfig(budgets=(0.9 * least,)).validate()
    for bad in ((0.0,), (1.5,)):
        with pytest.raises(InputError, match="budgets must be distinct fractions"):
            AmcStudyConfig(budgets=bad).validate()


def test_candidates_keep_the_documented_weights_and_cost_their_precisions_flops(amc_prob):
    """Mutants: uniform keep floor(d·n) instead of round; uniform / global FLOPs at fp32 whatever the precision; the
    agent's masks one density index up; the agent's densities read off the grid instead of kept/numel. Hand: uniform
    density d keeps max(1, round(d·n_t)) weights per layer; global keeps round(d·Σn) in all; FLOPs 2·kept·bits/32;
    the agent's (density index, precision index) keeps prob.kept[t, d_t] = max(1, round(densities[d_t]·n_t))."""
    from workbench.costtune.amc_study import agent_candidate, global_candidate, uniform_candidate

    prob = amc_prob
    numel = [w.numel() for w, _ in prob.layers]
    L = len(numel)
    u = uniform_candidate(prob, "u", 0.37, "bf16")
    assert [int(m.sum()) for m in u.masks] == [max(1, round(0.37 * n)) for n in numel]
    assert u.flops == pytest.approx(_hand_flops(numel, [0.37] * L, [16] * L)) and u.precisions == ["bf16"] * L
    g = global_candidate(prob, "g", 0.37, "int8")
    kept = [int(m.sum()) for m in g.masks]
    assert sum(kept) == round(0.37 * sum(numel))
    assert g.flops == pytest.approx(sum(2.0 * k * 8 / 32 for k in kept))
    np.testing.assert_allclose(g.densities, [k / n for k, n in zip(kept, numel)])
    dens = prob.cfg.densities
    a = agent_candidate(prob, "a", ((0,) * L, (2,) * L))
    want = [max(1, round(dens[0] * n)) for n in numel]
    assert [int(m.sum()) for m in a.masks] == want and a.precisions == ["int8"] * L
    np.testing.assert_allclose(a.densities, [k / n for k, n in zip(want, numel)])
    assert a.flops == pytest.approx(_hand_flops(numel, [dens[0]] * L, [8] * L))
    assert any(k / n != dens[0] for k, n in zip(want, numel))  # rounding shows: grid value != kept/numel


def test_the_study_fills_each_budget_with_the_uniform_densities_and_reports_best_and_greedy(amc_cache, monkeypatch):
    """Mutants: the uniform density not capped at 1; bits over 16 instead of 32; global int8 at the bf16 density; the
    agent's best and greedy rows swapped; densities rounded to 1 decimal; the budget column the fraction; the budget
    set at half the fraction. The agent is replaced by a fixed result (best: density index 0 / int8 everywhere,
    greedy: index 1 / bf16), so the rows are known by hand: at fraction f of the dense FLOPs F = 2·Σn, the uniform
    density at b bits is min(1, f·32/b): f = 0.15 -> fp32 0.15, bf16 0.3, int8 0.6; f = 0.3 -> 0.3, 0.6, 1.0 (1.2
    capped). Global int8 keeps round(d_int8·Σn) weights."""
    import workbench.costtune.amc_study as study
    from workbench.costtune.amc_agent import AmcResult
    from workbench.costtune.amc_env import AmcConfig

    env = AmcConfig(width=32, depth=3, n=4096, steps=400)
    calls = []

    def fixed(prob, cfg):
        calls.append(prob.budget)
        L = prob.n_layers
        return AmcResult(np.ones((L, prob.n_d)) / prob.n_d, np.ones((L, prob.n_p)) / prob.n_p, ((0,) * L, (2,) * L),
                         ((1,) * L, (1,) * L), pd.DataFrame(), cfg)

    monkeypatch.setattr(study, "train", fixed)
    table, _ = study.run_amc_study(study.AmcStudyConfig(env=env, budgets=(0.15, 0.3), finetune_steps=0), amc_cache)
    prob = study.AmcProblem(env, None, amc_cache)
    numel = [w.numel() for w, _ in prob.layers]
    L, full, dens = len(numel), 2.0 * sum(numel), env.densities
    assert calls == pytest.approx([0.15 * full, 0.3 * full])
    for f, d in ((0.15, {"fp32": 0.15, "bf16": 0.3, "int8": 0.6}), (0.3, {"fp32": 0.3, "bf16": 0.6, "int8": 1.0})):
        e = table[table["budget_fraction"] == f].set_index("policy")
        np.testing.assert_allclose(e["budget"], f * full, rtol=1e-12)
        for prec, bits in (("fp32", 32), ("bf16", 16), ("int8", 8)):
            row = e.loc[f"uniform_{prec}"]
            assert row["densities"] == [d[prec]] * L and row["precisions"] == [prec] * L
            assert row["flops"] == pytest.approx(_hand_flops(numel, [d[prec]] * L, [bits] * L))
        kept = round(d["int8"] * sum(numel))
        assert e.loc["global_int8", "flops"] == pytest.approx(2.0 * kept * 8 / 32)
        assert e.loc["agent", "precisions"] == ["int8"] * L and e.loc["agent_greedy", "precisions"] == ["bf16"] * L
        assert e.loc["agent", "flops"] == pytest.approx(_hand_flops(numel, [dens[0]] * L, [8] * L))
        assert e.loc["agent_greedy", "flops"] == pytest.approx(_hand_flops(numel, [dens[1]] * L, [16] * L))


def test_fine_tuning_takes_every_step_it_is_given_without_early_stopping(amc_prob):
    """Mutant: fine-tuning with the student's early stopping (best validation checkpoint) left on. Adam at lr 0.5 for
    20 steps wrecks the model (validation loss far above the start's), so a best-checkpoint run would hand back the
    masked start exactly; the documented run takes all its steps, so every layer's kept weights moved."""
    from workbench.costtune.amc_study import finetune, uniform_candidate

    cand = uniform_candidate(amc_prob, "u", 0.5, "fp32")
    tuned = finetune(amc_prob, [cand.masks], 20, 0.5)[0]
    for (w, _), (w0, _), m in zip(tuned, amc_prob.layers, cand.masks):
        assert not torch.allclose(w, w0 * m) and bool((w[m == 0] == 0).all())


def test_the_amc_summary_reads_each_named_policys_test_error():
    """Mutants: uniform_pruning read off uniform_bf16; the tuned global_int8 read off uniform_int8. A hand-made table
    whose test errors name their row."""
    from workbench.costtune.amc_study import summary

    pol = ["agent", "agent_greedy", "uniform_fp32", "uniform_bf16", "uniform_int8", "uniform_best", "global_int8",
           "uniform_best_ft"]
    t = pd.DataFrame({"budget_fraction": 0.1, "budget": 50.0, "policy": pol, "flops": 40.0,
                      "test_error": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                      "test_error_ft": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]})
    s = summary(t)[0]
    assert s["budget_flops"] == 50.0 and s["agent_flops"] == 40.0
    assert (s["agent_test_error"], s["uniform_pruning_test_error"], s["uniform_int8_test_error"],
            s["uniform_best_test_error"], s["global_int8_test_error"]) == (0.1, 0.3, 0.5, 0.6, 0.7)
    assert (s["agent_test_error_ft"], s["uniform_int8_test_error_ft"], s["global_int8_test_error_ft"],
            s["uniform_best_test_error_ft"]) == (0.01, 0.05, 0.07, 0.08)


# -- amc_agent.py: exploration and the update rule -------------------------------------------------------------------

def test_amc_sampling_draws_each_index_with_its_probability():
    """Mutants: the draw capped one below the last index; the cumulative sum taken over the reversed probabilities.
    A certain index is always drawn; 20000 draws of (0.2, 0.5, 0.3) land within 0.02 of those shares."""
    from workbench.costtune.amc_agent import _sample

    rng = np.random.default_rng(0)
    assert (_sample(rng, np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), 50) == [2, 0]).all()
    draws = _sample(rng, np.array([[0.2, 0.5, 0.3]]), 20000)[:, 0]
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, [0.2, 0.5, 0.3], atol=0.02)


def _toy_amc(error, d_allowed):
    """A one-layer AMC problem: 3 densities (0.25, 0.5, 1 of 100 weights), fp32 only; the budget lets density index
    <= d_allowed through (a dearer request is clamped down to it); error(d, p) by hand; reward −error."""
    from workbench.costtune.amc_env import option_costs, preference_order

    _, cost = option_costs(np.array([100]), (0.25, 0.5, 1.0), np.array([32]))  # FLOPs 50, 100, 200
    budget = float(cost[0, d_allowed, 0])
    return SimpleNamespace(n_layers=1, n_d=3, n_p=1, cost=cost, order=preference_order(np.array([32]), 3),
                           allowed=lambda t, spent: budget - spent, error=error, reward=lambda e, f: -e)


def test_one_amc_update_is_adams_first_step_on_the_requested_actions_score():
    """Mutants: the score function's sign flipped; Adam's bias correction dropped; lr ignored; the score taken at the
    clamped action instead of the requested one. Density index 0 errs 0.5, index 1 0.1; the budget clamps a request
    of index 2 to 1. One update of 32 episodes from the uniform policy: the baseline is the batch mean, so the
    advantage is < 0 for requests of 0 and > 0 for requests of 1 and 2; ∂/∂θ[k] of E[adv log π] = mean over requests
    of k of adv (the advantages sum to 0): − for 0, + for 1 and 2. Adam's first step: θ = (−lr, +lr, +lr), so
    π = softmax(−0.3, 0.3, 0.3); the single precision stays at probability 1. Best: index 1 (clamped), error 0.1."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    prob = _toy_amc(lambda d, p: 0.1 if d == (1,) else 0.5, d_allowed=1)
    res = train_amc(prob, AmcAgentConfig(episodes_total=32, episodes=32, lr=0.3, seed=0))
    z = np.exp([-0.3, 0.3, 0.3])
    np.testing.assert_allclose(res.probs_d, [z / z.sum()], rtol=1e-6)
    np.testing.assert_allclose(res.probs_p, [[1.0]])
    assert res.best == ((1,), (0,)) and res.curve["best_reward"].tolist() == [-0.1]


def test_the_amc_agent_normalises_each_batchs_advantage_by_its_spread():
    """Mutant (the one session 29 could not kill): the advantage not divided by its std. Batch 1's errors are 0.3 + u(d)
    for the requested density index d (u = 0.2, −0.1, 0); batch 2's are batch 1's mean + c·u(d). The baseline after
    batch 2 is b1 + baseline_lr·c·mean(−u), so batch 2's advantage is exactly c × what it is at c = 1, and normalised
    it is the same: c = 10 gives the same policy (within 1.4e-9 on seeds 0-4; the 1e-8 in the std's denominator).
    Without the division batch 2's gradient is 10x batch 1's, which Adam's second step weighs differently: the
    probabilities move by 0.011-0.059."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    u = {0: 0.2, 1: -0.1, 2: 0.0}

    def probs(c):
        errs = []

        def error(d, p):
            errs.append(0.3 + u[d[0]] if len(errs) < 32 else float(np.mean(errs[:32])) + c * u[d[0]])
            return errs[-1]

        return train_amc(_toy_amc(error, d_allowed=2), AmcAgentConfig(episodes_total=64, episodes=32, lr=0.3,
                                                                       seed=0)).probs_d

    p1 = probs(1.0)
    assert np.abs(p1 - 1 / 3).max() > 0.05  # it learned something
    np.testing.assert_allclose(probs(10.0), p1, rtol=0, atol=1e-6)


def test_the_amc_baseline_is_a_running_mean_that_lags_a_jump_in_reward():
    """Mutant: the baseline set to each batch's mean reward (no running average). Every episode of batch 1 errs 0.5,
    of batch 2 0.1, whatever the action. Batch 1: baseline = its mean, advantage 0, θ stays 0. Batch 2: baseline
    −0.5 + 0.2·(−0.1 + 0.5) = −0.42, advantage 0.32 for every episode (std 0), so ∂/∂θ[k] = c·(n_k/32 − 1/3) ≠ 0
    (32 draws never split into thirds) and Adam's step 2 from m = v = 0 is lr·(0.1/0.19)/√(0.001/0.001999)·sign =
    ±0.74413·lr per entry; the entries' signs are not all equal (Σ_k (n_k/32 − 1/3) = 0), so the log-probabilities
    span exactly 2·0.74413·lr. The mutant's advantage is 0: uniform. best_reward keeps batch 2's −0.1 and the curve
    reports the mean error and FLOPs of each batch (mean FLOPs = clamped 50 / 100 / 100 by request)."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    calls = []

    def error(d, p):
        calls.append(d)
        return 0.5 if len(calls) <= 32 else 0.1

    prob = _toy_amc(error, d_allowed=1)
    res = train_amc(prob, AmcAgentConfig(episodes_total=64, episodes=32, lr=0.2, seed=0))
    logp = np.log(res.probs_d[0])
    step = 0.2 * (0.1 / 0.19) / math.sqrt(0.001 / 0.001999)
    assert logp.max() - logp.min() == pytest.approx(2 * step, rel=1e-6)
    assert res.curve["mean_error"].tolist() == pytest.approx([0.5, 0.1])
    assert res.curve["best_reward"].tolist() == pytest.approx([-0.5, -0.1])
    assert res.curve["episodes"].tolist() == [32, 64]
    assert res.best == (calls[32], (0,))  # the first episode of the best batch (ties keep the first)
    flops = [50.0 if d == (0,) else 100.0 for d in calls]
    assert res.curve["mean_flops"].tolist() == pytest.approx([np.mean(flops[:32]), np.mean(flops[32:])])


def test_the_amc_baseline_moves_toward_each_batchs_mean():
    """Mutant: the running mean stepped away from the batch mean (b += 0.2·(b − mean)). Batch 1 errs 0.5 whatever the
    action (baseline −0.5, advantage 0, no move); batch 2 errs 0.1, 0.2, 0.3 for density index 0, 1, 2 (mean m2 from
    the recorded requests, about −0.2): baseline −0.5 + 0.2·(m2 + 0.5) > −0.5 (the mutant's < −0.5); batch 3 errs 0.5
    again: its advantage −0.5 − baseline is < 0 (the mutant's > 0) and the same for every episode (std 0), so its
    normalised size (~1e6) swamps Adam's moments of steps 1-2: step 3 is lr·(0.1/0.271)/√(0.001/0.002997)·sign(g3)
    = 0.63878·lr·sign(g3) per entry, g3[k] = adv·(n3_k/32 − π2[k]) with π2 the policy after batch 2 (the 64-episode
    run of the same seed) and n3_k the batch-3 requests of k. So θ3 − θ2 = −0.63878·lr·sign(n3_k/32 − π2[k])."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    def run(total):
        calls = []

        def error(d, p):
            calls.append(d[0])
            return 0.5 if len(calls) <= 32 or len(calls) > 64 else 0.1 * (d[0] + 1)

        res = train_amc(_toy_amc(error, d_allowed=2), AmcAgentConfig(episodes_total=total, episodes=32, lr=0.2, seed=0))
        return res, np.array(calls)

    two, _ = run(64)
    three, calls = run(96)
    n3 = np.bincount(calls[64:], minlength=3) / 32
    dtheta = -0.2 * (0.1 / 0.271) / math.sqrt(0.001 / 0.002997) * np.sign(n3 - two.probs_d[0])
    dlog = np.log(three.probs_d[0]) - np.log(two.probs_d[0])
    np.testing.assert_allclose(dlog - dlog[0], dtheta - dtheta[0], atol=1e-5)
    assert np.ptp(dtheta) > 0  # not all the same sign: the check can see a flipped step


def test_the_amc_best_reward_is_the_best_over_all_batches_and_ties_keep_the_first():
    """Mutants: best_reward the current batch's best; ties replacing the best (>=). Batch 1 errs 0.1 everywhere; in
    batch 2 only the first episode whose request differs from batch 1's first does (a tie), the rest 0.5; batch 3 0.5.
    The best stays batch 1's first episode (the first of the equal rewards), best_reward −0.1 on every row. (The tie
    was batch 2's first episode, whose request equals batch 1's first with probability 1/3 under the still uniform
    policy: then the >= mutant could not show, 7 of 20 seeds; helper-98.)"""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    calls, tie = [], []

    def error(d, p):
        calls.append(d)
        if len(calls) <= 32:
            return 0.1
        if len(calls) <= 64 and not tie and d != calls[0]:
            tie.append(len(calls) - 1)
            return 0.1
        return 0.5

    res = train_amc(_toy_amc(error, d_allowed=2), AmcAgentConfig(episodes_total=96, episodes=32, seed=0))
    assert res.curve["best_reward"].tolist() == pytest.approx([-0.1, -0.1, -0.1])
    assert tie and calls[tie[0]] != calls[0]  # the tie of batch 2 taken as the best would show
    assert res.best == (calls[0], (0,))


def test_the_amc_best_sequence_is_reported_as_clamped():
    """Mutant: best reported as the requested (unclamped) sequence. The budget admits density index 0 only, so every
    request is clamped to it: best is index 0 whatever was asked (5 seeds: a request of 1 or 2 first has odds 1 − 3^−5)."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    for seed in range(5):
        res = train_amc(_toy_amc(lambda d, p: 0.3, d_allowed=0), AmcAgentConfig(episodes_total=32, episodes=32, seed=seed))
        assert res.best == ((0,), (0,)) and res.greedy == ((0,), (0,))


@pytest.mark.parametrize("change, message", [({"episodes": 0}, "episodes must be a positive integer"),
                                             ({"lr": 0.0}, "lr must be finite and > 0"),
                                             ({"baseline_lr": 1.5}, r"baseline_lr must lie in \(0, 1\]")])
def test_amc_agent_config_names_a_bad_field(change, message):
    """Mutants: counts checked with `< 0`; lr with `>= 0`; baseline_lr without its upper bound 1."""
    from workbench.costtune.amc_agent import AmcAgentConfig

    with pytest.raises(InputError, match=message):
        AmcAgentConfig(**change).validate()


def test_the_curves_last_row_is_the_returned_policys_reward_when_the_last_batch_ends_on_an_evaluation():
    """helper-86: a row at a batch's last step is taken before that batch's update; with steps a multiple of batch and
    eval_every, the curve's last row was the policy one update before the returned one (0.769 against 0.917 here)."""
    env = _toy_env([[True, False]] * 4, [1.0, 1.0], 1.0)
    res = train(env, AgentConfig(steps=128, batch=64, lr=0.3, guided=False, eval_every=64, seed=0))
    assert res.curve["step"].tolist() == [0, 64, 128]
    last = evaluate(res.policy, env, env.rows, res.lam)
    assert res.curve["reward"].iloc[-1] == pytest.approx(last["reward"], rel=1e-12)
    # the in-between row is the policy before the update of its batch: still the uniform start's reward
    assert res.curve["reward"].iloc[1] == pytest.approx(0.5)


def _agent_configs():
    from workbench.costtune.cascade_agent import CascadeAgentConfig

    return [AgentConfig, CascadeAgentConfig]


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("change, message", [
    ({"lr": float("inf")}, "lr must be finite and > 0; got inf"),  # trained to NaN probabilities, unsaid
    ({"lr": -1.0}, "lr must be finite and > 0"), ({"seed": -1}, "seed must be a whole number >= 0; got -1"),
    ({"seed": 2.5}, "seed must be a whole number >= 0"), ({"dual_lr": -0.1}, "dual_lr must be finite and >= 0"),
    ({"value_lr": float("nan")}, "value_lr must be finite and >= 0"), ({"lam": float("inf")}, "lam must be finite"),
    ({"budget": float("inf")}, "budget must be finite and > 0 FLOPs; got inf"),
    ({"prior_temperature": float("inf")}, "prior_temperature must be finite and > 0")])
def test_both_dual_ascent_agents_refuse_a_value_that_is_not_a_finite_number_in_range(which, change, message):
    """Before session 29 every one of these passed validate() (lr = inf ran to NaN probabilities)."""
    with pytest.raises(InputError, match=message):
        _agent_configs()[which](**change).validate()


@pytest.mark.parametrize("change, message", [
    ({"lr": float("inf")}, "lr must be finite and > 0; got inf"), ({"episodes": 2.5}, "episodes must be a positive"),
    ({"episodes_total": True}, "episodes_total must be a positive integer; got True"),
    ({"seed": -1}, "seed must be a whole number >= 0; got -1")])
def test_the_amc_agent_refuses_what_failed_later_in_numpy(change, message):
    """helper-86: lr = inf trained to NaN probabilities and a normal-looking best; 2.5 episodes, True and seed −1
    were numpy TypeErrors and ValueErrors."""
    from workbench.costtune.amc_agent import AmcAgentConfig

    with pytest.raises(InputError, match=message):
        AmcAgentConfig(**change).validate()
