"""workbench.costtune: the cached outcome table, baselines and metrics, the env, the agent."""

import dataclasses
import re

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from workbench.costtune import policies as P
from workbench.costtune.agent import AgentConfig, evaluate, final_reward, steps_to_fraction, steps_to_reward, train
from workbench.costtune.cascade_agent import evaluate as evaluate_cascade
from workbench.costtune.env import InputRoutingEnv
from workbench.costtune.outcomes import OutcomeConfig, outcome_table
from workbench.errors import InputError
from workbench.testtime import TestTimeConfig
from workbench.sweep_train import default_device

from conftest import informative_probe, tiny_outcome_config

TINY = tiny_outcome_config(n_inputs=600)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    seen = []

    def progress(it, **kw):  # records the build's stages as a bar would show them, and that it reached the end
        seen.append(kw["desc"])
        for stage in it:
            seen.append(stage)
            yield stage
        seen.append("end")

    import torch

    torch.manual_seed(12345)  # the caller's generator: a cold build must leave it where it was
    before = torch.get_rng_state()
    first = outcome_table(TINY, cache, progress=progress)  # before: ~30 s on the defaults without a word
    assert torch.equal(torch.get_rng_state(), before)  # before: reseeded to the table's seed (only when built)
    second = outcome_table(TINY, cache, progress=progress)  # read back from disk: no stages
    widths = TINY.resolved().widths
    assert seen == ["outcome table", "students", "compressed settings", "verifier and refiner",
                    *[f"w{w} samples" for w in widths], "end"]
    assert first.seconds > 0 and second.seconds == 0
    assert np.array_equal(first.correct, second.correct) and np.array_equal(first.loss, second.loss)
    assert first.settings.equals(second.settings)
    assert first.device == second.device == default_device()  # where the students trained, kept in the cache
    return informative_probe(second)


def test_a_table_cached_without_its_device_loads_as_unknown(table, tmp_path):
    import json

    from workbench.costtune.outcomes import load, save

    save(table, tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    assert meta.pop("device") == table.device
    np.savez(tmp_path / "old.npz", **{**arrays, "meta": np.array(json.dumps(meta))})  # as cached before session 8
    old = load(tmp_path / "old.npz", table.config)
    assert old.device == "unknown" and np.array_equal(old.correct, table.correct)


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "another-configs-table", "cut-arrays",
                                    "compressed-bytes-damaged", "meta-not-an-object"])
def test_a_damaged_cached_table_is_built_again_with_a_warning_never_used(table, tmp_path, monkeypatch, damage):
    # before: garbage, an empty or a truncated file crashed every rerun (ValueError, EOFError, BadZipFile), and a
    # table built for another configuration (or with arrays cut short) under this name was used as this one's
    from workbench.costtune import build
    from workbench.costtune.outcomes import save, table_path
    from workbench.errors import CacheWarning

    path = table_path(TINY, tmp_path)
    save(table, path)
    if damage == "another-configs-table":
        save(dataclasses.replace(table, config=dataclasses.replace(table.config, seed=1)), path)
    elif damage == "cut-arrays":
        save(dataclasses.replace(table, correct=table.correct[:, :-1]), path)
    elif damage == "compressed-bytes-damaged":  # zeroed bytes inside a member: zlib.error, a traceback before
        import zlib

        from workbench.costtune import outcomes

        def damaged(*args, **kwargs):
            raise zlib.error("Error -3 while decompressing data: invalid distance too far back")
        monkeypatch.setattr(outcomes, "load", damaged)
    elif damage == "meta-not-an-object":  # was an AttributeError from .get
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(path.with_suffix(".tmp.npz"), **{**arrays, "meta": np.array("[1, 2]")})
        path.with_suffix(".tmp.npz").replace(path)
    else:
        path.write_bytes({"garbage": b"not a table", "empty": b"", "truncated": path.read_bytes()[:200]}[damage])
    built = []
    monkeypatch.setattr(build, "build_outcomes", lambda cfg, device, progress=None: built.append(cfg) or table)
    with pytest.warns(CacheWarning, match=f"ignoring the cache file {re.escape(str(path))}"):
        again = outcome_table(TINY, tmp_path)
    assert len(built) == 1 and np.array_equal(again.correct, table.correct)
    if damage == "compressed-bytes-damaged":
        monkeypatch.undo()
        return
    assert outcome_table(TINY, tmp_path).seconds == 0 and len(built) == 1  # the rebuilt table replaced the file


def test_table_shapes_costs_and_cache_key(table):
    n, a = table.correct.shape
    assert n == 600 and a == len(table.settings) == 3 * 2 * 3 + 3 * (2 * 2 + 2)
    assert (table.split == 1).sum() == 300
    s = table.settings
    dense = s[(s.strategy == "argmax") & (s.density == 1.0)].set_index(["width", "precision"])["flops"]
    for w in (4, 8, 32):
        assert dense[(w, "int8")] * 4 == dense[(w, "fp32")] == dense[(w, "bf16")] * 2
    vote = s[(s.strategy == "vote") & (s.width == 8)].set_index("k")["flops"]
    assert vote[4] == 2 * vote[2] == 4 * dense[(8, "fp32")]
    assert dataclasses.replace(TINY, seed=1).key() != TINY.key()
    # the same numbers of another type key the same table (densities 1 and 1.0, steps 2000.0, np.float64 lr)
    from workbench.costtune.outcomes import OutcomeConfig
    odd = OutcomeConfig(densities=[1, 0.5, 0.25], steps=2000.0, lr=np.float64(3e-3), n_inputs=np.int64(20000))
    assert odd.key() == OutcomeConfig().key() and odd.densities == (1.0, 0.5, 0.25)
    # the same grids in another order key the same table, and resolve to the defaults' order (helper-70: they keyed
    # apart, a rebuild of the same table)
    shuffled = OutcomeConfig(densities=(0.25, 1.0, 0.5), precisions=("int8", "fp32", "bf16"),
                             probe_precision="int8", testtime=TestTimeConfig(ks=(16, 2, 8, 4), refine_steps=(4, 1, 2)))
    assert shuffled.key() == OutcomeConfig().key()
    r = shuffled.resolved()
    assert (r.densities, r.precisions, r.testtime.ks, r.testtime.refine_steps) == \
        ((1.0, 0.5, 0.25), ("fp32", "bf16", "int8"), (2, 4, 8, 16), (1, 2, 4))
    assert r == OutcomeConfig().resolved()
    frame = table.frame()
    assert len(frame) == n * a and {"input", "split", "correct", "flops", "latency_s"} <= set(frame.columns)


