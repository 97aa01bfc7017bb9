"""Known answers for the teacher–student analyses of issue 3: the joint law's extrapolation, the noise floor against
σ², floors by width, learning deficiency, the model-size exponent against 4/d, the pruning law's cheapest network,
MNIST-1D / digits data exponents and Bahri's variance-limited regimes (session 28: a mutation review, helper-84,
found 47 changes to these lines that no test caught; each test below fails on at least one of them). Every expected
value is computed here from a planted law or by hand, not by the function under test; two interval tests rebuild the
documented resampling rule from the package's own building blocks (said where they do)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench import errorsources as es
from workbench import pruning_fit as pf
from workbench import real_benchmarks as rb
from workbench import variance_limited as vl
from workbench.errors import InputError
from workbench.fit import fit_law, warm_start
from workbench.laws import get_law

from test_pruning_fit import planted_curves  # a joint-law table planted exactly

ROSENFELD = {"alpha": 0.8, "b": 2.0, "beta": 0.9, "c_inf": 0.0, "eta": 0.5, "eps0": 1.0}


def planted_table(params=ROSENFELD, widths=(16, 24, 32, 48, 64, 128, 256),
                  sizes=(256, 512, 1024, 2048, 4096, 8192, 16384), y_col="test_loss"):
    w, n = np.meshgrid(widths, sizes, indexing="ij")
    t = pd.DataFrame({"width": w.ravel(), "params": 22 * w.ravel() + 1, "n": n.ravel()})
    t[y_col] = get_law("rosenfeld").predict((t.params.to_numpy(float), t.n.to_numpy(float)), params)
    return t


# ----------------------------------------------------------------------------------------------
# errorsources


def test_extrapolation_divergence_is_predicted_over_measured_from_a_fit_of_the_corner_only():
    """Targets measured 25% above the planted law: a fit of the corner alone predicts the law, so each target's
    divergence δ = (ε̂ − ε)/ε = 1/1.25 − 1 = −0.2 exactly (the wrong way round: +0.25; with the targets in
    the fit, the fit bends toward them and δ moves off −0.2)."""
    t = planted_table()
    _, target = es.extrapolation_masks(t, 22 * 32 + 1, 1024)
    t.loc[target, "test_loss"] *= 1.25
    ex = es.extrapolate(t, 22 * 32 + 1, 1024, fix={"c_inf": 0.0})
    assert ex.fit.n_points == 3 * 3  # widths 16, 24, 32 × n 256, 512, 1024
    assert np.allclose(ex.targets["divergence"], 1 / 1.25 - 1, atol=2e-3)


def test_extrapolation_band_is_the_central_95_percent_of_the_bootstrap_predictions():
    rng = np.random.default_rng(0)
    t = planted_table()
    t = t.assign(test_loss=t.test_loss * np.exp(rng.normal(0, 0.02, len(t))))
    ex = es.extrapolate(t, 22 * 32 + 1, 1024, fix={"c_inf": 0.0}, bootstrap=30, seed=0)
    boot = ex.fit.bootstrap
    law = get_law("rosenfeld")
    x = (ex.targets.params.to_numpy(float), ex.targets.n.to_numpy(float))
    preds = np.array([law.predict(x, {k: row[k] for k in law.param_names}) for _, row in boot.iterrows()])
    assert np.allclose(ex.targets.predicted_low, np.nanquantile(preds, 0.025, axis=0), rtol=1e-9)
    assert np.allclose(ex.targets.predicted_high, np.nanquantile(preds, 0.975, axis=0), rtol=1e-9)


def _floor_param(floor, eps0, eta=0.5):
    r = floor / eps0  # floor = eps0·c/√(c² + η²)  =>  c = r·η/√(1 − r²)
    return r * eta / np.sqrt(1 - r * r)


def test_noise_floor_ratio_is_fitted_floor_over_sigma_squared():
    """Planted noisy-label tables whose law has ε0 = 1 + σ² and a floor of exactly 1.2·σ²: floor_ratio 1.2 (its
    inverse 0.83, against σ 0.36 / 0.6); σ = 0 (floor 0) has no ratio."""
    tables = {}
    for sigma in (0.0, 0.3, 0.5):
        eps0 = 1 + sigma ** 2
        c = _floor_param(1.2 * sigma ** 2, eps0)
        tables[sigma] = planted_table({**ROSENFELD, "eps0": eps0, "c_inf": c}, y_col="val_loss")
    out = es.noise_floors(tables)
    assert out.noise_level.tolist() == pytest.approx([0.0, 0.09, 0.25])
    assert np.isnan(out.floor_ratio.iloc[0])
    assert out.fitted_floor.iloc[1:].tolist() == pytest.approx([1.2 * 0.09, 1.2 * 0.25], rel=1e-2)
    assert out.floor_ratio.iloc[1:].tolist() == pytest.approx([1.2, 1.2], rel=1e-2)
    assert [f.params["eps0"] for f in out.fit] == pytest.approx([1.0, 1.09, 1.25])  # the noisy random guess 1 + σ²
    # a floor of 0 is c_inf on its lower bound, said in its row (helper-91: a real sweep already flat at its floor
    # was fitted to c_inf on a bound, a floor ~1e-27 read as a measurement); the noisy ones are inside
    assert out.at_bounds.tolist() == ["c_inf", "", ""]
    assert out.floor_low.isna().all()  # no interval unless asked for (and none from averaged tables)


def test_noise_floor_interval_is_the_jackknife_t_over_seeds_of_warm_started_joint_fits():
    """Three seeds of a planted σ = 0.3 table (floor 1.2·σ²), each with its own 2% multiplicative noise: the interval
    is the fitted floor ± t(2) × the jackknife standard error of the three joint-law refits (from the full fit's
    optimum) without one seed each, rebuilt here by hand, and the ratio's ends are the floor's over σ²."""
    rng = np.random.default_rng(3)
    eps0 = 1.09
    clean = planted_table({**ROSENFELD, "eps0": eps0, "c_inf": _floor_param(1.2 * 0.09, eps0)}, y_col="val_loss")
    per_seed = pd.concat([clean.assign(seed=s, val_loss=clean.val_loss * (1 + 0.02 * rng.standard_normal(len(clean))))
                          for s in range(3)], ignore_index=True)
    out = es.noise_floors({0.3: per_seed}, interval=True).iloc[0]
    avg = es.seed_mean(per_seed, ["val_loss"])
    full = es.fit_joint(avg, y_col="val_loss", eps0=eps0)
    loo = np.array([es.joint_floor(es.fit_joint(es.seed_mean(per_seed[per_seed.seed != s], ["val_loss"]),
                                                y_col="val_loss", eps0=eps0, starts=warm_start(full), polish_top=1))
                    for s in range(3)])
    half = stats.t.ppf(0.975, 2) * np.sqrt(2 / 3 * ((loo - loo.mean()) ** 2).sum())
    floor = es.joint_floor(full)
    assert out.fitted_floor == pytest.approx(floor, rel=1e-9) and out.at_bounds == ""
    assert (out.floor_low, out.floor_high) == pytest.approx((floor - half, floor + half), rel=1e-6)
    assert (out.ratio_low, out.ratio_high) == pytest.approx((out.floor_low / 0.09, out.floor_high / 0.09), rel=1e-12)
    assert out.floor_low < 1.2 * 0.09 < out.floor_high


def test_floor_interval_is_students_t_on_the_leave_one_seed_out_floors():
    """Five seeds with one curve 2·n^−0.7 plus their own floor c_s: the mean curve without seed i is that curve
    plus the mean of the other c_s, so its refit floor is that mean, and the jackknife's standard error of a mean
    is the plain standard error, sd(c_s)/√5. The interval is then Student's t interval for the mean of the c_s
    (4 degrees of freedom), which scipy computes independently of the jackknife."""
    n = np.array([256, 512, 1024, 2048, 4096, 8192])
    cs = np.array([0.10, 0.11, 0.13, 0.16, 0.20])
    t = pd.DataFrame([{"width": w, "n": int(k), "seed": s, "test_loss": 2.0 * k ** -0.7 + c}
                      for w in (8, 16) for s, c in enumerate(cs) for k in n])
    out = es.floors_by_width(t, teacher_width=8, interval=True)
    lo, hi = stats.t.interval(0.95, 4, loc=cs.mean(), scale=stats.sem(cs))
    normal = stats.norm.interval(0.95, loc=cs.mean(), scale=stats.sem(cs))
    assert hi - lo > 1.4 * (normal[1] - normal[0])  # the test can tell t(4) from a normal quantile (2.78 vs 1.96)
    for r in out.itertuples():
        assert (r.floor_low, r.floor_high) == pytest.approx((lo, hi), abs=2e-4)
        assert r.floor == pytest.approx(cs.mean(), abs=1e-4)
        assert r.exponent == pytest.approx(0.7, rel=1e-2)
        assert r.error_at_max_n == pytest.approx(2.0 * 8192 ** -0.7 + cs.mean(), rel=1e-9)
    assert out.realizable.tolist() == [True, True]  # width 8 = the teacher's width: realizable
    two = es.floors_by_width(t[t.seed.isin([0, 4])], interval=True)  # two seeds: t(1), wide but an interval
    lo2, hi2 = stats.t.interval(0.95, 1, loc=cs[[0, 4]].mean(), scale=stats.sem(cs[[0, 4]]))
    assert (two.floor_low.iloc[0], two.floor_high.iloc[0]) == pytest.approx((max(lo2, 0.0), hi2), abs=2e-4)
    assert lo2 < 0 and (two.floor_low == 0.0).all()  # clipped: a floor below 0 is no floor


def test_learning_deficiency_excess_is_over_the_longest_budget():
    t = pd.DataFrame({"width": 8, "seed": [0, 1, 0, 1], "steps": [100, 100, 300, 300], "flops_train": 1.0,
                      "test_loss": [0.5, 0.7, 0.2, 0.4]})
    ld = es.learning_deficiency(t).set_index("steps")
    assert ld.loc[100, "excess"] == pytest.approx(0.6 - 0.3) and ld.loc[300, "excess"] == 0.0
    assert ld.loc[100, "excess_ratio"] == pytest.approx(2.0)


def test_compute_frontier_drops_a_costlier_row_of_equal_error():
    df = pd.DataFrame({"flops_train": [1.0, 2.0, 3.0], "test_loss": [0.5, 0.5, 0.2]})
    assert es.compute_frontier(df).flops_train.tolist() == [1.0, 3.0]


def test_seed_mean_sd_is_the_sample_standard_deviation():
    df = pd.DataFrame({"width": [8, 8], "params": 177, "n": 256, "seed": [0, 1], "test_loss": [1.0, 3.0]})
    assert es.seed_mean(df).test_loss_sd.iloc[0] == pytest.approx(np.sqrt(2.0))


def test_model_size_exponent_defaults_to_the_largest_n_and_a_zero_floor():
    """A pure power law in params at n = 16384 only (other sizes shifted up): default n is the largest and the
    floor is fixed at 0, so b is the planted 0.45 and c exactly 0."""
    p = np.array([100.0, 200, 400, 800, 1600])
    rows = [{"params": q, "n": n, "test_loss": 3.0 * q ** -0.45 + (0.0 if n == 16384 else 0.2)}
            for n in (1024, 16384) for q in p]
    fit = es.model_size_exponent(pd.DataFrame(rows))
    assert fit.n_points == 5 and fit.params["c"] == 0.0
    assert fit.params["b"] == pytest.approx(0.45, rel=1e-3)


def test_exponents_by_dim_fits_the_unit_mean_and_its_interval_is_the_jackknife_t_over_teachers():
    """Four teachers' curves with 5% noise: the exponent is the fit of their mean curve, the ratio exponent / (4/d),
    and the interval b ± t(3) × the jackknife standard error of the four refits without one teacher each, rebuilt
    here by hand."""
    rng = np.random.default_rng(1)
    p = np.array([100.0, 200, 400, 800, 1600, 3200])
    t = pd.DataFrame([{"params": q, "n": 1000, "task_seed": u, "seed": 0,
                       "test_loss": 3.0 * q ** -0.5 * np.exp(rng.normal(0, 0.05))} for u in range(4) for q in p])
    smaller_n = t.assign(n=500, test_loss=t.test_loss * np.exp(rng.normal(0, 0.3, len(t))))  # not fitted
    out = es.exponents_by_dim({2: pd.concat([smaller_n, t]), 8: t}, interval=True)
    wide = t.pivot(index="task_seed", columns="params", values="test_loss").to_numpy()
    fit = fit_law("power", p, wide.mean(0), fix={"c": 0.0})
    loo = np.array([fit_law("power", p, np.delete(wide, i, 0).mean(0), fix={"c": 0.0}).params["b"] for i in range(4)])
    half = stats.t.ppf(0.975, 3) * np.sqrt(3 / 4 * ((loo - loo.mean()) ** 2).sum())
    assert out.exponent.tolist() == pytest.approx([fit.params["b"]] * 2, rel=1e-9)
    assert out.ratio.tolist() == pytest.approx((out.exponent * np.array([2, 8]) / 4).tolist())
    assert out.ratio_low.tolist() == pytest.approx((out.ci_low * np.array([2, 8]) / 4).tolist())
    assert out.ratio_high.tolist() == pytest.approx((out.ci_high * np.array([2, 8]) / 4).tolist())
    for r in out.itertuples():
        assert (r.ci_low, r.ci_high) == pytest.approx((fit.params["b"] - half, fit.params["b"] + half), rel=1e-6)
    assert out.units.tolist() == [4, 4]
    one = es.exponents_by_dim({2: es.seed_mean(t, by=["params", "n"], over=["task_seed", "seed"])}, interval=True)
    assert np.isnan(one.ci_low.iloc[0]) and one.units.iloc[0] == 1  # averaged already: no units to leave out
    assert one.exponent.iloc[0] == pytest.approx(fit.params["b"], rel=1e-9)
    with pytest.raises(InputError, match=r"d = 2 has no test_loss for task_seed 0, seed 0 at params=100 \(or pass "):
        es.exponents_by_dim({2: t.iloc[1:]}, interval=True)
    with pytest.raises(InputError, match=r"^interval must be True or False; got 20$"):
        es.exponents_by_dim({2: t}, interval=20)


@pytest.mark.parametrize("task", ["mnist1d", "digits"])
def test_a_real_benchmarks_error_defaults_to_the_ten_class_random_guess(task):
    t = pd.DataFrame({"task": [task] * 2, "test_error": [0.3, 0.2]})
    assert es.default_eps0(t, "test_error") == pytest.approx(0.9)


# ----------------------------------------------------------------------------------------------
# pruning_fit

@pytest.fixture(scope="module")
def joint():
    t = planted_curves()
    return t, pf.fit_joint(t, "test_error")


def test_the_laws_pruned_network_counts_biases_once_and_prunable_weights_times_density(joint):
    """Expected: per dense network at n = 16384, its min_density d and biases + d·prunable from the planted
    architecture (biases depth·w + 10, prunable depth·w² + 20w), the cheapest of them; saving = dense / that."""
    t, fit = joint
    target = 0.2
    cands = []
    for depth in (1, 2):
        for width in (16, 32, 64, 128):
            eps_np = 0.4 * width ** -0.3 * depth ** -0.1 * 8 ** -0.05
            d = pf.min_density(fit, depth, width, eps_np, target)
            if np.isfinite(d):
                cands.append((depth * width + 10 + d * (depth * width * width + 20 * width), depth, width, d))
    best = min(cands)
    table = pf.cheapest_table(t, fit, [target], "test_error").set_index("kind")
    law = table.loc["pruned (law)"]
    assert law.params_nonzero == pytest.approx(best[0], rel=1e-9)
    assert (law.depth, law.width) == (best[1], best[2]) and law.density == pytest.approx(best[3])
    dense = table.loc["dense (measured)", "params_nonzero"]
    assert table.loc["dense (measured)", "saving"] == 1.0
    assert law.saving == pytest.approx(dense / best[0]) and law.saving > 1


def test_min_density_is_the_lowest_density_when_every_density_reaches_the_target(joint):
    _, fit = joint
    assert pf.min_density(fit, 1, 64, 0.1, target=0.95) == 1e-4  # the law never rises above ε↑ = 0.9


def test_curves_eps_np_is_the_dense_rounds_seed_mean():
    rows = pd.DataFrame([{"depth": 1, "width": 8, "n": 256, "seed": s, "round": r, "density": 0.8 ** r,
                          "params_nonzero": 100, "test_loss": 0.1 + 0.1 * r + 0.02 * s}
                         for r in (0, 1, 2) for s in (0, 1)])
    assert pf.curves(rows).eps_np.tolist() == pytest.approx([0.11] * 3)


def test_dense_error_at_extrapolates_each_end_on_its_own_log_log_slope():
    t = pd.DataFrame({"depth": 1, "n": 256, "round": 0, "width": [16, 32, 64], "eps_np": [0.4, 0.3, 0.15]})
    got = pf.dense_error_at(t, 1, 256, [8, 128])
    assert got == pytest.approx([0.4 * 0.4 / 0.3, 0.15 * 0.15 / 0.3])  # one doubling on each end's own slope


# ----------------------------------------------------------------------------------------------
# real_benchmarks


def _m4_rows(seeds=(0, 1)):
    ns = np.array([125, 250, 500, 1000, 2000, 4000])
    k = 300.0 / ns
    clean = (0.03 + 0.9 * k) / (1 + k)
    return pd.DataFrame([{"task": "mnist1d", "family": "cnn", "width": 25, "depth": 3, "n": n, "seed": s,
                          "test_error": y * (1 + 0.01 * (-1) ** (s + i))}
                         for s in seeds for i, (n, y) in enumerate(zip(ns, clean))])


def test_m4_exponent_interval_is_ordered_around_the_exponent():
    row = rb.data_exponents(_m4_rows(), law="m4").iloc[0]
    assert row.ci_low < row.exponent < row.ci_high  # m4's exponent is −c: the interval's ends swap sign too


def test_data_exponent_interval_is_the_jackknife_t_of_warm_started_refits_without_each_seed():
    # rebuilt by hand from the refits without each seed, as data_exponents documents: pins the standard error's
    # (s − 1)/s, Student's t with s − 1 = 2 degrees of freedom, the centre (the fit of every seed), and which
    # parameter each interval reads
    rng = np.random.default_rng(0)
    ns = np.array([100, 200, 400, 800, 1600, 3200])
    rows = pd.DataFrame([{"task": "digits", "family": "mlp", "width": 16, "depth": 1, "n": n, "seed": s,
                          "test_error": (3.0 * n ** -0.5 + 0.05) * (1 + 0.03 * rng.standard_normal())}
                         for n in ns for s in range(3)])
    row = rb.data_exponents(rows).iloc[0]
    wide = rows.pivot(index="seed", columns="n", values="test_error").to_numpy()
    fit = fit_law("power", ns.astype(float), wide.mean(0))
    loo = [fit_law("power", ns.astype(float), np.delete(wide, i, 0).mean(0), starts=warm_start(fit),
                   polish_top=1).params for i in range(3)]
    for name, (low, high) in (("b", (row.ci_low, row.ci_high)), ("c", (row.floor_ci_low, row.floor_ci_high))):
        values = np.array([d[name] for d in loo])
        half = stats.t.ppf(0.975, 2) * np.sqrt(2 / 3 * ((values - values.mean()) ** 2).sum())
        assert (low, high) == pytest.approx((max(fit.params[name] - half, 0.0), fit.params[name] + half), rel=1e-6)
    assert row.floor_ci_low > 0  # not clipped: the test pins the centre


def test_an_interval_needs_every_seed_at_every_size():
    rows = _m4_rows((0, 1, 2))
    row = rb.data_exponents(rows, law="power").iloc[0]
    assert np.isfinite(row.ci_low) and row.ci_low < row.ci_high
    gap = rows[~((rows.n == 4000) & (rows.seed > 0))]  # the largest size has one seed
    with pytest.raises(InputError, match=r"every seed needs every n; \{'task': 'mnist1d', 'family': 'cnn', "
                                         r"'width': 25, 'depth': 3\} has no test_error for seed 1 at n=4000 "
                                         r"\(or pass interval=False\)"):
        rb.data_exponents(gap, law="power")
    assert np.isnan(rb.data_exponents(gap, law="power", interval=False).ci_low.iloc[0])


# ----------------------------------------------------------------------------------------------
# variance_limited


def _planted(x_col, xs, k, floor, a, noise=0.0, **const):
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"task_seed": t, "seed": s, x_col: x, "test_loss": (a * x ** (-k) + floor) *
                          (1 + noise * rng.normal()), **const}
                         for t in (0, 1) for s in (0, 1) for x in xs])


def test_variance_limited_in_data_keeps_n_equal_to_4p_and_reports_the_excess_over_the_floor():
    t = _planted("n", [256, 512, 1024, 2048], 1.0, 0.1, 2.0, depth=1, width=8, params=64)
    d = vl.data_exponents(t, min_ratio=4).iloc[0]
    assert d.n_min == 256 and d.points == 4  # n = 4·P is "n ≥ 4 × params"
    assert d.excess_at_n_min == pytest.approx(2.0 / 256, rel=1e-4)
    assert d.theory == 1.0


def test_variance_limited_in_width_reports_excess_and_largest_train_loss():
    t = _planted("width", [64, 128, 256, 512], 1.0, 0.02, 0.3, n=256)
    t["train_loss"] = 1e-3 / t["width"]
    w = vl.width_exponents(t).iloc[0]
    assert w.excess_at_width_min == pytest.approx(0.3 / 64, rel=1e-4)
    assert w.max_train_loss == pytest.approx(1e-3 / 64) and w.theory == 1.0


def test_variance_limited_needs_four_sizes():
    t = _planted("n", [256, 512, 1024], 1.0, 0.1, 2.0, depth=1, width=8, params=64)
    with pytest.raises(InputError, match="needs >= 4"):
        vl.data_exponents(t, min_ratio=4)


def test_variance_limited_interval_is_the_jackknife_t_over_teachers_not_teacher_seed_pairs():
    """Four teachers × two seeds, each teacher's curve shifted by its own 5% draw and each seed's by 0.5%: a teacher's
    seeds share its training sets, so the units are the teachers (their two seeds averaged), and the interval is the
    full fit's k ± t(3) × the jackknife standard error of the four refits without one teacher, rebuilt here by hand.
    Leaving out one of the eight (teacher, seed) pairs instead, t(7), gives a narrower interval, which the review that
    found it measured at 80% coverage on notebook 03's design."""
    rng = np.random.default_rng(4)
    xs = np.array([256.0, 512, 1024, 2048, 4096, 8192])
    shift = 1 + 0.05 * rng.standard_normal((4, xs.size))
    t = pd.DataFrame([{"task_seed": u, "seed": s, "n": x, "test_loss": (3.0 * x ** -0.8 + 0.05) * shift[u, j]
                       * (1 + 0.005 * rng.standard_normal())} for u in range(4) for s in (0, 1) for j, x in enumerate(xs)])
    fit, lo, hi = vl.fit_curve(t, "n", interval=True)
    teachers = t.groupby(["task_seed", "n"]).test_loss.mean().unstack().to_numpy()  # (4, sizes)
    loo = np.array([fit_law("power", xs, np.delete(teachers, i, 0).mean(0)).params["b"] for i in range(4)])
    half = stats.t.ppf(0.975, 3) * np.sqrt(3 / 4 * ((loo - loo.mean()) ** 2).sum())
    assert (lo, hi) == pytest.approx((fit.params["b"] - half, fit.params["b"] + half), rel=1e-6)
    pairs = t.pivot_table(index=["task_seed", "seed"], columns="n", values="test_loss").to_numpy()
    loo8 = np.array([fit_law("power", xs, np.delete(pairs, i, 0).mean(0)).params["b"] for i in range(8)])
    half8 = stats.t.ppf(0.975, 7) * np.sqrt(7 / 8 * ((loo8 - loo8.mean()) ** 2).sum())
    assert half8 < 0.6 * half  # the test can tell the two units apart
    assert np.isnan(vl.fit_curve(t, "n")[1])  # no interval unless asked for
    t = _planted("n", [256, 512, 1024, 2048, 4096, 8192], 0.8, 0.05, 3.0, noise=0.03, depth=1, width=8, params=64)
    two = t[t.task_seed == 0]  # one teacher, two seeds: t(1) reaches below 0, and k's bound clips it
    fit2, lo2, hi2 = vl.fit_curve(two, "n", interval=True)
    wide2 = two.pivot_table(index="seed", columns="n", values="test_loss").to_numpy()
    loo2 = [fit_law("power", xs, wide2[1 - i]).params["b"] for i in range(2)]
    half2 = stats.t.ppf(0.975, 1) * abs(loo2[0] - loo2[1]) / 2
    assert fit2.params["b"] - half2 < 0 and (lo2, hi2) == pytest.approx((0.0, fit2.params["b"] + half2), rel=1e-6)


