"""workbench.errorsources: the joint law on real teacher-student sweeps, and the error sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import errorsources as es
from workbench.errors import InputError
from workbench.laws import get_law

PLANTED = {"alpha": 0.8, "b": 2.0, "beta": 0.9, "c_inf": 0.0, "eta": 0.5, "eps0": 1.0}


def planted_table(params=PLANTED, widths=(16, 24, 32, 48, 64, 128, 256),
                  sizes=(256, 512, 1024, 2048, 4096, 8192, 16384)):
    w, n = np.meshgrid(widths, sizes, indexing="ij")
    t = pd.DataFrame({"width": w.ravel(), "params": 22 * w.ravel() + 1, "n": n.ravel()})
    t["test_loss"] = get_law("rosenfeld").predict((t.params.to_numpy(float), t.n.to_numpy(float)), params)
    return t


# ----------------------------------------------------------------------------------------------
# known answers on planted tables


def test_extrapolation_masks_pick_the_corner_and_the_4x_targets():
    t = planted_table()
    fit, target = es.extrapolation_masks(t, 22 * 64 + 1, 2048, factor=4)
    assert set(t[fit].width) == {16, 24, 32, 48, 64} and set(t[fit].n) == {256, 512, 1024, 2048}
    # 22·256 + 1 is 3.998× 22·64 + 1: the 1% slack counts width 256 as 4× larger
    assert set(t[target].width) == {256} and set(t[target].n) == {8192, 16384}
    assert not (fit & target).any()


def test_extrapolation_targets_by_width_keep_a_4x_wider_classifier_the_parameter_slack_drops():
    """A 10-class student has 31w + 10 parameters: width 64 has 1,994, 1.5% short of 4 x 506 (width 16), beyond
    the 1% slack, so a fit region of width <= 16 lost its width-64 targets (review, session 22); by width it keeps
    them, and regions of width 32-64 (notebook 03's slider) get the same targets either way."""
    import itertools

    widths, sizes = [16, 24, 32, 48, 64, 128, 256], [256, 1024, 4096, 16384]
    t = pd.DataFrame([{"width": w, "params": 31 * w + 10, "n": n} for w, n in itertools.product(widths, sizes)])
    _, by_params = es.extrapolation_masks(t, 31 * 16 + 10, 1024)
    fit, by_width = es.extrapolation_masks(t, 31 * 16 + 10, 1024, scale_col="width")
    assert set(t[fit].width) == {16} and set(t[by_params].width) == {128, 256}
    assert set(t[by_width].width) == {64, 128, 256} and set(t[by_width].n) == {4096, 16384}
    for fw in (32, 48, 64):
        assert (es.extrapolation_masks(t, 31 * fw + 10, 1024)[1]
                == es.extrapolation_masks(t, 31 * fw + 10, 1024, scale_col="width")[1]).all()


def test_extrapolate_recovers_a_planted_joint_law():
    t = planted_table()
    ex = es.extrapolate(t, 22 * 32 + 1, 1024, fix={"c_inf": 0.0})
    assert ex.backtest.holdout_metrics["mean_abs_rel_divergence"] < 1e-3
    assert len(ex.targets) == 2 * 3  # widths 128, 256 × n 4096, 8192, 16384
    assert ex.fit.params["alpha"] == pytest.approx(0.8, rel=1e-2)
    assert ex.fit.params["beta"] == pytest.approx(0.9, rel=1e-2)


def test_extrapolate_bootstrap_band_covers_the_planted_law():
    truth = planted_table()
    # coverage is a rate over noise draws: the band's misses come together (over 40 draws: all 6 targets held on 32,
    # 1-5 on the others; mean 0.90), so asserting 5 of 6 on one draw failed 3 draws in 20 (helper-91). Over 10 draws
    # the mean share held must be >= 0.75
    shares = []
    for draw in range(10):
        rng = np.random.default_rng(draw)
        noisy = truth.assign(test_loss=truth.test_loss * np.exp(rng.normal(0, 0.02, len(truth))))
        t = es.extrapolate(noisy, 22 * 32 + 1, 1024, fix={"c_inf": 0.0}, bootstrap=40, seed=0).targets
        assert (t.predicted_low <= t.predicted).all() and (t.predicted <= t.predicted_high).all()
        assert (t.predicted_high > t.predicted_low).all() and t.inside_interval.dtype == bool
        shares.append(truth.loc[t.index, "test_loss"].between(t.predicted_low, t.predicted_high).mean())
    assert np.mean(shares) >= 0.75, shares
    plain = es.extrapolate(noisy, 22 * 32 + 1, 1024, fix={"c_inf": 0.0})
    assert "predicted_low" not in plain.targets  # no bootstrap, no band


def test_extrapolate_refuses_a_split_without_targets():
    with pytest.raises(InputError, match="targets"):
        es.extrapolate(planted_table(), 22 * 128 + 1, 4096)


def test_joint_floor_is_the_law_at_infinite_scale():
    t = planted_table(params={**PLANTED, "c_inf": 0.02, "eps0": 1.09})
    fit = es.fit_joint(t, eps0=1.09)
    law_at_infinity = get_law("rosenfeld").predict((np.array([1e30]), np.array([1e30])), fit.params)[0]
    assert es.joint_floor(fit) == pytest.approx(law_at_infinity, rel=1e-9)
    planted_floor = 1.09 * 0.02 / np.hypot(0.02, 0.5)
    assert es.joint_floor(fit) == pytest.approx(planted_floor, rel=1e-3)


def test_compute_frontier_is_the_lower_envelope():
    df = pd.DataFrame({"flops_train": [1, 2, 3, 4, 5], "test_loss": [5.0, 6.0, 4.0, 4.5, 1.0]})
    front = es.compute_frontier(df)
    assert front.flops_train.tolist() == [1, 3, 5]
    assert np.all(np.diff(front.test_loss) < 0)


def test_model_size_exponent_counts_model_sizes_not_rows():
    # two sizes with two seeds each (4 rows) passed the '>= 3 model sizes' check and, with the floor free,
    # fitted three parameters to two distinct sizes
    t = planted_table(widths=(16, 32), sizes=(4096,))
    per_seed = pd.concat([t.assign(seed=0), t.assign(seed=1)], ignore_index=True)
    with pytest.raises(InputError, match=r"needs >= 3 model sizes at n=4096; got 2 \(in 4 row\(s\)\)"):
        es.model_size_exponent(per_seed, floor=None)
    three = pd.concat([planted_table(widths=(16, 32, 64), sizes=(4096,)).assign(seed=s) for s in (0, 1)])
    assert es.model_size_exponent(three).n_points == 6


def test_teacher_sweep_refuses_early_stopping_on_the_noise_measurement():
    with pytest.raises(InputError, match="early_stopping"):
        es.teacher_sweep(label_noise=0.3, early_stopping=True)


def test_step_schedule_is_log_linear_in_n_and_sweeps_share_one_task():
    sizes = (256, 1024, 4096, 16384)
    schedule = es.step_schedule(sizes, 1000, 8000)
    assert schedule == {256: 1000, 1024: 2000, 4096: 4000, 16384: 8000}
    parts = es.teacher_sweeps(sizes=sizes, steps={**schedule, 1024: 1000})
    assert [(p.sizes, p.steps) for p in parts] == [((256, 1024), 1000), ((4096,), 4000), ((16384,), 8000)]
    assert len({p.task for p in parts}) == 1 and parts[0].task.pool_size == 16384
    assert {p.lr_schedule for p in parts} == {"constant"}
    cosine = es.teacher_sweeps(sizes=sizes, steps=schedule, lr_schedule="cosine")
    assert {r.lr_schedule for p in cosine for r in p.runs()} == {"cosine"}
    with pytest.raises(InputError, match="lr_schedule.*'step'"):
        es.teacher_sweep(lr_schedule="step")


def test_steps_by_dim_applies_overrides_given_as_json_keys_and_ignores_other_dims():
    assert es.steps_by_dim([2, 3, 8], 8000) == {2: 8000, 3: 8000, 8: 8000}
    assert es.steps_by_dim([2, 3, 8], 8000, {"2": 32000, 3: "16000", 5: 100}) == {2: 32000, 3: 16000, 8: 8000}
    with pytest.raises(InputError, match=r"whole number of steps; got 'two': 100"):
        es.steps_by_dim([2], 8000, {"two": 100})
    with pytest.raises(InputError, match=r">= 1 .*\{2: 0\}"):
        es.steps_by_dim([2, 3], 8000, {2: 0})


def test_main_task_picks_the_error_column_and_rosenfelds_eps0():
    assert es.error_column("teacher-regression") == "test_loss"
    assert es.error_column("teacher-classification") == "test_error"
    assert es.random_guess_error("teacher-regression") == 1.0
    assert es.random_guess_error("teacher-classification") == pytest.approx(0.9)
    assert es.random_guess_error("teacher-classification", n_classes=4) == pytest.approx(0.75)
    parts = es.teacher_sweeps(sizes=(256, 1024), steps={256: 100, 1024: 200}, task="teacher-classification")
    assert {p.task.name for p in parts} == {"teacher-classification"} and len({p.task for p in parts}) == 1
    with pytest.raises(InputError, match="task must be one of.*'mnist1d'"):
        es.teacher_sweep(task="mnist1d")
    with pytest.raises(InputError, match="n_classes must be >= 2; got 1"):
        es.random_guess_error("teacher-classification", n_classes=1)


# ----------------------------------------------------------------------------------------------
# real (small) sweeps


@pytest.fixture(scope="module")
def clean_sweep(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    # 4 seeds, not 2: with 2 the joint-law fit missed on 1 of 8 training seeds and 4 of 10 teachers (a
    # width-32 student stalling above width 16 bends the grid); with 4: 8/8 and 8/10 (worst div 0.88x and 1.77x
    # its bound), floors and learning-deficiency asserts 18/18
    cfg = es.teacher_sweep(intrinsic_dim=4, widths=(16, 32, 64), sizes=(256, 512, 1024, 2048, 4096),
                           seeds=(0, 1, 2, 3), steps=600)
    return es.run_sweeps([cfg], cache, progress=False)


def test_joint_law_fits_a_real_sweep(clean_sweep):
    avg = es.seed_mean(clean_sweep)
    assert len(avg) == 15 and (avg.seeds == 4).all()
    fit = es.fit_joint(avg)
    # the law must explain the grid far better than its mean does (measured: 6.0% against a spread of 47%)
    assert fit.metrics["mean_abs_rel_divergence"] < 0.08
    spread = np.mean(np.abs(avg.test_loss / avg.test_loss.mean() - 1))
    assert fit.metrics["mean_abs_rel_divergence"] < spread / 5
    assert 0.05 < fit.params["beta"] < 3 and 0.05 < fit.params["alpha"] < 3


def test_joint_law_fits_a_real_classification_sweep(tmp_path):
    cfg = es.teacher_sweep(task="teacher-classification", intrinsic_dim=4, widths=(16, 32, 64),
                           sizes=(256, 512, 1024, 2048, 4096), seeds=(0, 1), steps=600)
    avg = es.seed_mean(es.run_sweeps([cfg], tmp_path, progress=False), ["test_error"])
    # well below the random guess (0.9; at most half of it), far from solved: over 10 teachers the grid's errors
    # span 0.145-0.338 (the old bound 0.3 failed 3 of them), over 8 training seeds 0.165-0.272
    assert avg.test_error.between(0.1, 0.45).all()
    fit = es.fit_joint(avg, y_col="test_error", eps0=es.random_guess_error("teacher-classification"))
    # measured: 2.4% against a spread of 10.6% around the grid's mean error
    spread = np.mean(np.abs(avg.test_error / avg.test_error.mean() - 1))
    assert fit.metrics["mean_abs_rel_divergence"] < min(0.05, spread / 3)
    assert fit.params["eps0"] == pytest.approx(0.9)


def test_learning_deficiency_and_floors_on_the_same_sweep(clean_sweep):
    avg = es.seed_mean(clean_sweep)
    floors = es.floors_by_width(avg, teacher_width=64)
    assert floors.width.tolist() == [16, 32, 64]
    # wider students sit lower at the largest n (the model term shrinks)
    assert floors.error_at_max_n.is_monotonic_decreasing
    at_max_n = clean_sweep[clean_sweep.n == clean_sweep.n.max()]  # one data size per width (it averaged all five)
    ld = es.learning_deficiency(at_max_n.assign(steps=np.where(at_max_n.seed == 0, 600, 1200)))
    assert np.allclose(ld[ld.steps == 1200].excess, 0.0)


def test_floor_interval_leaves_out_one_seed_at_a_time_and_covers_the_planted_floor():
    rng = np.random.default_rng(0)
    n = np.array([256, 512, 1024, 2048, 4096, 8192])
    rows = [{"width": w, "params": 22 * w + 1, "n": int(k), "seed": s,
             "test_loss": (2.0 * k**-0.7 + floor) * (1 + 0.05 * rng.standard_normal())}
            for w, floor in ((4, 0.06), (16, 0.002)) for s in range(6) for k in n]
    table = pd.DataFrame(rows)
    floors = es.floors_by_width(table, teacher_width=8, interval=True)
    assert floors.realizable.tolist() == [False, True]
    for planted_floor, r in zip((0.06, 0.002), floors.itertuples()):
        assert r.floor_low < r.floor < r.floor_high
        assert r.floor_low < planted_floor < r.floor_high
    # a width's interval is its own: the same with the other width left out
    alone = es.floors_by_width(table[table.width == 16], teacher_width=8, interval=True)
    assert (alone.floor_low.iloc[0], alone.floor_high.iloc[0]) == (floors.floor_low.iloc[1], floors.floor_high.iloc[1])
    no_interval = es.floors_by_width(es.seed_mean(table), teacher_width=8, interval=True)  # one row per n: no seeds
    assert no_interval.floor_low.isna().all() and np.allclose(no_interval.floor, floors.floor)
    assert es.floors_by_width(table).floor_low.isna().all()  # intervals only when asked for


def test_noise_floor_tracks_planted_label_noise(tmp_path):
    # widths 16, 64, 256 from n = 256: the wide students' clean error is small beside σ² and the noisy curves
    # descend in n onto the floor, so c_inf is identified. On widths 16-64 from n = 512 the curves were flat or
    # bent the wrong way and the fitted floor collapsed to 0 (c_inf on its bound) on 4 of 10 teachers and
    # 1 of 8 training seeds; here floor_ratio is 0.87-1.13 over 10 teachers and 10 training seeds, all passing
    tables = {}
    for sigma in (0.3, 0.5):
        cfg = es.teacher_sweep(intrinsic_dim=4, widths=(16, 64, 256), sizes=(256, 512, 1024, 2048, 4096, 8192),
                               seeds=(0,), steps=500, label_noise=sigma, early_stopping=False, val_size=4096)
        tables[sigma] = es.seed_mean(es.run_sweeps([cfg], tmp_path, progress=False), ["val_loss", "test_loss"])
    floors = es.noise_floors(tables)
    assert floors.noise_level.tolist() == pytest.approx([0.09, 0.25])
    # within 25% of σ² on this tiny sweep; the floor moves with the noise
    assert np.all(np.abs(floors.floor_ratio - 1) < 0.25), floors
    assert floors.fitted_floor.iloc[1] > 2 * floors.fitted_floor.iloc[0]


def test_model_size_exponent_decreases_with_intrinsic_dimension(tmp_path):
    # Sharma & Kaplan's wide teacher (600, as notebook 03's exponent sweeps): the 64-wide one is a simple
    # function whose d = 8 exponent exceeds 4/d, while the d = 2 students are optimisation-limited in 800
    # steps, so 2 seeds on it put d = 2 above d = 8 on 1 of 8 training seeds and 6 of 10 teachers. With the 600-wide teacher,
    # lr 1e-2 with a wsd decay and the loss averaged over 4 students: 10/10 training seeds (d = 2: 0.69-1.10,
    # d = 8: 0.44-0.51) and 10/10 teachers (smallest gap 0.675 vs 0.587, teacher 7)
    tables = {}
    for d in (2, 8):
        cfg = es.teacher_sweep(intrinsic_dim=d, widths=(8, 16, 32, 64), sizes=(4096,), seeds=(0, 1, 2, 3), steps=800,
                               teacher_width=600, lr=1e-2, lr_schedule="wsd")
        tables[d] = es.seed_mean(es.run_sweeps([cfg], tmp_path, progress=False))
    exps = es.exponents_by_dim(tables)
    assert exps.intrinsic_dim.tolist() == [2, 8]
    assert exps.theory.tolist() == pytest.approx([2.0, 0.5])
    assert exps.exponent.iloc[0] > exps.exponent.iloc[1] > 0.1


def test_missing_values_are_refused_not_skipped():
    # before: seed_mean averaged the one finite seed but reported seeds=2, and a NaN width dropped its row
    t = pd.DataFrame({"width": [8, 8, 16, 16], "params": [177, 177, 353, 353], "n": [256] * 4,
                      "seed": [0, 1, 0, 1], "steps": [100] * 4, "flops_train": [1.0] * 4,
                      "test_loss": [0.5, np.nan, 0.3, 0.4]})
    with pytest.raises(InputError, match=r"column 'test_loss' must have no missing \(NaN\) values; got 1 \(first in row 1\)"):
        es.seed_mean(t)
    with pytest.raises(InputError, match="column 'width'"):
        es.seed_mean(t.assign(test_loss=0.5, width=[8, np.nan, 16, 16]))
    with pytest.raises(InputError, match="column 'test_loss'"):
        es.floors_by_width(t)
    with pytest.raises(InputError, match="column 'test_loss'"):
        es.learning_deficiency(t)
    assert es.seed_mean(t.dropna()).seeds.tolist() == [1, 2]


def test_floor_interval_refuses_a_non_boolean_and_a_seed_missing_an_n():
    # before: a seed without one n made the left-out (then resampled) mean NaN, so the refit blamed a column 'y'
    # the caller never named
    n = np.array([256, 512, 1024, 2048, 4096, 8192])
    table = pd.DataFrame([{"width": 4, "n": int(k), "seed": s, "test_loss": 2.0 * k**-0.7 + 0.01 * (1 + 0.1 * s)}
                          for s in range(3) for k in n])
    for bad in (100, "yes", None):  # 100: a count of resamples, as the bootstrap interval took
        with pytest.raises(InputError, match=r"interval must be True or False; got "):
            es.floors_by_width(table, interval=bad)
    with pytest.raises(InputError, match="width 4 has no test_loss for seed 0 at n=2048"):
        es.floors_by_width(table.drop(index=3), interval=True)
    assert np.isnan(es.floors_by_width(table.drop(index=3)).floor_low[0])  # no interval: the seed means


def test_exponents_by_dim_refuses_a_dimension_that_is_not_whole_and_positive():
    # before: d=0 raised ZeroDivisionError, d=2.5 gave intrinsic_dim 2 beside theory 4/2.5, d=-2 a negative theory
    t = pd.DataFrame({"params": [100.0, 200, 400, 800], "n": [1000] * 4, "test_loss": [1.0, 0.6, 0.35, 0.2]})
    for d in (0, -2, 2.5, np.nan, "x"):
        with pytest.raises(InputError, match=r"intrinsic dimension \(a whole number >= 1\)"):
            es.exponents_by_dim({d: t})
    out = es.exponents_by_dim({"4": t, 2: t})
    assert out.intrinsic_dim.tolist() == [2, 4] and out.theory.tolist() == [2.0, 1.0]


def test_compute_frontier_refuses_a_missing_error_instead_of_cutting_the_frontier():
    df = pd.DataFrame({"flops_train": [1.0, 2.0, 3.0, 4.0], "test_loss": [0.9, 0.5, 0.3, 0.2]})
    assert len(es.compute_frontier(df)) == 4
    bad = df.assign(test_loss=[np.nan, 0.5, 0.3, 0.2])  # was a frontier of one row: NaN poisoned the running min
    with pytest.raises(InputError, match=r"column 'test_loss' must have no missing \(NaN\) values; got 1"):
        es.compute_frontier(bad)


def test_seed_mean_takes_one_column_name():
    df = pd.DataFrame({"width": [8, 8, 16, 16], "seed": [0, 1, 0, 1], "test_loss": [1.0, 3.0, 2.0, 4.0]})
    out = es.seed_mean(df, y_cols="test_loss", by="width")  # were the columns w, i, d, t, h and t, e, s, ...
    assert out["test_loss"].tolist() == [2.0, 3.0] and out["seeds"].tolist() == [2, 2]


def test_teacher_sweep_refuses_fractions_instead_of_truncating_them():
    for kwargs, name in (({"widths": (8.7,)}, "widths"), ({"intrinsic_dim": 2.9}, "intrinsic_dim"),
                         ({"seeds": "01"}, "seeds"), ({"steps": 100.5}, "steps")):
        with pytest.raises(InputError, match=f"{name} must be a "):
            es.teacher_sweep(**kwargs)  # width 8.7 trained width 8, dimension 2.9 dimension 2
    with pytest.raises(InputError, match="lr must be a number; got '0.1'"):
        es.teacher_sweep(lr="0.1")
    assert es.teacher_sweep(widths=(8.0,), sizes=(256,)).widths == (8,)


def test_step_schedule_names_bad_sizes_and_round_to():
    assert es.step_schedule([256, 1024], 100, 1000) == {256: 100, 1024: 1000}
    for args, match in ((([], 100, 1000), "sizes must be a non-empty list"), (([-1, 1024], 100, 1000), "sizes must"),
                        (([256, 1024], 100, 1000, 0), "round_to must be a whole number >= 1; got 0")):
        with pytest.raises(InputError, match=match):
            es.step_schedule(*args)


def test_numbers_given_as_text_or_fractions_are_named():
    # before: factor='4' and fit_max_m='1409' were bare TypeErrors, eps0='x' a bare ValueError (and '0.9' was
    # read as 0.9), and model_size_exponent(n=1024.5) fitted the rows at n = 1024 unsaid (n='1024' too)
    t = planted_table()
    for factor in ("4", None, True, 0.5):
        with pytest.raises(InputError, match=r"factor must be a number >= 1; got " + repr(factor)):
            es.extrapolation_masks(t, 22 * 64 + 1, 2048, factor=factor)
    with pytest.raises(InputError, match=r"fit_max_m must be a number .*; got '1409'"):
        es.extrapolation_masks(t, "1409", 2048)
    for eps0 in ("x", "0.9", True):
        with pytest.raises(InputError, match=r"eps0 must be a number .* or None to fit it; got " + repr(eps0)):
            es.fit_joint(t, eps0=eps0)
        with pytest.raises(InputError, match=r"eps0 must be a number"):
            es.extrapolate(t, 22 * 64 + 1, 2048, eps0=eps0)
    for n in (1024.5, "1024", True):
        with pytest.raises(InputError, match=r"n must be a whole number .*; got " + repr(n)):
            es.model_size_exponent(t, n=n)
    assert es.model_size_exponent(t, n=1024.0).params == es.model_size_exponent(t, n=1024).params


def test_a_classification_error_is_fitted_with_its_own_random_guess_error_by_default():
    """helper-69: fit_joint and extrapolate fixed eps0 = 1.0 whatever y_col measured. On a planted 10-class law
    (eps0 = 0.9) the default fit put the floor at 0 (true 0.06) and extrapolated 17% off, its in-sample fit
    looking fine (1.3%); on this test's planted law it put the floor at 0.125 (true 0.062). A 0/1 error now
    defaults to 1 - 1/C from the table's task_n_classes."""
    planted = {**PLANTED, "eps0": 0.9, "c_inf": 0.07}
    t = planted_table(planted).rename(columns={"test_loss": "test_error"})
    with pytest.raises(InputError, match="needs the task and its class count"):  # no task: refused, not guessed
        es.fit_joint(t, y_col="test_error")
    t["task"], t["task_n_classes"] = "teacher-classification", 10
    fit = es.fit_joint(t, y_col="test_error")
    assert fit.params["eps0"] == pytest.approx(0.9)
    assert es.joint_floor(fit) == pytest.approx(0.9 * 0.07 / np.hypot(0.07, 0.5), rel=1e-3)
    ex = es.extrapolate(t, 22 * 64 + 1, 2048, y_col="test_error")
    assert ex.fit.params["eps0"] == pytest.approx(0.9) and ex.targets["divergence"].abs().max() < 1e-3
    assert es.fit_joint(t, y_col="test_error", fix={"eps0": 0.95}).params["eps0"] == 0.95  # a given fix wins
    assert es.default_eps0(t.assign(task_n_classes=2), "test_error") == 0.5
    assert es.default_eps0(t, "test_loss") == es.CLEAN_EPS0  # the standardised MSE's, as before


def test_averages_refuse_to_mix_students_of_other_configurations():
    """helper-69: seed_mean of two step budgets reported seeds=4 and their gap as seed spread; learning_deficiency
    (by width) averaged two data sizes; pruning_fit.curves averaged imp with oneshot rows."""
    from workbench import pruning_fit as pf

    rows = [{"width": 8, "params": 177, "n": n, "seed": s, "steps": steps, "test_loss": 1.0 / steps + 0.01 * s,
             "flops_train": 6.0 * steps, "task": "teacher-regression", "task_seed": teacher}
            for n in (256, 1024) for s in (0, 1) for steps in (100, 300) for teacher in (0, 1)]
    t = pd.DataFrame(rows)
    with pytest.raises(InputError, match="seed_mean over seed would mix students that differ in 'steps'"):
        es.seed_mean(t)
    with pytest.raises(InputError, match="differ in 'task_seed'"):
        es.seed_mean(t, by=["width", "params", "n", "steps"])
    avg = es.seed_mean(t, by=["width", "params", "n", "steps"], over=["seed", "task_seed"])
    assert (avg["seeds"] == 4).all() and len(avg) == 4
    with pytest.raises(InputError, match="learning_deficiency over seed would mix students that differ in 'n'"):
        es.learning_deficiency(t[t.task_seed == 0])
    assert len(es.learning_deficiency(t[(t.task_seed == 0) & (t.n == 256)])) == 2
    prune_rows = pd.DataFrame([{"depth": 1, "width": 8, "n": 256, "seed": 0, "round": r, "density": 0.8 ** r,
                                "params_nonzero": 100, "test_loss": 0.1 + r, "method": m}
                               for r in (0, 1) for m in ("imp", "oneshot")])
    with pytest.raises(InputError, match="curves over seed would mix students that differ in 'method'"):
        pf.curves(prune_rows)
    assert len(pf.curves(prune_rows[prune_rows.method == "imp"])) == 2


def test_step_budgets_and_sizes_are_whole_numbers_or_named():
    """helper-69: teacher_sweeps(sizes=(256.7, 512)) trained n = 256 and steps={256: 100.7} 100 steps unsaid,
    steps=100.0 was "argument of type 'float' is not iterable", string keys (a JSON parameter) were refused; and
    steps_by_dim truncated 2500.7 to 2500."""
    kw = dict(widths=(4,), seeds=(0,))
    with pytest.raises(InputError, match="sizes must be a list of whole numbers; got"):
        es.teacher_sweeps(sizes=(256.7, 512), **kw)
    with pytest.raises(InputError, match=r"steps must map each training size to a whole number of steps; got 256: 100.7"):
        es.teacher_sweeps(sizes=(256, 512), steps={256: 100.7, 512: 200}, **kw)
    with pytest.raises(InputError, match="steps must be a whole number or a mapping"):
        es.teacher_sweeps(sizes=(256,), steps="100", **kw)
    (one,) = es.teacher_sweeps(sizes=(256, 512), steps=100.0, **kw)
    assert one.steps == 100 and one.sizes == (256, 512)
    by_json = es.teacher_sweeps(sizes=(256, 512), steps={"256": 100, "512": 200}, **kw)
    assert [(c.sizes, c.steps) for c in by_json] == [((256,), 100), ((512,), 200)]
    with pytest.raises(InputError, match="step overrides must map an intrinsic dimension to a whole number"):
        es.steps_by_dim([2, 4], 1000, {2: 2500.7})
    with pytest.raises(InputError, match="steps must be a whole number of Adam steps; got 1000.5"):
        es.steps_by_dim([2, 4], 1000.5)
    assert es.steps_by_dim([2, 4], 1000.0, {"2": 2500.0, "9": 7}) == {2: 2500, 4: 1000}


def test_a_seed_averaged_table_keeps_its_task_so_its_error_is_fitted_with_its_eps0():
    """helper-71: seed_mean returned only its groups and averages, so fit_joint(seed_mean(rows), y_col='test_error')
    found no task and refused the documented seed-average-then-fit route; a teacher-regression table (whose rows
    also say task_n_classes = 10) got 0.9 for a 'test_error'."""
    planted = {**PLANTED, "eps0": 0.9, "c_inf": 0.07}
    t = planted_table(planted).rename(columns={"test_loss": "test_error"})
    rows = pd.concat([t.assign(seed=s) for s in (0, 1)], ignore_index=True)
    rows["task"], rows["task_n_classes"], rows["task_seed"] = "teacher-classification", 10, 0
    avg = es.seed_mean(rows, ["test_error"])
    assert (avg["task"] == "teacher-classification").all() and (avg["task_n_classes"] == 10).all()
    assert es.fit_joint(avg, y_col="test_error").params["eps0"] == pytest.approx(0.9)
    two_teachers = rows.assign(task_seed=rows.index % 2)
    assert "task_seed" not in es.seed_mean(two_teachers, ["test_error"], over=("seed", "task_seed")).columns
    with pytest.raises(InputError, match="no single classification task"):
        es.default_eps0(avg.assign(task="teacher-regression"), "test_error")
    assert es.default_eps0(avg, "test_loss") == es.CLEAN_EPS0


def test_the_readmes_python_example_runs_as_printed(capsys):
    """README 'From Python': the snippet a reader copies, run as printed (in the tests' own cache)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## From Python"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    fit = namespace["fit"]
    assert fit.params["eps0"] == pytest.approx(0.9)  # the 10-class random guess, not the old 1.0
    assert fit.metrics["mean_abs_rel_divergence"] < 0.05 and "eps0" in capsys.readouterr().out
    assert (namespace["avg"]["seeds"] == 2).all() and (namespace["avg"]["task"] == "teacher-classification").all()
