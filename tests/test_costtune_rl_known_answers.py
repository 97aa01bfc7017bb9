"""Known answers for the RL side of issue 4: the per-input env, the cascade env and its ladder, the agents' laws and
critics, the AMC env and agent, the outcome table's key and cost unit (session 28: a mutation review, helper-85, found
30 changes to these lines that no test caught; each docstring names the change its test fails on)."""

import dataclasses
import math

import numpy as np
import pytest

from workbench.costtune import policies as P
from workbench.costtune.agent import Policy, evaluate as evaluate_router
from workbench.costtune.cascade_agent import CascadeAgentConfig, law_lambda, prior_logits, train
from workbench.costtune.cascade_env import CascadeEnv, VectorCascade, transition
from workbench.costtune.env import InputRoutingEnv
from workbench.costtune.guidance import Guidance
from workbench.costtune.ladder import build_ladder, frontier_rungs
from workbench.costtune.outcomes import OutcomeConfig, outcome_table

from conftest import informative_probe, tiny_outcome_config

TINY = tiny_outcome_config(n_inputs=1200)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return informative_probe(outcome_table(TINY, tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def ladder(table):
    return build_ladder(table, spacing=2.0, n_bins=4)


# -- the per-input environment ---------------------------------------------------------------------------------------

def test_a_heldout_env_draws_only_heldout_inputs(table):
    """Mutants: rows = inputs('train') whatever the split; a row drawn as an index into the split's rows."""
    ho = set(table.inputs("heldout").tolist())
    env = InputRoutingEnv(table, "heldout", episode_len=1000)
    _, info = env.reset(seed=0)
    seen = [info["input"]]
    for _ in range(300):
        _, _, _, _, info = env.step(0)
        seen += [info["input"], info["next_input"]]
    assert set(seen) <= ho and len(set(seen)) > 100


def test_the_env_clamps_a_negative_lambda_to_zero(table):
    """Mutant: set_lambda without max(0, ·): a negative λ paid the agent for spending FLOPs."""
    env = InputRoutingEnv(table, "train")
    env.set_lambda(-2.0)
    assert env.lam == 0.0
    env.reset(seed=0)
    _, r, _, _, info = env.step(len(table.cost) - 1)
    assert r == float(info["correct"])  # correct − 0·cost


def test_the_observation_is_the_probe_then_the_laws_error_of_the_inputs_own_bin(table):
    """Mutant: every input shown bin 0's predicted errors. Guidance built by hand: bin b predicts b/10 + a/1000."""
    A, n = len(table.cost), len(table.split)
    bins = np.arange(n) % 3
    pred = np.array([[b / 10 + a / 1000 for a in range(A)] for b in range(3)])
    env = InputRoutingEnv(table, "train", guidance=Guidance(pred, {}, bins))
    obs, info = env.reset(seed=1)
    for _ in range(20):
        i = info.get("next_input", info["input"])
        np.testing.assert_allclose(obs[:3], table.probe[i], rtol=1e-6)
        np.testing.assert_allclose(obs[3:], [(i % 3) / 10 + a / 1000 for a in range(A)], rtol=1e-6)
        obs, _, _, _, info = env.step(0)


# -- the per-input router (agent.py) ---------------------------------------------------------------------------------

def test_router_evaluation_of_a_one_setting_policy_is_its_table_column(table):
    """Mutants: the reward's cost term added; the evaluation's cost without the probe. A policy whose support is one
    setting a: error = 1 − mean correct[:, a], cost = cost[a] + probe cost (a != probe),
    reward = correct − λ·cost/C_ref."""
    env = InputRoutingEnv(table, "heldout")
    rows = table.inputs("heldout")
    a = (table.probe_setting + 3) % len(table.cost)
    support = np.arange(len(table.cost)) == a
    pol = Policy(np.zeros((18, len(table.cost))), env.cost, table.cost_ref, False, 0.01, support)
    ev = evaluate_router(pol, env, rows, lam=0.5)
    acc = table.correct[rows, a].mean()
    cost = table.settings["flops"][a] + table.settings["flops"][table.probe_setting]
    assert ev["error"] == pytest.approx(1 - acc)
    assert ev["cost"] == pytest.approx(cost)
    assert ev["reward"] == pytest.approx(acc - 0.5 * cost / table.cost_ref)


# -- the cascade environment -----------------------------------------------------------------------------------------

def test_the_episode_cost_sums_every_rung_run(table, ladder):
    """Mutant: info['episode_cost'] kept only the last rung's FLOPs. Run rungs 0 then 2, answer: both paid."""
    env = CascadeEnv(table, ladder, "train", lam=0.0)
    env.reset(seed=0)
    env.step(0)
    _, _, _, _, info = env.step(2)
    assert info["episode_cost"] == pytest.approx(ladder.cost[0] + ladder.cost[2])
    _, _, done, _, info = env.step(ladder.n_stages)
    assert done and info["cost"] == 0.0 and info["episode_cost"] == pytest.approx(ladder.cost[0] + ladder.cost[2])


def test_cascade_envs_draw_only_their_splits_inputs(table, ladder):
    """Mutants: VectorCascade / CascadeEnv drawing row indices 0..len(split) − 1 of the whole table (held-out rows in
    a train env)."""
    tr = set(table.inputs("train").tolist())
    vec = VectorCascade(table, ladder, "train")
    vec.reset(np.random.default_rng(0), 2000)
    assert set(vec.rows.tolist()) <= tr
    env = CascadeEnv(table, ladder, "train")
    assert all(env.reset(seed=s)[1]["input"] in tr for s in range(200))


def test_the_cascade_observation_reads_the_last_rung_and_the_best_so_far(table, ladder):
    """Mutants: 'highest confidence so far' read off the last rung; the bin one-hot shifted by one. After rungs 0 and 2
    (L rungs, B bins): obs = [stage one-hot (L + 1) | bin one-hot (B) | conf(last) | max conf | bit | law errors].
    Rung 0's confidence is set to 1 on every other train input and 0 on the rest, so that both orders of the two
    rungs' confidences come up in 60 draws (with the trained confidences rung 0 was rarely the more confident: both
    orders came up on 16 of 24 table seeds). Rung 2's confidences, and so the bins read here, are the trained ones."""
    L, B = ladder.n_stages, ladder.n_bins
    tr = table.inputs("train")
    conf = table.conf.copy()
    conf[tr, ladder.settings[0]] = np.arange(len(tr)) % 2
    table = dataclasses.replace(table, conf=conf)
    env = CascadeEnv(table, ladder, "train")
    checked = set()
    for seed in range(60):
        _, info = env.reset(seed=seed)
        row = info["input"]
        env.step(0)
        obs, *_ = env.step(2)
        c0, c2 = table.conf[row, ladder.settings[0]], table.conf[row, ladder.settings[2]]
        edges = np.quantile(table.conf[table.inputs("train"), ladder.settings[2]], [0.25, 0.5, 0.75])
        bin2 = B - 1 - int((edges <= c2).sum())  # 0 = most confident
        assert obs[:L + 1].tolist() == [float(s == 3) for s in range(L + 1)]
        assert obs[L + 1: L + 1 + B].tolist() == [float(b == bin2) for b in range(B)]
        assert obs[L + 1 + B] == pytest.approx(c2) and obs[L + 2 + B] == pytest.approx(max(c0, c2))
        checked.add(bool(c0 > c2))
    assert checked == {True, False}  # both orders seen, so reading the last rung would show


def _run_all(table, ladder, rows, actions):
    """Every row of ``rows`` through the same action sequence in a VectorCascade: (correct, FLOPs) per row."""
    vec = VectorCascade(table, ladder, "train")
    vec.reset(np.random.default_rng(0), len(rows))
    vec.rows = np.asarray(rows)
    for a in actions:
        vec.step(np.full(len(rows), a))
    assert vec.done.all()
    return vec.correct.copy(), vec.cost.copy()


def test_answers_read_the_rung_the_docstring_names(table, ladder):
    """Mutants: ANSWER_BEST and 'answer with the last rung' swapped; the first rung run not recorded as the best so
    far when it is not rung 0; ties of confidence going to the later rung. Expected, from the table alone:
    run 2, ANSWER_BEST -> rung 2's answer; run 0 and 2, ANSWER_BEST -> the more confident (ties: rung 0, the cheaper,
    as the exact evaluation's argmax); run 0 and 2, target 0 -> rung 2's answer (the last). On the rows where the two
    rungs' answers differ, rung 2's confidence is set to 0.5 and rung 0's to 0.75 and 0.25 in turn, so that rows
    where either rung is the more confident exist (with the trained confidences rung 0 was never the more confident
    on such a row on 4 of 24 table seeds)."""
    L, s = ladder.n_stages, ladder.settings
    rows = table.inputs("train")
    k0, k2 = table.correct[rows, s[0]], table.correct[rows, s[2]]
    differ = rows[k0 != k2]
    assert len(differ) >= 2
    conf = table.conf.copy()
    conf[differ, s[0]] = np.where(np.arange(len(differ)) % 2 == 0, 0.75, 0.25)
    conf[differ, s[2]] = 0.5
    table = dataclasses.replace(table, conf=conf)
    c0, c2 = table.conf[rows, s[0]], table.conf[rows, s[2]]
    correct, cost = _run_all(table, ladder, rows, (2, L))
    assert np.array_equal(correct, k2) and np.allclose(cost, ladder.cost[2])
    assert ((c0 >= c2) & (k0 != k2)).any()  # rows where answering with (never run) rung 0 would show
    correct, cost = _run_all(table, ladder, rows, (0, 2, L))
    assert np.array_equal(correct, np.where(c2 > c0, k2, k0)) and np.allclose(cost, ladder.cost[0] + ladder.cost[2])
    assert ((c0 > c2) & (k0 != k2)).any()
    correct, _ = _run_all(table, ladder, rows, (0, 2, 0))
    assert np.array_equal(correct, k2)
    # ties: rung 2's confidence set equal to rung 0's on the rows where their answers differ
    conf = table.conf.copy()
    conf[differ, s[2]] = conf[differ, s[0]]
    tied = dataclasses.replace(table, conf=conf)
    correct, _ = _run_all(tied, ladder, differ, (0, 2, L))
    assert np.array_equal(correct, table.correct[differ, s[0]])


def test_a_target_below_the_last_rung_stops():
    """Mutant: stop only when target + 1 < stage (target == last rung re-ran it). Stage 2 (rung 1 ran), target 1."""
    new, stop, best = transition(np.array([2, 3]), np.array([1, 2]), n_stages=4)
    assert stop.tolist() == [True, True] and new.tolist() == [2, 3] and best.tolist() == [False, False]


# -- the ladder ------------------------------------------------------------------------------------------------------

def test_a_rung_exactly_spacing_times_cheaper_is_kept(table):
    """Mutant: thinning with cost·spacing < next instead of <=. The train answers are set so that the frontier is five
    settings with FLOPs steps of exactly 2x (34 -> 68: int8 of w4 at density 0.5 and 1.0) and more (2.2x, 3.3x, 4x),
    every other setting wrong on every train input; spacing 2 keeps the whole frontier. (The trained table's own
    frontier had an exact 2x step, and none closer, on 12 of 24 table seeds.)"""
    tr = table.inputs("train")
    names = table.settings["name"].tolist()
    chain = [names.index(n) for n in ("w4-d0.5-int8", "w4-int8", "w8-int8", "w32-d0.5-int8", "w32-bf16")]
    assert table.cost[chain].tolist() == [34, 68, 152, 496, 1984]
    correct = table.correct.copy()
    correct[tr] = False
    for i, a in enumerate(chain):  # accuracy (i + 1)/6 on the train inputs
        correct[tr[:len(tr) * (i + 1) // 6], a] = True
    table = dataclasses.replace(table, correct=correct)
    front = P.pareto(P.static_points(table, tr))[:, 0]
    assert front.tolist() == table.cost[chain].tolist()
    assert frontier_rungs(table, spacing=2.0, max_stages=12).tolist() == chain


def test_max_stages_keeps_the_top_rungs(table):
    """Mutant: the cap kept the cheapest rungs (kept[::-1][:max_stages]). Thinning walks down from the top rung, so
    max_stages = 2 keeps the two most accurate rungs of the uncapped ladder."""
    full = frontier_rungs(table, spacing=1.0, max_stages=12)
    assert len(full) >= 3
    assert frontier_rungs(table, spacing=1.0, max_stages=2).tolist() == full[-2:].tolist()


def test_the_one_standard_error_rule_uses_the_train_inputs_count(table):
    """Mutant: the binomial SE over all N inputs instead of the train ones (SE √2 too small). With k = 1.05× the
    second-best frontier point's distance in train SEs, that point is the top rung; the mutant's SE puts it out. The
    third-best must lie beyond that distance (on 7 of 24 table seeds it did not), so the second-best is made one train
    answer worse than the best: the third-best is then at least two answers worse."""
    tr = table.inputs("train")
    full = frontier_rungs(table, spacing=1.0, max_stages=12)
    assert len(full) >= 3
    correct = table.correct.copy()
    correct[tr, full[-2]] = correct[tr, full[-1]]
    correct[tr[np.flatnonzero(correct[tr, full[-1]])[0]], full[-2]] = False
    table = dataclasses.replace(table, correct=correct)
    front = P.pareto(P.static_points(table, tr))
    e_min = front[-1, 1]
    se = np.sqrt(e_min * (1 - e_min) / len(tr))
    k = 1.05 * (front[-2, 1] - e_min) / se
    assert front[-3, 1] > e_min + k * se  # only the second-best point is within k SEs
    top = frontier_rungs(table, spacing=1.0, max_stages=12, top_se=k)[-1]
    assert table.cost[top] == front[-2, 0]


# -- the cascade agent -----------------------------------------------------------------------------------------------

def test_law_lambda_known_answers():
    """Mutants: the bracket one segment up (no −1); the slope not in units of C_ref. err 0.3, 0.2, 0.1, 0.05 at
    FLOPs 1, 2, 4, 8, C_ref 8: a budget of 3 lies between rungs 1 and 2 -> (0.2 − 0.1)/(4 − 2)·8 = 0.4; below the
    ladder the first segment (0.1/1·8 = 0.8), above it the last ((0.05/4)·8 = 0.1)."""
    err, cost = np.array([0.3, 0.2, 0.1, 0.05]), np.array([1.0, 2.0, 4.0, 8.0])
    assert law_lambda(err, cost, 3.0, 8.0) == pytest.approx(0.4)
    assert law_lambda(err, cost, 0.5, 8.0) == pytest.approx(0.8)
    assert law_lambda(err, cost, 100.0, 8.0) == pytest.approx(0.1)


def test_the_law_prior_charges_lambda_times_the_rungs_cost():
    """Mutant: escalation's score −(err − λ·C/C_ref)/τ (cost as a bonus); the suite's known answer used λ = 0.
    Rungs cost 1, 2, 4 (C_ref 4), predicted error 0.1, 0.1, 0.05, λ = 0.1, τ = 0.01: from state 0, rung 2 against
    rung 0 scores (−(0.05 + 0.1) + (0.1 + 0.025))/0.01 = −2.5."""
    L, B = 3, 4
    pred = np.full((1 + L * B, L), 0.1)
    pred[:, 2] = 0.05
    z = prior_logits(pred, np.array([1.0, 2.0, 4.0]), lam=0.1, cost_ref=4.0, temperature=0.01, n_bins=B)
    assert z[0, 2] - z[0, 0] == pytest.approx(-2.5)
    assert z[0, 1] - z[0, 0] == pytest.approx(-2.5)  # (−(0.1 + 0.05) + (0.1 + 0.025))/0.01


def test_the_curve_counts_the_steps_episodes_took(table, ladder):
    """Mutant: every episode of an update counted L + 1 steps (step += len(live)). Episodes of the uniform start end
    after 1 to L + 1 steps, so an update's steps are the live ones: between E and (L + 1)·E and, summed over random
    episode lengths, almost never a multiple of E; the mutant's are all multiples of E."""
    E = 64
    res = train(VectorCascade(table, ladder), CascadeAgentConfig(steps=3000, episodes=E, guided=False, lam=0.2,
                                                                  eval_every=1))
    gaps = np.diff(res.curve["step"].to_numpy())
    assert gaps.min() >= E and gaps.max() <= (ladder.n_stages + 1) * E
    assert np.mean(gaps % E != 0) > 0.5


# -- AMC -------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prob(tmp_path_factory):
    from workbench.costtune.amc_env import AmcConfig, AmcProblem

    return AmcProblem(AmcConfig(width=32, depth=3, n=4096, steps=400), None, tmp_path_factory.mktemp("amc"))


def test_amc_flops_are_two_per_kept_weight_at_fp32(prob):
    """Mutants: layer FLOPs without the 2 (a MAC as one FLOP); kept weights ceil(d·n) instead of round(d·n).
    Dense fp32 = 2 FLOPs per weight (biases free); density d keeps round(d·n) weights; bf16/int8 = 1/2, 1/4."""
    numel = [w.numel() for w, _ in prob.layers]
    assert prob.full_flops == 2.0 * sum(numel)
    for t, n in enumerate(numel):
        for i, d in enumerate(prob.cfg.densities):
            k = max(1, round(d * n))
            assert prob.kept[t, i] == k
            assert prob.cost[t, i].tolist() == [2.0 * k, 1.0 * k, 0.5 * k]  # fp32, bf16, int8


def test_amc_observation_after_a_step_knows_what_is_left_and_the_previous_action(prob):
    """Mutants: 'FLOPs left' without subtracting what was spent; the previous action's bits over 8, not 32; the
    previous density read off the grid's last entry. Budget 0.5 of the dense FLOPs; layer 0 at density index 1
    (0.1), int8: spent = 2·round(0.1·n0)·8/32."""
    from workbench.costtune.amc_env import AmcEnv

    prob.set_budget(0.5 * prob.full_flops)
    try:
        env = AmcEnv(prob)
        env.reset(seed=0)
        obs, *_ = env.step(np.array([1, 2]))
        spent = 2.0 * round(prob.cfg.densities[1] * prob.layers[0][0].numel()) * 8 / 32
        assert obs[-5] == pytest.approx(spent / prob.full_flops, rel=1e-5)
        assert obs[-3] == pytest.approx((0.5 * prob.full_flops - spent) / prob.full_flops, rel=1e-5)
        assert obs[-2] == pytest.approx(prob.cfg.densities[1]) and obs[-1] == pytest.approx(8 / 32)
    finally:
        prob.set_budget(prob.full_flops)


def test_amc_errors_are_cached_per_split(prob):
    """Mutant: the error cache keyed without the split: the test error of an allocation evaluated on validation
    first came back as its validation error. Expected: the 0/1 error of the simulated model on each split."""
    from workbench.costtune.amc_env import compressed_error

    d, p = (3,) * prob.n_layers, (2,) * prob.n_layers
    layers = [prob.options[t][d[t]][p[t]] for t in range(prob.n_layers)]
    want = {s: compressed_error(layers, ["int8"] * prob.n_layers, *prob.splits[s]) for s in ("val", "test")}
    assert want["val"] != want["test"]
    assert prob.error(d, p, "val") == want["val"] and prob.error(d, p, "test") == want["test"]


def test_amc_flops_aware_reward_is_minus_error_times_natural_log_flops(prob):
    """Mutant: log10 instead of ln. −0.1·ln(e^3) = −0.3."""
    old = prob.cfg
    prob.cfg = dataclasses.replace(old, reward="error_log_flops")
    try:
        assert prob.reward(0.1, math.e ** 3) == pytest.approx(-0.3)
    finally:
        prob.cfg = old
    assert prob.reward(0.1, math.e ** 3) == -0.1


# -- the outcome table -----------------------------------------------------------------------------------------------

def test_every_outcome_config_field_is_in_the_cache_key():
    """Mutants: a field dropped from the key (testtime, probe_precision): two configs, one cached table."""
    from workbench.testtime import TestTimeConfig

    base = OutcomeConfig()
    changes = {"task": "mnist1d", "family": "cnn", "widths": (4, 8), "depth": 3, "steps": 2001, "finetune_steps": 301,
               "densities": (1.0, 0.5), "precisions": ("fp32", "int8"), "n_inputs": 20002, "batch_size": 128,
               "lr": 1e-3, "task_seed": 1, "seed": 1, "probe_width_index": 2, "probe_precision": "bf16",
               "testtime": TestTimeConfig(max_k=8, ks=(2, 4, 8))}
    assert set(changes) == {f.name for f in dataclasses.fields(OutcomeConfig)}
    for name, value in changes.items():
        assert dataclasses.replace(base, **{name: value}).key() != base.key(), name


def test_cost_ref_is_the_largest_dense_fp32_single_pass(table):
    """Mutant: C_ref over every fp32 setting (best-of-k and refinement included). Expected: the flops of the setting
    named w<largest width> (dense, fp32, argmax): 2·MACs of one pass of the widest student."""
    widest = f"w{max(table.config.widths)}"
    assert table.cost_ref == float(table.settings.set_index("name").loc[widest, "flops"])
    assert table.cost_ref < table.cost.max()  # the other strategies cost more: a wrong filter would show


# -- the ladder's law predictions ------------------------------------------------------------------------------------

def test_each_states_law_prediction_is_fitted_on_that_states_train_rows_at_the_rungs_cost(table, ladder):
    """Mutants: every state's rows taken from rung 0's confidence bins (not the rung just run); the fitted law
    evaluated at 2x the rung's FLOPs. Expected, by the recipe of the ladder's docstring: for state (rung j, bin b) the
    train rows whose rung-j confidence lies in quantile bin b (0 = most confident), the power law fitted to the error
    of every setting of the rungs' strategy group against its FLOPs, evaluated at each rung's FLOPs."""
    from workbench.costtune.guidance import ERROR_FLOOR
    from workbench.fit import fit_law

    tr, L, B, rungs = table.inputs("train"), ladder.n_stages, ladder.n_bins, ladder.settings
    groups = table.settings["strategy"].to_numpy()
    assert len(set(groups[rungs])) == 1  # one group here: one fit per state
    cols = np.flatnonzero(groups == groups[rungs[0]])
    for j in (L - 1, 1):
        conf = table.conf[tr, rungs[j]]
        edges = np.quantile(conf, np.linspace(0, 1, B + 1)[1:-1])
        bin_j = B - 1 - (conf[:, None] >= edges[None, :]).sum(1)
        for b in range(B):
            err = 1.0 - table.correct[tr[bin_j == b]].mean(0)
            fit = fit_law("power", table.cost[cols], np.maximum(err[cols], ERROR_FLOOR), polish_top=1, screen_iter=3,
                          max_iter=20)
            np.testing.assert_allclose(ladder.pred_error[1 + j * B + b], np.clip(fit.predict(table.cost[rungs]), 0, 1),
                                       rtol=1e-9, atol=1e-12, err_msg=f"rung {j} bin {b}")


def test_a_high_lambda_trains_to_the_best_single_rungs_reward(table, ladder):
    """Mutant: the critic's correctness sums not decayed while its counts are: Q̂'s correctness term grows with every
    update and swamps λ·FLOPs (measured: expected FLOPs 432 instead of 87, reward 0.17 instead of 0.47). At λ = 5
    (units 1/C_ref) the best one-rung policy, from the table alone, is max_j 1 − err_j − 5·C_j/C_ref (rung 1 here:
    1 − 0.418 − 5·76/3968 = 0.486); the trained cascade must come within 0.03 of it (measured, unguided, seeds 0-5:
    0.463-0.474; the mutant that charged each step only its own FLOPs, not the FLOPs to go, 0.441). The guided agent
    is not held to it: its seed 1 ends at 0.395 (the others 0.482-0.485), a run a CPU's rounding could land on."""
    from workbench.costtune.cascade_agent import evaluate

    env = VectorCascade(table, ladder)
    rows = env.t.rows
    single = max(table.correct[rows, a].mean() - 5.0 * c / table.cost_ref for a, c in zip(ladder.settings, ladder.cost))
    res = train(env, CascadeAgentConfig(steps=40_000, guided=False, lam=5.0, seed=0))
    assert evaluate(res.probs, env.t, rows, lam=5.0)["reward"] >= single - 0.03


def test_the_clamp_keeps_the_requested_precision_before_a_costlier_other_one():
    """Mutant: a too-expensive action clamped to the costliest option that fits, whatever its precision. Densities
    (0.25, 0.5, 1) x precisions (fp32, bf16): FLOPs [[2, 1], [4, 2], [8, 4]]. bf16 dense (4) with 3 allowed keeps bf16
    and lowers the density to 0.5 (2 FLOPs), not fp32 at 0.25 (also 2 FLOPs, earlier in the flat order)."""
    from workbench.costtune.amc_env import clamp, preference_order

    cost = np.array([[2.0, 1.0], [4.0, 2.0], [8.0, 4.0]])
    d, p, c = clamp(cost, preference_order(np.array([32, 16]), 3), np.array([3.0]), np.array([2]), np.array([1]))
    assert (d.tolist(), p.tolist(), c.tolist()) == ([1], [1], [2.0])


def test_at_the_minimum_budget_the_amc_agent_stays_uniform_and_reports_the_cheapest_model(prob):
    """Mutants: the baseline left at 0 (rewards all negative: every sampled action pushed down); the greedy sequence
    reported unclamped. At budget = every layer's cheapest option, every sequence clamps to the same model, so the
    reward is constant, the advantage 0 and the policy stays uniform; best and greedy are that model: density index 0
    (0.05), int8 (index 2) at every layer, costing the budget."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc

    prob.set_budget(float(prob.min_cost.sum()))
    try:
        res = train_amc(prob, AmcAgentConfig(episodes_total=64, episodes=32, seed=0))
        np.testing.assert_allclose(res.probs_d, 1.0 / prob.n_d)
        np.testing.assert_allclose(res.probs_p, 1.0 / prob.n_p)
        cheapest = ((0,) * prob.n_layers, (2,) * prob.n_layers)
        assert res.best == cheapest and res.greedy == cheapest
        assert prob.flops(*res.greedy) == pytest.approx(prob.min_cost.sum())
    finally:
        prob.set_budget(prob.full_flops)


def test_the_law_critic_charges_answer_best_before_any_rung_as_running_rung_0():
    """Mutant: ANSWER_BEST in state 0 counted as a free stop (stops[:, L] = stage >= 0). Rungs cost 1, 2, 4 (C_ref 4),
    predicted error 0.1, 0.1, 0.05: in state 0 every action runs a rung: correctness 1 − err̂ = 0.9, 0.9, 0.95 and
    (ANSWER_BEST = rung 0) 0.9; FLOPs to go C/C_ref = 0.25, 0.5, 1.0 and 0.25."""
    from workbench.costtune.cascade_agent import law_critic

    L, B = 3, 4
    pred = np.full((1 + L * B, L), 0.1)
    pred[:, 2] = 0.05
    ok, flops = law_critic(pred, np.array([1.0, 2.0, 4.0]), 4.0, B)
    assert ok[0].tolist() == pytest.approx([0.9, 0.9, 0.95, 0.9])
    assert flops[0].tolist() == pytest.approx([0.25, 0.5, 1.0, 0.25])


def test_router_features_are_one_hot_of_the_maxprob_bin_then_the_margin_bin():
    """Mutant: the margin one-hot shifted one column left, onto the last max-probability column. 11 max-probability
    bins (10 edges) then 7 margin bins: max prob 1.0 (bin 10), margin 0.0 (bin 0) -> columns 10 and 11."""
    from workbench.costtune.agent import features

    phi = features(np.array([[1.0, 0.0, 0.0], [0.35, 0.95, 0.0]]))
    assert phi.shape == (2, 18)
    assert np.flatnonzero(phi[0]).tolist() == [10, 11] and np.flatnonzero(phi[1]).tolist() == [1, 11 + 5]


def test_amc_greedy_is_the_clamped_per_layer_argmax(prob):
    """Mutant: greedy from the per-layer argmin. Expected: the rollout (clamp) of each layer's most probable density
    and precision of the final policy."""
    from workbench.costtune.amc_agent import AmcAgentConfig, train as train_amc
    from workbench.costtune.amc_env import rollout

    prob.set_budget(0.2 * prob.full_flops)
    try:
        res = train_amc(prob, AmcAgentConfig(episodes_total=256, episodes=32, seed=0))
        d, p, flops = rollout(prob, res.probs_d.argmax(1)[None], res.probs_p.argmax(1)[None])
        assert res.greedy == (tuple(d[0].tolist()), tuple(p[0].tolist())) and flops[0] <= prob.budget
        assert res.probs_d.max(1).min() > 1.0 / prob.n_d  # the policy moved: argmax and argmin differ
    finally:
        prob.set_budget(prob.full_flops)


def test_a_confidence_at_an_edge_falls_in_the_more_confident_bin():
    """Mutant: searchsorted side='left'. With a saturated mass of confidences at 1.0 the top quantile edge is 1.0; a
    value at an edge must count as reaching it, or bin 0 (most confident) is empty. Edges (0.5, 1.0), 3 bins:
    0.2 -> 2, 0.5 -> 1, 0.7 -> 1, 1.0 -> 0."""
    from types import SimpleNamespace

    from workbench.costtune.ladder import Ladder

    lad = Ladder(np.array([0]), np.array([1.0]), ("a",), np.array([[0.5, 1.0]]), np.zeros((4, 1)), 3)
    fake = SimpleNamespace(conf=np.array([[0.2], [0.5], [0.7], [1.0]], np.float32))
    assert lad.conf_bins(fake, np.arange(4))[:, 0].tolist() == [2, 1, 1, 0]
