"""Fit any registered law the way its paper did: multi-start, vectorised across starts, then polished.

Procedure (Hoffmann et al. 2022, Approach 3, generalised to every law in ``workbench.laws``):

1. Every point of the law's start grid (4,500 for chinchilla) is optimised *at once*: a batched
   Levenberg–Marquardt on the objective, with iteratively reweighted least squares for the Huber loss,
   numpy arrays of shape ``(S, n)`` for S starts and n points, and a forward-difference Jacobian
   ``(S, P, n)`` (analytic where the law provides a gradient). Converged starts leave the active set.
2. The best few distinct candidates are polished with ``scipy.optimize.least_squares`` (trust-region
   reflective, the same objective: ``loss="huber", f_scale=δ`` is exactly Σ Huber_δ(r)); the winner
   gets a last polish through lmfit, whose covariance gives asymptotic standard errors (``stderr``).
3. Optional bootstrap: B resamples of the points (counts as weights), refitted together in one batch
   from the full-data optimum, each polished; percentile intervals.

Objectives (``OBJECTIVES``): Σ ρ(r) with ρ(r) = ½r² or Huber_δ(r) (summed, as Epoch found Hoffmann
should have), and residual r = log ŷ − log y (``lsq``, ``huber``), ŷ/y − 1 (``divergence``, Rosenfeld),
or log(1+ŷ) − log(1+y) (``lsq_log1p``, Caballero's BNSL code).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import InputError
from workbench.laws import Law, get_law, start_grid

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


def fit_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """Rosenfeld's relative divergence δ = (ŷ − y)/y (mean, std, mean |δ|) and RMSE of log (Alabdulmohsin)."""
    with np.errstate(all="ignore"):
        div = (yhat - y) / y
        logerr = np.log(yhat) - np.log(y)
    return {
        "mean_rel_divergence": float(np.mean(div)),
        "std_rel_divergence": float(np.std(div)),
        "mean_abs_rel_divergence": float(np.mean(np.abs(div))),
        "rmse_log": float(np.sqrt(np.mean(logerr**2))),
    }


