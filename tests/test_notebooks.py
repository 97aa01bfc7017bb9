"""Every notebook: committed clean, parameters declared the project's way, runs on its smoke parameters.

The batch path (interactive=False, plotly sliders) is exercised by tests/test_report.py; here each
notebook runs on its defaults' interactive path (ipywidgets + FigureWidget) with smoke parameters,
and every slider of every view is then moved to every value, as a user in JupyterLab would.
"""

from __future__ import annotations

import time

import nbformat
import papermill as pm
import pytest
from nbformat.v4 import new_code_cell

from workbench import report

NOTEBOOKS = report.discover()
IDS = [p.stem for p in NOTEBOOKS]

# Run right after the parameters: keep each SliderView's widget parts (the notebooks display them anonymously).
RECORD_VIEWS = """\
import workbench.plots as _plots
_views, _widget_parts = [], _plots.SliderView.widget_parts
def _recorded(self):
    parts = _widget_parts(self)
    _views.append((self, *parts))
    return parts
_plots.SliderView.widget_parts = _recorded
"""
# Run last: every slider to every value and back. A callback that raises or warns (a warning in a
# callback reaches the user's page) fails the cell; the redrawn traces must be the view's at the new values,
# and a move to another value must change what is drawn or the title (else the slider looks dead).
MOVE_EVERY_SLIDER = """\
import json, warnings
import plotly.graph_objects as _go
from plotly.utils import PlotlyJSONEncoder as _Encoder
_plain = lambda t: json.loads(json.dumps({k: v for k, v in t.to_plotly_json().items()  # a cleared property is {}
                                          if k != "uid" and not (isinstance(v, dict) and not v)}, cls=_Encoder))
with warnings.catch_warnings():
    warnings.simplefilter("error")
    for _view, _fw, _sliders in _views:
        for _slider in _sliders.values():
            # one value on the smoke parameters: this run never calls the slider's callback
            assert len(_slider.options) >= 2, f"slider {_slider.description!r} has one value on the smoke parameters"
            for _i in [*range(len(_slider.options)), _slider.value]:
                _before, _moved = ([_plain(t) for t in _fw.data], _fw.layout.title.text), _slider.value != _i
                _slider.value = _i
                _now = {n: list(_view.controls[n])[s.value] for n, s in _sliders.items()}
                _want = [_plain(t) for t in _go.Figure(data=list(_view.traces(**_now))).data]
                _drawn = [_plain(t) for t in _fw.data[len(_view.static):]]
                assert _drawn == _want, f"the widget's traces at {_now} are not the view's"
                assert not _moved or ([_plain(t) for t in _fw.data], _fw.layout.title.text) != _before, \
                    f"moving {_slider.description!r} to {_now} changed neither the figure nor its title"
print(f"moved every slider of {len(_views)} views")
"""


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
    nb = nbformat.read(path, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code + 1, new_code_cell(RECORD_VIEWS))  # papermill puts the parameters before it
    nb.cells.append(new_code_cell(MOVE_EVERY_SLIDER))
    start = time.perf_counter()
    pm.execute_notebook(nb, str(tmp_path / path.name), parameters=params, kernel_name="python3",
                        cwd=str(path.parent), progress_bar=False, store_widget_state=False,
                        coalesce_streams=True, execution_timeout=120)
    seconds = time.perf_counter() - start
    assert seconds <= 60, f"{path.name} took {seconds:.1f} s on its smoke parameters"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    mimes = {m for c in executed.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes  # the sliders and FigureWidgets
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert "moved every slider of" in executed.cells[-1].outputs[-1].text
