"""workbench/notebook_checks.py: each notebook's parameters refused in one line naming the parameter,
before any cell trains or fits; and each notebook calls its check in its first code cell."""

from __future__ import annotations

import ast

import nbformat
import pytest

from workbench import report
from workbench.errors import InputError
from workbench.data import load_nmt
from workbench.notebook_checks import (check_compute_planner, check_pruning, check_real_benchmarks, check_rl_cost_tuning,
                                       check_scaling_laws, check_teacher_student, check_test_time_compute,
                                       check_variance_limited)

TEACHER_STUDENT = dict(widths=[16, 24, 32, 64], sizes=[256, 1024], fit_widths=[24, 32], fit_sizes=[512, 1024],
                       fit_default=[32, 1024], budgets=[100, 300], budget_widths=[16, 64], noise_levels=[0.3],
                       noise_widths=[16, 64], noise_sizes=[512, 1024], realizability_widths=[4, 8], dims=[4, 8],
                       dim_widths=[16, 32, 64], seeds=1, dim_teachers=1, dim_seeds=1, floor_interval=True,
                       fit_bootstrap=20)


def notebook_values(name: str, smoke: bool) -> dict:
    """A notebook's parameters as it runs them: its defaults (the parameters cell), then its smoke values."""
    path = report.NOTEBOOK_DIR / f"{name}.ipynb"
    values = {k: ast.literal_eval(v["default"]) for k, v in report.declared_parameters(path).items()}
    return {**values, **(report.smoke_parameters(path) if smoke else {})}


COMPUTE_PLANNER = dict(compute_min=1e18, compute_max=1e26, n_budgets=25, isoflop_budgets=[1e19, 1e21])


@pytest.mark.parametrize("change, message", [
    # n_budgets = 0 and isoflop_budgets = [] were "KeyError: None of [Index(['C', 'N', 'D', ...])] are in the
    # [columns]"; compute_min = 0 was "C (training compute, FLOPs) must be a finite number > 0; got np.float64(nan)"
    ({"n_budgets": 0}, "n_budgets must be an integer >= 1; got 0"),
    ({"isoflop_budgets": []}, "isoflop_budgets must list at least one value; got []"),
    ({"compute_min": 0.0}, "compute_min must be a finite number of FLOPs > 0; got 0.0"),
    ({"compute_max": float("nan")}, "compute_max must be a finite number of FLOPs > 0; got nan"),
])
def test_compute_planner_refuses_a_frontier_without_budgets(change, message):
    with pytest.raises(InputError) as err:
        check_compute_planner(**{**COMPUTE_PLANNER, **change})
    assert str(err.value) == message


@pytest.mark.parametrize("compute_min", [1e26, 1e27])
def test_compute_planner_refuses_a_range_that_does_not_run_up(compute_min):
    # report 02 -p compute_min 1e26 -p compute_max 1e18 ran "ok" and drew the frontier from 1e26 down to 1e18
    with pytest.raises(InputError) as err:
        check_compute_planner(**{**COMPUTE_PLANNER, "compute_min": compute_min})
    assert str(err.value) == (f"compute_min must be < compute_max = 1e+26 (the frontier's smallest and largest "
                              f"budgets); got {compute_min!r}")


SCALING_LAWS = dict(models=["6 Enc, 6 Dec", "Dec-only"], forms=["power", "m4"], model="Dec-only",
                    fit_windows=[6.4e7, 2.56e8], extrapolate_to=[1e9, 1e10], planted_noise=0.02,
                    curves=["6 Enc, 6 Dec", "Dec-only"])