def test_probe_cost_is_paid_by_every_routed_setting_but_the_probe_itself(table):
    # written out, not read off route_cost: the environment's check compared info["cost"] with route_cost()
    # itself, so a route_cost that dropped the probe passed it
    pr = table.probe_setting
    for a in range(len(table.cost)):
        want = table.cost[pr] if a == pr else table.cost[a] + table.cost[pr]
        assert table.route_cost()[a] == pytest.approx(want)
    env = InputRoutingEnv(table, lam=0.5)
    env.reset(seed=0)
    other = (pr + 1) % len(table.cost)
    _, _, _, _, info = env.step(other)
    assert info["cost"] == pytest.approx(table.cost[other] + table.cost[pr])


def test_nothing_fitted_or_chosen_reads_the_held_out_inputs(table):
    """Bins, the ladder, the law guidance, the cascades and the static choices come from train inputs only: held-out
    rows scrambled (answers flipped, confidences, probe features, losses and pass counts transformed) leave every one
    unchanged. Each of these once had no test that could see it read held-out rows."""
    from workbench.costtune.guidance import fit_guidance
    from workbench.costtune.ladder import build_ladder

    ho = table.inputs("heldout")
    bad = {k: getattr(table, k).copy() for k in ("correct", "conf", "probe", "loss", "pass_counts")}
    bad["correct"][ho] = ~bad["correct"][ho]
    bad["conf"][ho] = 1.0 - bad["conf"][ho]
    bad["probe"][ho] = bad["probe"][ho] ** 3  # not a permutation: the distribution over all inputs moves too
    bad["loss"][ho] = 2.0 * bad["loss"][ho] + 1.0
    bad["pass_counts"][ho] = bad["pass_counts"][ho].max() - bad["pass_counts"][ho]
    other = dataclasses.replace(table, **bad)
    tr = table.inputs("train")
    assert (P.probe_bins(other)[tr] == P.probe_bins(table)[tr]).all()
    assert (P.probe_bins(other) != P.probe_bins(table)).any()  # the held-out rows' bins did move
    a, b = build_ladder(table), build_ladder(other)
    for field in ("settings", "cost", "conf_edges", "pred_error"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    np.testing.assert_array_equal(fit_guidance(table).pred_error, fit_guidance(other).pred_error)
    assert P.train_best(other) == P.train_best(table)  # the default budget is half its cost
    for budget in np.quantile(table.cost, [0.1, 0.5, 0.9]):
        assert P.static_best(other, budget)["setting"] == P.static_best(table, budget)["setting"]
    assert P.cascade_configs(other)[0] == P.cascade_configs(table)[0]
    assert P.ladder_cascade_configs(other, a)[0] == P.ladder_cascade_configs(table, a)[0]


def test_entropy_gradient_matches_finite_differences():
    from workbench.costtune.agent import entropy_logit_grad

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5))

    def entropy(z):
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return -(p * np.log(p)).sum(1)

    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    h = 1e-6
    numeric = np.stack([(entropy(logits + h * np.eye(5)[j]) - entropy(logits - h * np.eye(5)[j])) / (2 * h)
                        for j in range(5)], 1)
    np.testing.assert_allclose(entropy_logit_grad(p), numeric, atol=1e-7)


def test_metrics_known_answers():
    front = P.pareto([[1, 0.5], [2, 0.3], [2, 0.4], [4, 0.1], [5, 0.2]])
    assert front.tolist() == [[1, 0.5], [2, 0.3], [4, 0.1]]
    assert P.error_at_cost(front, 3) == pytest.approx(0.2)
    assert np.isnan(P.error_at_cost(front, 0.5))
    assert P.cost_at_error(front, 0.2) == pytest.approx(3.0)
    assert np.isnan(P.cost_at_error(front, 0.05))
    assert P.area(np.array([[1, 0.2], [100, 0.2]]), 1, 100) == pytest.approx(0.2)
    # a sloped segment: error linear in cost (mixing), averaged over log10 cost, 0.5 − (0.4/99)·(99/ln 10 − 2)/2;
    # averaged over linear cost it would be 0.3 (the flat curve above cannot tell the two apart)
    sloped = np.array([[1, 0.5], [100, 0.1]])
    assert P.area(sloped, 1, 100) == pytest.approx(0.5 - 0.4 / 99 * (99 / np.log(10) - 2) / 2, abs=1e-4)
    assert P.cost_ratio(np.array([[0.5, 0.3], [2.0, 0.1]]), *front[-1]) == pytest.approx(2.0)
    assert np.isnan(P.cost_ratio(np.array([[0.5, 0.3], [2.0, 0.11]]), *front[-1]))


def test_routellm_gap_metrics_known_answers():
    """Weak (1, 0.5), strong (11, 0.1). The straight weak → strong mixture recovers the gap linearly:
    APGR 0.5, CPT(50%) 0.5. A curve that reaches the strong error at cost 3 recovers 80% of the gap at
    cost 2.6 (share 0.16) and averages 0.5 over share 0 – 0.2, then 1: APGR 0.9. A curve that starts at
    cost 5 (PGR 0 below it) and rises from 0.5 to 0.6875 by cost 11 averages 6 · 0.59375 / 10."""
    weak, strong = (1.0, 0.5), (11.0, 0.1)
    mix = np.array([weak, strong])
    assert P.apgr(mix, weak, strong) == pytest.approx(0.5, abs=1e-9)
    assert P.cpt(mix, weak, strong, 0.5) == pytest.approx(0.5)
    assert P.cpt(mix, weak, strong, 0.8) == pytest.approx(0.8)
    fast = np.array([weak, [3.0, 0.1]])  # the strong error at cost 3: PGR rises 0 -> 1 over share 0 -> 0.2
    assert P.gap_recovered(fast, weak, strong, 2.0) == pytest.approx(0.5)
    assert P.apgr(fast, weak, strong) == pytest.approx(0.2 * 0.5 + 0.8 * 1.0, abs=1e-9)
    assert P.cpt(fast, weak, strong, 0.8) == pytest.approx(0.16)
    late = np.array([[5.0, 0.3], [21.0, 0.1]])  # starts at share 0.4 (PGR 0 before it), strong error at share 2
    assert P.gap_recovered(late, weak, strong, 4.0) == 0.0
    assert P.apgr(late, weak, strong) == pytest.approx(0.35625, abs=1e-9)  # the jump at cost 5 counted exactly
    assert P.cpt(late, weak, strong, 1.0) == pytest.approx(2.0)  # needs twice the strong setting's extra cost
    assert np.isnan(P.cpt(np.array([[2.0, 0.4]]), weak, strong, 0.5))  # never recovers half the gap
    better = np.array([[1.0, 0.5], [6.0, 0.05]])  # beats the strong setting: PGR above 1 at its cost
    assert P.gap_recovered(better, weak, strong, 11.0) == pytest.approx(1.125)
    table = P.gap_table({"static": mix, "fast": fast, "none": np.array([[2.0, 0.4]])})
    assert table["weak"] == {"cost": 1.0, "error": 0.5} and table["strong"] == {"cost": 11.0, "error": 0.1}
    assert table["policies"]["fast"]["apgr"] == pytest.approx(0.9) and table["policies"]["fast"]["cpt95"] == pytest.approx(0.19)
    assert table["policies"]["static"]["cpt80"] == pytest.approx(0.8) and table["policies"]["none"]["cpt50"] is None
    assert P.gap_table({"static": np.array([[1.0, 0.1]])}) == {}  # the cheapest setting is the most accurate
    with pytest.raises(InputError, match="strong point"):
        P.apgr(mix, strong, weak)
    with pytest.raises(InputError, match="share must be in"):
        P.cpt(mix, weak, strong, 0)


