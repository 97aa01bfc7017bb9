"""Run the notebooks headlessly and write one self-contained, offline HTML page per notebook.

Pipeline per notebook: papermill executes ``notebooks/NN_*.ipynb`` with ``interactive=False`` (so
figures use plotly's own sliders, which work without a kernel) → the executed notebook is written
to the output folder → nbconvert renders it with the ``offline`` template (JupyterLab's look, no
require.js, MathJax or other CDN script) → ``index.html`` lists every notebook with its parameters,
git revision, status, run time, a thumbnail of its first figure (PNG, made offline by kaleido) and
a link. A failing notebook is listed with its error; the others still build.

Conventions a notebook follows to make a good page:

- Smoke parameters (small, fast settings) live in the notebook's metadata as
  ``metadata["workbench"]["smoke"] = {name: value}``.
- **Summary cell.** A code cell tagged ``summary`` whose output is a short table (HTML or markdown) of
  the notebook's key numbers. The page shows its output first, right under the title, without its
  code; the cell itself may sit anywhere (usually last, after the numbers exist).
- **Progress.** Long loops use :func:`progress`: a tqdm widget in JupyterLab, plain text tqdm in
  batch runs (a widget would stay frozen at 0% in the static page).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import nbformat

from workbench.cache import atomic_write, remove_stale_temps
from workbench.errors import InputError, ReportWarning
# two steps of a build live in their own modules: which notebooks with which parameters (report_params), and
# running one in a kernel (report_kernel); their names are this module's API too (__all__)
from workbench.report_kernel import (_STOPPING, CELL_TIMEOUT, KERNEL_NAME, NO_KERNEL, kernel_config, kill_live_kernels,
                                     report_kernel_manager, run_notebook)
from workbench.report_params import (NOTEBOOK_DIR, NOTEBOOK_GLOB, PACKAGE_DIR, coerce, declared_parameters, discover,
                                     resolve_parameters, select, smoke_parameters)

__all__ = [
    "build_reports", "progress", "git_revision", "export_html", "write_index", "write_thumbnails", "first_figure",
    "summary_first", "value_text", "plain_mathml", "note_overridden_defaults",
    # from report_params
    "NOTEBOOK_DIR", "NOTEBOOK_GLOB", "PACKAGE_DIR", "coerce", "declared_parameters", "discover", "resolve_parameters",
    "select", "smoke_parameters",
    # from report_kernel
    "CELL_TIMEOUT", "KERNEL_NAME", "NO_KERNEL", "kernel_config", "kill_live_kernels", "report_kernel_manager",
    "run_notebook",
]

TEMPLATE_DIR = PACKAGE_DIR / "templates"
TEMPLATE_NAME = "offline"
INDEX_TEMPLATE = "index.html.j2"
SUMMARY_TAG = "summary"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
THUMBNAIL_SIZE = (720, 450)  # figure size in pixels; written at scale 0.5, i.e. a 360 × 225 PNG


_LOG_LOCK = threading.Lock()


def _log(message: str) -> None:
    """One progress line on stderr, written whole: ``print`` writes the text and the newline separately, and
    notebooks in threads ran their lines together ("01: running ...[2/7] 02: running ...")."""
    with _LOG_LOCK:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


# ----------------------------------------------------------------------------------------------
# provenance and progress


def _changed(before: str, after: str) -> str:
    """A revision label that says when the project's code changed between two readings."""
    return before if after == before else f"{before}, then {after} (the code changed during the run)"


def git_revision(repo_dir: str | Path | None = None) -> str:
    """``git rev-parse --short HEAD`` of the project (``"unknown"`` outside git), ``+modified`` if tracked files changed."""
    cwd = str(repo_dir or PACKAGE_DIR.parent)
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0 or not rev.stdout.strip():
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+modified" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def progress(iterable=None, *, interactive: bool, **tqdm_kwargs):
    """A progress bar for a long loop in a notebook: a widget in JupyterLab, plain text in batch runs.

    ``interactive`` is the notebook's parameter. A tqdm widget in a static page stays frozen at 0%,
    so batch runs (the reports) get text tqdm, which papermill's ``coalesce_streams`` collapses to the
    final line, e.g. ``fits: 100%|██████████| 12/12 [00:03<00:00]``.
    """
    if interactive:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
        tqdm_kwargs.setdefault("mininterval", 1.0)  # few updates: the page keeps only the last anyway
        tqdm_kwargs.setdefault("file", sys.stdout)  # stdout, not the red stderr box
    return tqdm(iterable, **tqdm_kwargs)


