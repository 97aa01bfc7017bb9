"""Errors the CLI turns into one line on stderr: bad user input (exit 2) and an interruption (exit 130)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Sequence

import numpy as np


class InputError(ValueError):
    """Bad user input: the message names the parameter, the rule and the bad value."""


class CacheWarning(UserWarning):
    """A cache file that cannot be the entry asked for (unreadable, not the format, another configuration's
    result): it is ignored, so the result is computed again and the file replaced. The CLI prints it as one
    line on stderr (``warning: ...``)."""


class WorkersWarning(UserWarning):
    """More worker processes were asked for than fit the CPU cores at the torch thread count: fewer are used
    (:func:`workbench.workers.worker_count`). The CLI prints it as one line on stderr (``warning: ...``)."""


class ReportWarning(UserWarning):
    """A notebook's page will not show something as the notebook does (e.g. a figure in a ``summary`` cell)."""


class CacheWriteError(InputError):
    """A cache file could not be written (disk full, read-only folder): the message names the file and the
    reason. Every entry written before it is kept, so a rerun once the cause is fixed resumes."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a batch scheduler's time limit), as the CLI's handler raises it: a
    KeyboardInterrupt, so that a verb stops exactly as for Ctrl-C (finished rows kept, worker processes ended,
    one line on stderr), and exits 143 (128 + SIGTERM)."""


def stopped_by(exc: BaseException) -> str:
    """What stopped a run, for its one-line message: ``SIGTERM`` for :class:`Terminated`, else ``Ctrl-C``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"


def exit_code_of(exc: BaseException | None) -> int:
    """The exit status of a run stopped by ``exc``, as a shell reports a command ended by that signal: 143
    (128 + SIGTERM) for :class:`Terminated`, else 130 (128 + SIGINT, Ctrl-C)."""
    return 143 if isinstance(exc, Terminated) else 130


class Interrupted(Exception):
    """A verb stopped by Ctrl-C (SIGINT) or SIGTERM (``cause``, the KeyboardInterrupt caught): the message says
    what is kept and how to resume. The CLI prints it as one line on stderr and exits ``exit_code``: 130
    (128 + SIGINT) or 143 (128 + SIGTERM), as a shell reports a command ended by that signal."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.exit_code = exit_code_of(cause)


def repeats(values: Sequence[Any]) -> list:
    """The values given more than once, each once, in the order of their second occurrence (compared with
    ``==``, so unhashable values such as lists work too); empty when every value is distinct."""
    values, out = list(values), []
    for i, v in enumerate(values):
        if v in values[:i] and v not in out:
            out.append(v)
    return out


def is_real_number(value: Any) -> bool:
    """A real number (int, float, numpy scalar or 0-d numeric array such as ``np.array(2.5)``), not a bool or a
    string."""
    if getattr(value, "ndim", None) == 0 and getattr(getattr(value, "dtype", None), "kind", "") in "iuf":
        return True  # a 0-d array (np.array(2.5)), e.g. a reduction's result: it works wherever a float does
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A real number (:func:`is_real_number`) that is neither infinite nor NaN."""
    return is_real_number(value) and math.isfinite(value)


def is_whole_number(value: Any) -> bool:
    """A finite real number with no fractional part (3, 3.0 or a numpy integer; not 2.5, '3', True or None)."""
    return is_finite(value) and int(value) == value


def canonical_numbers(config: Any) -> None:
    """Give a frozen config dataclass's numeric fields their declared plain types, in place: a whole-number
    ``8.0`` or ``np.int64(8)`` in an ``int`` field becomes ``8``, an ``int`` or ``np.float64`` in a ``float``
    field a ``float``, a ``np.bool_`` in a ``bool`` field a ``bool``, and the same inside ``tuple[int, ...]`` and
    ``tuple[float, ...]`` fields (a list, a range or a 1-D array becomes a tuple). The value is
    unchanged; its type matters because a config's repr seeds its minibatches and its JSON keys its cache:
    ``label_noise=0`` trained other students than ``label_noise=0.0``, under another key (and widths given as a
    numpy array made a config that could not be compared or hashed). Values that are not such numbers are left
    for the config's ``validate`` to name."""
    def plain(kind: str, v: Any) -> Any:
        try:
            if kind == "int" and type(v) is not int and is_whole_number(v):
                return int(v)
            if kind == "float" and type(v) is not float and is_real_number(v):
                return float(v)
            if kind == "bool" and isinstance(v, np.bool_):
                return bool(v)
        except OverflowError:  # 10**400 is no float: validate names it
            pass
        return v

    for f in dataclasses.fields(config):
        kind, v = getattr(f.type, "__name__", str(f.type)), getattr(config, f.name)
        if kind in ("tuple[int, ...]", "tuple[float, ...]") and (
                isinstance(v, (list, tuple, range)) or (isinstance(v, np.ndarray) and v.ndim == 1)):
            new = tuple(plain(kind[6:-6], u) for u in v)
        else:
            new = plain(kind, v)
        if new is not v:
            object.__setattr__(config, f.name, new)


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int >= 0 (numpy's ``default_rng`` takes any such int), or an InputError naming it: a
    float, a string, None or a Generator was a TypeError from inside numpy (or from ``seed < 0``)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"{name} must be an int >= 0 (it seeds numpy's default_rng); got {seed!r}")
    return int(seed)