def test_frontier_is_the_lower_convex_hull_mixing_reaches():
    pts = np.array([[1, 0.5], [2, 0.45], [3, 0.2], [4, 0.1], [5, 0.2], [6, 0.09]])
    # (2, .45) is Pareto-efficient but above the mix of (1, .5) and (3, .2) (.35 at cost 2): dropped;
    # (5, .2) is dominated; (6, .09) barely improves on (4, .1) and stays (the hull keeps the last point)
    assert P.frontier(pts).tolist() == [[1, 0.5], [3, 0.2], [4, 0.1], [6, 0.09]]
    assert P.frontier([[1, 0.5], [2, 0.4], [3, 0.3]]).tolist() == [[1, 0.5], [3, 0.3]]  # collinear: the ends
    assert P.frontier([[1, 0.5], [2, 0.25], [3, 0.0]]).tolist() == [[1, 0.5], [3, 0.0]]  # exactly, in binary too
    rng = np.random.default_rng(0)
    for _ in range(20):
        cloud = np.stack([rng.uniform(1, 100, 30), rng.uniform(0, 1, 30)], 1)
        hull, front = P.frontier(cloud), P.pareto(cloud)
        assert all(any(np.array_equal(h, q) for q in cloud) for h in hull)  # vertices are real points
        assert hull[0].tolist() == front[0].tolist() and hull[-1].tolist() == front[-1].tolist()
        for c in np.linspace(front[0, 0], front[-1, 0], 50):  # never above the Pareto interpolation ...
            assert P.error_at_cost(hull, c) <= P.error_at_cost(front, c) + 1e-12
        for (c0, e0), (c1, e1) in zip(hull[:-1], hull[1:]):  # ... and no point lies below a hull segment
            inside = (cloud[:, 0] >= c0) & (cloud[:, 0] <= c1)
            line = e0 + (e1 - e0) * (cloud[inside, 0] - c0) / (c1 - c0)
            assert (cloud[inside, 1] >= line - 1e-12).all()
        assert P.area(hull, 2, 90) <= P.area(front, 2, 90) + 1e-12
    line = P.drawn(P.frontier(pts))
    assert {tuple(v) for v in P.frontier(pts).tolist()} <= {tuple(v) for v in line.tolist()}  # the vertices, and
    mid = line[(line[:, 0] > 1) & (line[:, 0] < 3)]  # between them the mixture, linear in cost
    assert len(mid) > 10 and np.allclose(mid[:, 1], 0.5 - 0.15 * (mid[:, 0] - 1))
    free = P.drawn([[0.0, 0.5], [2.0, 0.1]])  # a free point: linear spacing, same segment
    assert free[0].tolist() == [0.0, 0.5] and np.allclose(free[:, 1], 0.5 - 0.2 * free[:, 0])


def test_a_curve_reaches_an_error_it_ties_to_float_rounding():
    """The same error summed in another order differs by ~1e-16: it reached the static error or not
    depending on numpy's BLAS (the paired bootstrap below gave 0 instead of 2 on most resamples with
    numpy 2.4's). A real gap of one input in 10^8 still does not reach it."""
    front = np.array([[1.0, 0.5], [4.0, 0.1 + 3e-17]])
    assert P.cost_at_error(front, 0.1) == 4.0
    assert P.cost_at_error(front, 0.3) == pytest.approx(2.5)  # halfway along the segment, as before
    assert np.isnan(P.cost_at_error(front, 0.1 - 1e-8))


def test_bootstrap_cost_ratio_is_paired_over_inputs():
    """Static: a cheap setting right on 50% of inputs (cost 1) and a costly one right on 90% (cost 10).
    An RL run right exactly where the costly one is, at half its cost, matches it on every resample
    (ratio 2). One wrong on one input more never reaches it on a resample that draws that input
    (ratio 0) and ties it on the others (ratio 2): about 1 − (1 − 1/n)^n ≈ 63% of resamples draw it."""
    rng = np.random.default_rng(0)
    n = 400
    costly = rng.random(n) < 0.9
    correct = np.stack([rng.random(n) < 0.5, costly], 1)
    cost = np.array([1.0, 10.0])
    same = P.bootstrap_cost_ratio(correct, cost, costly[:, None].astype(float), np.full((n, 1), 5.0), n_boot=200)
    assert np.allclose(same, 2.0)
    worse = costly.copy()
    worse[np.flatnonzero(costly)[0]] = False
    boot = P.bootstrap_cost_ratio(correct, cost, worse[:, None].astype(float), np.full((n, 1), 5.0), n_boot=200)
    drawn = np.isclose(boot, 0.0)
    assert set(np.round(boot, 9)) <= {0.0, 2.0} and 0.5 < drawn.mean() < 0.8  # P(input drawn) = 1 − (1 − 1/n)^n ≈ 0.63


