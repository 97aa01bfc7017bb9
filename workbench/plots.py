"""Plotly figures that work both in JupyterLab and in static, offline HTML reports.

Two traps this module exists for (see shared/guides/TOOLS.md):

- Since plotly 6 a kernel's default renderer emits only ``application/vnd.plotly.v1+json``, which
  nbconvert drops from HTML. :func:`show` emits that mimetype *and* ``text/html`` in one bundle.
  The first call in a kernel inlines plotly.js (~4.8 MB) into its HTML; later calls reference the
  ``window.Plotly`` it defines, so an exported page carries the library once and needs no network.
- ipywidgets do nothing without a kernel. :class:`SliderView` describes a view once (controls and a
  function from control values to traces) and renders it either as a ``FigureWidget`` driven by
  ipywidgets sliders (``interactive=True``, JupyterLab) or as a ``go.Figure`` with plotly's own
  slider and dropdown, which run in plain JavaScript in the exported HTML (``interactive=False``).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from workbench.errors import InputError, is_whole_number

PLOTLY_MIME = "application/vnd.plotly.v1+json"

# One kernel = one page: whether this kernel already sent plotly.js in an HTML output.
_PLOTLYJS_SENT = {"value": False}


def palette(i: int, k: int) -> str:
    """The i-th of k colours, hues evenly spaced from red to purple: ordered quantities (widths, bins) get
    ordered colours, and a series' markers and fitted line can share one (plotly's default cycles 10)."""
    if not is_whole_number(k) or k < 1:
        raise InputError(f"k (the number of colours) must be an integer >= 1; got {k!r}")
    if not is_whole_number(i) or not 0 <= i < k:  # palette(5, 3) was hsl(700,...) and palette(-1, 3) hsl(-140,...)
        raise InputError(f"i (the colour's index) must be an integer in [0, {int(k) - 1}] for k={k!r}; got {i!r}")
    return f"hsl({int(280 * i / max(1, k - 1))},65%,42%)"


def reset_plotlyjs() -> None:
    """Forget that plotly.js was sent, so the next :func:`show` inlines it again (e.g. a new page)."""
    _PLOTLYJS_SENT["value"] = False


def mimebundle(fig: go.Figure, *, include_plotlyjs: bool, config: Mapping[str, Any] | None = None) -> dict:
    """Both renderings of ``fig``: the plotly JSON mimetype and an HTML fragment.

    The HTML neither loads MathJax nor anything from a CDN; with ``include_plotlyjs=True`` it carries
    plotly.js inline, otherwise it expects ``window.Plotly`` from an earlier output on the page.
    """
    config = {"responsive": True, **(config or {})}
    fig_json = json.loads(pio.to_json(fig, validate=False, remove_uids=False))
    fig_json["config"] = config
    html = pio.to_html(fig, config=config, include_plotlyjs=bool(include_plotlyjs), include_mathjax=False,
                       full_html=False, default_width="100%", default_height=480, validate=False)
    return {PLOTLY_MIME: fig_json, "text/html": html}


def show(fig: go.Figure, *, config: Mapping[str, Any] | None = None) -> None:
    """Display ``fig`` with both mimetypes; the first call in a kernel inlines plotly.js."""
    from IPython.display import display

    bundle = mimebundle(fig, include_plotlyjs=not _PLOTLYJS_SENT["value"], config=config)
    _PLOTLYJS_SENT["value"] = True
    display(bundle, raw=True)


def _trace_dict(trace) -> dict:
    return trace.to_plotly_json() if hasattr(trace, "to_plotly_json") else dict(trace)


def _json_safe(value):
    """``value`` with NaN and ±inf in lists (and non-numeric or 2-D arrays) as None, as plotly's JSON
    writes them for the static figure. A FigureWidget sends those through the kernel's JSON, which
    rejects them: jupyter_client warns under the cell and sends the string 'nan'. 1-D numeric arrays
    travel as binary buffers, where NaN is fine, and are left as they are."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.dtype.kind in "biuf":
            return value
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class SliderView:
    """One view of traces that depend on a few control values, renderable two ways.

    Attributes:
        controls: name -> the values it takes, in order (e.g. ``{"inference tokens": [1e11, 1e12]}``).
            In the static figure the last control is a plotly slider and the others (their
            combinations) a dropdown; in the widget every control is an ipywidgets slider.
        traces: ``traces(**values) -> list of traces``; the same number, in the same order and of the
            same types for every combination of values.
        static: traces that do not depend on the controls (drawn first, always visible).
        layout: plotly layout for the figure.
        title: optional ``title(**values) -> str``.
        fmt: optional name -> function formatting a value for a slider label (default ``str``).
        default: optional name -> the value selected at first (default: the first value).
    """

    controls: Mapping[str, Sequence[Any]]
    traces: Callable[..., Sequence[Any]]
    static: Sequence[Any] = ()
    layout: Mapping[str, Any] = field(default_factory=dict)
    title: Callable[..., str] | None = None
    fmt: Mapping[str, Callable[[Any], str]] = field(default_factory=dict)
    default: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.controls:
            raise InputError("SliderView needs at least one control; got none")
        for name, values in self.controls.items():
            if len(values) == 0:
                raise InputError(f"control {name!r} of SliderView must take at least one value; got none")
            if name in self.default and self.default[name] not in list(values):
                raise InputError(f"default of control {name!r} must be one of its values; got {self.default[name]!r}")

    # -- helpers ---------------------------------------------------------------------------------
    def _label(self, name: str, value) -> str:
        return self.fmt.get(name, str)(value)

    def _default_index(self, name: str) -> int:
        values = list(self.controls[name])
        return values.index(self.default[name]) if name in self.default else 0

    def _combos(self) -> list[dict]:
        names = list(self.controls)
        return [dict(zip(names, vals)) for vals in itertools.product(*self.controls.values())]

    # -- static (plain JavaScript) ---------------------------------------------------------------
    def figure(self) -> go.Figure:
        """A ``go.Figure`` with every combination's traces and plotly's own slider (and dropdown)."""
        names = list(self.controls)
        last, outer = names[-1], names[:-1]
        fig = go.Figure(layout=self.layout)
        for t in self.static:
            fig.add_trace(t)
        n_static = len(self.static)
        combos = self._combos()
        blocks = []  # trace indices of each combination
        n_per = None
        for combo in combos:
            traces = list(self.traces(**combo))
            if n_per is None:
                n_per = len(traces)
            elif len(traces) != n_per:
                raise InputError(f"SliderView.traces must return the same number of traces for every value; "
                                 f"got {len(traces)} instead of {n_per} at {combo!r}")
            start = len(fig.data)
            for t in traces:
                fig.add_trace(t)
            blocks.append(range(start, start + len(traces)))
        total = len(fig.data)

        def visible(i_combo):
            mask = [True] * n_static + [False] * (total - n_static)
            for j in blocks[i_combo]:
                mask[j] = True
            return mask

        def title_of(combo):
            return {"title.text": self.title(**combo)} if self.title else {}

        n_last = len(self.controls[last])
        outer_combos = [dict(zip(outer, vals)) for vals in itertools.product(*(self.controls[o] for o in outer))]

        def slider_for(i_outer: int, active: int) -> dict:
            steps = []
            for i_last, v in enumerate(self.controls[last]):
                k = i_outer * n_last + i_last
                steps.append({"method": "update", "label": self._label(last, v),
                              "args": [{"visible": visible(k)}, title_of(combos[k])]})
            return {"active": active, "steps": steps, "currentvalue": {"prefix": f"{last}: "},
                    "pad": {"t": 50}}

        active_last = self._default_index(last)
        active_outer = 0
        if outer:
            default_outer = tuple(self.controls[o][self._default_index(o)] for o in outer)
            active_outer = [tuple(c[o] for o in outer) for c in outer_combos].index(default_outer)
        k0 = active_outer * n_last + active_last
        for j in range(n_static, total):
            fig.data[j].visible = j in blocks[k0]
        layout = {"sliders": [slider_for(active_outer, active_last)], **title_of(combos[k0])}
        if outer:
            buttons = []
            for i_outer, oc in enumerate(outer_combos):
                k = i_outer * n_last + active_last
                label = ", ".join(f"{o} = {self._label(o, oc[o])}" for o in outer)  # a bare "1" did not say what
                buttons.append({"method": "update", "label": label,
                                "args": [{"visible": visible(k)},
                                         {"sliders": [slider_for(i_outer, active_last)], **title_of(combos[k])}]})
            # above the plot's top right corner: at the top left it covered the start of the title
            layout["updatemenus"] = [{"buttons": buttons, "active": active_outer, "direction": "down",
                                      "x": 1.0, "xanchor": "right", "y": 1.01, "yanchor": "bottom", "showactive": True}]
        fig.update_layout(layout)
        return fig

    # -- interactive (kernel) --------------------------------------------------------------------
    def widget_parts(self):
        """``(FigureWidget, {name: slider})``: moving a slider re-draws the widget's traces."""
        import ipywidgets as widgets

        values = {n: list(v)[self._default_index(n)] for n, v in self.controls.items()}
        first = list(self.traces(**values))
        fw = go.FigureWidget(layout=self.layout)
        for t in list(self.static) + first:
            fw.add_trace(_json_safe(_trace_dict(t)))
        if self.title:
            fw.layout.title.text = self.title(**values)
        n_static = len(self.static)
        # trace properties the last drawn values set: one the next values leave out must be cleared,
        # or (e.g. error bars drawn only where a fit succeeded) the previous value's stays drawn
        drawn = [set(_trace_dict(t)) - {"type"} for t in first]
        sliders = {}
        for name, vals in self.controls.items():
            options = [(self._label(name, v), i) for i, v in enumerate(vals)]
            sliders[name] = widgets.SelectionSlider(options=options, value=self._default_index(name),
                                                    description=name, continuous_update=False,
                                                    style={"description_width": "initial"},
                                                    layout=widgets.Layout(width="60%"))

        layout_title = fw.layout.title.text  # a view without a title function keeps its layout's

        def redraw(_change=None):
            current = {n: list(self.controls[n])[s.value] for n, s in sliders.items()}
            try:
                traces = list(self.traces(**current))
                if len(traces) != len(drawn):  # as figure() refuses: fewer would leave the last value's extra traces drawn
                    raise InputError(f"SliderView.traces must return the same number of traces for every value; "
                                     f"got {len(traces)} instead of {len(drawn)} at {current!r}")
                title = self.title(**current) if self.title else layout_title
            except Exception as exc:
                # JupyterLab shows nothing a slider's callback prints or raises (the traceback goes to the
                # server's log): without this the figure just stayed as it was, the slider at the new value
                at = ", ".join(f"{n} = {self._label(n, v)}" for n, v in current.items())
                fw.layout.title.text = (f"could not draw at {at}: {type(exc).__name__}: {exc} "
                                        "(the traces shown are the last values')")
                raise
            with fw.batch_update():
                for j, t in enumerate(traces):
                    props = _json_safe(_trace_dict(t))
                    props.pop("type", None)
                    fw.data[n_static + j].update({k: None for k in drawn[j] - set(props)})
                    fw.data[n_static + j].update(props, overwrite=True)
                    drawn[j] = set(props)
                fw.layout.title.text = title

        for s in sliders.values():
            s.observe(redraw, names="value")
        return fw, sliders

    def widget(self):
        """An ipywidgets ``VBox`` of the sliders above the FigureWidget."""
        import ipywidgets as widgets

        fw, sliders = self.widget_parts()
        return widgets.VBox([*sliders.values(), fw])

    def display(self, interactive: bool) -> None:
        """Show the widget (``interactive=True``) or the static figure through :func:`show`."""
        if interactive:
            from IPython.display import display

            display(self.widget())
        else:
            show(self.figure())


def log_axes(fig: go.Figure, *, x: bool = True, y: bool = False, exponentformat: str = "power") -> go.Figure:
    """Log-scale axes with powers-of-ten tick labels; returns ``fig`` for chaining."""
    if x:
        fig.update_xaxes(type="log", exponentformat=exponentformat)
    if y:
        fig.update_yaxes(type="log", exponentformat=exponentformat)
    return fig


def sci(value: float, digits: int = 3) -> str:
    """Compact scientific label, e.g. 1.2e+22 -> '1.2e22'."""
    text = f"{value:.{digits}g}"
    return text.replace("e+", "e").replace("e0", "e").replace("e-0", "e-")