@dataclass(frozen=True)
class FitResult:
    """Immutable outcome of :func:`fit_law`. ``params`` are natural units, fixed ones included."""

    law: str
    params: dict[str, float]
    fixed: dict[str, float]
    objective: str
    objective_value: float
    n_points: int
    n_starts: int
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)  # asymptotic, from lmfit's covariance
    bootstrap: pd.DataFrame | None = None
    delta: float = DEFAULT_DELTA
    seconds: float = 0.0

    def predict(self, x) -> np.ndarray:
        return get_law(self.law).predict(x, self.params)

    def predict_interval(self, x, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the bootstrap fits' predictions (needs ``bootstrap > 0``)."""
        if self.bootstrap is None or self.bootstrap.empty:
            raise InputError("predict_interval needs a fit with bootstrap > 0")
        law = get_law(self.law)
        draws = {n: self.bootstrap[n].to_numpy()[:, None] for n in law.param_names}
        preds = law.predict(x, draws)  # (B, n)
        q = (1 - level) / 2
        return np.nanquantile(preds, q, axis=0), np.nanquantile(preds, 1 - q, axis=0)

    def to_dict(self) -> dict:
        return {
            "law": self.law,
            "params": dict(self.params),
            "fixed": dict(self.fixed),
            "ci": {k: list(v) for k, v in self.ci.items()},
            "stderr": dict(self.stderr),
            "objective": self.objective,
            "objective_value": self.objective_value,
            "n_points": self.n_points,
            "n_starts": self.n_starts,
            "metrics": dict(self.metrics),
            "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------------------------
# validation


def validate_data(law: Law, xs: tuple[np.ndarray, ...], y: np.ndarray, names: Sequence[str] | None = None,
                  y_name: str = "y") -> None:
    names = list(names) if names is not None else list(law.inputs)
    for name, v in list(zip(names, xs)) + [(y_name, y)]:
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise InputError(f"column {name!r} has {bad.size} NaN/inf value(s) (first at row {bad[0]}); "
                             "drop or fix them before fitting")
        bad = np.flatnonzero(v <= 0)
        if bad.size:
            raise InputError(f"column {name!r} must be > 0 for law {law.name!r} (logs and ratios are taken); "
                             f"got {v[bad[0]]!r} at row {bad[0]}")


def _free_and_fixed(law: Law, fix: Mapping[str, float] | None) -> tuple[list[str], dict[str, float]]:
    fixed = dict(law.defaults_fixed)
    for name, value in (fix or {}).items():
        p = law.param(name)  # raises on unknown names
        value = float(value)
        if not np.isfinite(value) or not (p.lower <= value <= p.upper):
            raise InputError(f"fixed value {name}={value!r} is outside the bounds [{p.lower}, {p.upper}] "
                             f"of law {law.name!r}")
        fixed[name] = value
    free = [n for n in law.param_names if n not in fixed]
    if not free:
        raise InputError(f"all parameters of law {law.name!r} are fixed; leave at least one free")
    return free, fixed


# ----------------------------------------------------------------------------------------------
# the problem in optimiser space


class _Problem:
    """Residuals of a law with some parameters fixed, as a function of free parameters in optimiser space."""

    def __init__(self, law: Law, xs, y, objective: Objective, free, fixed, delta):
        self.law, self.xs, self.y, self.obj, self.delta = law, xs, y, objective, delta
        self.free = list(free)
        self.params = [law.param(n) for n in self.free]
        self.fixed = {k: np.asarray(v) for k, v in fixed.items()}
        bounds = np.array([p.fit_bounds() for p in self.params])
        self.lo, self.hi = bounds[:, 0], bounds[:, 1]

    def natural(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """(S, P) optimiser-space array -> dict of (S, 1) natural values (fixed ones included)."""
        out = {p.name: p.to_natural(theta[:, j:j + 1]) for j, p in enumerate(self.params)}
        out.update(self.fixed)
        return out

    def evaluate(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(S, P) -> predictions and residuals, both (S, n); non-finite predictions give inf residuals."""
        with np.errstate(all="ignore"):
            yhat = np.broadcast_to(self.law.fn(self.xs, **self.natural(theta)), (theta.shape[0], self.y.size))
            r = self.obj.residual(yhat, self.y)
        r[~np.isfinite(r)] = np.inf
        return yhat, r

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        return self.evaluate(theta)[1]

    def residual_vector(self, theta: np.ndarray) -> np.ndarray:
        """One start's residuals, (n,), with non-finite values replaced by a large number (for scipy)."""
        r = self.residuals(np.asarray(theta, dtype=float)[None, :])[0]
        return np.where(np.isfinite(r), r, 1e6)

    def jacobian_matrix(self, theta: np.ndarray) -> np.ndarray:
        """One start's ∂r/∂θ, (n, P), for scipy."""
        t = np.asarray(theta, dtype=float)[None, :]
        yhat, r = self.evaluate(t)
        return self.jacobian(t, yhat, r)[0].T

    def total(self, theta: np.ndarray) -> float:
        """The objective at one point θ (unit weights)."""
        return float(self.value(self.residuals(theta[None, :]), np.ones((1, self.y.size)))[0])

    def interior(self, theta: np.ndarray) -> np.ndarray:
        """θ nudged strictly inside the bounds (trust-region reflective starts there)."""
        width = np.minimum(1e-10 * np.maximum(1.0, np.abs(theta)), 0.5 * (self.hi - self.lo))
        return np.clip(theta, self.lo + width, self.hi - width)

    def least_squares_kwargs(self) -> dict:
        # loss="huber" with f_scale=δ makes scipy's cost exactly Σ Huber_δ(r)
        return dict(loss="huber" if self.obj.robust else "linear", f_scale=self.delta, x_scale="jac",
                    ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=2000)

    def subset(self, rows: np.ndarray) -> "_Problem":
        """The same problem on resampled points (bootstrap)."""
        return _Problem(self.law, tuple(v[rows] for v in self.xs), self.y[rows], self.obj, self.free,
                        {k: float(v) for k, v in self.fixed.items()}, self.delta)

    def value(self, r: np.ndarray, w: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            v = (w * rho(r, self.obj.robust, self.delta)).sum(axis=1)
        return np.where(np.isfinite(v), v, np.inf)

    def irls_weights(self, r: np.ndarray) -> np.ndarray:
        if not self.obj.robust:
            return np.ones_like(r)
        a = np.abs(r)
        return np.where(a <= self.delta, 1.0, self.delta / np.maximum(a, 1e-300))

    def jacobian(self, theta: np.ndarray, yhat: np.ndarray, r: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """∂r/∂θ, shape (S, P, n): analytic when the law has ``grad``, else forward differences.

        ``out`` is an optional (≥S, P, n) buffer reused across iterations (fresh megabyte-sized
        arrays cost page faults on every LM step).
        """
        S, P = theta.shape
        J = np.empty((S, P, r.shape[1])) if out is None else out[:S]
        with np.errstate(all="ignore"):
            if self.law.grad is not None:
                nat = self.natural(theta)
                drdy = np.broadcast_to(self.obj.dresidual(yhat, self.y), r.shape)  # (S, n)
                grads = dict(zip(self.law.param_names, self.law.grad(self.xs, **nat)))
                for j, p in enumerate(self.params):
                    np.multiply(grads[p.name], drdy, out=J[:, j, :])
                    if p.log:  # chain rule through θ = log p
                        J[:, j, :] *= nat[p.name]
            else:
                for j in range(P):
                    h = 1e-7 * np.maximum(1.0, np.abs(theta[:, j]))
                    h = np.where(theta[:, j] + h > self.hi[j], -h, h)  # step inward at an upper bound
                    t = theta.copy()
                    t[:, j] += h
                    np.divide(self.residuals(t) - r, h[:, None], out=J[:, j, :])
        J[~np.isfinite(J)] = 0.0
        return J


def batched_lm(problem: _Problem, theta0: np.ndarray, weights: np.ndarray, max_iter: int = 40,
               ftol: float = 1e-10, screen_iter: int | None = None, keep_factor: float = 10.0,
               block_elems: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg–Marquardt on S independent starts at once. Returns (theta (S, P), objective (S,)).

    IRLS weights turn the Huber objective into a sequence of weighted least-squares majorisers;
    a step is kept only if it lowers the true objective (per start), otherwise damping grows.

    Screening (``screen_iter``): after that many iterations, starts whose objective is more than
    ``keep_factor`` times the best one stop; the rest run to ``max_iter``. A start that far behind
    after a few LM steps is in a poor region; the benchmark checks the winner matches an unscreened
    per-start search. Starts run in blocks of about ``block_elems`` residuals (cache-sized arrays),
    on threads (numpy releases the GIL inside ufuncs).
    """
    theta = np.clip(theta0, problem.lo, problem.hi).astype(float)
    if screen_iter is None or screen_iter >= max_iter:
        return _run_blocks(problem, theta, weights, max_iter, ftol, block_elems)
    theta, f = _run_blocks(problem, theta, weights, screen_iter, ftol, block_elems)
    keep = np.flatnonzero(f <= keep_factor * np.min(f))
    if keep.size:
        theta[keep], f[keep] = _run_blocks(problem, theta[keep], weights[keep], max_iter - screen_iter,
                                           ftol, block_elems)
    return theta, f


def _run_blocks(problem, theta0, weights, max_iter, ftol, block_elems):
    block = max(8, block_elems // max(1, problem.y.size))
    if theta0.shape[0] <= block:
        return _lm_block(problem, theta0, weights, max_iter, ftol)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(lambda i: _lm_block(problem, theta0[i:i + block], weights[i:i + block],
                                                  max_iter, ftol),
                              range(0, theta0.shape[0], block)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _lm_block(problem: _Problem, theta0: np.ndarray, weights: np.ndarray, max_iter: int,
              ftol: float) -> tuple[np.ndarray, np.ndarray]:
    theta = theta0.copy()
    yhat, r = problem.evaluate(theta)
    yhat = yhat.copy()
    f = problem.value(r, weights)
    lam = np.full(theta.shape[0], 1e-3)
    active = np.isfinite(f)
    P = theta.shape[1]
    eye = np.eye(P)
    J_buf = np.empty((theta.shape[0], P, problem.y.size))
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        th, ra, wa = theta[idx], r[idx], weights[idx]
        J = problem.jacobian(th, yhat[idx], ra, out=J_buf)  # (s, P, n)
        omega = wa * problem.irls_weights(ra)  # (s, n)
        with np.errstate(all="ignore"):  # starts far off may overflow; their steps are discarded
            JtW = J * omega[:, None, :]  # (s, P, n)
            H = JtW @ J.transpose(0, 2, 1)  # (s, P, P)
            g = (JtW @ ra[:, :, None])[:, :, 0]  # (s, P) = gradient of the objective
            diag = np.einsum("spp->sp", H)
            A = H + lam[idx, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
            A[~np.isfinite(A)] = 0.0
            g[~np.isfinite(g)] = 0.0
            try:
                step = -np.linalg.solve(A + 1e-300 * eye, g[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:  # a singular block: solve start by start
                step = -np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(A, g)])
        new = np.clip(th + np.where(np.isfinite(step), step, 0.0), problem.lo, problem.hi)
        yn, rn = problem.evaluate(new)
        fn = problem.value(rn, wa)
        better = fn < f[idx]
        gain = f[idx] - fn
        acc = idx[better]
        theta[acc], r[acc], yhat[acc] = new[better], rn[better], yn[better]
        done = better & (gain <= ftol * (np.abs(f[idx]) + 1e-300))
        f[acc] = fn[better]
        lam[acc] = np.maximum(lam[acc] / 3.0, 1e-12)
        rej = idx[~better]
        lam[rej] *= 4.0
        done |= lam[idx] > 1e10
        active[idx[done]] = False
    return theta, f


def _polish(problem: _Problem, theta0: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """scipy least_squares (TRF, bounds) from one start; ``rows`` repeats points (bootstrap)."""
    from scipy.optimize import least_squares

    sub = problem if rows is None else problem.subset(rows)
    jac = "2-point" if sub.law.grad is None else sub.jacobian_matrix
    res = least_squares(sub.residual_vector, sub.interior(theta0), bounds=(sub.lo, sub.hi), method="trf",
                        jac=jac, **sub.least_squares_kwargs())
    return res.x, sub.total(res.x)


def _polish_lmfit(problem: _Problem, theta0: np.ndarray) -> tuple[np.ndarray, float, np.ndarray | None]:
    """The winner's final polish with lmfit (same TRF solver and loss), which also gives the covariance.

    Returns optimiser-space θ, objective and the asymptotic standard errors of θ (None if singular).
    """
    import lmfit

    params = lmfit.Parameters()
    for p, v, lo, hi in zip(problem.params, problem.interior(theta0), problem.lo, problem.hi):
        params.add(p.name.replace("-", "_"), value=float(v), min=float(lo), max=float(hi))
    names = list(params)

    def fcn(ps):
        return problem.residual_vector(np.array([ps[n].value for n in names]))

    with np.errstate(all="ignore"):  # lmfit divides by zero stderr when computing correlations
        out = lmfit.minimize(fcn, params, method="least_squares", **problem.least_squares_kwargs())
    theta = np.array([out.params[n].value for n in names])
    stderr = np.array([out.params[n].stderr if out.params[n].stderr is not None else np.nan for n in names])
    return theta, problem.total(theta), (stderr if np.all(np.isfinite(stderr)) else None)


def _distinct_best(theta: np.ndarray, f: np.ndarray, k: int) -> list[int]:
    order = np.argsort(f)
    chosen: list[int] = []
    for i in order:
        if not np.isfinite(f[i]):
            break
        if all(np.max(np.abs(theta[i] - theta[j])) > 1e-3 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == k:
            break
    return chosen


def fit_law(law: str | Law, x, y, *, objective: str | None = None, fix: Mapping[str, float] | None = None,
            bootstrap: int = 0, seed: int = 0, delta: float = DEFAULT_DELTA, starts: np.ndarray | None = None,
            polish_top: int = 3, max_iter: int = 40, screen_iter: int | None = 5, input_names: Sequence[str] | None = None, y_name: str = "y") -> FitResult:
    """Fit ``law`` to points ``(x, y)``.

    x: a tuple of 1-D arrays (one per law input, in ``law.inputs`` order) or an ``(n, k)`` array.
    objective: one of ``OBJECTIVES``; default: the law's paper's own (``law.objective``).
    fix: natural-unit values for parameters to hold fixed, e.g. ``{"eps0": 0.9}``.
    bootstrap: number of resample-and-refit replicates for percentile 95% intervals (``ci``).
    starts: optional ``(S, P)`` starting points in optimiser space (default: the law's grid).
    max_iter, screen_iter: batched LM iterations, and the iteration after which starts more than 10x
        worse than the best stop (``None``: every start runs ``max_iter``).
    """
    t0 = time.perf_counter()
    law = get_law(law)
    obj = get_objective(objective or law.objective)
    if not (np.isfinite(delta) and delta > 0):
        raise InputError(f"delta must be a positive number; got {delta!r}")
    if bootstrap < 0:
        raise InputError(f"bootstrap must be >= 0; got {bootstrap!r}")
    xs = law.as_inputs(x)
    y = np.asarray(y, dtype=float).ravel()
    if y.size != xs[0].size:
        raise InputError(f"x has {xs[0].size} points but y has {y.size}")
    validate_data(law, xs, y, input_names, y_name)
    free, fixed = _free_and_fixed(law, fix)
    if y.size <= len(free):
        raise InputError(f"law {law.name!r} has {len(free)} free parameters but only {y.size} data point(s); "
                         f"need at least {len(free) + 1}")

    problem = _Problem(law, xs, y, obj, free, fixed, delta)
    theta0 = start_grid(law, xs, y, free) if starts is None else np.atleast_2d(np.asarray(starts, float))
    theta, f = batched_lm(problem, theta0, np.ones((theta0.shape[0], y.size)), max_iter=max_iter,
                          screen_iter=screen_iter)
    cands = _distinct_best(theta, f, polish_top)
    if not cands:
        raise InputError(f"no starting point gave a finite objective for law {law.name!r}; "
                         "check the data's scale or pass starts")
    polished = [_polish(problem, theta[i]) for i in cands]
    polished += [(theta[i], float(f[i])) for i in cands]  # keep LM's answer if polishing made it worse
    best_theta, best_val = min(polished, key=lambda tv: tv[1])
    lm_theta, lm_val, stderr_theta = _polish_lmfit(problem, best_theta)
    if lm_val <= best_val:
        best_theta, best_val = lm_theta, lm_val
    params = {n: float(np.ravel(v)[0]) for n, v in problem.natural(best_theta[None, :]).items()}
    params = {n: params[n] for n in law.param_names}
    stderr = {}
    if stderr_theta is not None:  # delta method through θ = log p for log-scaled parameters
        for p, t, se in zip(problem.params, best_theta, stderr_theta):
            stderr[p.name] = float(se * np.exp(t) if p.log else se)

    ci: dict[str, tuple[float, float]] = {}
    boot_df = None
    if bootstrap:
        boot_df = _bootstrap(problem, best_theta, bootstrap, seed)
        for n in law.param_names:
            lo, hi = np.nanpercentile(boot_df[n].to_numpy(), [2.5, 97.5])
            ci[n] = (float(lo), float(hi))

    yhat = law.predict(xs, params)
    return FitResult(law=law.name, params=params, fixed=dict(fixed), objective=obj.name,
                     objective_value=best_val, n_points=int(y.size), n_starts=int(theta0.shape[0]),
                     metrics=fit_metrics(y, yhat), ci=ci, stderr=stderr, bootstrap=boot_df, delta=delta,
                     seconds=time.perf_counter() - t0)


def _bootstrap(problem: _Problem, best_theta: np.ndarray, n_boot: int, seed: int) -> pd.DataFrame:
    """Resample points with replacement, refit all replicates in one batch, polish each."""
    rng = np.random.default_rng(seed)
    n = problem.y.size
    rows = rng.integers(0, n, size=(n_boot, n))  # (B, n) indices of each resample
    counts = np.stack([np.bincount(r, minlength=n) for r in rows]).astype(float)  # (B, n)
    theta, _ = batched_lm(problem, np.repeat(best_theta[None, :], n_boot, axis=0), counts)
    refits = np.stack([_polish(problem, theta[b], rows[b])[0] for b in range(n_boot)])
    nat = problem.natural(refits)
    return pd.DataFrame({n: np.broadcast_to(np.asarray(nat[n]).ravel(), (n_boot,))
                         for n in problem.law.param_names})


def fit_frame(law: str | Law, df: pd.DataFrame, x_cols: Sequence[str], y_col: str, **kwargs) -> FitResult:
    """Fit ``law`` to columns of a tidy table; ``x_cols`` map onto the law's inputs in order."""
    law = get_law(law)
    x_cols = list(x_cols)
    if len(x_cols) != len(law.inputs):
        raise InputError(f"law {law.name!r} takes {len(law.inputs)} input column(s) "
                         f"({', '.join(law.inputs)}); got {len(x_cols)}: {', '.join(x_cols)}")
    for col in x_cols + [y_col]:
        if col not in df.columns:
            raise InputError(f"column {col!r} not found; available columns: {', '.join(map(str, df.columns))}")
    xs = []
    for col in x_cols + [y_col]:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        xs.append(values)
    return fit_law(law, tuple(xs[:-1]), xs[-1], input_names=x_cols, y_name=y_col, **kwargs)
