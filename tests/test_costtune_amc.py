"""workbench.costtune amc: the per-layer (density, precision) environment, its clamp, the agent, the study."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from workbench.compress import CompressedStudent
from workbench.costtune.amc_agent import AmcAgentConfig, train
from workbench.costtune.amc_env import AmcConfig, AmcEnv, AmcProblem, clamp, preference_order, rollout
from workbench.costtune.amc_study import AmcStudyConfig, run_amc_study
from workbench.errors import InputError

SMALL = AmcConfig(width=32, depth=3, n=4096, steps=400)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def prob(cache):
    return AmcProblem(SMALL, None, cache)


def test_clamp_known_answers():
    # one layer, densities (0.5, 1.0) x precisions (fp32, int8): costs [[4, 1], [8, 2]]
    cost = np.array([[4.0, 1.0], [8.0, 2.0]])
    order = preference_order(np.array([32, 8]), 2)
    assert order.tolist() == [[2, 0, 3, 1], [3, 1, 2, 0]]
    d, p, c = clamp(cost, order, np.array([9.0, 5.0, 3.0, 1.5, 2.0]), np.array([1, 1, 1, 1, 1]),
                    np.array([0, 0, 0, 0, 1]))
    assert d.tolist() == [1, 0, 1, 0, 1] and p.tolist() == [0, 0, 1, 1, 1] and c.tolist() == [8, 4, 2, 1, 2]


def test_gym_env_passes_check_and_its_return_is_minus_the_validation_error(prob):
    env = AmcEnv(prob)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (prob.obs_dim,) and env.observation_space.contains(obs)
    total, done, t = 0.0, False, 0
    while not done:
        obs, r, done, _, info = env.step(np.array([prob.n_d - 1, 2]))  # dense int8 everywhere
        total += r
        t += 1
    assert t == prob.n_layers == SMALL.depth + 1
    full = (prob.n_d - 1,) * prob.n_layers
    assert total == pytest.approx(-prob.error(full, (2,) * prob.n_layers))
    assert info["flops"] == pytest.approx(prob.full_flops / 4)  # int8 = a quarter of fp32
    with pytest.raises(InputError, match="budget"):
        prob.set_budget(prob.min_cost.sum() * 0.99)


def test_budget_is_never_exceeded_after_clamping(prob):
    rng = np.random.default_rng(0)
    lo, full = prob.min_cost.sum(), prob.full_flops
    for budget in (lo, 1.3 * lo, 0.05 * full, 0.2 * full, full):
        prob.set_budget(budget)
        d = rng.integers(prob.n_d, size=(2000, prob.n_layers))
        p = rng.integers(prob.n_p, size=(2000, prob.n_layers))
        d_c, p_c, flops = rollout(prob, d, p)
        assert flops.max() <= budget * (1 + 1e-12)
        assert np.allclose(flops, [prob.flops(a, b) for a, b in zip(d_c, p_c)])
        fits = np.array([prob.flops(a, b) for a, b in zip(d, p)]) <= budget
        assert np.array_equal(d_c[fits], d[fits]) and np.array_equal(p_c[fits], p[fits])  # untouched if it fits
        env = AmcEnv(prob)  # the gym env clamps the same way
        for e in range(20):
            env.reset(seed=e)
            for t in range(prob.n_layers):
                _, _, done, _, info = env.step(np.array([d[e, t], p[e, t]]))
            assert info["flops"] == pytest.approx(flops[e]) and info["flops"] <= budget * (1 + 1e-12)
    prob.set_budget(full)


def test_simulated_precisions_match_the_real_quantized_modules(prob):
    params = {k: v for i, (w, b) in enumerate(prob.layers) for k, v in ((f"w{i}", w), (f"b{i}", b))}
    x, y = prob.splits["test"]
    dense = (prob.n_d - 1,) * prob.n_layers
    for j, precision in enumerate(SMALL.precisions):
        real = CompressedStudent(prob.spec, params, 1.0, precision).logits(x).argmax(1)
        real_err = float((real != y).float().mean())
        assert prob.error(dense, (j,) * prob.n_layers, "test") == pytest.approx(real_err, abs=2e-3)


def test_agent_is_seeded(prob):
    prob.set_budget(0.1 * prob.full_flops)
    cfg = AmcAgentConfig(episodes_total=256, episodes=32, seed=3)
    a, b = train(prob, cfg), train(prob, cfg)
    assert np.array_equal(a.probs_d, b.probs_d) and np.array_equal(a.probs_p, b.probs_p)
    assert a.best == b.best and a.curve.equals(b.curve)
    c = train(prob, dataclasses.replace(cfg, seed=4))
    assert not np.array_equal(a.probs_d, c.probs_d)


def test_agent_is_no_worse_than_uniform_pruning_at_the_same_flops(cache):
    cfg = AmcStudyConfig(env=SMALL, agent=AmcAgentConfig(episodes_total=1024), budgets=(0.1, 0.2))
    table, results = run_amc_study(cfg, cache)
    for frac, g in table.groupby("budget_fraction"):
        e = g.set_index("policy")
        assert e.loc["agent", "flops"] <= e.loc["agent", "budget"] * (1 + 1e-12)
        assert abs(e.loc["uniform_fp32", "flops"] / e.loc["agent", "budget"] - 1) < 0.01  # matched FLOPs
        assert e.loc["agent", "val_error"] <= e.loc["uniform_fp32", "val_error"]
        assert e.loc["agent", "test_error"] <= e.loc["uniform_fp32", "test_error"]
        assert e.loc["agent", "val_error"] <= e.loc["uniform_int8", "val_error"] + 0.01
        curve = results[frac].curve
        assert curve["mean_reward"].iloc[-4:].mean() > curve["mean_reward"].iloc[:4].mean()  # it learned


def test_finetuning_keeps_the_masks_and_recovers_uniform_pruning(prob):
    from workbench.costtune.amc_study import evaluate_candidates, finetune, uniform_candidate

    cands = [uniform_candidate(prob, "uniform_fp32", 0.1, "fp32"), uniform_candidate(prob, "dense", 1.0, "fp32")]
    tuned = finetune(prob, [c.masks for c in cands], 200, 1e-3)
    for c, layers in zip(cands, tuned):
        for (w, _), m in zip(layers, c.masks):
            assert bool((w[m == 0] == 0).all()) and bool((w[m == 1] != 0).any())  # pruned stay exactly 0
    again = finetune(prob, [c.masks for c in cands], 200, 1e-3)  # seeded: same minibatches, same result
    assert all(torch.equal(a[0], b[0]) for la, lb in zip(tuned, again) for a, b in zip(la, lb))
    plain, ft = evaluate_candidates(prob, cands), evaluate_candidates(prob, cands, 200, 1e-3)
    assert [r["val_error"] for r in plain] == [r["val_error"] for r in ft]  # as-compressed columns untouched
    assert "val_error_ft" not in plain[0]
    pruned, dense = ft
    # 10% of the weights as pruned are far worse than dense; fine-tuning recovers most of the gap
    assert pruned["val_error"] - dense["val_error"] > 0.1
    assert pruned["val_error_ft"] - dense["val_error_ft"] < 0.5 * (pruned["val_error"] - dense["val_error"])


def test_study_rejects_bad_finetuning_settings():
    with pytest.raises(InputError, match="finetune_steps"):
        AmcStudyConfig(finetune_steps=-1).validate()
    with pytest.raises(InputError, match="finetune_lr"):
        AmcStudyConfig(finetune_lr=0.0).validate()


def test_study_fine_tunes_every_row_and_picks_the_best_uniform_on_tuned_validation(cache):
    cfg = AmcStudyConfig(env=SMALL, agent=AmcAgentConfig(episodes_total=256), budgets=(0.2,), finetune_steps=100)
    table, _ = run_amc_study(cfg, cache)
    e = table.set_index("policy")
    uni = e.loc[["uniform_fp32", "uniform_bf16", "uniform_int8"]]
    assert e.loc["uniform_best", "val_error"] == uni["val_error"].min()
    assert e.loc["uniform_best_ft", "val_error_ft"] == uni["val_error_ft"].min()
    assert e.loc["uniform_fp32", "test_error_ft"] < e.loc["uniform_fp32", "test_error"] - 0.05  # recovers pruning
    plain, _ = run_amc_study(dataclasses.replace(cfg, finetune_steps=0), cache)
    assert "test_error_ft" not in plain and "uniform_best_ft" not in set(plain["policy"])
    assert np.array_equal(plain.set_index("policy").loc[uni.index, "test_error"], uni["test_error"])


def test_min_budget_fraction_from_the_shapes_matches_the_trained_problem(prob):
    # before: the floor was known only once AmcProblem had trained the student; a notebook budget below it
    # failed after the RL study as "budget must be >= 75 FLOPs (every layer at its cheapest option); got 6.016"
    from workbench.costtune.amc_env import min_budget_fraction
    assert SMALL.spec() == prob.spec
    least = min_budget_fraction(SMALL.spec(), SMALL.densities, SMALL.precisions)
    assert least == prob.min_cost.sum() / prob.full_flops
    assert min_budget_fraction(AmcConfig(width=32, depth=3).spec()) == 75 / 6016  # the notebook's smoke student
    with pytest.raises(InputError, match="budget must be >="):
        prob.set_budget(0.999 * least * prob.full_flops)
    prob.set_budget(prob.full_flops)


@pytest.mark.parametrize("how", ["truncated", "junk", "a layer missing", "another shape", "not finite", "a list"])
def test_a_damaged_student_file_is_named_and_the_student_trained_again(prob, cache, how):
    # before: torch.load's traceback (truncated, junk) or a student of the wrong shape used as it came
    from workbench.costtune.amc_env import trained_student
    from workbench.errors import CacheWarning

    path = cache / "costtune" / f"amc-student-{SMALL.run().key()}.pt"
    good = path.read_bytes()
    spec, layers = trained_student(SMALL, cache)
    params = torch.load(path, weights_only=True)
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "junk":
        path.write_bytes(b"\x00not a torch file")
    else:
        if how == "a layer missing":
            del params["w1"]
        elif how == "another shape":
            params["w1"] = params["w1"][:, :-1]
        elif how == "not finite":
            params["b0"][0] = float("nan")
        else:
            params = list(params.values())
        torch.save(params, path)
    try:
        with pytest.warns(CacheWarning, match=f"ignoring the cache file {path}"):
            again_spec, again = trained_student(SMALL, cache)
        assert again_spec == spec
        for (w, b), (w0, b0) in zip(again, layers):  # the same seeded student, trained again
            assert torch.equal(w, w0) and torch.equal(b, b0)
        with warnings.catch_warnings():  # the file was replaced: read back, no second warning and retraining
            warnings.simplefilter("error", CacheWarning)
            assert trained_student(SMALL, cache)[0] == spec
    finally:
        path.write_bytes(good)


def test_a_temp_file_a_killed_save_left_beside_the_student_is_cleared(prob, cache):
    # before: only sweep and prune runs cleared the .tmp-* files of killed writers; one left in
    # <cache>/costtune by a kill -9 while the student was saved stayed for ever
    import os
    import time

    from workbench.cache import STALE_TEMP_SECONDS, TEMP_PREFIX
    from workbench.costtune.amc_env import trained_student

    left = cache / "costtune" / f"{TEMP_PREFIX}killed.pt"
    left.write_bytes(b"half a student")
    os.utime(left, (time.time() - 2 * STALE_TEMP_SECONDS,) * 2)
    assert trained_student(SMALL, cache)[0] == prob.spec
    assert not left.exists()
