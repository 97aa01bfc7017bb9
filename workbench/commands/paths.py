"""Checks of the path options (``--out``, ``--cache-dir``) that every verb makes before any work.

Kept apart from the sweep command (which imports torch) so that ``report`` can use them cheaply.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from workbench.errors import InputError


def check_out(out: str, flag: str = "--out") -> Path:
    """The output file path, checked before any work: not empty, not a folder, its folder creatable."""
    if not str(out).strip():
        raise InputError(f"{flag} must name a file; got {out!r}")
    path = Path(out)
    if path.is_dir():
        raise InputError(f"{flag} must name a file, not a folder; got {out!r}")
    _check_writable_under(path, flag, out)
    return path


def write_csv_atomic(table, out: str | Path, flag: str = "--out") -> Path:
    """Write the table to ``out`` via a temporary file, so an interrupted write never leaves half a CSV."""
    from workbench.cache import atomic_write

    out = check_out(out, flag)
    try:
        with atomic_write(out) as tmp:  # Ctrl-C or a failed write leaves no temp file beside the file
            table.to_csv(tmp, index=False)
    except OSError as exc:
        raise InputError(f"cannot write {flag} {str(out)!r}: {exc.strerror or exc}") from None
    return out


def check_folder(value: str, flag: str) -> Path:
    """An output folder, checked before any work: not empty, not a file, creatable (or writable if it exists)."""
    if not str(value).strip():
        raise InputError(f"{flag} must name a folder; got {value!r}")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} must name a folder, not a file; got {value!r}")
    _check_writable_under(path / "probe", flag, value)
    return path


def check_cache_dir(value: str | None, flag: str = "--cache-dir", sub: str | None = None) -> Path:
    """The cache folder a run will write to, checked before any work: not empty, not a file, creatable; with
    ``sub``, its subfolder the verb writes (``sweep``, ``prune``, ``costtune``) too, which a shared cache may
    hold read-only while the folder itself is writable.

    ``value`` None means the default, :func:`workbench.data.cache_dir` (``$WORKBENCH_CACHE`` or
    ``data/cache``): it is checked just the same, and the message names where it came from.
    """
    if value is not None:
        return _check_cache_folder(value, flag, sub)
    from workbench.data import cache_dir

    if os.environ.get("WORKBENCH_CACHE"):
        return _check_cache_folder(str(cache_dir()), "WORKBENCH_CACHE", sub)
    path = cache_dir()
    try:
        return _check_cache_folder(str(path), "the default cache folder", sub)
    except InputError as exc:
        raise InputError(f"{exc} (set WORKBENCH_CACHE or {flag} to a writable folder)") from None


def _check_cache_folder(value: str, flag: str, sub: str | None) -> Path:
    path = check_folder(value, flag)
    if sub is not None:
        inner = path / sub
        if inner.exists() and not inner.is_dir():
            raise InputError(f"{flag}: {str(inner)!r} is a file, so the {sub} cache cannot be written; got {value!r}")
        _check_writable_under(inner / "probe", flag, value)
    return path


def _check_writable_under(path: Path, flag: str, given: str) -> None:
    """The nearest existing folder above ``path`` takes a new file (os.access says yes to root even where
    a write fails, e.g. under /proc): create and remove a probe file there."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{flag}: {str(parent)!r} is a file, so {given!r} cannot be created")
            try:
                fd, probe = tempfile.mkstemp(dir=parent, prefix=".workbench-probe-")
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                raise InputError(f"{flag}: cannot write under {str(parent)!r} ({exc.strerror or exc}); "
                                 f"got {given!r}") from None
            return
