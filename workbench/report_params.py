"""Which notebooks a report runs, and with which parameters: discovery, the parameters a notebook declares
(papermill's ``parameters`` cell), its smoke values, and command-line strings turned into the declared types."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Mapping, Sequence

import nbformat

from workbench.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent
NOTEBOOK_DIR = PACKAGE_DIR.parent / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


def discover(notebook_dir: str | Path | None = None) -> list[Path]:
    """The report's notebooks: ``NN_*.ipynb`` in ``notebook_dir`` (default: the repo's notebooks/), sorted."""
    folder = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    if not folder.is_dir():
        raise InputError(f"notebook_dir must be an existing folder; got {str(folder)!r}")
    return sorted(p for p in folder.glob(NOTEBOOK_GLOB) if not p.name.endswith(".executed.ipynb"))


def select(names: Sequence[str] | None, notebook_dir: str | Path | None = None) -> list[Path]:
    """Notebooks matching ``names`` (``01``, ``01_scaling_laws``, ``scaling_laws`` or the file name); all if empty.
    One name may be given as a string."""
    if isinstance(names, str):  # "02_compute_planner" was read letter by letter ("got '0'")
        names = [names]
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


_CONTAINERS = {"list": list, "tuple": tuple, "dict": dict, "set": set}
_EXAMPLES = {"list": "[1e18, 1e19]", "tuple": "(1, 2)", "dict": '{"a": 1}', "set": "{1, 2}"}


_LITERAL_PARTS = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp,
                  ast.Load, ast.USub, ast.UAdd, ast.Add, ast.Sub)


def _not_a_literal(text: str) -> str | None:
    """The first part of ``text`` that is Python but no literal, as written (a name such as ``nan``, a
    call); None when there is none (a literal, or not Python at all)."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return None
    return next((ast.unparse(node) for node in ast.walk(tree) if not isinstance(node, _LITERAL_PARTS)), None)


def coerce(name: str, value: Any, type_name: str | None) -> Any:
    """Turn a command-line string into the parameter's declared type (bool, int, float, str, literal).

    A container type (list, tuple, dict, set) must be given as a Python/JSON literal of that type:
    ``-p isoflop_budgets 5`` for a ``list`` parameter is refused, not handed to the notebook as an int.
    """
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
        parsed = ast.literal_eval(text)  # lists, tuples, dicts, numbers, None
        if kind in _CONTAINERS and not isinstance(parsed, _CONTAINERS[kind]):
            raise ValueError
        return parsed
    except (ValueError, SyntaxError):
        if kind in ("none", "any"):
            return value  # undeclared type: keep the string
        example = f" (e.g. -p {name} '{_EXAMPLES[kind]}')" if kind in _EXAMPLES else ""
        part = _not_a_literal(text) if kind in _CONTAINERS else None
        if part is not None:  # e.g. '[nan]': a list, but nan is a name (float('nan') is a call)
            raise InputError(f"parameter {name!r} could not be read as a {kind}: {part} is not a Python literal (a "
                             f"number, quoted string, True, False or None); got {value!r}") from None
        raise InputError(f"parameter {name!r} must be of type {kind}{example}; got {value!r}") from None


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
