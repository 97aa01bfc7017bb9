"""Run the notebooks headlessly and write one self-contained, offline HTML page per notebook.

Pipeline per notebook: papermill executes ``notebooks/NN_*.ipynb`` with ``interactive=False`` (so
figures use plotly's own sliders, which work without a kernel) → the executed notebook is written
to the output folder → nbconvert renders it with the ``offline`` template (JupyterLab's look, no
require.js, MathJax or other CDN script) → ``index.html`` lists every notebook with its parameters,
status, run time and link. A failing notebook is listed with its error; the others still build.

Smoke parameters (small, fast settings) live in each notebook's metadata as
``metadata["workbench"]["smoke"] = {name: value}``.
"""

from __future__ import annotations

import ast
import datetime as dt
import html
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import nbformat

from workbench.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent
NOTEBOOK_DIR = PACKAGE_DIR.parent / "notebooks"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
TEMPLATE_NAME = "offline"
KERNEL_NAME = "python3"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# which notebooks, with which parameters


def discover(notebook_dir: str | Path | None = None) -> list[Path]:
    """The report's notebooks: ``NN_*.ipynb`` in ``notebook_dir`` (default: the repo's notebooks/), sorted."""
    folder = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    if not folder.is_dir():
        raise InputError(f"notebook_dir must be an existing folder; got {str(folder)!r}")
    return sorted(p for p in folder.glob(NOTEBOOK_GLOB) if not p.name.endswith(".executed.ipynb"))


def select(names: Sequence[str] | None, notebook_dir: str | Path | None = None) -> list[Path]:
    """Notebooks matching ``names`` (``01``, ``01_scaling_laws``, ``scaling_laws`` or the file name); all if empty."""
    available = discover(notebook_dir)
    if not names:
        if not available:
            raise InputError(f"no notebooks named NN_*.ipynb in {str(notebook_dir or NOTEBOOK_DIR)!r}")
        return available
    chosen = []
    for name in names:
        key = name[:-6] if name.endswith(".ipynb") else name
        hits = [p for p in available if key in (p.stem, p.stem[:2], p.stem[3:])]
        if len(hits) != 1:
            raise InputError(f"notebook names must each match one of {[p.stem for p in available]}; got {name!r}")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def declared_parameters(path: Path) -> dict[str, dict]:
    """The notebook's ``parameters`` cell as papermill reads it: name -> {inferred_type_name, default, help}."""
    import papermill as pm

    return dict(pm.inspect_notebook(str(path)))


def smoke_parameters(path: Path) -> dict[str, Any]:
    """The notebook's small parameters, ``metadata["workbench"]["smoke"]`` (empty if none)."""
    nb = nbformat.read(path, as_version=4)
    return dict(nb.metadata.get("workbench", {}).get("smoke", {}))


def coerce(name: str, value: Any, type_name: str | None) -> Any:
    """Turn a command-line string into the parameter's declared type (bool, int, float, str, literal)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    kind = (type_name or "None").lower()
    try:
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "str":
            return value
        return ast.literal_eval(text)  # lists, tuples, dicts, numbers, None
    except (ValueError, SyntaxError):
        if kind in ("none", "any"):
            return value  # undeclared type: keep the string
        raise InputError(f"parameter {name!r} must be of type {kind}; got {value!r}") from None


def resolve_parameters(paths: Sequence[Path], overrides: Mapping[str, Any] | None, smoke: bool) -> dict[Path, dict]:
    """Parameters for each notebook: its smoke values (if ``smoke``), then ``overrides``, then interactive=False.

    Every override must be a parameter of at least one selected notebook; it goes to the notebooks that
    declare it.
    """
    overrides = dict(overrides or {})
    if "interactive" in overrides and coerce("interactive", overrides["interactive"], "bool") is not False:
        raise InputError(f"parameter 'interactive' must be False in a report (widgets need a kernel); "
                         f"got {overrides['interactive']!r}")
    declared = {p: declared_parameters(p) for p in paths}
    known = set().union(*(d.keys() for d in declared.values())) if declared else set()
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"-p names must be parameters of the selected notebooks ({', '.join(sorted(known))}); "
                         f"got {', '.join(map(repr, unknown))}")
    out = {}
    for path, decl in declared.items():
        params: dict[str, Any] = {}
        if smoke:
            small = smoke_parameters(path)
            bad = sorted(set(small) - set(decl))
            if bad:
                raise InputError(f"metadata.workbench.smoke of {path.name} must name parameters of its "
                                 f"parameters cell; got {bad}")
            params.update(small)
        for name, value in overrides.items():
            if name in decl:
                params[name] = coerce(name, value, decl[name].get("inferred_type_name"))
        if "interactive" in decl:
            params["interactive"] = False
        out[path] = params
    return out


# ----------------------------------------------------------------------------------------------
# run and render


def run_notebook(path: Path, out_dir: Path, parameters: Mapping[str, Any], *, timeout: float | None = 600) -> dict:
    """Execute one notebook with papermill; returns {name, status, seconds, executed, error}."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    executed = out_dir / f"{path.stem}.ipynb"
    start = time.perf_counter()
    error = None
    try:
        pm.execute_notebook(str(path), str(executed), parameters=dict(parameters), kernel_name=KERNEL_NAME,
                            cwd=str(path.parent), execution_timeout=timeout, progress_bar=False,
                            store_widget_state=False, coalesce_streams=True)
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index}: {exc.ename}: {exc.evalue}"
    except CellTimeoutError as exc:
        error = f"CellTimeoutError: {str(exc).splitlines()[0] if str(exc) else 'a cell ran past the timeout'}"
    except DeadKernelError as exc:
        error = f"DeadKernelError: {exc}"
    return {"name": path.stem, "status": "ok" if error is None else "failed",
            "seconds": round(time.perf_counter() - start, 2),
            "executed": str(executed) if executed.exists() else None, "error": error}