def test_bootstrap_oracle_bins_ratio_is_one_for_the_oracles_own_policy(table):
    """RL playing the oracle bins' own probe-routed choice at one λ sits on their curve, or above it where a
    setting run on every input without the probe does better (ratio >= 1 on the plain held-out mean, 1 against
    the routed points alone); on a resample the oracle re-chooses and does at least as well (every ratio >= 1).
    An RL right on every input is below the oracle's curve on every resample (ratio 0)."""
    ho = table.inputs("heldout")
    bins = P.probe_bins(table)[ho]
    cost = table.route_cost()
    ch = P.bin_choice(table.correct[ho], cost, bins, 0.05, table.cost_ref, 5)[bins]
    own_correct, own_cost = table.correct[ho, ch].astype(float), cost[ch]
    routed = P.merged_frontier([np.stack([cost * (bins == b).mean(), (bins == b).mean() * (1.0 - table.correct[ho][bins == b].mean(0))], 1)
                                for b in range(5)])
    assert own_cost.mean() / P.cost_at_error(routed, 1.0 - own_correct.mean()) == pytest.approx(1.0)
    plain = P.cost_at_error(P.frontier(P.oracle_bins_points(table)), 1.0 - own_correct.mean())
    assert own_cost.mean() / plain >= 1.0 - 1e-9
    boot = P.bootstrap_oracle_bins_ratio(table, own_correct, own_cost, n_boot=100)
    assert boot.shape == (100,) and (boot >= 1.0 - 1e-9).all() and np.median(boot) < 1.5
    perfect = P.bootstrap_oracle_bins_ratio(table, np.ones(len(ho)), np.full(len(ho), cost.min()), n_boot=20)
    assert (perfect == 0.0).all()


def test_a_budget_below_the_ladders_first_rung_is_rejected_before_training(table):
    """With rungs spaced as far apart as the top rung and the second-cheapest train frontier point, the ladder is those
    two and starts above the cheapest setting; a budget between them cannot be met. (A fixed spacing of 10 started
    the ladder at the cheapest setting on 12 of 24 table seeds.)"""
    from workbench.costtune.ladder import build_ladder
    from workbench.costtune.study import StudyConfig, study_table

    front = P.pareto(P.static_points(table, table.inputs("train")))[:, 0]
    assert len(front) >= 3
    spacing = front[-1] / front[1]
    first = build_ladder(table, spacing, n_bins=8).cost[0]
    assert first == front[1] > table.cost.min()
    budget = (first + table.cost.min()) / 2
    with pytest.raises(InputError, match="first rung"):
        study_table(table, StudyConfig(table.config, budget=budget, spacing=spacing))


def test_a_default_budget_below_the_cheapest_setting_is_named_as_the_default(table):
    """No budget given: the refusal says where its number came from, not 'budget ... got 19.0'. A library call's
    errors name the config's fields, not the CLI's flags (it said '--budget', '--steps' and '--n-budgets')."""
    from workbench.costtune.study import StudyConfig, study_table

    cheapest = int(np.argmin(table.cost))
    correct = table.correct.copy()
    correct[:, cheapest] = True  # the cheapest setting is now the most accurate: half its cost is below it
    with pytest.raises(InputError, match=r"^budget \(the default, none given: half the cost of "
                       + re.escape(str(table.settings["name"][cheapest]))) as err:
        study_table(dataclasses.replace(table, correct=correct), StudyConfig(table.config))
    assert f"give one >= {table.cost.min():.6g}" in str(err.value)
    from workbench.commands.sweep import named_as_flags  # the CLI names the flag, default or not (helper-71)

    with pytest.raises(InputError, match=r"^--budget \(the default, none given"):
        with named_as_flags({"budget": "--budget"}):
            study_table(dataclasses.replace(table, correct=correct), StudyConfig(table.config))
    for change, message in (({"budget": 1.0}, "^budget must be >= the cheapest setting's cost"),
                            ({"steps": 0}, "^steps must be an integer >= 1"),
                            ({"n_budgets": 1}, "^n_budgets must be an integer >= 2")):
        with pytest.raises(InputError, match=message):
            study_table(table, StudyConfig(table.config, **change))


