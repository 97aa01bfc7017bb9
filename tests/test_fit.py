"""Planted parameters are recovered for every registered law; objectives, fixing and intervals work."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from workbench.data import PLANTED, planted
from workbench.errors import InputError
from workbench.fit import fit_frame, fit_law, rho, warm_start
from workbench.laws import LAWS, get_law

# Tolerances at 1% noise. Parameters the optimiser takes in log space (scales) are compared as
# |log(got/true)|; the others relative (or absolute for exponents). The targets are the
# chinchilla exponents within 0.02 and E within 3%, and the rosenfeld exponents within 0.05.
LOG_TOL = {("chinchilla", "E"): 0.03, ("kaplan", "Nc"): 0.5, ("kaplan", "Dc"): 0.5, ("m4", "beta"): 0.5,
           ("chinchilla", "A"): 0.25, ("chinchilla", "B"): 0.25, ("bnsl2", "f2"): 0.3}
ABS_TOL = {("chinchilla", "alpha"): 0.02, ("chinchilla", "beta"): 0.02, ("rosenfeld", "alpha"): 0.05,
           ("rosenfeld", "beta"): 0.05, ("kaplan", "alpha_N"): 0.01, ("kaplan", "alpha_D"): 0.01,
           ("m4", "alpha"): 0.1, ("m4", "c"): 0.03, ("m4", "eps_inf"): 0.02}


def _fit_planted(name, noise=0.01, seed=1, **kw):
    law = get_law(name)
    case = PLANTED[name]
    df = planted(name, noise=noise, seed=seed)
    fix = {k: case.params[k] for k in case.fix}
    return fit_law(name, tuple(df[c] for c in law.inputs), df["y"], fix=fix, **kw), case


# Designs that pin every parameter at 1% noise, for the laws whose documented planted design (``PLANTED``: the one
# the notebooks and bench_fit_coverage use) is too short for it: on seeds 0-9 that design recovered bnsl2 on 2
# (its second break's c2 and f2: the curve is at its floor a = 0.1 a decade after d2), m4 on 5 (beta, c), bnsl on 4
# (f1 beyond 10%) and m3 on 9, and the test passed on its one seed. These recover every parameter on seeds 0-29
# (session 29): more points, a wider range, and bnsl2's floor at 0.02 (its d2 then within the default 10%).
RECOVERY_DESIGN = {"m3": ({}, (np.logspace(5, 9, 80),)), "m4": ({}, (np.logspace(4, 10, 80),)),
                   "bnsl": ({}, (np.logspace(2, 8, 160),)), "bnsl2": ({"a": 0.02}, (np.logspace(2, 10, 300),))}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", list(LAWS))
def test_planted_parameters_recovered(name, seed):
    law, case = get_law(name), PLANTED[name]
    change, x = RECOVERY_DESIGN.get(name, ({}, None))
    truth = {**case.params, **change}
    df = planted(name, noise=0.01, seed=seed, params=truth, x=x)
    result = fit_law(name, tuple(df[c] for c in law.inputs), df["y"], fix={k: truth[k] for k in case.fix})
    assert result.metrics["mean_abs_rel_divergence"] < 0.012  # ≈ the 1% noise, no worse
    for pname, true in truth.items():
        got, key = result.params[pname], (name, pname)
        if key in ABS_TOL:
            assert abs(got - true) <= ABS_TOL[key], (pname, got, true)
        elif law.param(pname).log:
            assert abs(np.log(got / true)) <= LOG_TOL.get(key, 0.1), (pname, got, true)
        else:
            assert got == pytest.approx(true, rel=0.08, abs=2e-3), (pname, got, true)
    # a well-posed planted case is neither on a bound (m4's ε∞ = 0.3 in [0, 1e6] once was) nor loose
    assert result.at_bounds == () and result.poorly_determined == (), (result.at_bounds, result.poorly_determined)


def test_chinchilla_noiseless_is_exact():
    result, case = _fit_planted("chinchilla", noise=0.0)
    for pname, true in case.params.items():
        assert result.params[pname] == pytest.approx(true, rel=1e-4)
    assert result.n_starts == 4500


def test_huber_is_summed_and_matches_definition():
    r = np.array([0.0, 5e-4, -2e-3, 0.1])
    expected = [0.0, 0.5 * 5e-4**2, 1e-3 * (2e-3 - 5e-4), 1e-3 * (0.1 - 5e-4)]
    np.testing.assert_allclose(rho(r, True, 1e-3), expected)
    result, _ = _fit_planted("chinchilla")
    df = planted("chinchilla", seed=1)
    res = np.log(result.predict((df["N"], df["D"]))) - np.log(df["y"])
    assert result.objective_value == pytest.approx(rho(res.to_numpy(), True, 1e-3).sum(), rel=1e-9)


def test_huber_resists_outliers_better_than_lsq():
    law = get_law("chinchilla")
    df = planted("chinchilla", noise=0.005, seed=2)
    y = df["y"].to_numpy().copy()
    y[::20] *= 1.5  # 5% gross outliers
    xs = (df["N"], df["D"])
    hub = fit_law(law, xs, y, objective="huber")
    lsq = fit_law(law, xs, y, objective="lsq")
    true = PLANTED["chinchilla"].params
    assert abs(hub.params["alpha"] - true["alpha"]) < abs(lsq.params["alpha"] - true["alpha"])
    assert abs(hub.params["E"] - true["E"]) < 0.05 * true["E"]


def test_smallest_allowed_delta_still_recovers_the_planted_law():
    """MIN_DELTA is where the Huber fit is least absolute deviations and scipy still behaves: the planted
    Chinchilla is recovered as well as at the default δ (δ = 1e-40 once ended on the bounds, E = e)."""
    from workbench.fit import MIN_DELTA
    default, case = _fit_planted("chinchilla")
    smallest, _ = _fit_planted("chinchilla", delta=MIN_DELTA)
    assert smallest.at_bounds == ()
    for pname in ("E", "alpha", "beta"):
        assert smallest.params[pname] == pytest.approx(default.params[pname], rel=0.02), pname
    assert abs(smallest.params["alpha"] - case.params["alpha"]) <= ABS_TOL[("chinchilla", "alpha")]


def test_fixed_parameter_is_held():
    result, _ = _fit_planted("rosenfeld")
    assert result.params["eps0"] == 0.9 and result.fixed == {"eps0": 0.9}


def test_bootstrap_intervals_cover_truth_and_are_seeded():
    # coverage is a rate, not an event: over 40 data sets each 95% interval held the truth 37-38 times (all three at
    # once 34 times), so one data set's three intervals all holding it failed 4 seeds in 20 (helper-91). Over 20 data
    # sets each interval must hold the truth at least 15 times: at a true coverage of 0.93 that fails with chance 1%
    covered = dict.fromkeys(("E", "alpha", "beta"), 0)
    for data_seed in range(20):
        result, case = _fit_planted("chinchilla", seed=data_seed, bootstrap=40)
        for pname in covered:
            lo, hi = result.ci[pname]
            assert lo < result.params[pname] < hi
            covered[pname] += lo < case.params[pname] < hi
    assert min(covered.values()) >= 15, covered
    result, _ = _fit_planted("chinchilla", bootstrap=40, seed=3)
    again, _ = _fit_planted("chinchilla", bootstrap=40, seed=3)
    assert again.ci == result.ci
    lo, hi = result.predict_interval((np.array([1e10]), np.array([1e11])))
    mid = result.predict((np.array([1e10]), np.array([1e11])))
    assert lo[0] < mid[0] < hi[0]


def test_bootstrap_seed_is_used_and_every_point_can_be_drawn():
    data = planted("power", noise=0.02, seed=0)
    one = fit_law("power", data["x"], data["y"], bootstrap=10, seed=1)
    two = fit_law("power", data["x"], data["y"], bootstrap=10, seed=2)
    assert not np.allclose(one.bootstrap["b"], two.bootstrap["b"])
    # m1 with c = 0 on five points is y = β·x^0 = β: its least-squares fit in log space is the geometric mean, so the
    # draws' mean log β is log(1000)/5 = 1.38 and a share 0.8^5 = 0.33 of draws miss the outlier (log β = 0);
    # a resampler that never draws the last point gives 0 and 1
    x, y = np.arange(1.0, 6.0), np.array([1.0, 1.0, 1.0, 1.0, 1000.0])
    log_beta = np.log(fit_law("m1", x, y, fix={"c": 0.0}, bootstrap=200, seed=0).bootstrap["beta"].to_numpy())
    assert 1.0 < log_beta.mean() < 1.8
    assert 0.2 < np.mean(np.abs(log_beta) < 1e-9) < 0.45


def test_predict_interval_is_the_2_5_and_97_5_percentiles_of_the_draws_predictions():
    data = planted("power", noise=0.02, seed=0)
    result = fit_law("power", data["x"], data["y"], bootstrap=40, seed=1)
    x = np.array([1e7])
    per_draw = get_law("power").predict((x,), {n: result.bootstrap[n].to_numpy()[:, None] for n in ("a", "b", "c")})
    lo, hi = result.predict_interval(x)
    np.testing.assert_allclose([lo[0], hi[0]], np.quantile(per_draw[:, 0], [0.025, 0.975]), rtol=1e-12)


def test_predict_interval_level_is_a_fraction():
    # level=95 (a percentage) used to fail inside numpy ('Quantiles must be in the range [0, 1]')
    result, _ = _fit_planted("power", bootstrap=5)
    for level in (95, 0.0, 1.0, float("nan"), "0.9", None, True):  # '0.9' and None were TypeErrors
        with pytest.raises(InputError, match=r"level must be a fraction in \(0, 1\), e.g. 0.95"):
            result.predict_interval(np.array([10.0]), level=level)


def test_starts_and_bootstrap_of_the_wrong_kind_are_named():
    # starts with a column per parameter missing failed with numpy's 'operands could not be broadcast together
    # with shapes (1,2) (3,) (3,)'; bootstrap=2.5 with "'float' object cannot be interpreted as an integer"
    df = planted("power", seed=0)
    with pytest.raises(InputError, match=r"starts must have shape \(S, 3\).*\(a, b, c, .*got shape \(1, 2\)"):
        fit_law("power", df["x"], df["y"], starts=[[1.0, 0.5]])
    with pytest.raises(InputError, match=r"starts must have shape \(S, 2\).*got shape \(1, 3\)"):
        fit_law("power", df["x"], df["y"], fix={"c": 0.0}, starts=[[1.0, 0.5, 0.1]])
    for bad in (2.5, "5", True):
        with pytest.raises(InputError, match=r"bootstrap must be 0 \(no intervals\) or an integer >= 2 \(resamples\)"):
            fit_law("power", df["x"], df["y"], bootstrap=bad)
    assert fit_law("power", df["x"], df["y"], bootstrap=np.int64(3)).bootstrap.shape[0] == 3


def test_result_is_immutable():
    result, _ = _fit_planted("power")
    with pytest.raises(Exception):
        result.objective_value = 0.0


@pytest.mark.parametrize("bad, match", [
    (np.nan, "NaN/inf"), (np.inf, "NaN/inf"), (-1.0, "must be > 0"), (0.0, "must be > 0"),
])
def test_bad_values_are_named(bad, match):
    df = planted("power", seed=0)
    y = df["y"].to_numpy().copy()
    y[3] = bad
    with pytest.raises(InputError, match=match):
        fit_law("power", df["x"], y, y_name="loss")


def test_too_few_points():
    df = planted("chinchilla", seed=0).head(4)
    with pytest.raises(InputError, match="5 free parameters but only 4 data point"):
        fit_law("chinchilla", (df["N"], df["D"]), df["y"])


def test_fix_outside_bounds_and_unknown():
    df = planted("rosenfeld", seed=0)
    with pytest.raises(InputError, match="no parameter 'zeta'"):
        fit_law("rosenfeld", (df["m"], df["n"]), df["y"], fix={"zeta": 1.0})
    with pytest.raises(InputError, match="outside the bounds"):
        fit_law("rosenfeld", (df["m"], df["n"]), df["y"], fix={"eta": -1.0})


def test_parameters_on_a_bound_are_reported():
    n = np.array([256, 512, 1024, 2048, 4096, 8192.0])
    smooth = fit_law("power", n, 3.0 * n**-0.5 + 0.01)
    assert smooth.at_bounds == () and smooth.to_dict()["at_bounds"] == []
    # a drop in one step between the first two sizes, flat after: only b → its upper bound (10) fits it
    step = fit_law("power", n, np.array([0.5, 0.01, 0.0101, 0.0099, 0.01, 0.0100]))
    assert step.params["b"] == pytest.approx(10.0, abs=1e-3) and step.at_bounds == ("b",)
    assert step.to_dict()["at_bounds"] == ["b"]


@pytest.mark.parametrize("scale", [1.0, 1e4, 1e-4, 1e-12])
def test_a_small_well_determined_value_is_not_at_its_bound_whatever_the_units(scale):
    # c = 5e-5 is 1e-4 from nothing in the bound's own terms, but ~150 standard errors from 0: a fitted value.
    # At 1e-12 (c = 5e-17) TRF nudges a start within 1e-10 of a bound to 1e-10: lmfit's polish, started there, ran
    # off to a flat curve, and the fit kept the optimum but lost its standard errors and called c "at its bound"
    x = np.logspace(1, 10, 40)
    y = (2 * x**-0.5 + 5e-5) * np.exp(0.01 * np.random.default_rng(0).standard_normal(x.size))
    result = fit_law("power", x, y * scale)
    assert result.params["c"] == pytest.approx(5e-5 * scale, rel=0.02)
    assert result.stderr["c"] < 0.02 * result.params["c"]
    assert result.at_bounds == () and result.poorly_determined == (), (result.params, result.stderr)


def test_poorly_determined_parameters_are_reported():
    dens = 0.8 ** np.arange(0, 17)
    law = get_law("pruning")
    # the measured part of a curve that rises to ε↑ = 0.9 far below the lowest density: the early rise
    # fixes only a combination of ε↑, p and γ, not each (Rosenfeld's curves that never reach their plateau). Which
    # members the noise leaves loosest varies: over 40 noise draws {ε↑, p, γ} 21 times, {p, γ} 13, {ε↑, p} 6
    # (helper-91: asserting ε↑ failed 7 draws in 20); p and one of the others always, the dense error never
    y = law.predict((dens,), {"eps_np": 0.2, "eps_up": 0.9, "p": 1e-3, "gamma": 0.5})
    y = y * np.exp(0.005 * np.random.default_rng(0).standard_normal(y.size))
    loose = fit_law("pruning", dens, y)
    assert "p" in loose.poorly_determined and {"eps_up", "gamma"} & set(loose.poorly_determined), loose.stderr
    assert "eps_np" not in loose.poorly_determined
    assert loose.to_dict()["poorly_determined"] == list(loose.poorly_determined)


def test_poorly_determined_means_a_standard_error_above_the_parameters_scale():
    from workbench.fit import poorly_determined
    from workbench.objectives import get_objective
    from workbench.optimize import Problem

    problem = Problem(get_law("pruning"), (np.ones(3),), np.ones(3), get_objective("divergence"),
                      ["eps_np", "eps_up", "p", "gamma"], {}, 1e-3)
    theta = np.array([np.log(0.05), np.log(0.9), np.log(0.02), 4.0])  # log-space for the first three, γ = 4
    assert poorly_determined(problem, theta, np.array([0.1, 0.1, 0.1, 6.0])) == ("gamma",)  # 6 > 4: 1.5× its value
    assert poorly_determined(problem, theta, np.array([0.1, 0.1, 1.5, 2.0])) == ("p",)  # log-space: > 1 (e-fold)


def test_a_coverage_of_exactly_one_is_a_valid_measurement():
    k = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    result = fit_law("coverage", k, np.array([0.3, 0.5, 0.7, 0.85, 0.95, 1.0]))
    assert result.params["b"] < 0


def test_a_fit_whose_covariance_cannot_be_estimated_says_so():
    # a pure power law fitted with a broken power law: the break's size c1 fits to 0, so its location d1 and
    # sharpness f1 act on nothing and lmfit's covariance is singular (no standard errors at all)
    x = np.logspace(0, 6, 30)
    result = fit_law("bnsl", x, 3 * x**-0.4)
    assert result.stderr == {} and result.covariance_estimated is False
    assert set(result.poorly_determined) == set(get_law("bnsl").param_names)  # every free parameter
    assert result.to_dict()["covariance_estimated"] is False
    smooth = fit_law("power", x, 3 * x**-0.4 + 0.1)
    assert smooth.covariance_estimated is True and smooth.poorly_determined == () and set(smooth.stderr) == {"a", "b", "c"}
    with_fixed = fit_law("bnsl", x, 3 * x**-0.4, fix={"d1": 100.0})
    assert "d1" not in with_fixed.poorly_determined  # only free parameters are named


def test_an_input_column_given_twice_is_refused():
    from workbench.fit import fit_frame

    df = planted("chinchilla", seed=0)
    with pytest.raises(InputError, match="input columns must be distinct.*'N' more than once"):
        fit_frame("chinchilla", df, ["N", "N"], "y")


def test_iteration_counts_that_are_not_whole_numbers_are_refused():
    # before: max_iter=-1 ran no LM step unsaid, 2.5 failed with "'float' object cannot be interpreted as an integer"
    x = np.array([1.0, 2, 4, 8, 16, 32])
    y = 2 * x**-0.5 + 0.1
    for kw in ({"max_iter": -1}, {"max_iter": 2.5}, {"screen_iter": -1}, {"polish_top": 0}, {"polish_top": True}):
        name = next(iter(kw))
        with pytest.raises(InputError, match=f"{name} must be a whole number >= "):
            fit_law("power", x, y, **kw)
    assert fit_law("power", x, y, max_iter=0, screen_iter=None).params["b"] == pytest.approx(0.5)


def test_a_fixed_value_that_is_not_a_number_names_the_parameter():
    # before: fix={'c': 'a'} raised a bare "could not convert string to float: 'a'"
    x = np.array([1.0, 2, 4, 8, 16, 32])
    with pytest.raises(InputError, match="fixed value c='a' of law 'power' must be a number"):
        fit_law("power", x, 2 * x**-0.5 + 0.1, fix={"c": "a"})


@pytest.mark.parametrize("noise", [float("nan"), float("inf"), -0.1, "0.1", True])
def test_planted_refuses_a_noise_that_is_not_a_finite_number_at_least_zero(noise):
    # before: noise=nan passed (only noise < 0 was checked) and every y came back NaN, noise=inf gave y of
    # 0 and inf, "0.1" raised a TypeError from the comparison and True was noise 1
    with pytest.raises(InputError, match=re.escape(f"noise must be a finite number >= 0 (relative noise); got {noise!r}")):
        planted("power", noise=noise)
    assert planted("power", noise=0.0).eval("y == y_true").all()


def test_a_refit_from_the_warm_start_finds_the_same_optimum():
    """warm_start gives the free parameters in optimiser space (log for log-scaled ones, fixed ones left out):
    M4 refitted from it alone, with ε0 fixed, lands on the grid search's optimum; power's a is log-scaled."""
    x = np.array([125, 250, 500, 1000, 2000, 4000.0])
    y = np.array([0.743, 0.650, 0.522, 0.321, 0.153, 0.059])
    full = fit_law("m4", x, y, fix={"eps0": 0.9})
    start = warm_start(full)
    assert start.shape == (1, 4)  # eps_inf, alpha, beta, c: eps0 is fixed
    again = fit_law("m4", x, y, fix={"eps0": 0.9}, starts=start, polish_top=1)
    assert again.objective_value == pytest.approx(full.objective_value, rel=1e-9)
    assert again.params["c"] == pytest.approx(full.params["c"], rel=1e-6)
    power = fit_law("power", x, y)
    assert warm_start(power)[0, 0] == pytest.approx(np.log(power.params["a"]))  # a is fitted as log a


def test_result_mappings_are_read_only_and_still_dicts():
    import copy
    import json
    import pickle

    result, _ = _fit_planted("power")
    before = result.predict([10.0, 100.0])
    for name in ("params", "fixed", "metrics", "ci", "stderr"):
        with pytest.raises(TypeError, match="immutable"):
            getattr(result, name)["a"] = 0.0
    with pytest.raises(TypeError, match="immutable"):
        result.params.update(a=0.0)
    with pytest.raises(TypeError, match="immutable"):
        del result.params["a"]
    np.testing.assert_array_equal(result.predict([10.0, 100.0]), before)
    for same in (copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert same.params == result.params and type(same.params) is type(result.params)
    assert json.loads(json.dumps(result.to_dict()))["params"] == dict(result.params)
    editable = dict(result.params)
    editable["a"] = 1.0  # a copy is an ordinary dict
    assert {**result.params, "a": 1.0} == editable


@pytest.mark.parametrize("seed", [1.5, "3", None, True, np.random.default_rng(0), -1])
def test_bad_seed_is_named(seed):
    df = planted("power", seed=0)
    with pytest.raises(InputError, match=r"seed must be an int >= 0 .*got"):
        fit_law("power", df["x"], df["y"], bootstrap=2, seed=seed)


def test_fix_delta_and_table_of_the_wrong_kind_are_named():
    df = planted("power", seed=0)
    with pytest.raises(InputError, match=r"fix must be a mapping .*got \[\('c', 0.0\)\]"):
        fit_law("power", df["x"], df["y"], fix=[("c", 0.0)])
    for bad in (True, "0.0"):
        with pytest.raises(InputError, match=r"fixed value c=.* must be a number"):
            fit_law("power", df["x"], df["y"], fix={"c": bad})
    assert fit_law("power", df["x"], df["y"], fix={"c": np.float32(0.0)}).params["c"] == 0.0
    with pytest.raises(InputError, match=r"delta must be a number in \[1e-12, 1e\+100\] .*got 'a'"):
        fit_law("power", df["x"], df["y"], delta="a")
    with pytest.raises(InputError, match=r"delta must be a number in .*got 1e-40"):
        fit_law("power", df["x"], df["y"], delta=1e-40)
    with pytest.raises(InputError, match=r"df must be a pandas DataFrame .*got a dict"):
        fit_frame("power", {"x": df["x"], "y": df["y"]}, ["x"], "y")
    with pytest.raises(InputError, match=r"y_col must be the name of one column; got \['y'\]"):
        fit_frame("power", df, ["x"], ["y"])
    with pytest.raises(InputError, match=r"more than one column named 'x'"):
        fit_frame("power", pd.concat([df[["x"]], df[["x", "y"]]], axis=1), ["x"], "y")


def test_a_column_name_given_as_a_string_is_one_column_not_its_letters():
    df = planted("chinchilla", seed=0)
    assert fit_frame("power", df.rename(columns={"N": "params"}), "params", "y").n_points == len(df)
    with pytest.raises(InputError, match=r"takes 2 input column\(s\) \(N, D\); got 1: ND"):
        fit_frame("chinchilla", df.assign(ND=1.0), "ND", "y")  # was the columns N and D, one letter each



def test_losses_near_1e300_leak_no_overflow_warning():
    # the objective of a residual ~1e290 (rho's r*r) and the metrics' std of divergences ~1e287 overflowed in
    # numpy, whose RuntimeWarning reached the user's stderr for a case the code handles (inf objective)
    df = planted("chinchilla", seed=0)
    tiny = df["y_true"].to_numpy() * 1e-300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = fit_law("chinchilla", (df["N"], df["D"]), tiny)
        with pytest.raises(InputError, match="no starting point gave a finite objective"):
            fit_law("rosenfeld", (df["N"], df["D"]), tiny)
    # the law's floor E >= 1e-12 cannot come near 1e-300: said by at_bounds, and the spread is a number
    assert "E" in fit.at_bounds
    div = fit.predict((df["N"], df["D"])) / tiny - 1
    assert fit.metrics["std_rel_divergence"] == pytest.approx(np.std(div / div.max()) * div.max(), rel=1e-12)
    assert np.isfinite(fit.metrics["std_rel_divergence"])


def test_power_law_floor_above_1e154_is_fitted_not_an_overflow_error():
    # lmfit's bound map for c in [0, inf] squared c and raised OverflowError from inside lmfit
    x = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: scipy's TRF leaked numpy's "overflow encountered in dot"
        fit = fit_law("power", x, 1e160 * (5 * x ** -0.3 + 0.2))
    assert fit.params["b"] == pytest.approx(0.3, rel=1e-9)
    assert fit.params["c"] / 1e160 == pytest.approx(0.2, rel=1e-9)
    assert not fit.covariance_estimated and fit.stderr == {}  # said, not guessed


def test_complex_measurements_and_boolean_inputs_are_refused_not_made_real():
    # before: a complex y was fitted on its real part (numpy's ComplexWarning only) and x = True as 1.0
    x, y = [1.0, 2.0, 4.0, 8.0, 16.0], [1.5, 0.9, 0.6, 0.45, 0.38]
    with pytest.raises(InputError, match=r"y must hold real numbers; got the complex number \(0\.9\+0\.1j\) .*index 1"):
        fit_law("power", x, [1.5, 0.9 + 0.1j, 0.6, 0.45, 0.38])
    with pytest.raises(InputError, match=r"x for law 'power' must hold real numbers; got the boolean True"):
        fit_law("power", [True, 2.0, 4.0, 8.0, 16.0], y)
    df = pd.DataFrame({"x": x, "y": y, "flag": [True, True, False, True, True]})
    with pytest.raises(InputError, match=r"column 'flag' must hold real numbers; got the boolean True .*at row 0"):
        fit_frame("power", df, ["flag"], "y")
    df["z"] = np.array(y) + 0j
    with pytest.raises(InputError, match=r"column 'z' must hold real numbers; got the complex number"):
        fit_frame("power", df, ["x"], "z")
    mixed = pd.DataFrame({"x": [1.0, True, 4.0, 8.0, 16.0], "y": y})  # an object column: True among numbers
    with pytest.raises(InputError, match=r"column 'x' must hold real numbers; got the boolean True .*at row 1"):
        fit_frame("power", mixed, ["x"], "y")
    assert fit_frame("power", df, ["x"], "y").params == fit_law("power", x, y).params


def test_zero_d_arrays_and_integer_column_labels_are_accepted():
    # review of the input checks: np.array(0.1) (a 0-d array, e.g. a reduction's result) and a table read with
    # header=None (integer column labels) worked before those checks and must still
    df = planted("power", seed=0)
    plain = fit_law("power", df["x"], df["y"], delta=0.1)
    assert fit_law("power", df["x"], df["y"], delta=np.array(0.1)).params == pytest.approx(plain.params, rel=1e-12)
    unnamed = df[["x", "y"]].set_axis([0, 1], axis=1)
    assert fit_frame("power", unnamed, [0], 1).params == pytest.approx(fit_frame("power", df, ["x"], "y").params,
                                                                       rel=1e-12)
    with pytest.raises(InputError, match=r"y_col must be the name of one column; got \['y'\]"):
        fit_frame("power", df, ["x"], ["y"])


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1e6])
def test_kaplan_fits_losses_of_any_scale(scale):
    # before: N_c, D_c were bounded below by 1 and started near e^27, so losses of 1e-3 (an MSE, not nats) fitted
    # with 41% mean divergence and 1e6 with 7%; s·L is Kaplan's law with N_c·s^(1/α_N) and D_c·s^(1/α_D)
    truth = PLANTED["kaplan"].params
    df = planted("kaplan", noise=0.0, seed=0)
    df["y"] = df["y"] * scale
    fit = fit_frame("kaplan", df, ["N", "D"], "y")
    assert fit.metrics["mean_abs_rel_divergence"] < 1e-9
    assert fit.params["alpha_N"] == pytest.approx(truth["alpha_N"], rel=1e-6)
    assert fit.params["alpha_D"] == pytest.approx(truth["alpha_D"], rel=1e-6)
    assert np.log(fit.params["Nc"]) == pytest.approx(np.log(truth["Nc"]) + np.log(scale) / truth["alpha_N"], abs=1e-4)
    assert np.log(fit.params["Dc"]) == pytest.approx(np.log(truth["Dc"]) + np.log(scale) / truth["alpha_D"], abs=1e-4)


SCALE_FREE = ["power", "kaplan", "chinchilla", "m1", "m3", "m4", "bnsl", "bnsl2", "pruning"]


@pytest.mark.parametrize("law", SCALE_FREE)
def test_laws_that_can_express_any_loss_scale_fit_planted_losses_scaled_by_1e6_either_way(law):
    # a fitter whose starts or bounds assume losses of a few nats fails on MSEs of 1e-6 (kaplan did: 41% at 1e-3)
    df = planted(law, noise=0.0, seed=0)
    inputs = list(get_law(law).inputs)
    for scale in (1e-6, 1e6):
        fit = fit_frame(law, df.assign(y=df["y"] * scale), inputs, "y")
        assert fit.metrics["mean_abs_rel_divergence"] < 1e-9, (scale, fit.params)


@pytest.mark.parametrize("seed", [2, 3])
def test_huber_standard_errors_match_the_bootstrap_spread(seed):
    # before: lmfit's least-squares covariance on scipy's Huber-weighted Jacobian gave 2.3-3.2x the bootstrap's
    # standard deviation at 1% noise (3-5x the spread over fresh datasets), flagging well-fitted parameters as
    # poorly determined; Huber's M-estimate covariance (optimize.huber_stderr) gives 0.7-1.1x here
    from workbench.data import planted

    df = planted("chinchilla", noise=0.01, seed=seed)
    fit = fit_frame("chinchilla", df, ["N", "D"], "y", bootstrap=200, seed=0)
    for name in ("E", "alpha", "beta"):
        ratio = fit.stderr[name] / fit.bootstrap[name].std()
        assert 0.6 < ratio < 1.6, (name, ratio)
    assert fit.poorly_determined == ()


def test_huber_standard_errors_match_the_spread_over_fresh_small_datasets():
    # before: counting the fitted residuals within δ for m = E ψ' counted the ~p residuals a fit with δ far below
    # the noise pins there, and the errors came out 0.6x the spread on 40 points (2-30x too small on fewer); with
    # lmfit's covariance they were 2-3x too large
    est, se = [], []
    for seed in range(48):
        df = planted("chinchilla", noise=0.01, seed=seed)
        fit = fit_frame("chinchilla", df.iloc[np.linspace(0, len(df) - 1, 40).astype(int)], ["N", "D"], "y")
        est.append(fit.params)
        se.append(fit.stderr)
    est, se = pd.DataFrame(est), pd.DataFrame(se)
    for name in ("E", "alpha", "beta"):
        assert 0.75 < se[name].median() / est[name].std() < 1.4, name


def test_huber_standard_errors_on_few_points_follow_the_documented_formula():
    # on 8 points the details matter: the MAD scale leaves out the p smallest residuals (5× smaller errors if not)
    # and Σψ² is divided by n − p (21% smaller if by n); the 40-240-point tests above cannot see either
    from scipy.special import erf

    from workbench.objectives import get_objective
    from workbench.optimize import Problem, huber_stderr, residual_jacobian

    x = np.geomspace(1e3, 1e7, 8)
    y = (5 * x ** -0.3 + 1.0) * np.exp(0.03 * np.random.default_rng(0).standard_normal(8))
    result = fit_law("power", x, y, objective="huber")
    problem = Problem(get_law("power"), (x,), y, get_objective("huber"), ["a", "b", "c"], {}, 1e-3)
    theta = np.array([np.log(result.params["a"]), result.params["b"], result.params["c"]])
    r, J = problem.residual_vector(theta), residual_jacobian(problem, theta)
    n, p = J.shape
    sigma = 1.4826 * np.median(np.sort(np.abs(r))[p:])
    m = erf(1e-3 / (sigma * np.sqrt(2)))
    psi = np.clip(r, -1e-3, 1e-3)
    expected = np.sqrt(np.diag(psi @ psi / (n - p) / m ** 2 * np.linalg.inv(J.T @ J)))
    np.testing.assert_allclose(huber_stderr(problem, theta), expected, rtol=1e-9)


def test_huber_standard_errors_follow_the_noise_as_least_squares_errors_do():
    # before (the count of residuals within δ): 8 points at 1% and at 5% noise gave the same error for a. The curve
    # spans x from 10 to 1e7 with its floor at 0.1, so every parameter is pinned: on x in [1e3, 1e7] with the floor at
    # 1 the power term was 4% of the curve at the top, a and c loose and their errors not linear in the noise (the
    # test passed 6 noise patterns in 20, helper-91). Here, over 40 patterns: growth 3.7-7.3, Huber / lsq 0.80-1.37
    x = np.geomspace(10, 1e7, 8)
    pattern = np.random.default_rng(0).standard_normal(x.size)
    errors = {"huber": [], "lsq": []}
    for noise in (0.01, 0.05):
        df = pd.DataFrame({"x": x, "y": (5 * x ** -0.3 + 0.1) * np.exp(noise * pattern)})
        for objective in errors:
            errors[objective].append(fit_frame("power", df, ["x"], "y", objective=objective).stderr)
    for name in ("a", "b", "c"):
        grows = {objective: e[1][name] / e[0][name] for objective, e in errors.items()}
        assert grows["huber"] > 3 and 0.6 < grows["huber"] / grows["lsq"] < 1.6, (name, grows)


def test_predict_takes_a_frames_columns_by_the_names_the_fit_was_made_from():
    # before: a frame (tokens, params) for a fit on columns (params, tokens) was read by position, N and D swapped:
    # 3.000 instead of 2.526, without a word
    df = planted("chinchilla").rename(columns={"N": "params", "D": "tokens", "y": "loss"})
    fit = fit_frame("chinchilla", df, ["params", "tokens"], "loss")
    assert fit.input_names == ("params", "tokens")
    right = fit.predict(([1e9], [2e10]))
    np.testing.assert_allclose(fit.predict(pd.DataFrame({"tokens": [2e10], "params": [1e9]})), right)
    np.testing.assert_allclose(fit.predict(pd.DataFrame({"D": [2e10], "N": [1e9]})), right)  # the law's names
    with pytest.raises(InputError, match="made from the columns params, tokens"):
        fit.predict(pd.DataFrame({"a": [1e9], "b": [2e10]}))
    assert fit_law("chinchilla", (df["params"], df["tokens"]), df["loss"]).input_names == ()


def test_predict_refuses_inputs_the_fit_would_have_refused():
    # before: a negative size gave NaN and a zero one inf, without a word (fit_law refuses both)
    fit = fit_frame("chinchilla", planted("chinchilla"), ["N", "D"], "y")
    with pytest.raises(InputError, match=r"column 'N' must be > 0 for law 'chinchilla' .*got -1e\+09 at row 0"):
        fit.predict(([-1e9], [1e10]))
    with pytest.raises(InputError, match="column 'D' must be > 0"):
        fit.predict(([1e9, 2e9], [1e10, 0.0]))
    with pytest.raises(InputError, match="column 'D' has 1 NaN/inf value"):
        fit.predict(([1e9], [np.inf]))


def test_a_direction_the_design_cannot_determine_is_flagged_on_noiseless_data_too():
    """helper-72: pruning-joint fitted to one network depth cannot tell φ from p′ (l^φ is a constant p′ absorbs),
    yet on noiseless data it reported φ = −0.58 ± 1e-9 (planted 0.5) with nothing flagged: standard errors scale
    with the residuals. optimize.undetermined reads the design's Jacobian instead."""
    from workbench.data import planted
    from workbench.laws import get_law

    from workbench.objectives import get_objective
    from workbench.optimize import Problem, undetermined

    law = get_law("pruning-joint")
    table, inputs = planted("pruning-joint", noise=0.0), list(law.inputs)
    one = table[table.depth == 4]
    one_depth = fit_frame("pruning-joint", one, inputs, "y")
    assert {"p", "phi"} <= set(one_depth.poorly_determined)
    # The design test names exactly the two, whatever lmfit made of this singular, noiseless fit's covariance: it is
    # estimated on some machines (then only p and phi are flagged) and not on others (then every parameter is).
    problem = Problem(law, law.as_inputs(tuple(one[c].to_numpy() for c in inputs)), one.y.to_numpy(),
                      get_objective(law.objective), law.param_names, {}, one_depth.delta)
    theta = np.array([p.to_fit(one_depth.params[p.name]) for p in problem.params])
    assert undetermined(problem, theta) == ("p", "phi")
    if one_depth.covariance_estimated:
        assert set(one_depth.poorly_determined) == {"p", "phi"}
    assert fit_frame("pruning-joint", table, inputs, "y").poorly_determined == ()  # three depths: determined


