"""The offline reports, opened in a real Chromium: every page loads with no network, every plotly figure
draws data, plotly's sliders change what is drawn, and the checker itself catches broken pages.

All non-``file:`` requests are blocked (``page.route``) and logged; the tests assert the log is empty.
Screenshots go to ``test-artifacts/`` (gitignored); with ``WORKBENCH_UPDATE_SCREENSHOTS=1`` the
README's images in ``docs/img/`` are refreshed too.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from conftest import ARTIFACTS, ROOT

from workbench.plots import SliderView

pytestmark = pytest.mark.browser

DOCS_IMG = ROOT / "docs" / "img"
UPDATE_DOCS = os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1"
VIEWPORT = {"width": 1280, "height": 900}

# Per figure: whether plotly drew it, and the data of its visible traces (plotly >= 6 may keep
# gd.data[i].y encoded; gd._fullData holds the arrays plotly actually drew).
FIGURES_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map((gd, i) => {
  const arr = v => (v == null ? [] : Array.from(v));
  const full = gd._fullData;
  return {
    index: i, drawn: !!(gd._fullLayout && full && gd.querySelector('svg.main-svg')),
    n_traces: full ? full.length : 0,
    sliders: gd._fullLayout && gd._fullLayout.sliders ? gd._fullLayout.sliders.length : 0,
    // traces the figure shows but plotly dropped (it hides a trace with no points)
    dropped: full ? full.filter(t => t.visible === false && t._input &&
                                     t._input.visible !== false && t._input.visible !== 'legendonly').length : 0,
    visible: full ? full.filter(t => t.visible === true).map(t => ({
      type: t.type, n: Math.max(arr(t.x).length, arr(t.y).length, arr(t.z).length, arr(t.values).length),
      data: JSON.stringify([arr(t.x), arr(t.y), arr(t.z)]),
    })) : [],
  };
})"""


class ReportPageError(AssertionError):
    """A report page that does not work in a browser; the message lists every problem found."""


@dataclass
class PageCheck:
    """What :func:`check_report_page` saw on one page."""

    url: str
    figures: list[dict] = field(default_factory=list)
    sliders_moved: int = 0
    dropdowns_picked: int = 0
    blocked: list[str] = field(default_factory=list)  # every non-file: request, blocked
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors
    screenshot: Path | None = None


def _visible_signature(page, index: int) -> list[str]:
    return [t["data"] for t in page.evaluate(FIGURES_JS)[index]["visible"]]