def test_the_cheapest_cost_bound_is_the_mlp_tables_cheapest_setting(table):
    """Known before training, and exact for an MLP family: the budget check can run before the build."""
    from workbench.costtune.build import cheapest_cost_bound

    cost, name, exact = cheapest_cost_bound(table.config)
    assert exact and cost == table.cost.min() and name == table.settings["name"][int(np.argmin(table.cost))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_cheapest_cost_bound_holds_for_any_cnn_pruning_and_is_reached(seed):
    """A CNN's pruned cost depends on which layers keep their weights; no mask beats the bound, and the
    mask that keeps the head (the cheapest weights) reaches it."""
    import torch

    from workbench.compress import inference_cost, magnitude_prune
    from workbench.costtune.build import cheapest_cost_bound
    from workbench.costtune.outcomes import OutcomeConfig
    from workbench.students import StudentSpec, param_shapes

    cfg = OutcomeConfig(task="mnist1d", family="cnn", widths=(4, 8)).resolved()
    cost, name, exact = cheapest_cost_bound(cfg)
    assert not exact and name == "w4-d0.25-int8"
    spec = StudentSpec("cnn", 40, 10, 4, cfg.depth)
    gen = torch.Generator().manual_seed(seed)
    params = {k: torch.randn(shape, generator=gen) for k, shape in param_shapes(spec).items()}
    _, masks = magnitude_prune(spec, params, 0.25)
    assert inference_cost(spec, "int8", masks)["flops"] >= cost
    head = f"w{spec.depth}"
    params[head] = params[head] * 1e3  # the head's weights are kept first
    _, masks = magnitude_prune(spec, params, 0.25)
    assert inference_cost(spec, "int8", masks)["flops"] == cost


def test_ladder_cascades_are_policies_the_agent_can_express(table):
    """Every searched chain, written as the agent's tabular policy, gives the same held-out cost and
    error under the agent's exact evaluation; the search keeps each rung alone or something better."""
    from workbench.costtune.cascade_agent import chain_policy
    from workbench.costtune.cascade_env import VectorCascade
    from workbench.costtune.ladder import build_ladder

    ladder = build_ladder(table, 1.5, n_bins=4)
    found = P.ladder_cascade_configs(table, ladder)
    held = P.ladder_cascade_points(table, ladder, found)
    t = VectorCascade(table, ladder, "heldout").t
    assert len(found[0]) >= 3 and any(len(chain) >= 2 for chain, _ in found[0])
    for (chain, cuts), (cost, err) in zip(found[0], held):
        ev = evaluate_cascade(chain_policy(ladder.n_stages, ladder.n_bins, chain, cuts), t, t.rows)
        assert ev["cost"] == pytest.approx(cost, rel=1e-9) and ev["error"] == pytest.approx(err, abs=1e-12)
    tr = table.inputs("train")
    train_pts = found[1]
    for a in ladder.settings:
        alone = (table.cost[a], 1.0 - table.correct[tr, a].mean())
        assert ((train_pts[:, 0] <= alone[0] + 1e-9) & (train_pts[:, 1] <= alone[1] + 1e-12)).any()
    budget = float(np.median(ladder.cost))  # deployed: the lowest train error within the budget
    fits = np.flatnonzero(train_pts[:, 0] <= budget)
    i = fits[np.lexsort((train_pts[fits, 0], train_pts[fits, 1]))[0]]
    deployed = P.ladder_cascade_at_budget(table, ladder, budget, found)
    assert (deployed["cost"], deployed["error"]) == pytest.approx(tuple(held[i]))
    chain, cuts = found[0][i]
    assert deployed["chain"] == " > ".join([f"{ladder.names[r]} (bin < {c})" for r, c in zip(chain, cuts)]
                                           + [ladder.names[chain[-1]]])


def test_merged_frontier_is_the_exact_curve_a_shared_lambda_traces():
    """Per part the setting maximising −(error + λ·cost); summed over parts, for every λ of a dense grid, the
    point is never below the merged hull, and every hull vertex is such a sum (no chord left out)."""
    rng = np.random.default_rng(5)
    parts = [np.stack([rng.uniform(1, 100, 12), rng.uniform(0, 0.3, 12)], 1) for _ in range(4)]
    hull = P.merged_frontier(parts)
    lams = np.concatenate([[0.0], np.logspace(-6, 2, 20001)])
    pts = np.array([np.sum([p[np.argmin(p[:, 1] + lam * p[:, 0] + 1e-12 * p[:, 0])] for p in parts], 0) for lam in lams])
    assert min(e - P.error_at_cost(hull, c) for c, e in pts) >= -1e-12
    hit = [np.isclose(pts, v, rtol=0, atol=1e-9).all(1).any() for v in hull]
    assert all(hit) and len(hull) > 4


def test_oracle_curves_are_exact_and_at_or_below_every_static_setting(table):
    """The per-input oracle: cheapest setting everywhere, then each wrong input moved to its cheapest right
    setting, cheapest move first; a dense λ grid (the old way, at each λ every input's best setting) never gets
    below it. The oracle bins need no probe to run one setting on every input: at or below the static points."""
    ho = table.inputs("heldout")
    exact = P.oracle_input_points(table)
    for lam in np.logspace(-4, 3, 200):
        a = np.argmax(table.correct[ho] - lam * table.cost / table.cost_ref - 1e-12 * table.cost, axis=1)
        c, e = table.cost[a].mean(), 1.0 - table.correct[ho, a].mean()
        assert e >= P.error_at_cost(exact, c) - 1e-12
    assert exact[-1, 1] == pytest.approx(1.0 - table.correct[ho].any(1).mean())
    bins = P.frontier(P.oracle_bins_points(table))
    for c, e in P.static_points(table, ho):
        assert P.error_at_cost(bins, c) <= e + 1e-12


def test_above_measures_where_one_curve_lies_over_another():
    low = np.array([[1.0, 0.5], [100.0, 0.1]])
    high = np.array([[1.0, 0.6], [100.0, 0.2]])
    assert P.above(low, high, 1.0, 100.0) == {"share": 0.0, "max_excess": 0.0, "at_cost": None}
    got = P.above(high, low, 1.0, 100.0)
    assert got["share"] == 1.0 and got["max_excess"] == pytest.approx(0.1)
    late = np.array([[10.0, 0.05], [100.0, 0.04]])  # starts later: error 1 below its cheapest point
    assert P.above(late, low, 1.0, 100.0)["share"] == pytest.approx(0.5, abs=0.01)
    assert P.above(low + [0.0, 1e-8], low, 1.0, 100.0)["share"] == 0.0  # expectation rounding is not "above"


def test_per_input_oracle_is_at_least_as_cheap_as_every_static_setting(table):
    oracle = P.pareto(P.oracle_input_points(table))
    static = P.static_points(table, table.inputs("heldout"))
    for cost, err in static:
        assert P.cost_at_error(oracle, err) <= cost + 1e-9
    bins = P.pareto(P.oracle_bins_points(table))
    assert bins[-1, 1] <= static[:, 1].min() + 1e-12  # per-bin choice can always pick the best static


def test_static_best_respects_the_budget(table):
    best = P.static_best(table, float(np.median(table.cost)))
    assert best["cost"] <= np.median(table.cost)
    with pytest.raises(InputError, match="budget"):
        P.static_best(table, table.cost.min() / 2)


def test_env_passes_gymnasium_check_and_reports_correct_and_cost(table):
    env = InputRoutingEnv(table, "train", lam=0.5)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.shape == env.observation_space.shape
    _, reward, _, _, info = env.step(2)
    assert info["cost"] == pytest.approx(table.route_cost()[2])
    assert reward == pytest.approx(float(info["correct"]) - 0.5 * info["cost"] / table.cost_ref)
    # independent inputs: an episode ends on its length (truncated), never in a terminal state
    env.reset(seed=3)
    ends = [env.step(0)[2:4] for _ in range(env.episode_len)]
    assert ends[-1] == (False, True) and all(e == (False, False) for e in ends[:-1])


def test_env_info_names_the_input_of_each_observation(table):
    env = InputRoutingEnv(table, "train")
    with pytest.raises(InputError, match="reset"):  # before any reset: numpy's ambiguity error on a whole column
        env.step(0)
    obs, info = env.reset(seed=5)
    assert info["input"] in set(table.inputs("train")) and np.array_equal(obs, env.observation([info["input"]])[0])
    for _ in range(3):
        shown = info.get("next_input", info["input"])
        obs, _, _, _, info = env.step(1)
        assert info["input"] == shown and info["correct"] == bool(table.correct[shown, 1])
        assert np.array_equal(obs, env.observation([info["next_input"]])[0])


def test_agent_is_seeded(table):
    env = InputRoutingEnv(table, "train")
    cfg = AgentConfig(steps=1500, batch=64, eval_every=500, budget=float(np.median(table.cost)), seed=7)
    a, b = train(env, cfg), train(env, cfg)
    assert np.array_equal(a.policy.W, b.policy.W) and a.lam == b.lam
    pd_equal = a.curve.equals(b.curve)
    assert pd_equal
    c = train(env, dataclasses.replace(cfg, seed=8))
    assert not np.array_equal(a.policy.W, c.policy.W)


def test_dual_ascent_moves_lambda_toward_the_budget(table):
    env = InputRoutingEnv(table, "train")
    rows = table.inputs("train")
    free = train(env, AgentConfig(steps=3000, batch=64, guided=False, seed=0))
    free_cost = evaluate(free.policy, env, rows, 0.0)["cost"]
    tight = train(env, AgentConfig(steps=3000, batch=64, guided=False, seed=0, budget=free_cost / 4, dual_lr=0.5))
    # over budget -> λ rose. Not necessarily to the end: at dual_lr 0.5 the step can overshoot, the policy then spends
    # far under the budget and λ is projected back to 0 (the final λ was 0 on 6 of 12 trained tables for the
    # cascade, 3 of 24 for the router; the curve's λ rose on all of them, helper-92)
    assert tight.curve["lam"].max() > 0
    assert evaluate(tight.policy, env, rows, tight.lam)["cost"] < 0.6 * free_cost
    loose = train(env, AgentConfig(steps=3000, batch=64, guided=False, seed=0, budget=table.cost.max() * 10))
    assert loose.lam == 0.0  # always under budget -> λ pinned at 0


def test_steps_to_fraction():
    import pandas as pd
    curve = pd.DataFrame({"step": [0, 10, 20, 30, 40], "reward": [0.1, 0.5, 0.95, 1.0, 1.0]})
    assert steps_to_fraction(curve, 0.98, final_share=0.25) == 30
    assert steps_to_fraction(curve, 0.9, final_share=0.25) == 20
    # the final reward spans the last share of the steps, however densely the curve was evaluated
    assert final_reward(curve, 0.25) == 1.0 and final_reward(curve, 0.5) == pytest.approx(0.95 / 3 + 2 / 3)
    dense = pd.DataFrame({"step": np.arange(0, 41), "reward": np.r_[np.linspace(0.1, 1.0, 31), np.ones(10)]})
    assert final_reward(dense, 0.25) == 1.0 and steps_to_fraction(dense, 0.98, final_share=0.25) == 30
    assert steps_to_fraction(dense, 0.9, final_share=0.25) == 27  # 0.1 + 0.03 k >= 0.9: k = 27
    # a negative final reward (a short run at a cost-heavy λ): the target is 2% of its size below it, reached at
    # step 30; before, 98% of -1.64 (-1.607) lay above every evaluation and the last step was returned as if reached
    negative = pd.DataFrame({"step": [0, 10, 20, 30, 40], "reward": [-3.0, -2.0, -1.7, -1.64, -1.64]})
    assert steps_to_fraction(negative, 0.98, final_share=0.25) == 30
    assert steps_to_reward(negative, -1.9) == 20 and steps_to_reward(negative, -1.0) is None
    # fraction 1 on a flat end whose mean rounds above every value (0.1 + 0.1 + 0.1) / 3 > 0.1: still reached
    flat = pd.DataFrame({"step": np.arange(0, 100, 10), "reward": [0.0] * 7 + [0.1] * 3})
    assert steps_to_fraction(flat, 1.0, final_share=0.25) == 70


def test_the_common_target_is_the_better_final_reward_less_the_tolerance():
    import pandas as pd

    from workbench.costtune.study import steps_to_common_target

    steps = np.arange(0, 100, 10)
    better = pd.DataFrame({"step": steps, "reward": [0.5, 0.7, 0.8, 0.85, 0.895, 0.9, 0.9, 0.9, 0.9, 0.9]})
    lower = pd.DataFrame({"step": steps, "reward": [0.88] * 10})  # starts high, settles 0.02 below
    slow = pd.DataFrame({"step": steps, "reward": [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.896, 0.9, 0.9, 0.9]})
    # the target is 0.9 - 0.005 = 0.895 for all: the lower curve never reaches it, whatever its own final reward
    assert steps_to_common_target({"a": better, "b": lower}) == {"a": 40, "b": None}
    assert steps_to_common_target({"a": better, "c": slow}) == {"a": 40, "c": 60}
    assert steps_to_common_target({"a": better, "b": lower}, tol=0.06) == {"a": 30, "b": 0}


def test_guidance_runs_prefer_binding_budgets():
    import pandas as pd
    from workbench.costtune.study import guidance_runs
    runs = pd.DataFrame({"budget": [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0],
                         "train_cost": [100.0, 199.0, 395.0, 790.0, 900.0, 900.0], "lam": [5, 2, 0.5, 0.1, 0, 0]})
    # binding: budgets 100..800 (rows 0-3); quartiles of 4 rows: (3·2)//4 = 1, 3//4 = 0, 9//4 = 2
    assert guidance_runs(runs, 400.0) == [2, 1, 0]  # the requested budget binds: it comes first
    assert guidance_runs(runs, 1600.0) == [1, 0, 2]  # slack: the median binding budget first
    assert guidance_runs(runs.assign(train_cost=1.0), 1600.0) == [4]  # none binds: the requested one


def test_budget_run_is_the_best_train_error_within_the_budget():
    import pandas as pd
    from workbench.costtune.study import budget_run
    runs = pd.DataFrame({"budget": [100.0, 200.0, 400.0, 800.0], "train_cost": [100.0, 190.0, 410.0, 300.0],
                         "train_error": [0.3, 0.2, 0.1, 0.15]})
    assert budget_run(runs, 800.0) == 2  # the 400 run (410 spent, error 0.1) beats the 800 run's own (0.15)
    assert budget_run(runs, 400.0) == 3  # the 400 run overspent (410); the 800 run spent 300
    assert budget_run(runs, 250.0) == 1
    assert budget_run(runs, 50.0) == 0  # nothing fits: the nearest budget's own run
    assert budget_run(runs.assign(train_error=0.2), 800.0) == 0  # ties: the cheapest


def test_snell_names_a_width_the_table_lacks_and_a_strategy_it_has_not(table):
    """helper-70: savings(T, 16) was 'too many indices', oracle_bins(T, 16) '16 is not in list', flops_matched with
    an absent width an IndexError, with small above large rows of NaN; uniform_curve(T, w, 'bogus') an empty curve."""
    from workbench.costtune import snell

    widths = [int(w) for w in table.config.widths]
    absent = max(widths) + 1
    for call in (lambda: snell.savings(table, absent), lambda: snell.oracle_bins(table, absent),
                 lambda: snell.flops_matched(table, widths[0], absent, 0.0), lambda: snell.strategies(table, absent)):
        with pytest.raises(InputError, match=rf"must be one of the table's widths \[.*\]; got {absent}"):
            call()
    with pytest.raises(InputError, match="small must be a narrower width than large"):
        snell.flops_matched(table, widths[-1], widths[0], 0.0)
    with pytest.raises(InputError, match="strategy must be one of argmax, vote, bon, refine; got 'bogus'"):
        snell.uniform_curve(table, widths[0], "bogus")
    assert len(snell.uniform_curve(table, np.int64(widths[0]), "bon")) == len(table.config.testtime.ks)


def test_snell_allocation_pays_the_probe_and_separates_what_difficulty_adds(table):
    from workbench.costtune import snell

    w = table.config.widths[0]
    st = snell.strategies(table, w)
    ho = table.inputs("heldout")
    singles = {(float(c), float(1 - table.correct[ho, a].mean())) for c, a in zip(st["flops"], st["setting"])}
    one_bin = snell.compute_optimal_curve(table, w, n_bins=1)  # no difficulty: one strategy for every input
    assert all(any(np.allclose(pt, s_) for s_ in singles) for pt in one_bin)
    probe = snell.compute_optimal_curve(table, w, difficulty="probe")
    assert probe[:, 0].min() >= st["flops"].min() + table.probe_cost - 1e-9  # the probe is paid
    out = snell.savings(table, w, difficulty="probe")
    assert out["ratio"] == pytest.approx(out["uniform_cost"] / out["optimal_cost"])
    assert out["ratio_from_difficulty"] == pytest.approx(out["single_strategy_cost"] / out["optimal_cost"])
    argmax = int(st[st["strategy"] == "argmax"]["setting"].iloc[0])
    assert out["argmax_error"] == pytest.approx(1 - table.correct[ho, argmax].mean())
    with pytest.raises(InputError, match="difficulty"):
        snell.compute_optimal_curve(table, w, difficulty="psychic")


def test_snell_savings_summary_reads_its_own_numbers(table):
    from workbench.costtune import snell

    widths = table.config.widths
    summary, reading = snell.savings_summary(table, widths)
    assert list(summary.index) == list(widths)
    for w in widths:  # the table is savings() per width, oracle and predicted bins
        o, p = snell.savings(table, w), snell.savings(table, w, difficulty="probe")
        assert summary.loc[w, "saved (×), oracle bins"] == pytest.approx(o["ratio"], nan_ok=True)
        assert summary.loc[w, "saved (×), predicted (probe) bins"] == pytest.approx(p["ratio"], nan_ok=True)
    worse = [w for w in widths if summary.loc[w, "one argmax pass: error"] > summary.loc[w, "uniform best-of-k: best held-out error"]]
    if not worse:
        assert "at every width:" in reading
    elif len(worse) < len(widths):
        assert f"every width but {', '.join(map(str, worse))}:" in reading
    else:
        assert "less accurate than the best uniform best-of-k at every width" in reading
    for kind, col in (("oracle", "of which by difficulty (×), oracle"), ("predicted", "of which by difficulty (×), predicted")):
        top = summary[col].max()
        assert (f"{kind} bins {top:.3f}×" if np.isfinite(top) else f"{kind} bins nothing measurable") in reading


def test_flops_matched_all_inputs_row_is_the_held_out_error_of_the_per_bin_choices(table):
    from workbench.costtune import snell

    small, large = table.config.widths[0], table.config.widths[-1]
    d = snell.flops_matched(table, small, large, 1.0)
    ho = table.inputs("heldout")
    big = snell.strategies(table, large)
    big_setting = int(big[big["strategy"] == "argmax"]["setting"].iloc[0])
    rows = d[d["bin"] == "all"].set_index("model")["error"]
    assert rows[f"w{large} argmax"] == pytest.approx(1 - table.correct[ho, big_setting].mean())
    per_bin = d[d["bin"] != "all"]
    bins = snell.oracle_bins(table, small)[ho]
    share = np.bincount(bins, minlength=5) / len(ho)
    small_rows = per_bin[per_bin["model"] == f"w{small} + test-time"].sort_values("bin")
    weighted = np.nansum(small_rows["error"].to_numpy() * share[small_rows["bin"].astype(int)])
    assert rows[f"w{small} + test-time"] == pytest.approx(weighted)


@pytest.mark.parametrize("ratio", [-1.0, float("nan"), float("inf")])
def test_flops_matched_refuses_a_negative_or_non_finite_ratio(table, ratio):
    """Notebook 05's ratios = [-1.0] ran: a negative R made test-time samples lower the small model's total
    FLOPs, so every strategy 'matched' the larger model and the bars showed them as if affordable."""
    from workbench.costtune import snell

    small, large = table.config.widths[0], table.config.widths[-1]
    with pytest.raises(InputError, match=r"^R \(inference / pretraining examples\) must be a finite number >= 0; "
                                         rf"got {ratio!r}$"):
        snell.flops_matched(table, small, large, ratio)


def test_a_student_that_diverges_is_named_before_pruning_reads_its_nan_weights():
    # before: "params['w0'] must hold finite numbers to be pruned by magnitude", naming no student or cause
    from workbench.costtune.build import train_family
    from workbench.costtune.outcomes import OutcomeConfig

    cfg = OutcomeConfig(widths=(4, 8), steps=50, finetune_steps=5, n_inputs=2000, lr=1e37).resolved()
    with pytest.raises(InputError, match=r"^the mlp student of width 4 diverged in training \(w0 holds NaN/inf "
                                         r"weights after 50 Adam steps at lr=1e\+37\); lower lr$"):
        train_family(cfg, "cpu")


def test_a_temp_file_a_killed_save_left_is_cleared_when_the_table_is_next_asked_for(table, tmp_path):
    # before: only sweep and prune runs cleared the .tmp-* files of killed writers; a kill -9 while an outcome
    # table was saved (megabytes of compressed arrays) left its temp in <cache>/costtune for ever
    import os
    import time

    from workbench.cache import STALE_TEMP_SECONDS, TEMP_PREFIX
    from workbench.costtune.outcomes import save, table_path

    path = table_path(TINY, tmp_path)
    save(table, path)
    left, fresh = path.parent / f"{TEMP_PREFIX}killed.npz", path.parent / f"{TEMP_PREFIX}writing.npz"
    for temp, age in ((left, 2 * STALE_TEMP_SECONDS), (fresh, 5)):  # fresh: another process's save now
        temp.write_bytes(b"half a table")
        os.utime(temp, (time.time() - age, time.time() - age))
    assert outcome_table(TINY, tmp_path).seconds == 0  # read from the cache, not built
    assert not left.exists() and fresh.exists()


def test_the_warning_for_a_damaged_table_names_the_line_that_asked_for_it(table, tmp_path, monkeypatch):
    # before: with load_checked on cache.read_cached, the warning named a line inside outcome_table
    # (outcomes.py), not the notebook or script line that called outcome_table
    import warnings

    from workbench.costtune import build
    from workbench.costtune.outcomes import table_path

    path = table_path(TINY, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a table")
    monkeypatch.setattr(build, "build_outcomes", lambda cfg, device, progress=None: table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome_table(TINY, tmp_path)
    assert [w.filename for w in caught] == [__file__]


def test_flops_matching_charges_the_verifier_and_refiner_training_to_the_small_model(table):
    """Best-of-k needs the verifier, refinement the refiner: their training (data passes of every student, then
    Adam steps at 3x their forward FLOPs) is part of what the small model spends. On this tiny table it exceeds
    what the next width's pretraining costs beyond the small one's, so at R = 0 only argmax and majority vote fit (before
    session 22 every setting was)."""
    from workbench.costtune import snell

    tt, widths = table.config.testtime, table.config.widths
    argmax = {w: float(snell.strategies(table, w).query("strategy == 'argmax'")["flops"].iloc[0]) for w in widths}
    st = snell.strategies(table, widths[0]).set_index("name")
    v = st.loc[f"w{widths[0]}-bon2", "flops"] / 2 - argmax[widths[0]]
    r = st.loc[f"w{widths[0]}-refine1", "flops"] - argmax[widths[0]]
    passes, fit = tt.train_inputs * sum(argmax.values()), tt.train_steps * snell.TRAIN_BATCH * 3
    helper = snell.helper_training_flops(table)
    assert helper == {"argmax": 0.0, "vote": 0.0, "bon": pytest.approx(2 * passes + fit * v),
                      "refine": pytest.approx(passes + fit * max(tt.refine_steps) * r)}
    seen = table.config.steps * table.config.batch_size
    small, large = widths[0], widths[1]
    assert min(helper["bon"], helper["refine"]) > 3 * (argmax[large] - argmax[small]) * seen  # the premise
    got = snell.flops_matched(table, small, large, 0.0)
    chosen = got[(got["model"] == f"w{small} + test-time") & (got["bin"] != "all")]["setting"]
    assert chosen.notna().all() and not chosen.str.contains("bon|refine").any()


@pytest.mark.parametrize("field, value", [("steps", 2.5), ("steps", "200"), ("n_inputs", 1000.5), ("batch_size", None)])
def test_outcome_config_refuses_a_count_that_is_not_a_whole_number(field, value):
    # before: steps=2.5 passed the check and "200" was a TypeError from the comparison
    from workbench.costtune.outcomes import OutcomeConfig

    with pytest.raises(InputError, match=f"{field} must be an integer >= "):
        OutcomeConfig(**{field: value}).resolved()


@pytest.mark.parametrize("change, message", [
    ({"lr": -1.0}, "lr must be finite and > 0; got -1.0"),  # trained by gradient ascent and cached as real
    ({"lr": 0.0}, "lr must be finite and > 0"),
    ({"probe_width_index": 0.5}, "probe_width_index must index widths"),
    ({"seed": -1}, "seed must be an integer >= 0"), ({"task_seed": 1.5}, "task_seed must be an integer >= 0"),
    ({"precisions": ("fp32", "fp16"), "probe_precision": "fp32"}, "precisions must be distinct names among"),
    ({"precisions": ("fp32", "fp32")}, "precisions must be distinct"),
    ({"testtime": None}, "testtime must be a TestTimeConfig"),
    ({"widths": (4, "8")}, "widths must be >= 2 increasing positive integers"),
    ({"depth": 0}, "depth must be >= 1"), ({"finetune_steps": -5}, "finetune_steps must be an integer >= 0"),
    ({"densities": (1.0, 0.5, 0.5)}, "densities must be distinct"),
    ({"task": "mnist1d", "testtime": TestTimeConfig(train_inputs=80000)}, "train_inputs must be <= the mnist1d pool"),
    ({"testtime": TestTimeConfig(refine_steps=())}, "refine_steps must be a non-empty tuple of distinct"),
    ({"testtime": TestTimeConfig(ks=(2, 4, 4, 8))}, "ks must be a non-empty tuple of distinct"),
])
def test_outcome_config_names_a_bad_field_before_any_training(change, message):
    """helper-70: each failed only after the students had trained (a raw TypeError, KeyError or ValueError), or
    built a meaningless table (duplicate setting names, every width one linear model, a helper trained on fewer
    inputs than its FLOPs count charged)."""
    with pytest.raises(InputError, match=re.escape(message) if "(" in message else message):
        OutcomeConfig(**change).resolved()


@pytest.mark.parametrize("change, message", [
    ({"n_budgets": 2.5}, "n_budgets must be an integer >= 2; got 2.5"), ({"seed": -1}, "seed must be an integer >= 0"),
    ({"steps": True}, "steps must be an integer >= 1; got True"), ({"n_boot": 2.5}, "n_boot must be"),
    ({"n_bins": 2.5}, "n_bins must be"), ({"budget": "500"}, "budget must be a positive, finite number"),
    ({"budget": float("inf")}, "budget must be a positive, finite"), ({"guidance_steps": 10.5}, "guidance_steps must be"),
    ({"spacing": 0.5}, "spacing must be a finite number >= 1"), ({"outcome": None}, "outcome must be an OutcomeConfig"),
])
def test_study_config_is_checked_before_the_table_is_built(change, message, tmp_path, monkeypatch):
    """helper-70: run_study built the outcome table (minutes at the defaults) before it read the study's own
    fields, several of which then failed raw (n_budgets=2.5 numpy's TypeError) or ran (steps=True: a one-step
    study; budget=inf: NaN rewards)."""
    from workbench.costtune import study

    monkeypatch.setattr(study, "outcome_table", lambda *a, **k: pytest.fail("the table was built first"))
    with pytest.raises(InputError, match=message):
        study.run_study(study.StudyConfig(**change), cache_dir=tmp_path)


def test_a_negative_probe_index_names_the_same_table_as_its_positive_one():
    """helper-70: probe_width_index=-5 and 1 (of six widths) built one table under two keys."""
    assert OutcomeConfig(probe_width_index=-5).key() == OutcomeConfig(probe_width_index=1).key() == OutcomeConfig().key()
    assert OutcomeConfig(probe_width_index=-5).resolved().probe_width_index == 1