def test_a_broken_power_laws_breaks_are_reported_in_order_whatever_the_rows_order():
    """helper-72: on one of five row orders bnsl2's fit labelled the break at 1e7 'break 1' and the one at 9e3
    'break 2' (the same model and objective), so params, intervals and the flags' names moved with the rows."""
    from workbench.data import PLANTED
    from workbench.laws import get_law

    x = np.logspace(2, 10, 60)
    y = get_law("bnsl2").predict((x,), PLANTED["bnsl2"].params) * np.exp(0.02 * np.random.default_rng(7).standard_normal(60))
    perm = np.random.default_rng(4).permutation(60)  # the order that swapped the labels
    base, shuffled = fit_law("bnsl2", (x,), y), fit_law("bnsl2", (x[perm],), y[perm])
    assert base.params["d1"] < base.params["d2"] and shuffled.params["d1"] < shuffled.params["d2"]
    # the same optimum: over 20 noise draws (helper-96) the two orders' objectives were 2e-16-2e-11 apart
    # (relative) and the parameters neither fit flags poorly determined or at a bound 3e-8-7e-6; a loose one
    # (a break sharper than the points' spacing) moves freely along a flat valley and is not compared
    assert shuffled.objective_value == pytest.approx(base.objective_value, rel=1e-8)
    loose = {*base.poorly_determined, *shuffled.poorly_determined, *base.at_bounds, *shuffled.at_bounds}
    firm = [n for n in base.params if n not in loose]
    assert {n: shuffled.params[n] for n in firm} == pytest.approx({n: base.params[n] for n in firm}, rel=1e-4)
    if base.covariance_estimated and shuffled.covariance_estimated:  # else one flags all: a singular covariance
        assert shuffled.poorly_determined == base.poorly_determined  # (2 of 40 draws and orders, same optimum)
    # these rows no longer swap the labels without canonical_order (helper-96, 12 orders): a start with the
    # breaks' labels swapped does, whatever the optimiser
    relabelled = fit_law("bnsl2", (x,), y, starts=warm_start(base)[:, [0, 1, 2, 6, 7, 8, 3, 4, 5]])
    assert relabelled.params["d1"] < relabelled.params["d2"]
    boot = fit_law("bnsl2", (x,), y, bootstrap=20, seed=0).bootstrap
    assert (boot["d1"] <= boot["d2"]).all()