def test_a_constant_on_its_bound_gets_no_interval_in_every_seed_interval():
    """Each function's interval is NaN where its constant ended on a bound (the jackknife of a constant pinned at its
    bound measures nothing: a floor fitted as 1e-27 had the interval 0 – 1e-19), while the same design without the
    bound gets one: floors_by_width's c = 0 (a curve bending below any floor), fit_curve's and exponents_by_dim's
    exponent 0 (a rising curve), noise_floors' c∞ = 0 (no noise, and a tail falling faster than the law). Each design
    puts the constant on its bound on 20 of 20 noise draws (a one-step drop, a plain power law and an unbent σ = 0
    table did on 8 – 18 of 20)."""
    rng = np.random.default_rng(5)
    ns = np.array([256.0, 512, 1024, 2048, 4096, 8192])
    seeds = lambda curve, col, **const: pd.DataFrame(  # noqa: E731
        [{"seed": s, col: x, "test_loss": y * (1 + 0.02 * rng.standard_normal()), **const}
         for s in range(3) for x, y in zip(ns, curve)])
    no_floor = es.floors_by_width(seeds(2.0 * ns ** -0.3 - 0.05, "n", width=8), interval=True).iloc[0]
    with_floor = es.floors_by_width(seeds(2.0 * ns ** -0.7 + 0.01, "n", width=8), interval=True).iloc[0]
    assert "c" in no_floor.at_bounds and np.isnan(no_floor.floor_low) and np.isfinite(with_floor.floor_low)
    step = vl.fit_curve(seeds(0.2 * ns ** 0.1, "n"), "n", interval=True)  # rising: k = 0
    slope = vl.fit_curve(seeds(3.0 * ns ** -0.8 + 0.05, "n"), "n", interval=True)
    assert "b" in step[0].at_bounds and np.isnan(step[1]) and np.isfinite(slope[1])
    flat = es.exponents_by_dim({4: seeds(0.2 * ns ** 0.1, "params", n=1000)}, interval=True).iloc[0]  # rising: b = 0
    falling = es.exponents_by_dim({4: seeds(3.0 * ns ** -0.5, "params", n=1000)}, interval=True).iloc[0]
    assert "b" in flat.fit.at_bounds and np.isnan(flat.ci_low) and np.isfinite(falling.ci_low)
    # two seeds that disagree (n^-0.5 and n^-2.5): t(1) reaches past both of k's bounds, 0 and 10, and both clip
    apart = pd.DataFrame([{"task": "digits", "family": "mlp", "width": 8, "depth": 1, "seed": s, "n": x,
                           "test_loss": (2 * x ** -0.5 if s == 0 else 300 * x ** -2.5) + 0.05}
                          for s in (0, 1) for x in ns])
    fit, lo, hi = vl.fit_curve(apart, "n", interval=True)
    assert fit.at_bounds == () and (lo, hi) == (0.0, 10.0)
    real = rb.data_exponents(apart, y_col="test_loss").iloc[0]
    assert real.at_bounds == "" and (real.ci_low, real.ci_high) == (0.0, 10.0)
    clean = planted_table(y_col="val_loss")  # c_inf = 0: the σ = 0 table
    faster = (clean.n.to_numpy() / 256.0) ** -0.05
    per_seed = pd.concat([clean.assign(seed=s, val_loss=clean.val_loss * faster * (1 + 0.02 * rng.standard_normal(len(clean))))
                          for s in range(3)], ignore_index=True)
    out = es.noise_floors({0.0: per_seed}, interval=True).iloc[0]
    assert "c_inf" in out.at_bounds and np.isnan(out.floor_low)


