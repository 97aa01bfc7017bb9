"""Known answers for the numbers issue 4 reports: baselines, oracles, Snell's allocation, strategy costs, the agents'
dual step and iterate average, and the study's summary (session 28: a mutation review, helper-82, found 43 changes
to these lines that no test caught; each test below fails on at least one of them)."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from workbench.costtune import policies as P
from workbench.costtune import snell
from workbench.costtune.cascade_agent import CascadeAgentConfig, _softmax, action_mask, law_lambda, train
from workbench.costtune.cascade_env import VectorCascade
from workbench.costtune.ladder import build_ladder
from workbench.costtune.outcomes import outcome_table
from workbench.testtime import Refiner, Verifier

from conftest import informative_probe, tiny_outcome_config

TINY = tiny_outcome_config(n_inputs=600)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return informative_probe(outcome_table(TINY, tmp_path_factory.mktemp("cache")))


def _scrambled_held_out(table):
    """The table with every held-out answer flipped and pass count mirrored: what is chosen on train inputs stays."""
    ho = table.inputs("heldout")
    correct, passes = table.correct.copy(), table.pass_counts.copy()
    correct[ho] = ~correct[ho]
    passes[ho] = table.config.testtime.max_k - passes[ho]
    return dataclasses.replace(table, correct=correct, pass_counts=passes)


# -- static settings and FrugalGPT cascades ------------------------------------------------------

def test_static_best_may_spend_exactly_the_budget_and_reports_held_out_error(table):
    best = P.train_best(table)
    got = P.static_best(table, float(table.cost[best]))
    assert got["setting"] == table.settings["name"][best] and got["cost"] == table.cost[best]
    ho, tr = table.inputs("heldout"), table.inputs("train")
    assert (table.correct[tr].mean(0) != table.correct[ho].mean(0)).any()  # so the two are told apart below
    for budget in np.quantile(table.cost, [0.3, 0.6, 1.0]):
        got = P.static_best(table, budget)
        a = int(np.flatnonzero(table.settings["name"] == got["setting"])[0])
        assert got["error"] == pytest.approx(1.0 - table.correct[ho, a].mean())


def test_train_best_breaks_a_tie_towards_the_cheaper_setting(table):
    best, costliest = P.train_best(table), int(np.argmax(table.cost))
    assert table.cost[costliest] > table.cost[best]
    correct = table.correct.copy()
    correct[:, costliest] = correct[:, best]
    assert P.train_best(dataclasses.replace(table, correct=correct)) == best


def test_cascades_of_two_and_three_stages_are_all_searched(table, monkeypatch):
    seen = []

    def capture(configs, points):
        seen.extend(configs)
        return configs, np.array(points)

    monkeypatch.setattr(P, "_efficient", capture)
    P.cascade_configs(table, max_stages=3, n_frontier=4)
    n = len({stage for chain, _ in seen for stage in chain})
    assert max(len(chain) for chain, _ in seen) == 3
    assert len(seen) == (math.comb(n, 2) + math.comb(n, 3)) * 24  # 24 thresholds τ per chain


def test_a_cascade_beaten_at_equal_cost_is_not_efficient():
    configs, _ = P._efficient(["a", "b"], [(1.0, 0.2), (1.0, 0.3)])
    assert configs == ["a"]


# -- oracles and curve metrics -------------------------------------------------------------------

def test_oracle_bins_pay_the_probe_on_the_inputs_they_route():
    # bins [0, 0, 1, 1]; setting 0 (the probe, cost 1) is right on bin 0 only, setting 1 (cost 10) on all; routing
    # costs [1, 11]. Bin 0: (1, 0). Bin 1: (1, 1) or, routed to setting 1, (11, 0). Merged by share: (1, 0.5), (6, 0).
    # Without the probe on the routed inputs the second point would cost 5.5
    correct = np.array([[1, 1], [1, 1], [0, 1], [0, 1]], bool)
    curve = P.oracle_bins_curve(correct, np.array([1.0, 11.0]), np.array([1.0, 10.0]), np.array([0, 0, 1, 1]), 2,
                                np.full(4, 0.25))
    assert curve.tolist() == [[1.0, 0.5], [6.0, 0.0]]


def test_oracle_bins_at_a_lambda_weigh_each_bins_cost_by_its_share():
    correct = np.array([[1, 1], [1, 1], [1, 1], [0, 1]], bool)  # bins [0, 0, 0, 1]: bin 0 ties, the cheaper wins
    out = P.oracle_bins_at_lambdas(correct, np.array([1.0, 10.0]), np.array([0, 0, 0, 1]), 2, 10.0,
                                   np.full((1, 4), 0.25), lambdas=[0.0])
    assert out[0, 0].tolist() == pytest.approx([0.75 * 1 + 0.25 * 10, 0.0])


def test_cpt_is_zero_when_the_curve_recovers_the_share_at_the_weak_settings_cost():
    assert P.cpt(np.array([[0.5, 0.5], [1.0, 0.1]]), (1.0, 0.5), (11.0, 0.1), 0.5) == 0.0


def test_above_counts_only_an_excess_over_its_tolerance():
    low = np.array([[1.0, 0.5], [100.0, 0.5]])
    high = np.array([[1.0, 0.5 + 1e-8], [10.0, 0.5 + 1e-8], [100.0, 0.6]])  # rounding-level on [1, 10], above after
    assert P.above(high, low, 1.0, 100.0)["share"] == pytest.approx(0.5, abs=0.01)


# -- Snell's per-difficulty allocation -----------------------------------------------------------

def test_oracle_bins_rank_equal_pass_counts_by_the_probes_confidence(table):
    bins = snell.oracle_bins(table, table.config.widths[0])
    passes = table.pass_counts[:, 0]
    for count in np.unique(passes):
        rows = np.flatnonzero(passes == count)
        by_confidence = rows[np.argsort(table.probe[rows, 0], kind="stable")]
        assert (np.diff(bins[by_confidence]) <= 0).all()  # a more confident probe: the same bin or an easier one
    assert len(np.unique(bins)) == 5


def test_bin_edges_and_flops_matched_choices_read_the_train_inputs_only(table):
    other, tr = _scrambled_held_out(table), table.inputs("train")
    for width in table.config.widths:
        assert (snell.oracle_bins(other, width)[tr] == snell.oracle_bins(table, width)[tr]).all()
    small, large = table.config.widths[0], table.config.widths[-1]
    assert (snell.flops_matched(other, small, large, 1.0)["setting"].tolist()
            == snell.flops_matched(table, small, large, 1.0)["setting"].tolist())


def test_one_bin_at_lambda_zero_is_the_train_inputs_most_accurate_strategy(table):
    ho, tr = table.inputs("heldout"), table.inputs("train")
    for width in table.config.widths:
        st = snell.strategies(table, width)
        cols, cost = st["setting"].to_numpy(), st["flops"].to_numpy(float)
        acc = table.correct[tr][:, cols].mean(0)
        tied = acc == acc.max()
        best = cols[np.flatnonzero(tied)[np.argmin(cost[tied])]]  # ties: the cheaper
        point = snell.compute_optimal_curve(table, width, n_bins=1)[0]
        assert point.tolist() == pytest.approx([table.cost[best], 1.0 - table.correct[ho, best].mean()])


def test_savings_are_measured_against_uniform_best_of_ks_lowest_error(table):
    for width in table.config.widths:
        assert snell.savings(table, width)["uniform_error"] == snell.uniform_curve(table, width)[:, 1].min()


def test_flops_matched_charges_the_small_model_r_times_its_inference(table):
    small, large = table.config.widths[0], table.config.widths[-1]
    seen = table.config.steps * table.config.batch_size
    helper = snell.helper_training_flops(table)
    rows = snell.strategies(table, small).set_index("name")
    big = float(snell.strategies(table, large).query("strategy == 'argmax'")["flops"].iloc[0])
    base = float(rows.query("strategy == 'argmax'")["flops"].iloc[0])
    for R in (0.0, 1e3, 1e6):
        out = snell.flops_matched(table, small, large, R)
        names = out[(out["model"] == f"w{small} + test-time") & (out["bin"] != "all")]["setting"].dropna()
        total = 3 * base * seen + rows.loc[names, "strategy"].map(helper) + R * seen * rows.loc[names, "flops"]
        assert (total <= 3 * big * seen + R * seen * big).all()
    assert (rows.loc[names, "flops"] <= big * 1.001).all()  # at R = 1e6 serving dominates


def test_an_empty_held_out_bin_gives_nan_without_a_warning(table, recwarn):
    small, large = table.config.widths[0], table.config.widths[-1]
    snell.flops_matched(_scrambled_held_out(table), small, large, 1.0)  # mirrored pass counts empty some bins
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_bin_no_train_input_falls_in_is_chosen_for_from_every_train_input(table, monkeypatch, recwarn):
    """helper-92: on a table whose probe answers one confidence (3 of 24 small trained tables), every train input
    lands in one bin; another bin's pick was argmax over the NaN mean of an empty slice (the first affordable
    setting, with a RuntimeWarning). Here every train input is put in bin 0 and the held-out inputs in bins 0-4:
    each bin's pick is then bin 0's, the best over all train inputs."""
    n = len(table.split)
    bins = np.where(table.split == 0, 0, np.arange(n) % 5)
    monkeypatch.setattr(snell, "oracle_bins", lambda t, width, n_bins: bins)
    small, large = table.config.widths[0], table.config.widths[-1]
    out = snell.flops_matched(table, small, large, 1.0)
    picks = out[out.model.str.contains("test-time") & (out.bin != "all")]["setting"].tolist()
    assert len(picks) == 5 and len(set(picks)) == 1 and picks[0] is not None
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# -- the cost of each strategy -------------------------------------------------------------------

def test_strategy_costs_follow_the_documented_formulas(table):
    tt = table.config.testtime
    verifier, refiner = Verifier(20, 10, tt.verifier_width).flops(), Refiner(20, 10, tt.refiner_width).flops()
    s = table.settings
    for width in table.config.widths:
        dense = s[(s.width == width) & (s.density == 1.0) & (s.precision == "fp32")]
        flops = dense.set_index(["strategy", "k"])["flops"]
        f = flops[("argmax", 1)]
        for k in tt.ks:
            assert flops[("bon", k)] == k * (f + verifier) and flops[("vote", k)] == k * f
        for t in tt.refine_steps:
            assert flops[("refine", t)] == f + t * refiner


def test_each_sample_count_and_refinement_depth_is_its_own_outcome(table):
    s = table.settings.reset_index(drop=True)
    width = table.config.widths[-1]

    def column(strategy, k):
        return int(np.flatnonzero((s.width == width) & (s.strategy == strategy) & (s.k == k))[0])

    assert not np.array_equal(table.loss[:, column("vote", 2)], table.loss[:, column("vote", 4)])
    assert not np.array_equal(table.loss[:, column("refine", 1)], table.loss[:, column("refine", 2)])


# -- the cascade agent ---------------------------------------------------------------------------

def test_the_guided_dual_step_is_scaled_by_the_laws_lambda(table):
    ladder = build_ladder(table, 2.0, n_bins=4)
    seen = []

    class Recording(VectorCascade):
        def set_lambda(self, lam):
            seen.append((lam, self.cost.mean() if hasattr(self, "cost") else None))
            super().set_lambda(lam)

    budget = float(ladder.cost[1])
    train(Recording(table, ladder), CascadeAgentConfig(steps=600, episodes=256, budget=budget))
    lam0 = law_lambda(ladder.pred_error[0], ladder.cost, budget, table.cost_ref)
    assert seen[0][0] == lam0 > 0
    lam1, batch_cost = seen[1]
    # λ ← max(0, λ + η·scale·(cost − budget)/budget), η = 0.05, the guided agent's scale max(λ0, 1e-3)
    assert lam1 == pytest.approx(max(0.0, lam0 + 0.05 * max(lam0, 1e-3) * (batch_cost - budget) / budget), rel=1e-12)


def test_the_reported_policy_averages_the_iterates_that_generated_the_batches(table):
    ladder = build_ladder(table, 2.0, n_bins=4)
    res = train(VectorCascade(table, ladder), CascadeAgentConfig(steps=1, guided=False, lam=0.2, average_last=1.0))
    np.testing.assert_allclose(res.probs, _softmax(action_mask(ladder.n_stages, ladder.n_bins)))  # the one that ran


# -- the study's summary -------------------------------------------------------------------------

def test_a_run_that_spends_exactly_the_budget_fits_it():
    from workbench.costtune.study import budget_run

    runs = pd.DataFrame({"budget": [100.0, 200.0], "train_cost": [100.0, 200.0], "train_error": [0.3, 0.2]})
    assert budget_run(runs, 200.0) == 1


@pytest.fixture(scope="module")
def study(table):
    from workbench.costtune import study as S

    patch = pytest.MonkeyPatch()
    patch.setattr(S.P, "bootstrap_cost_ratio", lambda *a, **k: np.array([2.0, 2.0, 1.0, 3.0]))
    try:
        ladder = build_ladder(table, 1.5, n_bins=8)
        budget = float(np.sqrt(ladder.cost[0] * ladder.cost[1]))  # between two rungs: no other run is trained for it
        return S.study_table(table, S.StudyConfig(table.config, budget=budget, steps=3000, n_budgets=3, n_boot=20,
                                                  guidance_steps=1000))
    finally:
        patch.undo()


def test_the_studys_summary_numbers_are_what_their_names_say(study, table):
    s, pareto, runs = study.summary, study.pareto, study.rl_runs
    err = 1.0 - table.correct[table.inputs("heldout")].mean(0)
    best_cost = table.cost[err == err.min()].min()
    assert s["static_most_accurate"] == {"cost": best_cost, "error": err.min()}
    # the ratio: the most accurate static point's cost over RL's cost at that error, along RL's curve
    want = best_cost / P.cost_at_error(pareto["rl"], err.min())
    assert s["cost_ratio_at_matched_error"] == (pytest.approx(want) if np.isfinite(want) else None)
    assert s["cost_ratio_bootstrap"]["share_at_least_2"] == 0.75  # resamples of exactly 2.0 count
    chosen = P.train_best(table)
    want = table.cost[chosen] / P.cost_at_error(pareto["rl"], err[chosen])
    assert s["cost_ratio_at_train_selected_static_error"] == (pytest.approx(want) if np.isfinite(want) else None)
    for name in ("oracle_bins", "oracle_input"):  # read off at the budget, never above it
        assert s["policies"][name]["cost"] <= s["budget"]
    assert s["area_range_flops"][0] == max(curve[0][0] for curve in s["pareto"].values())
    bins = pareto["oracle_bins"]
    assert s["rl_over_oracle_bins_along_rl_curve"] == pytest.approx(
        [c / P.cost_at_error(bins, e) for c, e in pareto["rl"] if np.isfinite(P.cost_at_error(bins, e))])
    rl = s["policies"]["rl"]
    bins_cost = P.cost_at_error(bins, rl["error"])
    assert np.isfinite(bins_cost) and s["rl_cost_over_oracle_bins_cost_at_rl_error"] == pytest.approx(rl["cost"] / bins_cost)
    assert s["budget"] in runs["budget"].tolist()  # the requested budget has a run of its own
    pick = int(np.flatnonzero(runs["budget"] == s["rl_at_budget_run"])[0])
    assert (rl["cost"], rl["error"]) == (runs["cost"][pick], runs["error"][pick])  # RL's numbers are that run's
    for row in s["guidance"]:  # each guidance λ is its own run's
        assert row["lam"] == runs["lam"][int(np.flatnonzero(runs["budget"] == row["budget"])[0])]
