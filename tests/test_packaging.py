"""pyproject.toml is the source of truth for dependencies; environment.yml mirrors it."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {r.replace(" ", "") for r in project["dependencies"]}
    wanted |= {r.replace(" ", "") for r in project["optional-dependencies"]["test"]}
    lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_items = {ln.strip()[2:].strip().replace(" ", "") for ln in lines
                 if ln.startswith("      - ") and not ln.strip().startswith("- -e")}
    assert pip_items == wanted


def test_torch_is_pinned_and_named_packages_present():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    names = {_name(d) for d in deps}
    for pkg in ("jupyterlab", "ipywidgets", "torch", "pandas", "plotly", "scipy", "lmfit", "papermill",
                "anywidget"):
        assert pkg in names, pkg