def test_measured_cheapest_counts_the_dense_round_as_a_density_of_one(joint):
    """At a target equal to the best dense error, only that dense network's round 0 reaches it (every pruned round
    of it is above): the cheapest measured network at any density is that dense row, not 'none'."""
    t, fit = joint
    at = t[(t.n == 16384) & (t["round"] == 0)]
    best = at.loc[at.test_error.idxmin()]
    table = pf.cheapest_at_target(t, fit, float(best.test_error), "test_error").set_index("kind")
    assert table.loc["pruned (measured)", "params_nonzero"] == best.params_nonzero
    assert table.loc["pruned (measured)", "density"] == 1.0


def test_per_network_divergence_columns_are_the_mean_abs_and_std_of_predicted_over_measured():
    t = planted_curves()
    net = t[(t.depth == 1) & (t.width == 64) & (t.n == 2048)].copy()
    net["test_error"] *= 1 + 0.03 * np.sin(np.arange(len(net)))  # off the law, so the two differ
    row = pf.fit_networks(net, "test_error").iloc[0]
    div = row.fit.predict(net.density.to_numpy(float)) / net.test_error.to_numpy() - 1
    assert row.mean_abs_rel_divergence == pytest.approx(np.mean(np.abs(div)))
    assert row.std_rel_divergence == pytest.approx(np.std(div))
    assert abs(row.std_rel_divergence - row.mean_abs_rel_divergence) > 1e-3