# ----------------------------------------------------------------------------------------------
# render and index


def first_figure(nb: nbformat.NotebookNode) -> dict | None:
    """The plotly JSON of the notebook's first figure output (``workbench.plots.show`` emits it), or None."""
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            fig = output.get("data", {}).get(PLOTLY_MIME)
            if isinstance(fig, dict) and fig.get("data"):
                return {"data": fig["data"], "layout": fig.get("layout", {})}
    return None


def write_thumbnails(figures: Mapping[str, dict], out_dir: Path) -> tuple[dict[str, str], str | None]:
    """PNG thumbnails ``NAME.png`` of ``{name: plotly JSON}``, all in one kaleido browser session.

    Returns ``({name: file name}, None)``, or ``({}, reason)`` when kaleido cannot run (no Chromium,
    ...): a report without thumbnails still builds.
    """
    if not figures:
        return {}, None
    import plotly.io as pio

    names = list(figures)
    files = [out_dir / f"{name}.png" for name in names]
    width, height = THUMBNAIL_SIZE
    try:
        pio.write_images([figures[n] for n in names], files, format="png", width=width, height=height,
                         scale=0.5, validate=False)
    except Exception as exc:  # kaleido or its browser missing or broken: the index says so and goes on
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return {}, f"{type(exc).__name__}: {first_line}"
    return {n: f.name for n, f in zip(names, files) if f.exists()}, None


def summary_first(nb: nbformat.NotebookNode) -> int:
    """Move the cells tagged ``summary`` to just under the title (first markdown cell); returns how many moved.

    A figure in a summary cell is not drawn on the page, and a ``ReportWarning`` says so: plotly.js is inlined by
    the first figure the notebook showed, which then comes after the summary."""
    summary = [c for c in nb.cells if SUMMARY_TAG in c.metadata.get("tags", [])]
    if not summary:
        return 0
    if any("Plotly.newPlot" in str(o.get("data", {}).get("text/html", "")) for c in summary for o in c.get("outputs", [])):
        warnings.warn("a cell tagged summary shows a plotly figure, which the report page cannot draw above the "
                      "notebook's first figure (it carries plotly.js); show key numbers there, figures below",
                      ReportWarning, stacklevel=2)
    rest = [c for c in nb.cells if SUMMARY_TAG not in c.metadata.get("tags", [])]
    at = 1 if rest and rest[0].cell_type == "markdown" else 0
    nb.cells = rest[:at] + summary + rest[at:]
    return len(summary)


