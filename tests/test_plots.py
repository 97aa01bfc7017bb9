"""plots: both mimetypes, plotly.js once per page, SliderView in its static and widget forms."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from workbench import plots
from workbench.errors import InputError
from workbench.plots import PLOTLY_MIME, SliderView

SCRIPT_SRC_HTTP = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", re.I)


def _fig(y):
    return go.Figure(go.Scatter(x=[1, 2, 3], y=y, name="curve"))


def test_mimebundle_has_both_mimetypes_and_no_cdn():
    with_js = plots.mimebundle(_fig([1, 2, 3]), include_plotlyjs=True)
    without = plots.mimebundle(_fig([1, 2, 3]), include_plotlyjs=False)
    for bundle in (with_js, without):
        assert set(bundle) == {PLOTLY_MIME, "text/html"}
        assert bundle[PLOTLY_MIME]["data"][0]["y"] == [1, 2, 3]
        assert "Plotly.newPlot" in bundle["text/html"]
        assert not SCRIPT_SRC_HTTP.search(bundle["text/html"])
    assert "plotly.js v" in with_js["text/html"] and len(with_js["text/html"]) > 1_000_000
    assert "plotly.js v" not in without["text/html"] and len(without["text/html"]) < 50_000


def test_show_inlines_plotlyjs_only_on_the_first_call():
    InteractiveShell.instance()
    plots.reset_plotlyjs()
    with capture_output() as cap:
        plots.show(_fig([1, 2, 3]))
        plots.show(_fig([3, 2, 1]))
    assert len(cap.outputs) == 2
    first, second = (o.data for o in cap.outputs)
    assert set(first) == set(second) == {PLOTLY_MIME, "text/html"}
    assert first["text/html"].count("plotly.js v") == 1
    assert "plotly.js v" not in second["text/html"]
    assert second[PLOTLY_MIME]["data"][0]["y"] == [3, 2, 1]


def _view(**kw):
    return SliderView(
        controls=kw.pop("controls", {"k": [1, 2, 3]}),
        traces=lambda **c: [go.Scatter(x=[0, 1], y=[c["k"], 10 * c["k"] * (2 if c.get("form") == "b" else 1)],
                                       name="fit")],
        static=[go.Scatter(x=[0, 1], y=[0, 0], name="data")],
        title=lambda **c: f"k = {c['k']} {c.get('form', '')}".strip(),
        **kw,
    )


def test_static_figure_has_one_trace_block_per_value_and_a_plotly_slider():
    fig = _view(default={"k": 2}).figure()
    assert len(fig.data) == 1 + 3
    assert [t.visible for t in fig.data[1:]] == [False, True, False]
    slider = fig.layout.sliders[0]
    assert slider.active == 1 and [s.label for s in slider.steps] == ["1", "2", "3"]
    for i, step in enumerate(slider.steps):
        assert step.method == "update"
        assert step.args[0]["visible"] == [True] + [j == i for j in range(3)]
        assert step.args[1]["title.text"] == f"k = {i + 1}"
    assert fig.layout.title.text == "k = 2"


def test_static_figure_with_two_controls_uses_a_dropdown_that_swaps_sliders():
    fig = _view(controls={"form": ["a", "b"], "k": [1, 2, 3]}).figure()
    assert len(fig.data) == 1 + 6
    menu = fig.layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["form = a", "form = b"]  # named: a bare "a" did not say what
    for i_form, button in enumerate(menu.buttons):
        vis, layout = button.args
        assert sum(vis["visible"]) == 2  # static trace + the block of (form, first k)
        steps = layout["sliders"][0]["steps"]
        # each step of this form's slider shows the block of (form, k)
        for i_k, step in enumerate(steps):
            shown = [j for j, v in enumerate(step["args"][0]["visible"]) if v]
            assert shown == [0, 1 + i_form * 3 + i_k]
    # block (b, k=3) holds the trace computed for those values
    assert list(fig.data[1 + 5].y) == [3, 60]


def test_widget_slider_redraws_the_figurewidget():
    fw, sliders = _view(controls={"form": ["a", "b"], "k": [1, 2, 3]}).widget_parts()
    assert isinstance(fw, go.FigureWidget)
    assert list(fw.data[1].y) == [1, 10]
    sliders["k"].value = 2  # index of k = 3
    assert list(fw.data[1].y) == [3, 30]
    sliders["form"].value = 1
    assert list(fw.data[1].y) == [3, 60]
    assert fw.layout.title.text == "k = 3 b"
    assert list(fw.data[0].y) == [0, 0]  # static trace untouched


def test_widget_redraw_clears_properties_the_new_values_leave_out():
    # notebook 03's extrapolation view draws error bars only where the fit succeeded: moving from a
    # region with bars to one without kept the previous region's bars (update(overwrite=True) only
    # replaces the properties it is given)
    def traces(k):
        bars = {"error_y": {"type": "data", "array": [0.5, 0.5]}} if k == 1 else {}
        return [go.Scatter(x=[0, 1], y=[k, k], name=f"k = {k}", **bars)]

    view = SliderView(controls={"k": [1, 2]}, traces=traces)
    fw, sliders = view.widget_parts()
    assert list(fw.data[0].error_y.array) == [0.5, 0.5]
    fw.data[0].visible = "legendonly"  # a legend click in the page: not the callback's, so it stays
    sliders["k"].value = 1
    assert fw.data[0].error_y.array is None and list(fw.data[0].y) == [2, 2]
    assert fw.data[0].visible == "legendonly"
    sliders["k"].value = 0
    assert list(fw.data[0].error_y.array) == [0.5, 0.5]


def test_widget_sends_nan_in_lists_as_null_like_the_static_figure():
    # notebook 04's cheapest-network view draws x=[nan], y=[nan] for a kind no network reaches the
    # target with (and notebook 05 had NaN bar labels): the kernel's JSON rejects NaN, so every move
    # of the slider printed jupyter_client's "Out of range float values are not JSON compliant"
    from plotly.serializers import _py_to_js

    def traces(k):
        return [go.Scatter(x=[k], y=[k if k < 2 else math.nan], text=np.array(["a" if k < 2 else math.nan], dtype=object),
                           error_y={"type": "data", "array": np.array([0.1, math.nan])})]

    fw, sliders = SliderView(controls={"k": [3, 1, 2]}, traces=traces).widget_parts()
    sent = [fw._data]  # the state the page gets first, then each redraw's message
    fw.observe(lambda change: sent.append(change["new"]) if change["new"] else None, names=["_py2js_update"])
    sliders["k"].value = 1
    sliders["k"].value = 2
    assert len(sent) == 3
    for message in sent:
        json.dumps(_py_to_js(message, None), allow_nan=False, default=lambda buffer: None)  # raised on NaN
    assert fw.data[0].y == (None,) and fw.data[0].text == (None,)
    assert math.isnan(fw.data[0].error_y.array[1])  # a float array goes as a binary buffer: NaN stays


def test_widget_says_in_its_title_when_a_redraw_fails():
    # a callback's exception reaches no cell in JupyterLab (only the server's log): the figure kept the last
    # values' traces and title, the slider showed the new value, and nothing said why
    def traces(k):
        if k == 3:
            raise ValueError("no fit at k = 3")
        return [go.Scatter(x=[0, 1], y=[k, k])]

    for title, layout, first in [(lambda k: f"k = {k}", {}, "k = 1"), (None, {"title": "fixed"}, "fixed")]:
        fw, sliders = SliderView(controls={"k": [1, 3, 2]}, traces=traces, title=title, layout=layout).widget_parts()
        assert fw.layout.title.text == first
        with pytest.raises(ValueError, match="no fit"):  # still raised: a cell that moves the slider fails
            sliders["k"].value = 1
        assert fw.layout.title.text == ("could not draw at k = 3: ValueError: no fit at k = 3 "
                                        "(the traces shown are the last values')")
        assert list(fw.data[0].y) == [1, 1]
        sliders["k"].value = 2
        assert list(fw.data[0].y) == [2, 2] and fw.layout.title.text == (title(2) if title else "fixed")


def test_slider_view_rejects_bad_definitions():
    with pytest.raises(InputError, match="at least one control"):
        SliderView(controls={}, traces=lambda: [])
    with pytest.raises(InputError, match="default of control 'k'"):
        _view(default={"k": 7})
    ragged = SliderView(controls={"k": [1, 2]}, traces=lambda k: [go.Scatter(y=[k])] * k)
    with pytest.raises(InputError, match="same number of traces"):
        ragged.figure()


def test_widget_refuses_a_changing_number_of_traces_like_the_static_figure():
    # figure() refused it, the widget drew it: one trace fewer left the last value's second trace drawn
    ragged = SliderView(controls={"k": [2, 1]}, traces=lambda k: [go.Scatter(y=[k, j]) for j in range(k)])
    fw, sliders = ragged.widget_parts()
    assert len(fw.data) == 2
    with pytest.raises(InputError, match="got 1 instead of 2 at {'k': 1}"):
        sliders["k"].value = 1


def test_sci_labels():
    assert plots.sci(1.2e22, 2) == "1.2e22"
    assert plots.sci(5.76e23) == "5.76e23"
    assert plots.sci(0.5) == "0.5"


def test_palette_refuses_an_index_outside_its_k_colours():
    # before: palette(5, 3) returned "hsl(700,65%,42%)" and palette(-1, 3) "hsl(-140,65%,42%)", hues outside the
    # red-to-purple range (700 wraps round to red again), unsaid; no notebook asks for them
    for i in (5, 3, -1, 1.5, True, "1"):
        with pytest.raises(InputError, match=re.escape(f"i (the colour's index) must be an integer in [0, 2] for k=3; got {i!r}")):
            plots.palette(i, 3)
    for k in (0, 2.5, None):
        with pytest.raises(InputError, match=re.escape(f"k (the number of colours) must be an integer >= 1; got {k!r}")):
            plots.palette(0, k)
    assert [plots.palette(i, 3) for i in range(3)] == ["hsl(0,65%,42%)", "hsl(140,65%,42%)", "hsl(280,65%,42%)"]
    assert plots.palette(np.int64(2), 3) == plots.palette(2.0, 3) == "hsl(280,65%,42%)" and plots.palette(0, 1) == "hsl(0,65%,42%)"
