"""Fitting objectives: Σ ρ(r) over points, with a residual r and a per-point loss ρ.

ρ(r) = ½r² or Huber_δ(r), summed (Besiroglu et al. 2024 found Hoffmann's averaged loss stopped L-BFGS
early); r = log ŷ − log y (``lsq``, ``huber``), ŷ/y − 1 (``divergence``, Rosenfeld et al. 2020) or
log(1+ŷ) − log(1+y) (``lsq_log1p``, Caballero et al.'s BNSL code). Fit metrics: Rosenfeld's relative
divergence and Alabdulmohsin's RMSE of log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.errors import InputError

DEFAULT_DELTA = 1e-3  # Hoffmann's Huber δ


@dataclass(frozen=True)
class Objective:
    name: str
    residual: Callable[[np.ndarray, np.ndarray], np.ndarray]
    dresidual: Callable[[np.ndarray, np.ndarray], np.ndarray]  # ∂r/∂ŷ, for analytic Jacobians
    robust: bool  # Huber instead of squares
    doc: str


def _log_residual(yhat, y):
    return np.log(yhat) - np.log(y)


OBJECTIVES: dict[str, Objective] = {
    "lsq": Objective("lsq", _log_residual, lambda yhat, y: 1.0 / yhat, False, "Σ ½(log ŷ − log y)²"),
    "huber": Objective("huber", _log_residual, lambda yhat, y: 1.0 / yhat, True, "Σ Huber_δ(log ŷ − log y)"),
    "divergence": Objective("divergence", lambda yhat, y: yhat / y - 1.0, lambda yhat, y: 1.0 / y + 0 * yhat,
                            False, "Σ ½((ŷ − y)/y)²"),
    "lsq_log1p": Objective("lsq_log1p", lambda yhat, y: np.log1p(yhat) - np.log1p(y),
                           lambda yhat, y: 1.0 / (1.0 + yhat), False, "Σ ½(log(1+ŷ) − log(1+y))²"),
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise InputError(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVES)}") from None


def rho(r: np.ndarray, robust: bool, delta: float) -> np.ndarray:
    """Per-point loss: Huber_δ (quadratic inside ±δ, linear outside) or ½r²."""
    if not robust:
        return 0.5 * r * r
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _std(v: np.ndarray) -> float:
    """np.std, computed on v / max|v| when the squares of v would overflow (divergences near 1e288 when a
    law's floor is far above losses near 1e-300): inf and numpy's overflow warning otherwise, for a spread
    that floats hold. Values whose squares fit in a float take np.std itself, unchanged to the bit."""
    v = np.asarray(v, dtype=float)
    big = float(np.max(np.abs(v))) if v.size else 0.0
    if not (np.isfinite(big) and big > 1e150):
        return float(np.std(v))
    return float(big * np.std(v / big))


def fit_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """Rosenfeld's relative divergence δ = (ŷ − y)/y (mean, std, mean |δ|) and RMSE of log (Alabdulmohsin)."""
    with np.errstate(all="ignore"):
        div = (yhat - y) / y
        logerr = np.log(yhat) - np.log(y)
    return {
        "mean_rel_divergence": float(np.mean(div)),
        "std_rel_divergence": _std(div),
        "mean_abs_rel_divergence": float(np.mean(np.abs(div))),
        "rmse_log": float(np.sqrt(np.mean(logerr**2))),
    }