@pytest.mark.parametrize("change, message", [
    # each was a deep error: KeyError "... not columns of the DataFrame: ['form']", "Index contains duplicate
    # entries, cannot reshape", "the split leaves 0 fit and 0 held-out points", "zero-size array to reduction
    # operation minimum", "IndexError: list index out of range"; extrapolate_to = [-1.0] ran and drew nothing
    ({"models": []}, "models must list at least one value; got []"),
    ({"forms": []}, "forms must list at least one value; got []"),
    ({"models": ["Dec-only", "Dec-only"]}, "models must not repeat a value; got 'Dec-only' twice in ['Dec-only', 'Dec-only']"),
    ({"forms": ["power", "power"]}, "forms must not repeat a value; got 'power' twice in ['power', 'power']"),
    ({"models": ["nope"]}, "models must be values of the NMT curves ['6 Enc, 6 Dec', 'Dec-only']; got 'nope' in ['nope']"),
    ({"model": "nope"}, "model must be one of the NMT curves ['6 Enc, 6 Dec', 'Dec-only']; got 'nope'"),
    ({"fit_windows": []}, "fit_windows must list at least one value; got []"),
    ({"extrapolate_to": []}, "extrapolate_to must list at least one value; got []"),
    ({"extrapolate_to": [1e9, -1.0]}, "extrapolate_to must be finite numbers of examples > 0; got -1.0 in [1000000000.0, -1.0]"),
    ({"extrapolate_to": [0.0]}, "extrapolate_to must be finite numbers of examples > 0; got 0.0 in [0.0]"),
    ({"extrapolate_to": [float("inf")]}, "extrapolate_to must be finite numbers of examples > 0; got inf in [inf]"),
])
def test_scaling_laws_refuses_empty_repeated_or_unknown_values(change, message):
    with pytest.raises(InputError) as err:
        check_scaling_laws(**{**SCALING_LAWS, **change})
    assert str(err.value) == message


@pytest.mark.parametrize("noise", [float("nan"), float("inf"), -0.1])
def test_scaling_laws_refuses_planted_noise_that_is_not_a_finite_size(noise):
    # nan and inf failed after the back-tests, at the planted fit: "column 'y' has 240 NaN/inf value(s) (first at
    # row 0); drop or fix them before fitting"; -0.1 there as "noise must be >= 0; got -0.1"
    with pytest.raises(InputError) as err:
        check_scaling_laws(**{**SCALING_LAWS, "planted_noise": noise})
    assert str(err.value) == f"planted_noise must be a finite relative noise >= 0; got {noise!r}"


def test_scaling_laws_takes_no_planted_noise():
    check_scaling_laws(**{**SCALING_LAWS, "planted_noise": 0.0})  # exact planted losses (report 01 --smoke: ok)


@pytest.mark.parametrize("change, message", [
    ({"widths": [16, 32, 64]}, "fit_widths must be values of widths [16, 32, 64]; got 24 in [24, 32]"),  # was KeyError: 24
    ({"fit_widths": []}, "fit_widths must list at least one value; got []"),
    ({"fit_sizes": []}, "fit_sizes must list at least one value; got []"),
    ({"fit_default": [32]}, "fit_default must be [largest width, largest n], two values; got [32]"),  # was IndexError
    ({"fit_default": [64, 1024]}, "fit_default's width must be one of fit_widths [24, 32]; got 64"),
    ({"fit_default": [32, 2048]}, "fit_default's n must be one of fit_sizes [512, 1024]; got 2048"),
])
def test_teacher_student_refuses_a_fit_region_the_sweep_or_slider_lacks(change, message):
    with pytest.raises(InputError) as err:
        check_teacher_student(**{**TEACHER_STUDENT, **change})
    assert str(err.value) == message


@pytest.mark.parametrize("name", ["sizes", "budgets", "budget_widths", "noise_levels", "noise_widths", "noise_sizes",
                                  "realizability_widths", "dims", "dim_widths"])
def test_teacher_student_refuses_an_empty_sweep_list(name):
    # sizes, dims, budgets, noise_levels: an IndexError, ValueError or KeyError after the other sweeps had trained;
    # the widths of a section: "widths must list at least one value", not naming which
    with pytest.raises(InputError, match=rf"^{name} must list at least one value; got \[\]$"):
        check_teacher_student(**{**TEACHER_STUDENT, name: []})