def test_m4_at_its_lower_curvature_limit_is_a_power_law_not_a_pinned_exponent():
    """A pure power law 2·n^−0.5 + 0.01: M4 ends at α = 0 (its power-law case) and identifies the exponent 0.5."""
    ns = np.array([125, 250, 500, 1000, 2000, 4000])
    rows = pd.DataFrame({"task": "digits", "family": "mlp", "width": 100, "depth": 2, "n": ns, "seed": 0,
                         "test_error": 2.0 * ns ** -0.5 + 0.01})
    row = rb.data_exponents(rows, law="m4", interval=False).iloc[0]
    assert "alpha" in row.at_bounds and row.pinned_by == ""
    assert row.exponent == pytest.approx(0.5, rel=1e-3)


def test_excess_curve_is_seed_mean_minus_the_floor():
    t = pd.DataFrame({"n": [256, 256, 512, 512], "test_loss": [0.3, 0.5, 0.2, 0.3]})
    assert vl.excess_curve(t, "n", 0.1).excess.tolist() == pytest.approx([0.3, 0.15])


def test_a_target_equal_to_the_dense_error_is_reached_at_density_one(joint):
    _, fit = joint
    law = get_law("pruning-joint")
    dense = float(law.predict((np.array([1.0]), np.array([64.0]), np.array([1.0]), np.array([0.1])), fit.params)[0])
    assert pf.min_density(fit, 1, 64, 0.1, dense) == pytest.approx(1.0)