def _move_slider(page, index: int, tries: int = 3) -> bool | None:
    """Click other steps of figure ``index``'s first slider in the DOM; True once the drawn data changed.

    Up to ``tries`` steps (last, second, middle), so two steps that rightly draw the same data do not
    count as a dead slider. None for a slider with a single step (a smoke run's one value).
    """
    gd = page.locator(".plotly-graph-div").nth(index)
    gd.scroll_into_view_if_needed()
    active = gd.evaluate("gd => gd._fullLayout.sliders[0].active || 0")
    labels = gd.locator(".slider-label-group")
    n_steps = labels.count()
    if n_steps < 2:
        return None
    before = _visible_signature(page, index)
    targets = [t for t in dict.fromkeys([n_steps - 1, 1, n_steps // 2, 0]) if t != active][:tries]
    for target in targets:
        label = labels.nth(target).bounding_box()
        rail = gd.locator(".slider-rail-touch-rect").first.bounding_box()
        page.mouse.click(label["x"] + label["width"] / 2, rail["y"] + rail["height"] / 2)
        page.wait_for_function("([i, t]) => document.querySelectorAll('.plotly-graph-div')[i]"
                               "._fullLayout.sliders[0].active === t", arg=[index, target], timeout=5000)
        page.wait_for_timeout(200)  # the step's Plotly.update redraws asynchronously
        if _visible_signature(page, index) != before:
            return True
    return False


def _pick_dropdown(page, index: int) -> bool | None:
    """Open figure ``index``'s dropdown and pick another button; True when the drawn data changed, None for a
    figure without one (or with a single button)."""
    gd = page.locator(".plotly-graph-div").nth(index)
    n_buttons = gd.evaluate("gd => (gd._fullLayout.updatemenus || []).length ? "
                            "gd._fullLayout.updatemenus[0].buttons.length : 0")
    if n_buttons < 2:
        return None
    gd.scroll_into_view_if_needed()
    active = gd.evaluate("gd => gd._fullLayout.updatemenus[0].active || 0")
    target = n_buttons - 1 if active != n_buttons - 1 else 0
    before = _visible_signature(page, index)
    gd.locator(".updatemenu-header").first.click()
    gd.locator(".updatemenu-dropdown-button").nth(target).click()
    page.wait_for_function("([i, t]) => document.querySelectorAll('.plotly-graph-div')[i]"
                           "._fullLayout.updatemenus[0].active === t", arg=[index, target], timeout=5000)
    page.wait_for_timeout(200)
    return _visible_signature(page, index) != before


def open_offline(browser, url: str, check: PageCheck):
    """A page that blocks and logs every request not to ``file:``, and logs JavaScript errors."""
    context = browser.new_context(viewport=VIEWPORT)

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            check.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) or r.url in check.blocked
            else check.blocked.append(r.url))
    page.on("websocket", lambda ws: check.blocked.append(ws.url))
    page.on("pageerror", lambda exc: check.errors.append(str(exc)))
    page.goto(url, wait_until="load")
    return context, page


def check_report_page(browser, path: Path, *, screenshot: Path | None = None, min_figures: int = 1) -> PageCheck:
    """Open one report page offline and check it the way a reader would; raise :class:`ReportPageError`.

    Problems: a request to anything but ``file:``, an uncaught JavaScript error, fewer than
    ``min_figures`` figures, a figure plotly did not draw, a figure without a visible trace, a visible
    trace without points, a slider whose other step draws the same data, a dropdown whose other value does.
    """
    check = PageCheck(url=Path(path).resolve().as_uri())
    context, page = open_offline(browser, check.url, check)
    problems = []
    try:
        try:
            page.wait_for_function("() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
                                   ".every(gd => gd._fullLayout && gd._fullData)", timeout=10_000)
        except Exception:
            problems.append("not every figure was drawn within 10 s")
        check.figures = page.evaluate(FIGURES_JS)
        if len(check.figures) < min_figures:
            problems.append(f"expected at least {min_figures} plotly figure(s), found {len(check.figures)}")
        for fig in check.figures:
            i = fig["index"]
            if not fig["drawn"]:
                problems.append(f"figure {i}: plotly did not draw it")
            elif not fig["visible"]:
                problems.append(f"figure {i}: no visible trace ({fig['n_traces']} traces in all)")
            if fig["dropped"]:
                problems.append(f"figure {i}: {fig['dropped']} trace(s) meant to show have no points")
            for j, t in enumerate(fig["visible"]):
                if t["n"] == 0:
                    problems.append(f"figure {i}: visible {t['type']} trace {j} has no points")
        for fig in check.figures:
            if fig["sliders"] and fig["drawn"]:
                moved = _move_slider(page, fig["index"])
                if moved:
                    check.sliders_moved += 1
                elif moved is False:
                    problems.append(f"figure {fig['index']}: moving its slider did not change the drawn data")
            if fig["drawn"]:
                picked = _pick_dropdown(page, fig["index"])
                if picked:
                    check.dropdowns_picked += 1
                elif picked is False:
                    problems.append(f"figure {fig['index']}: picking another dropdown value did not change the drawn data")
        if screenshot is not None:
            page.evaluate("() => window.scrollTo(0, 0)")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            check.screenshot = screenshot
    finally:
        context.close()
    if check.blocked:
        problems.append(f"{len(check.blocked)} network request(s), blocked: {check.blocked[:5]}")
    if check.errors:
        problems.append(f"JavaScript errors: {check.errors[:3]}")
    if problems:
        raise ReportPageError(f"{path}: " + "; ".join(problems))
    return check


def _keep_for_docs(shot: Path, name: str) -> None:
    if UPDATE_DOCS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / name)


# ----------------------------------------------------------------------------------------------
# the real reports


def test_every_report_page_works_offline_in_chromium(chromium, smoke_reports):
    result, _ = smoke_reports
    pages = [r for r in result["reports"] if r["html"]]  # a notebook's failure is test_report.py's to report;
    assert pages                                           # its page (with the traceback) is checked here too
    log = {}
    for r in pages:
        shot = ARTIFACTS / f"report-{r['name']}.png"
        check = check_report_page(chromium, Path(r["html"]), screenshot=shot,
                                  min_figures=1 if r["status"] == "ok" else 0)
        log[r["name"]] = {"figures": len(check.figures), "sliders_moved": check.sliders_moved,
                          "dropdowns_picked": check.dropdowns_picked, "requests": check.blocked}
        assert check.blocked == []  # zero network requests
        assert shot.stat().st_size > 10_000
        if r["name"] == "02_compute_planner":
            _keep_for_docs(shot, "report-page.png")
    (ARTIFACTS / "browser-reports.json").write_text(json.dumps(log, indent=1))
    # batch runs use plotly's own sliders; every multi-step one was moved above, and there are some
    assert sum(v["sliders_moved"] for v in log.values()) >= 2, log
    assert sum(v["dropdowns_picked"] for v in log.values()) >= 2, log  # 01, 03 and 04 have some