def value_text(value: Any) -> str:
    """A parameter value as a reader wants it: ``1e+12`` rather than ``1000000000000.0``, lists likewise."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(value_text(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _run_line(parameters: Mapping[str, Any], run: Mapping[str, Any] | None) -> str:
    listed = ", ".join(f"`{k} = {value_text(v)}`" for k, v in parameters.items()) or "the notebook's defaults"
    line = f"*Report run with parameters* {listed}"
    if run:
        line += (f" · revision `{run.get('revision', 'unknown')}` · {run.get('status', '?')} in "
                 f"{float(run.get('seconds', 0.0)):.1f} s · {run.get('built', '')}")
    return line


_PREFIXED_TAG = re.compile(r"<(/?)ns\d+:")
_PREFIX_DECLARATION = re.compile(r'\s+xmlns:ns\d+="[^"]*"')


def plain_mathml(page: str) -> str:
    """``page`` with namespace-prefixed tags made plain. nbconvert re-parses a heading's HTML to add its anchor link
    and writes the MathML in it back as ``<ns0:math>``, which browsers do not draw as math (notebook 04's heading
    "invariant m* = l^φ·w^ψ·d" lost its superscripts); HTML5 needs no prefix for MathML."""
    return _PREFIX_DECLARATION.sub("", _PREFIXED_TAG.sub(r"<\1", page))


def note_overridden_defaults(nb: nbformat.NotebookNode, parameters: Mapping[str, Any]) -> None:
    """In place: above the notebook's ``parameters`` cell, a line saying its values are the defaults and which ones
    this run set otherwise (the cell papermill injects with the run's values is hidden from the page, so a reader
    saw only the defaults)."""
    at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None)
    if at is None or not parameters:
        return
    listed = ", ".join(f"`{k} = {value_text(v)}`" for k, v in parameters.items())
    note = nbformat.v4.new_markdown_cell(f"*The notebook's parameters with their default values. This run set* {listed}.")
    note.metadata["tags"] = ["parameters-note"]
    nb.cells.insert(at, note)


def export_html(executed: Path, html_path: Path, parameters: Mapping[str, Any], *,
                run: Mapping[str, Any] | None = None) -> Path:
    """Render an executed notebook to one offline HTML page.

    The page reads: title, a line with the run's parameters (and ``run``'s revision, status, seconds,
    built), the ``summary`` cells' outputs without their code, then the notebook in order. The
    injected-parameters cell is hidden.
    """
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    from workbench.report_math import markdown_math_to_mathml

    nb = nbformat.read(executed, as_version=4)
    markdown_math_to_mathml(nb)
    note_overridden_defaults(nb, parameters)
    summary_first(nb)
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" else 0  # under the title, as summary_first
    info = nbformat.v4.new_markdown_cell(_run_line(parameters, run))
    info.metadata["tags"] = ["run-info"]
    nb.cells.insert(at, info)
    exporter = HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"injected-parameters"},
                                                         remove_input_tags={SUMMARY_TAG}), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    body = plain_mathml(body)
    with atomic_write(html_path) as tmp:  # a page open in a browser is never half of one
        tmp.write_text(body, encoding="utf-8")
    return html_path


def _notebook_info(path: Path, parameters: Mapping[str, Any]) -> dict:
    """Title and every parameter (default or as run) of a notebook, for the index."""
    nb = nbformat.read(path, as_version=4)
    rows = []
    for name, decl in declared_parameters(path).items():
        if name in parameters:
            rows.append({"name": name, "value": value_text(parameters[name]), "set": True})
        else:
            rows.append({"name": name, "value": str(decl.get("default")), "set": False})
    return {"title": nb.metadata.get("title") or path.stem, "all_parameters": rows,
            "has_summary": any(SUMMARY_TAG in c.metadata.get("tags", []) for c in nb.cells)}


INDEX_RECORDS = "index.json"
"""Beside ``index.html``: every listed page's row, so a build of some notebooks keeps the others' rows."""
_RECORD_KEYS = ("name", "title", "status", "seconds", "page", "thumbnail", "error", "has_summary", "all_parameters",
                "built", "smoke", "revision")


def _earlier_rows(out_dir: Path, names: set[str]) -> list[dict]:
    """Rows of an earlier build's pages in ``out_dir`` that this build did not redo (their page still there);
    nothing when there is no readable record (a folder built before records were kept, or a damaged file)."""
    import json

    try:
        rows = json.loads((out_dir / INDEX_RECORDS).read_text(encoding="utf-8"))
        rows = [r for r in rows if isinstance(r, dict) and set(_RECORD_KEYS) <= set(r)]
    except (OSError, ValueError, TypeError):  # TypeError: valid JSON that is no list of rows
        return []
    return [{**r, "earlier": True} for r in rows
            if r["name"] not in names and r["page"] and (out_dir / r["page"]).is_file()]


def write_index(out_dir: Path, reports: Sequence[dict], *, smoke: bool, revision: str = "unknown",
                thumbnail_error: str | None = None) -> Path:
    """``index.html``: one row per notebook (thumbnail, title and link, status, run time, parameters, error).
    Pages in ``out_dir`` from an earlier build that this one did not redo keep their rows, marked as such (a
    build of one notebook listed only that one, though the folder still held the others' pages).

    Plain HTML and CSS, no script: it opens from a file anywhere.
    """
    import json

    import jinja2

    from workbench import __version__

    built = dt.datetime.now().isoformat(timespec="seconds")
    rows = [{**r, "page": Path(r["html"]).name if r.get("html") else None, "built": r.get("built", built),
             "smoke": smoke, "revision": r.get("revision", revision), "earlier": False} for r in reports]
    rows = sorted(rows + _earlier_rows(out_dir, {r["name"] for r in rows}), key=lambda r: r["name"])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    page = env.get_template(INDEX_TEMPLATE).render(
        reports=rows, smoke=smoke, revision=revision, version=__version__, thumbnail_error=thumbnail_error,
        built=built, n_failed=sum(r["status"] != "ok" for r in rows if not r["earlier"]),
        n_earlier=sum(r["earlier"] for r in rows))
    index = out_dir / "index.html"
    with atomic_write(out_dir / INDEX_RECORDS) as tmp:
        tmp.write_text(json.dumps([{k: r.get(k) for k in _RECORD_KEYS} for r in rows], indent=1), encoding="utf-8")
    with atomic_write(index) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return index


MAX_JOBS = 64
"""Most notebooks ``build_reports`` runs at a time."""
STOP_WAIT = 30.0
"""Seconds an interrupted build of jobs > 1 waits for its notebook threads after killing their kernels."""


def _in_threads(build_one, paths: Sequence[Path], jobs: int) -> list:
    """``build_one(i, path)`` for every path, ``jobs`` at a time, results in the order of ``paths``; the first
    exception raised in a thread is raised here at once (the notebooks not started are dropped). Ctrl-C
    (KeyboardInterrupt here, in the main thread) kills the running kernels, so their threads end at once on
    a dead kernel, drops the notebooks not started, and is raised again."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="report")
    futures = [pool.submit(build_one, i, path) for i, path in enumerate(paths, 1)]
    try:  # an exception in any thread (not a failed notebook: a bug) stops the build when it happens
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in done:
            f.result()
        results = [f.result() for f in futures]
    except BaseException:
        _STOPPING.set()
        pool.shutdown(wait=False, cancel_futures=True)
        kill_live_kernels()
        # the threads end on their dead kernels, writing nothing more (cancelled futures never count as done)
        _, running = wait([f for f in futures if not f.cancelled()], timeout=STOP_WAIT)
        if not running:  # every thread has ended: kernels may start again in this process (run_notebook)
            _STOPPING.clear()
        raise
    pool.shutdown()
    return results


@contextlib.contextmanager
def _absolute_cache_env():
    """``$WORKBENCH_CACHE`` made absolute (against this process's working directory) while kernels run:
    they start in the notebook's folder, where a relative path would name another cache than the CLI's."""
    old = os.environ.get("WORKBENCH_CACHE")
    if old:
        os.environ["WORKBENCH_CACHE"] = os.path.abspath(old)
    try:
        yield
    finally:
        if old:
            os.environ["WORKBENCH_CACHE"] = old


@contextlib.contextmanager
def _papermill_cwd_unset():
    """papermill's local file handler, one for the process, chdirs the whole process to its ``cwd`` for each
    read and write; every ``execute_notebook`` sets it to the working directory and puts back the value it found.
    Notebooks in threads interleave those, so a value from an earlier build in another folder (a script or a
    test that changed folders between builds) could come back mid-build and send this process there while the
    others write. Unset (None: no chdir) before and after a build; during it, the threads only ever set this
    process's own working directory."""
    from papermill.iorw import papermill_io

    handler = papermill_io.get_handler("notebook.ipynb")  # the local one
    if hasattr(handler, "cwd"):
        handler.cwd(None)
    try:
        yield
    finally:
        if hasattr(handler, "cwd"):
            handler.cwd(None)


def build_reports(names: Sequence[str] | None = None, *, smoke: bool = False,
                  parameters: Mapping[str, Any] | None = None, out_dir: str | Path = "reports",
                  notebook_dir: str | Path | None = None, timeout: float | None = CELL_TIMEOUT,
                  thumbnails: bool = True, jobs: int = 1) -> dict:
    """Run the selected notebooks and write their HTML pages, thumbnails and ``index.html`` into ``out_dir``.

    Returns ``{"reports": [{name, title, status, seconds, html, thumbnail, error, input_error, parameters, executed,
    revision}], "index": path, "failed": bool, "bad_input": bool, "revision": str, "thumbnail_error": str | None}``
    (``bad_input``: every failed notebook stopped on an ``InputError``, a value it refused). Bad names or
    parameters raise :class:`InputError` before anything runs. ``thumbnails=False`` skips kaleido.
    A relative ``$WORKBENCH_CACHE`` reaches the kernels as an absolute path (against the caller's working
    directory), so the notebooks use the same cache as the CLI.

    ``jobs`` notebooks run at a time, each in its own kernel (a thread here waits on it); the pages and the
    index list them in the selected order whatever order they finish in. Notebooks train on one torch thread
    per process, and 03, 04 and 07 train their stacks in one worker process per core (their ``workers``
    parameter), so ``jobs=2`` on 2 cores keeps both cores busy throughout (``make report`` uses it): a build
    takes about its notebooks' CPU time over the cores, whichever runs beside which. Ctrl-C then kills the
    running kernels (with their workers, which share the kernel's process group) before it ends the build.
    """
    if not (isinstance(jobs, int) and not isinstance(jobs, bool) and 1 <= jobs <= MAX_JOBS):
        raise InputError(f"jobs must be an integer in [1, {MAX_JOBS}] (notebooks run at a time); got {jobs!r}")
    paths = select(names, notebook_dir)
    resolved = resolve_parameters(paths, parameters, smoke)
    out = Path(out_dir)
    if any(p.parent.resolve() == out.resolve() for p in paths):  # executed copies would replace the sources
        raise InputError(f"out_dir must not be the folder of the notebooks it runs; got {str(out_dir)!r}")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # a page half-written by a killed build
    revision = git_revision()
    _STOPPING.clear()  # an earlier build stopped by Ctrl-C in this process does not stop this one

    def build_one(i: int, path: Path) -> tuple[dict, dict | None]:
        _log(f"[{i}/{len(paths)}] {path.stem}: running{' (smoke)' if smoke else ''} ...")
        before = git_revision()
        r = run_notebook(path, out, resolved[path], timeout=timeout,
                         progress_bar=None if min(jobs, len(paths)) == 1 else False)  # bars of 2 would mix
        if _STOPPING.is_set():  # the build was interrupted: its kernel was killed, nothing more is written
            return r, None
        r.update(_notebook_info(path, resolved[path]), parameters=resolved[path], html=None, thumbnail=None)
        r["revision"] = _changed(before, git_revision())  # the code a notebook ran on, edits during its run named
        fig = None
        if r["executed"]:
            run_info = {"revision": r["revision"], "status": r["status"], "seconds": r["seconds"],
                        "built": dt.datetime.now().isoformat(timespec="seconds")}
            r["html"] = str(export_html(Path(r["executed"]), out / f"{path.stem}.html", resolved[path], run=run_info))
            fig = first_figure(nbformat.read(r["executed"], as_version=4))
        _log(f"[{i}/{len(paths)}] {path.stem}: {r['status']} in {r['seconds']:.1f} s"
             + (f" -- {r['error']}" if r["error"] else ""))
        return r, fig

    done = []  # pages written so far: an interrupted build still lists them in the index

    def build_and_keep(i: int, path: Path) -> tuple[dict, dict | None]:
        r, fig = build_one(i, path)
        if r.get("html"):
            done.append(r)
        return r, fig

    # the kernels, started in the notebooks' folder, share the CLI's cache
    try:
        with _absolute_cache_env(), _papermill_cwd_unset():
            if jobs == 1:
                built = [build_and_keep(i, path) for i, path in enumerate(paths, 1)]
            else:
                built = _in_threads(build_and_keep, paths, jobs)
    except KeyboardInterrupt:  # before: the pages already written were left out of any index
        if done:
            order = {p.stem: k for k, p in enumerate(paths)}
            write_index(out, sorted(done, key=lambda r: order[r["name"]]), smoke=smoke, revision=revision)
        raise
    reports = [r for r, _ in built]
    figures = {r["name"]: fig for r, fig in built if fig is not None}
    thumbnail_error = None
    if thumbnails and figures:
        _log(f"thumbnails: {len(figures)} figure(s) through kaleido ...")
        made, thumbnail_error = write_thumbnails(figures, out)
        for r in reports:
            r["thumbnail"] = made.get(r["name"])
        if thumbnail_error:
            _log(f"thumbnails: none made -- {thumbnail_error}")
    revision = _changed(revision, git_revision())
    index = write_index(out, reports, smoke=smoke, revision=revision, thumbnail_error=thumbnail_error)
    _log(f"index: {index}")
    failed = [r for r in reports if r["status"] != "ok"]
    return {"reports": reports, "index": str(index), "failed": bool(failed),
            # every failure a refused value (InputError, e.g. a bad -p): the CLI exits 2, as for bad arguments
            "bad_input": bool(failed) and all(r.get("input_error") for r in failed),
            "revision": revision, "thumbnail_error": thumbnail_error}