@pytest.mark.parametrize("name", ["seeds", "dim_teachers", "dim_seeds"])
@pytest.mark.parametrize("value", [0, -1, 2.0])
def test_teacher_student_refuses_a_count_below_one(name, value):
    # dim_teachers = 0 was "KeyError: ('dims', 4)" after the sweeps; dim_seeds = 0 was refused as "seeds"
    with pytest.raises(InputError, match=rf"^{name} must be an integer >= 1; got {value!r}$"):
        check_teacher_student(**{**TEACHER_STUDENT, name: value})


@pytest.mark.parametrize("value", [100, 0, "True", None])
def test_teacher_student_refuses_a_floor_interval_that_is_not_a_boolean(value):
    # floor_bootstrap = 100 (a count of seed resamples) was the parameter before the jackknife: it fails before training
    with pytest.raises(InputError, match=rf"^floor_interval must be True or False; got {value!r}$"):
        check_teacher_student(**{**TEACHER_STUDENT, "floor_interval": value})


def test_teacher_student_refuses_noise_sizes_beyond_the_pool():
    # was "sizes must be <= the task's pool_size=256; got 512 (raise pool_size)", naming neither parameter
    with pytest.raises(InputError, match=r"^noise_sizes must be <= max\(sizes\) = 1024 \(the pool they are drawn "
                                         r"from\); got 2048$"):
        check_teacher_student(**{**TEACHER_STUDENT, "noise_sizes": [512, 2048]})


PRUNING = dict(widths=[16, 32], depths=[1, 2], sizes=[1024], seeds=1, rounds=6, targets=[0.36, 0.4, 0.45],
               bootstrap=20)


@pytest.mark.parametrize("change, message", [
    # each failed after the training: sizes = [] as "max() arg is an empty sequence", targets = [] as "No objects
    # to concatenate", rounds = 1 as "law 'pruning' has 4 free parameters but only 2 data point(s); need at least 5",
    # widths = [16] as "need dense runs of >= 2 widths at depth=1, n=1024; got 1", depths = [0, 1] as "column 'depth'
    # must be > 0 for law 'pruning-joint'", targets = [0.4, 0.4] as "The truth value of a Series is ambiguous"
    ({"sizes": []}, "sizes must list at least one value; got []"),
    ({"targets": []}, "targets must list at least one value; got []"),
    ({"rounds": 1}, "rounds must be an integer >= 4 (the pruning law's 4 constants are fitted to each network's "
                    "rounds + 1 densities); got 1"),
    ({"rounds": 3}, "rounds must be an integer >= 4 (the pruning law's 4 constants are fitted to each network's "
                    "rounds + 1 densities); got 3"),
    ({"widths": [16]}, "widths must list at least two values (the contour figure reads the dense error across "
                       "widths); got [16]"),
    ({"depths": [0, 1]}, "depths must be hidden-layer counts >= 1 (the joint law's m* = l^φ·w^ψ·d needs l > 0); "
                         "got 0 in [0, 1]"),
    ({"targets": [0.4, 0.4]}, "targets must not repeat a value; got 0.4 twice in [0.4, 0.4]"),
    ({"seeds": 0}, "seeds must be an integer >= 1; got 0"),  # was "seeds must list at least one value; got an empty grid"
])
def test_pruning_refuses_what_failed_after_the_training(change, message):
    with pytest.raises(InputError) as err:
        check_pruning(**{**PRUNING, **change})
    assert str(err.value) == message


@pytest.mark.parametrize("name, values", [("widths", [16, 16, 32]), ("depths", [1, 1]), ("sizes", [1024, 1024])])
def test_pruning_refuses_a_repeated_network(name, values):
    # ran on and counted the same networks twice ("42 rows: 3 widths x ..." for widths [16, 16, 32])
    with pytest.raises(InputError, match=rf"^{name} must not repeat a value; got {values[0]} twice in "):
        check_pruning(**{**PRUNING, name: values})