def test_index_page_shows_thumbnails_and_links_offline(chromium, smoke_reports):
    result, out = smoke_reports
    assert result["thumbnail_error"] is None, result["thumbnail_error"]
    check = PageCheck(url=(out / "index.html").as_uri())
    context, page = open_offline(chromium, check.url, check)
    try:
        images = page.evaluate("() => Array.from(document.images).map(im => "
                               "({src: im.getAttribute('src'), w: im.naturalWidth, h: im.naturalHeight}))")
        links = page.evaluate("() => Array.from(document.querySelectorAll('a')).map(a => a.href)")
        text = page.inner_text("body")
        shot = ARTIFACTS / "report-index.png"
        page.screenshot(path=str(shot), full_page=True)
        _keep_for_docs(shot, "report-index.png")
    finally:
        context.close()
    assert check.blocked == [] and check.errors == []
    thumbs = [r["thumbnail"] for r in result["reports"] if r["thumbnail"]]
    assert thumbs and sorted(im["src"] for im in images) == sorted(thumbs)
    assert all(r["thumbnail"] for r in result["reports"] if r["status"] == "ok")
    assert all(im["w"] == 360 and im["h"] == 225 for im in images), images  # decoded PNGs, not broken icons
    for r in result["reports"]:
        assert r["title"] in text and f"{r['seconds']:.1f} s" in text
        assert (out / Path(r["html"]).name).as_uri() in links
    assert result["revision"] in text and result["revision"] != ""


# ----------------------------------------------------------------------------------------------
# the checker catches broken pages


@pytest.fixture(scope="module")
def pages_dir(tmp_path_factory) -> Path:
    """A folder with plotly.min.js written once; the small test pages load it from there (a file: URL)."""
    return tmp_path_factory.mktemp("pages")


def _page(folder: Path, name: str, fig: go.Figure, *, extra_head: str = "") -> Path:
    body = pio.to_html(fig, include_plotlyjs="directory", full_html=True, validate=False)
    if not (folder / "plotly.min.js").exists():
        from plotly.offline import get_plotlyjs

        (folder / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    path = folder / f"{name}.html"
    path.write_text(body.replace("<head>", "<head>" + extra_head, 1), encoding="utf-8")
    return path


def _slider_figure() -> go.Figure:
    view = SliderView(controls={"k": [1, 2, 3]},
                      traces=lambda k: [go.Scatter(x=[0, 1, 2], y=[0, k, 2 * k], name=f"k={k}")])
    return view.figure()


def test_checker_passes_a_good_page(chromium, pages_dir):
    check = check_report_page(chromium, _page(pages_dir, "good", _slider_figure()))
    assert len(check.figures) == 1 and check.sliders_moved == 1 and check.blocked == []


def _dropdown_figure() -> go.Figure:
    view = SliderView(controls={"form": ["a", "b"], "k": [1, 2, 3]},
                      traces=lambda form, k: [go.Scatter(x=[0, 1, 2], y=[0, k, (2 if form == "a" else 5) * k])])
    return view.figure()


def test_checker_picks_every_dropdown(chromium, pages_dir):
    check = check_report_page(chromium, _page(pages_dir, "dropdown", _dropdown_figure()))
    assert check.dropdowns_picked == 1 and check.sliders_moved == 1


def _dead_dropdown() -> go.Figure:
    fig = _dropdown_figure()
    for button in fig.layout.updatemenus[0].buttons:
        button.args = [{"visible": [True] + [False] * 5}, {}]  # every value shows the same trace
    for i, t in enumerate(fig.data):
        t.visible = i == 0
    fig.layout.sliders = []
    return fig


def _dead_slider() -> go.Figure:
    fig = _slider_figure()
    for step in fig.layout.sliders[0].steps:
        step.args = [{"visible": [True, False, False]}]  # every step shows the same trace
    fig.data[0].visible = True
    return fig


BROKEN = {
    "figure without data": (lambda: go.Figure(), "no visible trace"),
    "trace without points": (lambda: go.Figure(go.Scatter(x=[], y=[])), "no points"),
    "slider that changes nothing": (_dead_slider, "did not change the drawn data"),
    "dropdown that changes nothing": (_dead_dropdown, "dropdown value did not change"),
    "a script from a CDN": (lambda: go.Figure(go.Scatter(y=[1, 2])), "network request"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_checker_rejects_a_broken_page(chromium, pages_dir, kind):
    make, message = BROKEN[kind]
    extra = '<script src="https://cdn.plot.ly/plotly-3.0.0.min.js"></script>' if "CDN" in kind else ""
    path = _page(pages_dir, "broken-" + kind.replace(" ", "-"), make(), extra_head=extra)
    with pytest.raises(ReportPageError, match=message):
        check_report_page(chromium, path)
