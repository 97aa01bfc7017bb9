"""Back-tests of extrapolation: fit on a subset, predict the rest, score the prediction.

Two ways to choose the fit subset, as in the papers: a ``Training``-style 0/1 column
(Alabdulmohsin et al. 2022 mark each learning curve's held-out tail this way), or the smallest-scale
fraction of the points (Rosenfeld et al. 2020 fit on small models and data, predict large ones).
Scores: mean/std of the relative divergence (Rosenfeld) and RMSE of log (Alabdulmohsin).
:func:`window_fits` fits one curve on growing windows (the points up to each x), for views of how an
extrapolation moves as data arrives.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from workbench.errors import InputError, column_not_found, is_real_number, real_values, row_name
from workbench.fit import FitResult, fit_frame, fit_law, fit_metrics, frame_columns
from workbench.laws import get_law


@dataclass(frozen=True)
class Backtest:
    fit: FitResult
    train_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    n_train: int
    n_holdout: int

    def to_dict(self) -> dict:
        return {"train_metrics": self.train_metrics, "holdout_metrics": self.holdout_metrics,
                "n_train": self.n_train, "n_holdout": self.n_holdout}


def holdout_mask(df: pd.DataFrame, column: str) -> np.ndarray:
    """True for rows to fit on: ``column`` must hold only 0 and 1 (1 = fit, 0 = held out)."""
    if column not in df.columns:
        raise column_not_found(column, df.columns, "holdout column")
    values = pd.to_numeric(df[column], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        row, value = df.index[bad.to_numpy()][0], df[column][bad].iloc[0]
        value = value.item() if isinstance(value, np.generic) else value  # 2, not np.int64(2)
        got = "an empty or NaN value" if isinstance(value, float) and value != value else repr(value)
        raise InputError(f"holdout column {column!r} must contain only 0 (held out) and 1 (fit); "
                         f"got {got} at {row_name(df.index, row)}")
    return values.to_numpy() == 1


def small_scale_mask(df: pd.DataFrame, x_cols: Sequence[str], fraction: float) -> np.ndarray:
    """True for points whose every input is at or below its ``fraction`` quantile (the small-scale corner)."""
    if not (is_real_number(fraction) and 0 < fraction < 1):  # '0.5' was a TypeError from the comparison
        raise InputError(f"fraction must be a number in (0, 1) (fit on the points at or below each input's "
                         f"fraction quantile); got {fraction!r}")
    mask = np.ones(len(df), dtype=bool)
    for col in x_cols:
        if col not in df.columns:
            raise column_not_found(col, df.columns)
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:  # np.quantile of a column with a NaN is NaN: no point would be 'small'
            raise InputError(f"column {col!r} has {bad.size} missing, non-numeric or infinite value(s) "
                             f"(first at {row_name(df.index, df.index[bad[0]])}); drop or fix them before splitting")
        mask &= v <= np.quantile(v, fraction)
    return mask


def backtest(law, df: pd.DataFrame, x_cols: Sequence[str], y_col: str, *, holdout: str | None = None,
             fraction: float | None = None, mask: np.ndarray | None = None, **fit_kwargs) -> Backtest:
    """Fit on the chosen subset, report metrics on it and on the remaining (held-out) points."""
    if sum(v is not None for v in (holdout, fraction, mask)) != 1:
        raise InputError("backtest needs exactly one of holdout=COLUMN, fraction=F or mask=ARRAY")
    if holdout is not None:
        mask = holdout_mask(df, holdout)
    elif fraction is not None:
        if "density" in get_law(law).inputs:  # helper-72: it fitted the sparsest half and scored the dense one
            raise InputError(f"fraction= fits the points at or below each input's quantile, the small-scale corner "
                             f"where a larger input is a larger scale; law {get_law(law).name!r} takes a density, "
                             "for which that corner is the sparsest networks (and eps_np is measured, not a scale): "
                             "pass mask= instead, e.g. mask=df.density >= 0.3 to fit the denser points")
        mask = small_scale_mask(df, x_cols, fraction)
    else:
        # a Series is read by its labels, as pandas would, never by position; one built from the table itself
        # (df.x <= q) has the table's very index, even one with repeated labels (a concat without ignore_index)
        if isinstance(mask, pd.Series) and not mask.index.equals(df.index):
            if not (mask.index.is_unique and len(mask) == len(df) and mask.index.isin(df.index).all()):
                raise InputError(f"mask is a Series: its index must hold the table's row labels, each once "
                                 f"({len(df)} rows); got {len(mask)} entries whose labels do not match "
                                 "(pass mask.to_numpy() to split by position)")
            mask = mask.reindex(df.index)
        given = np.asarray(mask)
        if given.shape != (len(df),):
            raise InputError(f"mask must have one entry per row of the table ({len(df)}); got shape {given.shape}")
        if given.dtype != bool and not np.isin(given, [0, 1]).all():  # NaN and 0.5 would count as 'fit'
            value = given[~np.isin(given, [0, 1])][0]
            value = value.item() if isinstance(value, np.generic) else value  # 0.5, not np.float64(0.5)
            raise InputError(f"mask must hold booleans or only 0 (held out) and 1 (fit); got {value!r}")
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        raise InputError(f"the split leaves {int(mask.sum())} fit and {int((~mask).sum())} held-out points; "
                         "both must be non-empty")
    law = get_law(law)
    train, test = df[mask], df[~mask]
    x_test, y_test = frame_columns(law, test, x_cols, y_col)  # held-out rows are checked like the fitted ones
    result = fit_frame(law, train, x_cols, y_col, **fit_kwargs)
    pred = result.predict(x_test)
    return Backtest(fit=result, train_metrics=result.metrics, holdout_metrics=fit_metrics(y_test, pred),
                    n_train=int(mask.sum()), n_holdout=int((~mask).sum()))


def window_fits(laws: Sequence[str], x, y, windows: Sequence[float], *, progress: Callable | None = None,
                **fit_kwargs) -> dict[tuple[str, float], FitResult]:
    """Fit each one-input law to the points of one curve with ``x <= window``, for every window.

    Returns ``{(law, window): FitResult}``. ``fit_kwargs`` go to :func:`~workbench.fit.fit_law` (e.g.
    ``bootstrap``, ``seed``). ``progress``: wraps the loop over (law, window) pairs as
    ``progress(iterable, desc=..., unit=..., total=...)``, e.g. ``workbench.report.progress`` (a widget in
    JupyterLab, one text line in a report); each fit with a bootstrap takes a second or more.
    """
    laws = [laws] if isinstance(laws, str) else list(laws)  # "power" was the laws 'p', 'o', ...
    windows = [float(w) for w in np.atleast_1d(real_values(windows, "windows")).ravel()]  # "1e9" or True: refused
    bad = [w for w in windows if not np.isfinite(w)]
    if bad:
        raise InputError(f"windows must be finite values of x (fit the points with x <= each); got {bad[0]!r}")
    x, y = real_values(x, "x").ravel(), real_values(y, "y").ravel()
    if x.size != y.size or x.size == 0:
        raise InputError(f"x and y must hold the same number (> 0) of points; got {x.size} and {y.size}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:  # NaN <= window is False: the point would drop out of every window unsaid
        raise InputError(f"x has {bad.size} NaN/inf value(s) (first at position {bad[0]}); "
                         "drop or fix them before fitting")
    progress = progress or (lambda it, **_: it)
    pairs = list(itertools.product(laws, windows))
    fits = {}
    for law, window in progress(pairs, desc="window fits", unit="fit", total=len(pairs)):
        used = x <= window
        if used.sum() == 0:
            raise InputError(f"window {window:g} keeps no point of the curve (its smallest x is {x.min():g})")
        fits[law, window] = fit_law(law, x[used], y[used], **fit_kwargs)
    return fits