@pytest.mark.parametrize("target", [0.0, -0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_pruning_refuses_a_target_that_is_not_a_test_error(target):
    # 0 and -0.1 gave all-NaN rows; 1.5 a "pruned (law)" network of predicted test error 1.5
    with pytest.raises(InputError, match=rf"^targets must be test errors strictly between 0 and 1; got {target!r} in "):
        check_pruning(**{**PRUNING, "targets": [0.4, target]})


@pytest.mark.parametrize("check, name, example, uses", [
    (check_teacher_student, "fit_bootstrap", TEACHER_STUDENT, "the joint law's 95% intervals and its extrapolation's bands"),
    (check_pruning, "bootstrap", PRUNING, "the joint law's 95% intervals")])
@pytest.mark.parametrize("value", [1, 0, -5, 200.0, True, None])
def test_joint_law_refits_must_be_a_whole_number_of_at_least_two(check, name, example, uses, value):
    # notebooks 03 and 04 fitted their joint laws with 20 refits written into the code; a parameter now, and 0 or 1
    # would leave the intervals the figures, captions and summaries draw empty
    with pytest.raises(InputError) as err:
        check(**{**example, name: value})
    assert str(err.value) == f"{name} must be an integer >= 2 (refits behind {uses}); got {value!r}"
    check(**{**example, name: 2})


TEST_TIME_COMPUTE = dict(train_steps=300, max_k=16, ratios=[0.0, 1.0, 100.0])


@pytest.mark.parametrize("change, message", [
    # train_steps = 0 was "steps must be an integer >= 1; got 0"; max_k = 3 "law 'coverage' has 2 free parameters but
    # only 2 data point(s); need at least 3" after the outcome table was built; ratios = [] failed in the last cell
    # ("control 'R' of SliderView must take at least one value"), [-1.0] as "R (inference / pretraining examples) ..."
    ({"train_steps": 0}, "train_steps must be an integer >= 1; got 0"),
    ({"max_k": 3}, "max_k must be an integer >= 4 (the coverage law's 2 constants are fitted to pass@k at k = 1, 2, "
                   "4, ... <= max_k); got 3"),
    ({"ratios": []}, "ratios must list at least one value; got []"),
    ({"ratios": [1.0, 1.0]}, "ratios must not repeat a value; got 1.0 twice in [1.0, 1.0]"),  # ran, a doubled slider step
    ({"ratios": [0.0, -1.0]}, "ratios must be finite numbers >= 0 (R: inference over pretraining examples); got -1.0 "
                              "in [0.0, -1.0]"),
    ({"ratios": [float("nan")]}, "ratios must be finite numbers >= 0 (R: inference over pretraining examples); got "
                                 "nan in [nan]"),
])
def test_test_time_compute_refuses_in_the_notebooks_names(change, message):
    with pytest.raises(InputError) as err:
        check_test_time_compute(**{**TEST_TIME_COMPUTE, **change})
    assert str(err.value) == message


RL_COST_TUNING = dict(train_steps=300, agent_steps=3000, n_budgets=2, amc_width=32, amc_depth=3, amc_train_steps=300,
                      amc_episodes=256, amc_budgets=[0.1, 0.2], amc_finetune_steps=100)


@pytest.mark.parametrize("change, message", [
    # agent_steps = 0 was "--steps must be a positive integer; got 0", n_budgets = 0 "--n-budgets must be >= 2; got 0"
    # (the CLI's flags), amc_width = 0 "width must be a positive integer; got 0" after the RL study had run
    ({"agent_steps": 0}, "agent_steps must be an integer >= 1; got 0"),
    ({"n_budgets": 0}, "n_budgets must be an integer >= 2; got 0"),
    ({"n_budgets": 1}, "n_budgets must be an integer >= 2; got 1"),
    ({"train_steps": 0}, "train_steps must be an integer >= 1; got 0"),
    ({"amc_width": 0}, "amc_width must be an integer >= 1; got 0"),
    ({"amc_depth": 0}, "amc_depth must be an integer >= 1; got 0"),
    ({"amc_train_steps": 0}, "amc_train_steps must be an integer >= 1; got 0"),
    ({"amc_episodes": 0}, "amc_episodes must be an integer >= 1; got 0"),
    ({"amc_finetune_steps": -1}, "amc_finetune_steps must be an integer >= 0; got -1"),
    ({"amc_budgets": []}, "amc_budgets must list at least one value; got []"),
    # [0.1, 0.1] was "float() argument must be a string or a real number, not 'Series'" in the per-model section
    ({"amc_budgets": [0.1, 0.1]}, "amc_budgets must not repeat a value; got 0.1 twice in [0.1, 0.1]"),
    ({"amc_budgets": [0.1, 1.5]}, "amc_budgets must be fractions in (0, 1] of the dense model's FLOPs; got 1.5 in "
                                  "[0.1, 1.5]"),
    # below the cheapest compressed model (75 of 6016 FLOPs): "budget must be >= 75 FLOPs (every layer at its
    # cheapest option); got 6.016" after the RL study had run
    ({"amc_budgets": [0.001, 0.1]}, "amc_budgets must be >= 0.01247 for amc_width=32, amc_depth=3 (every layer at its "
                                    "cheapest option, density 0.05 at int8); got 0.001 in [0.001, 0.1]"),
])
def test_rl_cost_tuning_refuses_in_the_notebooks_names(change, message):
    with pytest.raises(InputError) as err:
        check_rl_cost_tuning(**{**RL_COST_TUNING, **change})
    assert str(err.value) == message


@pytest.mark.parametrize("name, check", [("01_scaling_laws", "check_scaling_laws("),
                                         ("02_compute_planner", "check_compute_planner("),
                                         ("03_teacher_student", "check_teacher_student("),
                                         ("04_pruning", "check_pruning("),
                                         ("05_test_time_compute", "check_test_time_compute("),
                                         ("06_rl_cost_tuning", "check_rl_cost_tuning("),
                                         ("07_real_benchmarks", "check_real_benchmarks(")])
def test_notebook_checks_its_parameters_in_its_first_code_cell_after_the_parameters(name, check):
    nb = nbformat.read(report.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert check in code[1].source


VARIANCE_LIMITED = dict(vl_linear=True, vl_widths=[8], vl_sizes=[512, 1024, 2048, 4096], vl_ratio=2.0, vl_teachers=2,
                        vl_seeds=1, vl_steps=200, vl_n=256, vl_width_widths=[32, 64, 128, 256], vl_width_seeds=2,
                        vl_interval=True)


@pytest.mark.parametrize("change, message", [
    # vl.check_parameters, which these replace, named its own arguments ('teachers must be ...', 'the data
    # regime's ratio n / params ...') rather than the notebook's parameters
    ({"vl_sizes": [256, 512, 1024]}, "vl_sizes must hold >= 4 sizes n >= vl_ratio × parameters = 2 × 21 for the linear "
                                     "student; got 3 in [256, 512, 1024]"),
    ({"vl_ratio": 4.0}, "vl_sizes must hold >= 4 sizes n >= vl_ratio × parameters = 4 × 177 for width 8; got 3 in "
                        "[512, 1024, 2048, 4096]"),
    ({"vl_linear": False, "vl_widths": []}, "vl_widths must list a width when vl_linear is False (the data regime "
                                            "needs a model); got []"),
    ({"vl_ratio": float("nan")}, "vl_ratio must be a finite number > 0 (n / parameters); got nan"),
    ({"vl_width_widths": [64, 64, 128, 256]}, "vl_width_widths must hold >= 4 distinct widths; got [64, 64, 128, 256]"),
    ({"vl_teachers": 0}, "vl_teachers must be an integer >= 1; got 0"),
    ({"vl_interval": 20}, "vl_interval must be True or False; got 20"),  # a count of resamples, as vl_bootstrap took
    ({"vl_widths": [8.5]}, "vl_widths must be hidden widths (integers >= 1); got 8.5 in [8.5]"),
])
def test_variance_limited_refuses_in_the_notebooks_names(change, message):
    with pytest.raises(InputError) as err:
        check_variance_limited(**{**VARIANCE_LIMITED, **change})
    assert str(err.value) == message


REAL_BENCHMARKS = dict(references=["logistic", "mlp"], mnist_models=["mlp"], digits_models=["mlp"], seeds=1,
                       scaling_seeds=1, steps=100, mnist_sizes=[250, 500, 1000, 2000], digits_sizes=[100, 200, 400, 800],
                       laws=["power"], interval=True)


@pytest.mark.parametrize("change, message", [
    ({"references": []}, "references must list at least one value; got []"),
    ({"references": ["vgg"]}, "references must be values of Greydanus's models ['logistic', 'mlp', 'cnn', 'gru']; "
                              "got 'vgg' in ['vgg']"),
    ({"mnist_models": ["mlp", "mlp"]}, "mnist_models must not repeat a value; got 'mlp' twice in ['mlp', 'mlp']"),
    # a GRU on digits was "family gru ... is only for the sequence task mnist1d" after the references had trained
    ({"digits_models": ["gru"]}, "digits_models must be values of the MLP-family models (digits' 64 pixels are no "
                                 "sequence) ['logistic', 'mlp']; got 'gru' in ['gru']"),
    ({"mnist_sizes": [250, 500, 1000, 8000]}, "mnist_sizes must be training sizes, integers in [1, 4000] (the "
                                              "benchmark's pool); got 8000 in [250, 500, 1000, 8000]"),
    ({"digits_sizes": [100, 200, 400]}, "digits_sizes must list >= 4 sizes (laws power: at most 3 free constants); "
                                        "got [100, 200, 400]"),
    # M4 with ε0 fixed has 4 free constants: on 4 sizes it was 'law 'm4' has 4 free parameters but only 4 data point(s)'
    ({"laws": ["power", "m4"]}, "mnist_sizes must list >= 5 sizes (laws power, m4: at most 4 free constants); "
                                "got [250, 500, 1000, 2000]"),
    ({"laws": ["bnsl"]}, "laws must be values of the laws of error against n ['power', 'm4']; got 'bnsl' in ['bnsl']"),
    ({"scaling_seeds": 0}, "scaling_seeds must be an integer >= 1; got 0"),
    ({"interval": 20}, "interval must be True or False; got 20"),  # a count of seed resamples, as before the jackknife
])
def test_real_benchmarks_refuses_in_the_notebooks_names(change, message):
    with pytest.raises(InputError) as err:
        check_real_benchmarks(**{**REAL_BENCHMARKS, **change})
    assert str(err.value) == message


def test_real_benchmarks_without_digits_ignores_the_digits_sizes():
    check_real_benchmarks(**{**REAL_BENCHMARKS, "digits_models": [], "digits_sizes": []})


@pytest.mark.parametrize("smoke", [False, True], ids=["defaults", "smoke"])
@pytest.mark.parametrize("notebook, check, example", [
    ("01_scaling_laws", check_scaling_laws, SCALING_LAWS), ("02_compute_planner", check_compute_planner, COMPUTE_PLANNER),
    ("03_teacher_student", check_teacher_student, TEACHER_STUDENT), ("04_pruning", check_pruning, PRUNING),
    ("05_test_time_compute", check_test_time_compute, TEST_TIME_COMPUTE),
    ("06_rl_cost_tuning", check_rl_cost_tuning, RL_COST_TUNING),
    ("03_teacher_student", check_variance_limited, VARIANCE_LIMITED),
    ("07_real_benchmarks", check_real_benchmarks, REAL_BENCHMARKS)])
def test_each_check_passes_its_notebooks_own_parameters(notebook, check, example, smoke):
    values = notebook_values(notebook, smoke)
    extra = {"curves": list(load_nmt().Model.unique())} if check is check_scaling_laws else {}  # from the data
    check(**{k: values[k] for k in example if k not in extra}, **extra)
