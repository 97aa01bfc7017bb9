"""JupyterLab, for real: a server on a loopback port, a notebook opened in Chromium, Run All, an
ipywidgets slider moved with the keyboard, and the plotly FigureWidget seen to redraw.

The notebook is a temporary copy of notebooks/02_compute_planner.ipynb with its smoke parameters
injected (papermill's parameterize, not executed), so it runs in a few seconds; ``interactive``
keeps its default, True: ipywidgets sliders drive FigureWidgets through the kernel. Requests to
anything but the server are blocked and logged. With ``WORKBENCH_UPDATE_SCREENSHOTS=1`` the README's
docs/img/jupyterlab.png is refreshed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from conftest import ARTIFACTS, ROOT

from workbench import report

pytestmark = pytest.mark.browser

NOTEBOOK = ROOT / "notebooks" / "02_compute_planner.ipynb"
SLIDER = "inference tokens"  # the SelectionSlider that drives the inference-aware FigureWidget
START_TIMEOUT = 90  # s for the server to answer
RUN_TIMEOUT = 150  # s for Run All to finish

# The drawn data of the plotly FigureWidget under the slider's box (gd._fullData: plotly >= 6 may
# keep gd.data[i].y encoded), with the figure's title.
FIGURE_JS = """([label]) => {
  const box = Array.from(document.querySelectorAll('.widget-vbox')).find(b =>
      Array.from(b.querySelectorAll('.widget-slider .widget-label')).some(l => l.textContent.trim() === label)
      && b.querySelector('.js-plotly-plot'));
  if (!box) return null;
  const gd = box.querySelector('.js-plotly-plot');
  if (!gd._fullData) return null;
  const arr = v => (v == null ? [] : Array.from(v));
  return {title: gd._fullLayout.title.text,
          data: gd._fullData.filter(t => t.visible === true).map(t => JSON.stringify([arr(t.x), arr(t.y)])),
          n_points: gd._fullData.reduce((n, t) => n + arr(t.x).length, 0)};
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free loopback port over a smoke-parameterised copy of the notebook."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = tmp_path_factory.mktemp("lab")
    notebooks, home = root / "notebooks", root / "home"
    notebooks.mkdir()
    home.mkdir()
    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOK)), report.smoke_parameters(NOTEBOOK))
    nbformat.write(nb, notebooks / NOTEBOOK.name)
    # No "Jupyter news?" question (and no request for news): fetchNews is "false" in the user settings.
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    # Settings, workspaces and runtime files in the temporary folder: a user's layout or an earlier
    # run cannot change what the browser sees.
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    log = open(root / "jupyterlab.log", "w")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--notebook-dir={notebooks}", "--ServerApp.port_retries=0",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root; JupyterLab refuses root without it
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(root / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT} s")
            time.sleep(0.5)
        yield {"base": base, "token": token, "notebook": NOTEBOOK.name, "log": root / "jupyterlab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(root / "jupyterlab.log", ARTIFACTS / "jupyterlab.log")


def _wait_for_idle_kernel(page, lab, timeout: float = 90) -> None:
    """Until the server reports the notebook's kernel idle (its session exists once the page opened it).

    Waits with ``page.wait_for_timeout``, not ``time.sleep``: Playwright's sync API runs the route
    handler (which lets the page's requests through) only while a Playwright call is in progress.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{lab['base']}/api/sessions?token={lab['token']}", timeout=5) as r:
                sessions = json.load(r)
            if any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions):
                return
        except OSError:
            pass
        page.wait_for_timeout(500)
    raise AssertionError(f"the notebook's kernel was not idle within {timeout} s")


def test_slider_in_jupyterlab_redraws_the_figurewidget(chromium, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    blocked = []
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})

    def route(r):
        if r.request.url.startswith((lab["base"], "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab['base']}/lab/tree/{lab['notebook']}?token={lab['token']}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        _wait_for_idle_kernel(page, lab)
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        # Run > Run All Cells. A command given while the page is still connecting to the kernel is
        # dropped (the cells stay "[ ]:"), so it is given again until the first cell has started.
        for _attempt in range(4):
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:
                page.wait_for_function("() => Array.from(document.querySelectorAll("
                                       "'.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt'))"
                                       ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))", timeout=15_000)
                break
            except PlaywrightTimeout:
                continue
        # every code cell has run ("[n]:") and the kernel is idle again
        page.wait_for_function(
            """() => {
              const prompts = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt'));
              const ind = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
              return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
                     && ind && ind.getAttribute('data-status') === 'idle';
            }""", timeout=RUN_TIMEOUT * 1000)
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")\
            .filter(has_text="Traceback").count() == 0
        page.wait_for_function(f"() => ({FIGURE_JS})(['{SLIDER}']) !== null", timeout=60_000)
        before = page.evaluate(FIGURE_JS, [SLIDER])
        page.evaluate(f"() => {{ window.__wbBefore = JSON.stringify(({FIGURE_JS})(['{SLIDER}']).data); }}")
        assert before["n_points"] > 0 and before["data"], before  # the FigureWidget drew data

        slider = page.locator(".widget-slider").filter(
            has=page.locator(".widget-label", has_text=SLIDER)).first
        slider.scroll_into_view_if_needed()
        readout = slider.locator(".widget-readout")
        value_before = readout.inner_text()
        handle = slider.locator(".noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        # the kernel's observe callback redraws the FigureWidget; its new data reaches the page
        page.wait_for_function(f"() => JSON.stringify(({FIGURE_JS})(['{SLIDER}']).data) !== window.__wbBefore",
                               timeout=30_000)
        after = page.evaluate(FIGURE_JS, [SLIDER])
        assert readout.inner_text() != value_before
        assert after["data"] != before["data"] and after["title"] != before["title"]
        # the screenshot (README's docs/img/jupyterlab.png), with the kernel idle
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "jupyterlab.png"
        page.screenshot(path=str(shot))
        if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1":
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, ROOT / "docs" / "img" / "jupyterlab.png")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-failure.png"), full_page=True)
        state = page.evaluate("""() => ({
          prompts: Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt'))
                        .map(p => p.textContent.trim()),
          kernel: (document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator') || {}).outerHTML,
          errors: Array.from(document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
                       .map(e => e.textContent.slice(-500))})""")
        (ARTIFACTS / "jupyterlab-failure.json").write_text(json.dumps({**state, "blocked": blocked, "page_errors": errors},
                                                                      indent=1))
        raise
    finally:
        context.close()
    assert blocked == [], blocked  # JupyterLab and the widgets need nothing beyond the server
    assert not errors, errors