def export_html(executed: Path, html_path: Path, parameters: Mapping[str, Any]) -> Path:
    """Render an executed notebook to one offline HTML page (injected-parameters cell hidden)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(executed, as_version=4)
    if parameters:
        listed = ", ".join(f"`{k} = {v!r}`" for k, v in parameters.items())
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"*Report run with parameters* {listed}"))
    exporter = HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"injected-parameters"}), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    html_path.write_text(body, encoding="utf-8")
    return html_path


def write_index(out_dir: Path, reports: Sequence[dict], *, smoke: bool) -> Path:
    """``index.html``: one row per notebook (name, parameters, status, run time, link, error); no scripts."""
    from workbench import __version__

    rows = []
    for r in reports:
        link = f'<a href="{html.escape(Path(r["html"]).name)}">report</a>' if r.get("html") else "—"
        params = ", ".join(f"{k}={v!r}" for k, v in r["parameters"].items()) or "defaults"
        error = f'<pre>{html.escape(r["error"])}</pre>' if r.get("error") else ""
        rows.append(f'<tr class="{r["status"]}"><td>{html.escape(r["name"])}</td><td><code>{html.escape(params)}'
                    f'</code></td><td>{r["status"]}</td><td>{r["seconds"]:.1f} s</td><td>{link}</td>'
                    f'<td>{error}</td></tr>')
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>scaling-workbench reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3em .6em; vertical-align: top; }}
tr.failed td {{ background: #fde8e8; }} tr.ok td:nth-child(3) {{ color: #1a7f37; }}
pre {{ margin: 0; white-space: pre-wrap; max-width: 50em; }}
</style></head><body>
<h1>scaling-workbench reports</h1>
<p>{"Smoke run (each notebook's small parameters). " if smoke else ""}Built {stamp}, workbench {__version__}.</p>
<table>
<tr><th>notebook</th><th>parameters</th><th>status</th><th>run time</th><th>page</th><th>error</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build_reports(names: Sequence[str] | None = None, *, smoke: bool = False,
                  parameters: Mapping[str, Any] | None = None, out_dir: str | Path = "reports",
                  notebook_dir: str | Path | None = None, timeout: float | None = 600) -> dict:
    """Run the selected notebooks and write their HTML pages and ``index.html`` into ``out_dir``.

    Returns ``{"reports": [{name, status, seconds, html, error, parameters, executed}], "index": path,
    "failed": bool}``. Bad names or parameters raise :class:`InputError` before anything runs.
    """
    paths = select(names, notebook_dir)
    resolved = resolve_parameters(paths, parameters, smoke)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for i, path in enumerate(paths, 1):
        _log(f"[{i}/{len(paths)}] {path.stem}: running{' (smoke)' if smoke else ''} ...")
        r = run_notebook(path, out, resolved[path], timeout=timeout)
        r["parameters"] = resolved[path]
        r["html"] = None
        if r["executed"]:
            r["html"] = str(export_html(Path(r["executed"]), out / f"{path.stem}.html", resolved[path]))
        _log(f"[{i}/{len(paths)}] {path.stem}: {r['status']} in {r['seconds']:.1f} s"
             + (f" -- {r['error']}" if r["error"] else ""))
        reports.append(r)
    index = write_index(out, reports, smoke=smoke)
    _log(f"index: {index}")
    return {"reports": reports, "index": str(index), "failed": any(r["status"] != "ok" for r in reports)}
