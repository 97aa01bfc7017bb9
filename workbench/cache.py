"""Cache files written whole and read with suspicion: the pieces the sweep, pruning and cost-tuning caches share.

A cache file is written with :func:`atomic_write` (a temp file beside it, then ``os.replace``), so a reader
never sees half of one; the rows of one trained stack are written inside :func:`deferred_interrupts`, so Ctrl-C
keeps all of them or none. A file is read back with :func:`read_cached`, which returns it only when a check
finds it to be the entry asked for; anything else (unreadable, not JSON, another configuration's entry) is
named in a :class:`~workbench.errors.CacheWarning` and computed again. A process killed outright (``kill
-9``, power loss) inside a write leaves its temp file: :func:`remove_stale_temps` clears those left an hour
or more ago when a sweep, a pruning study or a report build starts, and when an outcome table or the AMC
student is asked for.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench.errors import CacheWarning, CacheWriteError, is_real_number

TEMP_PREFIX = ".tmp-"
"""How :func:`atomic_write` begins its temp files' names (hidden files, beside the file being written)."""
STALE_TEMP_SECONDS = 3600.0
"""A temp file this old is a killed writer's leftover, not a write in progress (a write takes milliseconds)."""


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write ``path`` all at once: yields a temporary file beside it (same suffix) for the caller to write;
    on success it is made world-readable (cache files are shared) and moved onto ``path`` with ``os.replace``;
    on any error or interruption (Ctrl-C) it is removed, so neither half a file nor a stray temp is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT), and SIGTERM where the CLI handles it (``errors.Terminated``), back until the block
    ends, then deliver the first one: for a few quick writes that belong together, such as the cache rows of one
    trained stack, so that an interruption keeps all of them or none (a stack resumed in part is trained as a
    smaller stack, whose numbers differ by float rounding). Signal handlers live in the main thread: elsewhere,
    or for a signal ignored or left to the system, the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {s: h for s in (signal.SIGINT, signal.SIGTERM) if callable(h := signal.getsignal(s))}
    caught: list = []
    for s in held:
        signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s, h in held.items():
            signal.signal(s, h)
        if caught:
            held[caught[0][0]](*caught[0])  # the handler raises here (KeyboardInterrupt, Terminated)


def remove_stale_temps(folder: str | Path, min_age: float = STALE_TEMP_SECONDS) -> int:
    """Delete the temp files :func:`atomic_write` left in ``folder`` at least ``min_age`` seconds ago (a writer
    killed by SIGKILL or a power loss cannot remove its own); return how many. Newer ones may be another
    process's write in progress and are kept; a file that vanishes or cannot be removed meanwhile is skipped."""
    removed, now = 0, time.time()
    try:
        candidates = list(Path(folder).glob(TEMP_PREFIX + "*"))
    except OSError:
        return 0
    for path in candidates:
        try:
            if now - path.stat().st_mtime >= min_age and path.is_file():
                path.unlink()
                removed += 1
        except OSError:  # gone already (another run cleaned it), or a read-only folder
            continue
    return removed


def config_mismatch(row, expected: dict, measured: tuple[str, ...], text: tuple[str, ...] = ()) -> str | None:
    """Why ``row`` (as read from JSON) is not a row with the config columns ``expected`` and the columns
    ``measured`` (numbers, NaN included, but for those named in ``text``); None when it is. ``expected`` is
    compared as JSON would store it (tuples as lists)."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    for name, value in json.loads(json.dumps(expected)).items():
        if name not in row:
            return f"no {name!r} column"
        if row[name] != value:
            return f"{name} is {row[name]!r}, not {value!r}"
    for name in measured:
        if name not in row:
            return f"no {name!r} column"
        if name not in text and not is_real_number(row[name]):
            return f"{name} is {row[name]!r}, not a number"
    return None


def read_json(path: Path):
    """The JSON value the file ``path`` holds (:func:`read_cached`'s default reader)."""
    return json.loads(Path(path).read_text())


def read_cached(path: Path, check: Callable[[Any], str | None], warn: bool = True,
                load: Callable[[Path], Any] = read_json, unreadable: tuple[type[BaseException], ...] = (),
                stacklevel: int = 3):
    """What ``load(path)`` reads (JSON by default) when ``check(value)`` finds nothing wrong (it returns None,
    or why not); None when the file is missing, or (with a :class:`~workbench.errors.CacheWarning` when
    ``warn``) when it cannot be read or fails the check: the caller then computes the entry again and
    replaces the file. ``unreadable``: the exceptions beyond OSError and ValueError by which ``load`` says
    a file is damaged or not its format. ``stacklevel``: the frame the warning names, counted from this
    function (3: the caller of the function that called it)."""
    try:
        value = load(path)
        problem = check(value)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, *unreadable) as exc:  # ValueError: bad JSON, an empty or truncated file, not UTF-8
        problem = f"unreadable: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    if problem is None:
        return value
    if warn:
        warnings.warn(f"ignoring the cache file {path} ({problem}); computing it again", CacheWarning,
                      stacklevel=stacklevel)
    return None


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to path at once (:func:`atomic_write`); a file that cannot be written (disk
    full, read-only folder) is a :class:`~workbench.errors.CacheWriteError` naming it and the reason."""
    try:
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(obj))
    except OSError as exc:
        raise CacheWriteError(f"cannot write the cache file {path} ({exc.strerror or exc})") from None


