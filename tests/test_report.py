"""report: offline HTML per notebook + index; failures listed, others built; bad -p exits 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from workbench import report
from workbench.cli import main
from workbench.errors import InputError

SCRIPT_SRC_HTTP = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I)
LINK_HTTP = re.compile(r"<link[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", re.I)


def _write_nb(path: Path, params_src: str, body: list[str], smoke: dict | None = None) -> Path:
    cells = [new_markdown_cell(f"# {path.stem}")]
    p = new_code_cell(params_src)
    p.metadata["tags"] = ["parameters"]
    cells.append(p)
    cells += [new_code_cell(src) for src in body]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["workbench"] = {"smoke": smoke or {}}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of the repository's real notebooks (shared by the checks below)."""
    out = tmp_path_factory.mktemp("reports")
    result = report.build_reports(smoke=True, out_dir=out)
    return result, out


@pytest.mark.slow  # shares one smoke run of every notebook (~40 s)
def test_smoke_report_of_the_real_notebooks_builds(smoke_run):
    result, out = smoke_run
    names = [p.stem for p in report.discover()]
    assert [r["name"] for r in result["reports"]] == names and names
    assert not result["failed"], [(r["name"], r["error"]) for r in result["reports"]]
    for r in result["reports"]:
        assert r["status"] == "ok" and r["error"] is None
        assert r["parameters"]["interactive"] is False
        assert r["seconds"] <= 60
        assert Path(r["executed"]).parent == out  # executed notebooks go to the out folder


@pytest.mark.slow  # shares one smoke run of every notebook (~40 s)
def test_report_pages_are_offline_and_carry_the_figures_as_data(smoke_run):
    result, _ = smoke_run
    for r in result["reports"]:
        page = Path(r["html"]).read_text(encoding="utf-8")
        assert not SCRIPT_SRC_HTTP.search(page), f"{r['name']}: a script is loaded from the network"
        assert not LINK_HTTP.search(page), f"{r['name']}: a stylesheet is loaded from the network"
        assert "require.min.js" not in page and "MathJax.js" not in page
        assert page.count("plotly.js v") == 1  # the library once per page, not once per figure
        n_figs = page.count("Plotly.newPlot(")
        assert n_figs >= 2, f"{r['name']}: expected plotly figures in the page, found {n_figs}"
        assert '"sliders"' in page  # batch mode uses plotly's own sliders
        assert "injected-parameters" not in page and "Report run with parameters" in page


@pytest.mark.slow  # shares one smoke run of every notebook (~40 s)
def test_index_lists_every_notebook(smoke_run):
    result, out = smoke_run
    index = Path(result["index"]).read_text(encoding="utf-8")
    assert Path(result["index"]) == out / "index.html"
    assert "<script" not in index
    for r in result["reports"]:
        assert r["name"] in index
        assert f'href="{Path(r["html"]).name}"' in index


def test_failing_notebook_is_listed_and_the_others_still_build(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "01_fine.ipynb", "interactive: bool = True  # widgets or not\nn: int = 5  # points",
              ["import plotly.graph_objects as go\nfrom workbench import plots\n"
               "plots.show(go.Figure(go.Scatter(y=list(range(n)))))"], smoke={"n": 3})
    _write_nb(nbs / "02_broken.ipynb", "interactive: bool = True  # widgets or not",
              ["raise ValueError('planted failure')"])
    out = tmp_path / "out"
    code = main(["report", "--smoke", "--notebook-dir", str(nbs), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    result = json.loads(captured.out)
    assert "02_broken" in captured.err  # progress goes to stderr
    assert result["failed"] is True
    fine, broken = result["reports"]
    assert fine["status"] == "ok" and fine["parameters"] == {"n": 3, "interactive": False}
    assert broken["status"] == "failed" and "ValueError: planted failure" in broken["error"]
    page = Path(fine["html"]).read_text()
    assert page.count("Plotly.newPlot(") == 1 and not SCRIPT_SRC_HTTP.search(page)
    assert "planted failure" in Path(broken["html"]).read_text()  # the failing page shows its traceback
    index = (out / "index.html").read_text()
    assert "01_fine" in index and "02_broken" in index and "planted failure" in index


def test_cell_timeout_is_reported_as_a_failure(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "01_slow.ipynb", "interactive: bool = True  # widgets or not", ["import time\ntime.sleep(30)"])
    result = report.build_reports(notebook_dir=nbs, out_dir=tmp_path / "out", timeout=2)
    (r,) = result["reports"]
    assert r["status"] == "failed" and "Timeout" in r["error"]
    assert r["seconds"] < 25


@pytest.mark.parametrize("argv, needle", [
    (["-p", "no_such_parameter", "1"], "no_such_parameter"),
    (["02", "-p", "n_budgets", "many"], "n_budgets"),
    (["-p", "interactive", "True"], "interactive"),
    (["99_missing"], "99_missing"),
])
def test_bad_report_arguments_exit_2_before_running(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    code = main(["report", *argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and needle in captured.err and captured.err.startswith("error:")
    assert not out.exists()  # validated before anything ran


def test_parameter_coercion_follows_the_declared_type():
    assert report.coerce("n", "3", "int") == 3
    assert report.coerce("x", "1e22", "float") == 1e22
    assert report.coerce("flag", "false", "bool") is False
    assert report.coerce("xs", "[1, 2.5]", "list") == [1, 2.5]
    assert report.coerce("name", "m4", "str") == "m4"
    assert report.coerce("free", "hello", None) == "hello"
    with pytest.raises(InputError, match="'n' must be of type int"):
        report.coerce("n", "3.5", "int")


def test_select_accepts_number_stem_or_title():
    paths = report.discover()
    first = paths[0]
    assert report.select([first.stem[:2]]) == [first]
    assert report.select([first.stem]) == [first]
    assert report.select([first.stem[3:]]) == [first]
    assert report.select(None) == paths