def test_a_polish_that_runs_out_of_evaluations_still_reaches_the_optimum():
    """helper-96: a bnsl2 fit whose best break is sharper than the points' spacing (f1 -> its bound 1e-3) ended
    where scipy's TRF ran out of its 2000 evaluations, crawling along the flat valley: 1e-4 (relative) above the
    optimum, somewhere that depended on the start and so on the rows' order. The polish now finishes such a run
    with dogbox: a refit from the fit's own optimum finds nothing lower (before: 8.0e-5 lower)."""
    from workbench.laws import get_law

    x = np.logspace(2, 10, 60)
    y = get_law("bnsl2").predict((x,), PLANTED["bnsl2"].params) * np.exp(0.02 * np.random.default_rng(18).standard_normal(60))
    fit = fit_law("bnsl2", (x,), y)
    refit = fit_law("bnsl2", (x,), y, starts=warm_start(fit))
    assert refit.objective_value >= fit.objective_value * (1 - 1e-8)
    assert fit.at_bounds == ("f1",)


@pytest.mark.parametrize("law", ["power", "m3", "kaplan"])
def test_the_fallback_standard_errors_are_lmfits_formula(law):
    # optimize.lsq_stderr stands in for lmfit's covariance where lmfit's polish left the optimum: at an optimum
    # lmfit did reach, it must give lmfit's numbers (reduced chi-square times the inverse of J'J)
    from workbench.fit import warm_start
    from workbench.objectives import get_objective
    from workbench.optimize import Problem, lsq_stderr

    df = planted(law, noise=0.02, seed=1)
    lw = get_law(law)
    fit = fit_frame(law, df, list(lw.inputs), "y", objective="lsq")
    problem = Problem(lw, tuple(df[c].to_numpy() for c in lw.inputs), df["y"].to_numpy(), get_objective("lsq"),
                      lw.param_names, {}, fit.delta)
    theta = warm_start(fit)[0]
    se = lsq_stderr(problem, theta)
    natural = [s * np.exp(t) if p.log else s for p, t, s in zip(problem.params, theta, se)]
    assert natural == pytest.approx([fit.stderr[n] for n in lw.param_names], rel=1e-3)
