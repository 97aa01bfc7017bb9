"""Every notebook: committed clean, parameters declared the project's way, runs on its smoke parameters.

The batch path (interactive=False, plotly sliders) is exercised by tests/test_report.py; here each
notebook runs on its defaults' interactive path (ipywidgets + FigureWidget) with smoke parameters.
"""

from __future__ import annotations

import time

import nbformat
import papermill as pm
import pytest

from workbench import report

NOTEBOOKS = report.discover()
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} of {path.name} has outputs"
            assert cell.execution_count is None, f"cell {i} of {path.name} has an execution count"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_cell_follows_the_convention(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    lines = [ln for ln in first_code.source.splitlines() if ln.strip()]
    assert lines[0].startswith("interactive: bool = True")
    for ln in lines:
        assert "  # " in ln, f"parameter line without a trailing comment in {path.name}: {ln!r}"
    declared = pm.inspect_notebook(str(path))
    assert "interactive" in declared and len(declared) == len(lines)  # every line parses
    smoke = report.smoke_parameters(path)
    assert smoke, f"{path.name} has no metadata.workbench.smoke"
    assert set(smoke) <= set(declared) - {"interactive"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_on_smoke_parameters_within_60_s(path, tmp_path):
    params = report.smoke_parameters(path)  # interactive keeps its default (True): the widget path
    start = time.perf_counter()
    pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=params, kernel_name="python3",
                        cwd=str(path.parent), progress_bar=False, store_widget_state=False,
                        coalesce_streams=True, execution_timeout=120)
    seconds = time.perf_counter() - start
    assert seconds <= 60, f"{path.name} took {seconds:.1f} s on its smoke parameters"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    mimes = {m for c in executed.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes  # the sliders and FigureWidgets
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