def test_m4_holds_eps0_at_the_given_random_guess_error():
    rows = _m4_rows((0,))
    for eps0 in (0.9, 0.95):
        fit = rb.data_exponents(rows, law="m4", eps0=eps0, interval=False).fit.iloc[0]
        assert fit.params["eps0"] == eps0 and fit.fixed["eps0"] == eps0


def test_inside_interval_says_whether_the_measurement_lies_in_the_band():
    """Every other target measured 3x the planted law (noise 2%), the rest as planted: some targets lie in the band and
    some far above it (over 20 noise draws: 1-3 of 6 inside, 2-3 at least 10% above the band's top; targets all at
    1.5x left none clearly outside on 11 draws in 20, helper-92); inside_interval is the measurement in [low, high],
    checked here row by row."""
    rng = np.random.default_rng(0)
    t = planted_table()
    t = t.assign(test_loss=t.test_loss * np.exp(rng.normal(0, 0.02, len(t))))
    _, target = es.extrapolation_masks(t, 22 * 32 + 1, 1024)
    t.loc[t.index[target][::2], "test_loss"] *= 3.0
    tg = es.extrapolate(t, 22 * 32 + 1, 1024, fix={"c_inf": 0.0}, bootstrap=30, seed=0).targets
    expected = [lo <= y <= hi for y, lo, hi in zip(tg.test_loss, tg.predicted_low, tg.predicted_high)]
    assert tg.inside_interval.tolist() == expected
    # a test that can tell: a target inside and one clearly outside
    assert any(expected) and (tg.test_loss > 1.1 * tg.predicted_high).any()
