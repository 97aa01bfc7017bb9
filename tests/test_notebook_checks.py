"""workbench/notebook_checks.py: each notebook's parameters refused in one line naming the parameter,
before any cell trains or fits; and each notebook calls its check in its first code cell."""

from __future__ import annotations

import ast

import nbformat
import pytest

from workbench import report
from workbench.errors import InputError
from workbench.notebook_checks import check_teacher_student

TEACHER_STUDENT = dict(widths=[16, 24, 32, 64], sizes=[256, 1024], fit_widths=[24, 32], fit_sizes=[512, 1024],
                       fit_default=[32, 1024], budgets=[100, 300], budget_widths=[16, 64], noise_levels=[0.3],
                       noise_widths=[16, 64], noise_sizes=[512, 1024], realizability_widths=[4, 8], dims=[4, 8],
                       dim_widths=[16, 32, 64], seeds=1, dim_teachers=1, dim_seeds=1)


def notebook_values(name: str, smoke: bool) -> dict:
    """A notebook's parameters as it runs them: its defaults (the parameters cell), then its smoke values."""
    path = report.NOTEBOOK_DIR / f"{name}.ipynb"
    values = {k: ast.literal_eval(v["default"]) for k, v in report.declared_parameters(path).items()}
    return {**values, **(report.smoke_parameters(path) if smoke else {})}


@pytest.mark.parametrize("smoke", [False, True], ids=["defaults", "smoke"])
def test_teacher_student_passes_the_notebooks_own_parameters(smoke):
    values = notebook_values("03_teacher_student", smoke)
    check_teacher_student(**{k: values[k] for k in TEACHER_STUDENT})


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


def test_teacher_student_refuses_noise_sizes_beyond_the_pool():
    # was "sizes must be <= the task's pool_size=256; got 512 (raise pool_size)", naming neither parameter
    with pytest.raises(InputError, match=r"^noise_sizes must be <= max\(sizes\) = 1024 \(the pool they are drawn "
                                         r"from\); got 2048$"):
        check_teacher_student(**{**TEACHER_STUDENT, "noise_sizes": [512, 2048]})


@pytest.mark.parametrize("name, check", [("03_teacher_student", "check_teacher_student(")])
def test_notebook_checks_its_parameters_in_its_first_code_cell_after_the_parameters(name, check):
    nb = nbformat.read(report.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert check in code[1].source