def check_flag(value: Any, name: str) -> bool:
    """``value`` as a bool (Python's or numpy's), or an InputError naming it: a count such as 100 (what the
    bootstrap parameters that ``interval`` replaced took), a string or None is refused, not read as truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_bootstrap(value: Any, name: str = "bootstrap", what: str = "resamples") -> int:
    """``value`` as an int that is 0 (no intervals) or >= 2 (a percentile interval needs two resamples), or an
    InputError naming ``name``: 1, a negative count, 2.5, True or '100' is refused, never rounded or read."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0 or value == 1:
        raise InputError(f"{name} must be 0 (no intervals) or an integer >= 2 ({what}); got {value!r}")
    return int(value)


def no_missing(df, cols: Sequence[Any]) -> None:
    """Refuse a missing (NaN) value in the columns ``cols`` of the DataFrame ``df``: pandas' groupby and mean
    skip such rows unsaid (a mean over fewer seeds than counted, a group that vanishes)."""
    for c in dict.fromkeys(cols):
        na = df[c].isna().to_numpy()
        if na.any():
            label = df.index[int(na.argmax())]
            label = label.item() if isinstance(label, np.generic) else label  # 11, not np.int64(11)
            raise InputError(f"column {c!r} must have no missing (NaN) values; got {int(na.sum())} "
                             f"(first in {row_name(df.index, repr(label))}): drop or fill those rows first")


def column_not_found(name: str, columns: Sequence[Any], what: str = "column") -> InputError:
    """InputError for a column ``name`` missing from ``columns``, listing them; when a column differs from
    ``name`` only by spaces around it (a header written with ', ' between names), it says so, since the
    list alone shows ' D' as an invisible D."""
    message = f"{what} {name!r} not found; available columns: {', '.join(map(str, columns))}"
    padded = [c for c in columns if isinstance(c, str) and c != c.strip() and c.strip() == str(name).strip()]
    if padded:
        message += (f" (the header has {padded[0]!r}, with spaces around the name: written with ', ' between "
                    "names? remove the spaces from the header)")
    elif str(name) != str(name).strip() and str(name).strip() in list(columns):
        message += f" (the name given has spaces around it; the column is {str(name).strip()!r})"
    return InputError(message)


DATA_ROW = "data_row"
"""Name of the index a CSV read by the CLI carries: data rows counted from 1 below the header."""


def row_name(index: Any, label: Any) -> str:
    """How an error names a row of a table: ``row 3`` (its index label), or ``data row 3 of the file`` for a
    CSV read by the CLI (its index named :data:`DATA_ROW`: the header not counted, the first row 1)."""
    return f"data row {label} of the file" if getattr(index, "name", None) == DATA_ROW else f"row {label}"


def non_real(values, text: bool = True) -> tuple[int | tuple, object] | None:
    """(index, value) of the first entry of ``values`` that is a boolean, a complex number or (``text``) a
    string; None when there is none. numpy's float conversion reads True as 1.0, drops an imaginary part
    with only a warning and parses '1e9' as a number: a wrong input that would be used without a word."""
    arr = np.asarray(values)
    if isinstance(values, (list, tuple)):  # numpy reads [True, 2.0] as the floats [1.0, 2.0]: look closer
        if arr.ndim == 1 and arr.dtype.kind in "iuf":  # only a boolean can hide in a flat list of numbers
            if not {bool, np.bool_} & set(map(type, values)):  # the types in C: a 1e6 list in ~30 ms
                return None
            i = next(j for j, v in enumerate(values) if isinstance(v, (bool, np.bool_)))
            return i, values[i]
        arr = np.asarray(values, dtype=object)  # nested or mixed: entry by entry
    kinds = "bc" + ("US" if text else "")
    types = (bool, np.bool_, complex, np.complexfloating) + ((str, bytes) if text else ())
    flat = arr.ravel()
    if arr.dtype.kind in kinds:
        i = 0 if flat.size else None
    elif arr.dtype.kind == "O":
        i = next((j for j, v in enumerate(flat) if isinstance(v, types)), None)
    else:
        i = None
    if i is None:
        return None
    return (i if arr.ndim <= 1 else tuple(int(j) for j in np.unravel_index(i, arr.shape))), flat[i]


def describe_non_real(value) -> str:
    """What :func:`non_real` found, and why it is refused."""
    value = value.item() if isinstance(value, np.generic) else value  # True, not np.True_
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {value!r} (it would be read as 1.0 or 0.0)"
    if isinstance(value, (complex, np.complexfloating)):
        return f"the complex number {value!r} (its imaginary part would be dropped; pass .real if it is 0)"
    return f"the text {value!r} (convert it to a number first)"


def real_values(values, name: str) -> np.ndarray:
    """``values`` as a float array, or an InputError naming ``name`` and the first boolean, complex or text
    entry (see :func:`non_real`)."""
    bad = non_real(values)
    if bad is not None:
        raise InputError(f"{name} must hold real numbers; got {describe_non_real(bad[1])} at index {bad[0]}")
    return np.asarray(values, dtype=float)
