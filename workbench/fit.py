"""Fit any registered law the way its paper did: multi-start, vectorised across starts, then polished.

Procedure (Hoffmann et al. 2022, Approach 3, generalised to every law in ``workbench.laws``):

1. Every point of the law's start grid (4,500 for chinchilla) is optimised *at once*: a batched
   Levenberg–Marquardt on the objective, with iteratively reweighted least squares for the Huber loss,
   numpy arrays of shape ``(S, n)`` for S starts and n points, and a forward-difference Jacobian
   ``(S, P, n)`` (analytic where the law provides a gradient). Converged starts leave the active set.
2. The best few distinct candidates are polished with ``scipy.optimize.least_squares`` (trust-region
   reflective, the same objective: ``loss="huber", f_scale=δ`` is exactly Σ Huber_δ(r)); the winner
   gets a last polish through lmfit, whose covariance gives asymptotic standard errors (``stderr``; for the
   Huber objective they come from Huber's M-estimate covariance instead, ``optimize.huber_stderr``).
3. Optional bootstrap: B resamples of the points (counts as weights), refitted together in one batch
   from the full-data optimum, each polished; percentile intervals.

Objectives (``OBJECTIVES``): Σ ρ(r) with ρ(r) = ½r² or Huber_δ(r) (summed, as Epoch found Hoffmann
should have), and residual r = log ŷ − log y (``lsq``, ``huber``), ŷ/y − 1 (``divergence``, Rosenfeld),
or log(1+ŷ) − log(1+y) (``lsq_log1p``, Caballero's BNSL code).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import (InputError, check_bootstrap, check_seed, column_not_found, describe_non_real,
                              is_real_number, non_real, real_values, repeats, row_name)
from workbench.laws import Law, get_law, start_grid
from workbench.objectives import DEFAULT_DELTA, OBJECTIVES, Objective, fit_metrics, get_objective, rho  # noqa: F401
from workbench.optimize import (Problem, batched_lm, distinct_best, huber_stderr, lsq_stderr, polish, polish_lmfit,
                                undetermined)

MAX_DELTA = 1e100  # Huber δ: residuals (log loss, relative divergence) are never near it
# Below this δ the Huber fit is already least absolute deviations to 4 digits (planted Chinchilla,
# δ = 1e-8 … 1e-12), and far below it scipy's robust loss divides by δ² and breaks: δ = 1e-20 moved B by 10%, δ = 1e-40 ended on the
# bounds, δ < ~1e-160 raised inside the polish.
MIN_DELTA = 1e-12

__all__ = ["FitResult", "fit_law", "fit_frame", "frame_columns", "validate_data", "poorly_determined",
           # re-exported from objectives:
           "DEFAULT_DELTA", "OBJECTIVES", "Objective", "fit_metrics", "get_objective", "rho"]


class FrozenDict(dict):
    """A dict that refuses changes: the mappings of a :class:`FitResult` (``params``, ``ci``, ...), so that
    ``fit.params["a"] = 0`` cannot change what ``fit.predict`` returns. Still a dict for json, pandas and
    ``**``; ``dict(fit.params)`` is a mutable copy."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a FitResult is immutable: its mappings cannot be changed; copy one with dict(...) first")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self):  # pickle and deepcopy rebuild it from a plain dict instead of item by item
        return (type(self), (dict(self),))


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
    stderr: dict[str, float] = field(default_factory=dict)  # asymptotic: lmfit's covariance, or Huber's (huber_stderr)
    bootstrap: pd.DataFrame | None = field(default=None, compare=False)
    """The refitted parameters, one row per resample (None without ``bootstrap``). A DataFrame is not frozen:
    copy it before changing it; it is left out of ``==`` (a frame has no single truth value)."""
    delta: float = DEFAULT_DELTA
    seconds: float = 0.0
    at_bounds: tuple[str, ...] = ()
    """Free parameters that ended on a bound of the law: the data do not pin them down (e.g. a
    pruning law's γ at 50 means an abrupt, not a power-law, rise); read them as 'at least' / 'at most'.
    Close to the bound and within one standard error of it (see :func:`_at_bounds`), so the verdict does
    not change with the units of the data."""
    poorly_determined: tuple[str, ...] = ()
    """Free parameters whose asymptotic 1-σ range is wider than the value itself (see
    :func:`poorly_determined`): only some combination of them is fitted (e.g. a pruning law's ε↑ = 131
    ± 3e7 with p = 3e-9). When the covariance could not be estimated (``covariance_estimated`` False),
    every free parameter: none of them can then be shown to be pinned down."""
    input_names: tuple[str, ...] = ()
    """The columns the law's inputs were fitted from, in the law's order (``fit_frame``'s ``x_cols``, or
    ``fit_law``'s ``input_names``); empty when fitted from bare arrays. :meth:`predict` takes a DataFrame's columns by
    these names."""
    covariance_estimated: bool = True
    """False when lmfit could not estimate the covariance at the optimum (it is singular: some direction
    in parameter space leaves the objective flat, e.g. a BNSL break whose size c1 fitted to 0 leaves its
    location d1 and sharpness f1 free). ``stderr`` is then empty and ``poorly_determined`` lists every
    free parameter."""

    def __post_init__(self):
        for name in ("params", "fixed", "metrics", "ci", "stderr"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))

    def predict(self, x) -> np.ndarray:
        """The law at ``x`` with the fitted parameters; ``x`` in any form :func:`fit_law` takes. A DataFrame's
        columns are taken by the names the fit was made from (``input_names``), in any order, or by the law's
        input names; a frame with neither is refused when the fit has names (by position it could swap inputs)."""
        return get_law(self.law).predict(self._inputs(x), self.params)

    def _inputs(self, x) -> tuple[np.ndarray, ...]:
        """``x`` as the law's input arrays, checked as the fit's data were: finite and > 0 (a negative size gave
        NaN and a zero one inf, without a word)."""
        law = get_law(self.law)
        xs = law.as_inputs(self._named_columns(x))
        validate_inputs(law, xs, self.input_names or law.inputs)
        return xs

    def _named_columns(self, x):
        if not isinstance(x, pd.DataFrame) or not self.input_names:
            return x
        names = [str(c) for c in x.columns]
        if set(self.input_names) <= set(names):
            return tuple(x[c] for c in self.input_names)
        law = get_law(self.law)
        if set(law.inputs) <= set(names):
            return tuple(x[c] for c in law.inputs)
        raise InputError(f"x is a DataFrame with columns {names}; this {law.name} fit was made from the columns "
                         f"{', '.join(self.input_names)} (the law's {', '.join(law.inputs)}): pass those columns by "
                         f"name, or a tuple of arrays in that order")

    def predict_interval(self, x, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the bootstrap fits' predictions (needs ``bootstrap > 0``)."""
        if self.bootstrap is None or self.bootstrap.empty:
            raise InputError("predict_interval needs a fit with bootstrap > 0")
        if not (is_real_number(level) and 0 < level < 1):  # '0.9' was a TypeError from the comparison
            raise InputError(f"level must be a fraction in (0, 1), e.g. 0.95 for a 95% band; got {level!r}")
        law = get_law(self.law)
        draws = {n: self.bootstrap[n].to_numpy()[:, None] for n in law.param_names}
        preds = law.predict(self._inputs(x), draws)  # (B, n)
        q = (1 - level) / 2
        return np.nanquantile(preds, q, axis=0), np.nanquantile(preds, 1 - q, axis=0)

    def to_dict(self) -> dict:
        return {
            "law": self.law,
            "params": dict(self.params),
            "fixed": dict(self.fixed),
            "ci": {k: list(v) for k, v in self.ci.items()},
            # what ``ci`` is: 2.5th and 97.5th percentiles of the parameters refitted on this many resamples
            "ci_method": (f"95% percentile bootstrap, {len(self.bootstrap)} resamples of the points"
                          if self.bootstrap is not None else None),
            "stderr": dict(self.stderr),
            "objective": self.objective,
            "delta": self.delta if self.objective == "huber" else None,
            "objective_value": self.objective_value,
            "n_points": self.n_points,
            "n_starts": self.n_starts,
            "metrics": dict(self.metrics),
            "at_bounds": list(self.at_bounds),
            "poorly_determined": list(self.poorly_determined),
            "covariance_estimated": self.covariance_estimated,
            "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------------------------
# validation


def validate_data(law: Law, xs: tuple[np.ndarray, ...], y: np.ndarray, names: Sequence[str] | None = None,
                  y_name: str = "y", rows: pd.Index | None = None) -> None:
    """InputError naming the column and row of the first NaN/inf or non-positive value, or y above the law's
    ``y_max`` (coverage: a probability). ``rows``: the
    label of each point (a DataFrame's index: a CSV's data row, see ``errors.row_name``); default its position."""
    validate_inputs(law, list(xs) + [y], list(names if names is not None else law.inputs) + [y_name], rows)
    label = (lambda i: row_name(rows, rows[i])) if rows is not None else (lambda i: f"row {i}")
    bad = np.flatnonzero(y > law.y_max) if law.y_max is not None else ()
    if len(bad):  # before: a coverage "fit" of values above 1 exited 0, its parameters on their bounds
        raise InputError(f"column {y_name!r} must be in (0, {law.y_max:g}] for law {law.name!r} ({law.doc}); "
                         f"got {float(y[bad[0]]):g} at {label(bad[0])}")


def validate_inputs(law: Law, columns: Sequence[np.ndarray], names: Sequence[str], rows: pd.Index | None = None) -> None:
    """InputError naming the column and row of the first NaN/inf or non-positive value: the rule for a fit's data
    and for the points a fit predicts at (``FitResult.predict``)."""
    label = (lambda i: row_name(rows, rows[i])) if rows is not None else (lambda i: f"row {i}")
    for name, v in zip(names, columns):
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise InputError(f"column {name!r} has {bad.size} NaN/inf value(s) (first at {label(bad[0])}); "
                             "drop or fix them")
        bad = np.flatnonzero(v <= 0)
        if bad.size:
            raise InputError(f"column {name!r} must be > 0 for law {law.name!r} (logs and ratios are taken); "
                             f"got {float(v[bad[0]]):g} at {label(bad[0])}")


def _free_and_fixed(law: Law, fix: Mapping[str, float] | None) -> tuple[list[str], dict[str, float]]:
    fixed = dict(law.defaults_fixed)
    if fix is not None and not isinstance(fix, Mapping):  # a list of pairs was "'list' has no attribute 'items'"
        raise InputError(f"fix must be a mapping of parameter names of law {law.name!r} ({', '.join(law.param_names)}) "
                         f"to values, e.g. {{{law.param_names[-1]!r}: 0.0}}; got {fix!r}")
    for name, value in (fix or {}).items():
        p = law.param(name)  # raises on unknown names
        try:
            if isinstance(value, (bool, np.bool_, str, bytes)):  # True was held as 1.0, '0.3' as 0.3
                raise TypeError
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"fixed value {name}={value!r} of law {law.name!r} must be a number") from None
        if not np.isfinite(value) or not (p.lower <= value <= p.upper):
            raise InputError(f"fixed value {name}={value!r} is outside the bounds [{p.lower}, {p.upper}] "
                             f"of law {law.name!r}")
        fixed[name] = value
    free = [n for n in law.param_names if n not in fixed]
    if not free:
        raise InputError(f"all parameters of law {law.name!r} are fixed; leave at least one free")
    return free, fixed


def fit_law(law: str | Law, x, y, *, objective: str | None = None, fix: Mapping[str, float] | None = None,
            bootstrap: int = 0, seed: int = 0, delta: float = DEFAULT_DELTA, starts: np.ndarray | None = None,
            polish_top: int | None = None, max_iter: int = 40, screen_iter: int | None = 5, input_names: Sequence[str] | None = None, y_name: str = "y",
            progress: Callable | None = None) -> FitResult:
    """Fit ``law`` to points ``(x, y)``.

    x: a tuple of 1-D arrays (one per law input, in ``law.inputs`` order; a scalar stands for that value at
        every point) or an ``(n, k)`` array.
    objective: one of ``OBJECTIVES``; default: the law's paper's own (``law.objective``).
    fix: natural-unit values for parameters to hold fixed, e.g. ``{"eps0": 0.9}``.
    bootstrap: number of resample-and-refit replicates for percentile 95% intervals (``ci``).
    starts: optional ``(S, P)`` starting points in optimiser space (default: the law's grid).
    polish_top: how many distinct best starts are polished with scipy and lmfit (default: the law's
        ``polish_top``, 3 for most forms).
    max_iter, screen_iter: batched LM iterations, and the iteration after which starts more than 10x
        worse than the best stop (``None``: every start runs ``max_iter``).
    progress: ``progress(iterable, desc=..., unit=...)`` wrapping the bootstrap's refits, which are polished one by
        one (200 of an M4 curve take about 30 s), e.g. a tqdm factory; default none.
    """
    t0 = time.perf_counter()
    law = get_law(law)
    obj = get_objective(objective or law.objective)
    polish_top = law.polish_top if polish_top is None else polish_top
    if not (is_real_number(delta) and np.isfinite(delta) and MIN_DELTA <= delta <= MAX_DELTA):
        raise InputError(f"delta must be a number in [{MIN_DELTA:g}, {MAX_DELTA:g}] (a larger Huber δ is plain least "
                         f"squares, a smaller one least absolute deviations, and scipy's robust loss breaks far "
                         f"outside that range); got {delta!r}")
    bootstrap = check_bootstrap(bootstrap)
    seed = check_seed(seed)
    for name, value, low in (("max_iter", max_iter, 0), ("screen_iter", screen_iter, 0), ("polish_top", polish_top, 1)):
        if name == "screen_iter" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be a whole number >= {low}"
                             f"{' or None' if name == 'screen_iter' else ''}; got {value!r}")
    xs = law.as_inputs(x)
    y = real_values(y, y_name).ravel()
    if y.size != xs[0].size:
        raise InputError(f"x has {xs[0].size} points but y has {y.size}")
    validate_data(law, xs, y, input_names, y_name)
    free, fixed = _free_and_fixed(law, fix)
    if y.size <= len(free):
        raise InputError(f"law {law.name!r} has {len(free)} free parameters but only {y.size} data point(s); "
                         f"need at least {len(free) + 1}")

    problem = Problem(law, xs, y, obj, free, fixed, delta)
    theta0 = start_grid(law, xs, y, free) if starts is None else np.atleast_2d(np.asarray(starts, float))
    if theta0.ndim != 2 or theta0.shape[0] == 0 or theta0.shape[1] != len(free):
        raise InputError(f"starts must have shape (S, {len(free)}): one row per start, one column per free parameter "
                         f"({', '.join(free)}, in optimiser space); got shape {theta0.shape}")
    theta, f = batched_lm(problem, theta0, np.ones((theta0.shape[0], y.size)), max_iter=max_iter,
                          screen_iter=screen_iter)
    cands = distinct_best(theta, f, polish_top)
    if not cands:
        raise InputError(f"no starting point gave a finite objective for law {law.name!r}; "
                         "check the data's scale or pass starts")
    polished = [polish(problem, theta[i]) for i in cands]
    polished += [(theta[i], float(f[i])) for i in cands]  # keep LM's answer if polishing made it worse
    best_theta, best_val = min(polished, key=lambda tv: tv[1])
    best_theta = canonical_order(problem, best_theta)
    lm_theta, lm_val, stderr_theta = polish_lmfit(problem, best_theta)
    if lm_val <= best_val:
        best_theta, best_val = canonical_order(problem, lm_theta), lm_val
    elif not lm_val <= best_val * (1 + 1e-6) + 1e-300:
        # lmfit's run left the optimum (TRF nudges a start within 1e-10 of a bound to 1e-10: a floor c of 1e-14 under
        # losses near 1e-12 became 100 times the data, and lmfit ran off to a flat curve): its errors, if any, are
        # those of another point, so they are computed at the optimum kept, by the same formula
        stderr_theta = (huber_stderr if problem.obj.robust else lsq_stderr)(problem, best_theta)
    params = {n: float(np.ravel(v)[0]) for n, v in problem.natural(best_theta[None, :]).items()}
    params = {n: params[n] for n in law.param_names}
    stderr = {}
    if stderr_theta is not None:  # delta method through θ = log p for log-scaled parameters
        for p, t, se in zip(problem.params, best_theta, stderr_theta):
            stderr[p.name] = float(se * np.exp(t) if p.log else se)

    ci: dict[str, tuple[float, float]] = {}
    boot_df = None
    if bootstrap:
        boot_df = _bootstrap(problem, best_theta, bootstrap, seed, progress)
        for n in law.param_names:
            lo, hi = np.nanpercentile(boot_df[n].to_numpy(), [2.5, 97.5])
            ci[n] = (float(lo), float(hi))

    yhat = law.predict(xs, params)
    return FitResult(law=law.name, params=params, fixed=dict(fixed), objective=obj.name,
                     objective_value=best_val, n_points=int(y.size), n_starts=int(theta0.shape[0]),
                     metrics=fit_metrics(y, yhat), ci=ci, stderr=stderr, bootstrap=boot_df, delta=delta,
                     at_bounds=_at_bounds(problem, best_theta, stderr_theta),
                     poorly_determined=_undetermined_too(problem, best_theta,
                                                         poorly_determined(problem, best_theta, stderr_theta)),
                     covariance_estimated=stderr_theta is not None,
                     input_names=tuple(str(n) for n in input_names) if input_names is not None else (),
                     seconds=time.perf_counter() - t0)


def warm_start(fit: FitResult) -> np.ndarray:
    """(1, P): ``fit``'s free parameters in optimiser space (the log of log-scaled ones), in the law's order:
    ``starts`` for refitting nearby data (a resample of the same curve) from this optimum, as the points
    bootstrap does, instead of the whole start grid."""
    law = get_law(fit.law)
    return np.array([[np.log(fit.params[p.name]) if p.log else fit.params[p.name]
                      for p in law.params if p.name not in fit.fixed]])


def _at_bounds(problem: Problem, theta: np.ndarray, stderr_theta: np.ndarray | None = None,
               rtol: float = 1e-3, atol: float = 1e-4) -> tuple[str, ...]:
    """Names of the free parameters (optimiser space) that ended on a bound: the data push them against it.

    Two tests, both in optimiser space (log for log-scaled parameters), both must hold:

    1. *Close in the bound's own terms*: within max(``atol`` × min(bound range, 1), ``rtol`` × min(bound range,
       |bound|)) of it (a wide linear range such as [0, 1e6] must not make an asymptote of 0.3 'at 0').
    2. *Indistinguishable from it given the data*: the bound lies within the parameter's asymptotic 1-σ
       range, |θ − bound| ≤ σ_θ. Test 1 alone is not scale-free for a bound at 0 (a tolerance of 1e-4 in
       units of y): a well-determined small value such as c = 5.0e-5 ± 4e-7 is 125 σ from 0, a fitted
       value, not a limit, and multiplying the data by 1e4 must not change that verdict. A parameter
       truly pushed onto its bound (a one-step drop drives b to 10 ± 0.9) passes both.

    Without standard errors (``stderr_theta`` None: the covariance could not be estimated) test 1 decides.
    ``rtol`` is 1e-3 because the bounded polish stops just inside a bound: a pruning curve's γ ended at 49.988 of
    50, printed as 50, and 1e-4 (a tolerance of 0.005 there) left it out. Every bound with |bound| < 1 gets
    max(``atol``, ``rtol`` × |bound|), below 1e-3, where session 26's rule gave 1e-3 (exponents at 0, ε0's lower
    bound, and a floor c in the data's units): 1e-3 at 0 flagged a floor of 1e-4 ± 1.2e-4 fitted to 5%-noisy points, and not the same fit
    to the points times 10 (helper-78). No log-scaled parameter has such a bound in log space.
    """
    se = np.full(len(problem.params), np.nan) if stderr_theta is None else np.ravel(stderr_theta)
    out = []
    for p, t, s in zip(problem.params, np.ravel(theta), se):
        lo, hi = p.fit_bounds()
        span = hi - lo
        for bound in (lo, hi):
            close = np.isfinite(bound) and abs(t - bound) <= max(atol * min(span, 1.0), rtol * min(span, abs(bound)))
            if close and not (np.isfinite(s) and abs(t - bound) > s):
                out.append(p.name)
                break
    return tuple(out)


def poorly_determined(problem: Problem, theta: np.ndarray, stderr_theta: np.ndarray | None,
                      max_rel: float = 1.0) -> tuple[str, ...]:
    """Free parameters whose asymptotic standard error exceeds ``max_rel`` × their scale: for a
    log-scaled parameter its error in log space (1 = a 1-σ range of a factor e either way), for the
    others |value| (the 1-σ range includes 0). ``stderr_theta``: optimiser-space errors, or None when
    the covariance could not be estimated (singular): then every free parameter, since a singular
    covariance means the data leave some combination of them undetermined and no error says which."""
    if stderr_theta is None:
        return tuple(p.name for p in problem.params)
    return tuple(p.name for p, t, se in zip(problem.params, np.ravel(theta), np.ravel(stderr_theta))
                 if se > max_rel * (1.0 if p.log else abs(float(p.to_natural(t)))))


def canonical_order(problem: Problem, theta: np.ndarray) -> np.ndarray:
    """``theta`` (optimiser space) with the law's exchangeable groups (``Law.exchangeable``: a broken power law's
    breaks) sorted by their key, the same model under its one labelling. helper-72: which of bnsl2's two
    breaks came out as "break 1" depended on the rows' order, and with it params, intervals and the flags' names.
    Groups with a fixed member are left as they are."""
    groups = problem.law.exchangeable
    names = [p.name for p in problem.params]
    if not groups or not all(n in names for g in groups for n in g):
        return theta
    idx = np.array([[names.index(n) for n in g] for g in groups])  # (G, group size), key first
    theta = np.array(theta, dtype=float)
    order = np.argsort(theta[idx[:, 0]], kind="stable")  # the key is log-scaled or linear: order kept either way
    out = theta.copy()
    out[idx.ravel()] = theta[idx[order].ravel()]
    return out


def _undetermined_too(problem: Problem, theta: np.ndarray, flagged: tuple[str, ...]) -> tuple[str, ...]:
    """``flagged`` plus the parameters the design leaves undetermined (:func:`workbench.optimize.undetermined`),
    in the law's order."""
    extra = set(undetermined(problem, theta)) - set(flagged)
    return flagged if not extra else tuple(p.name for p in problem.params if p.name in set(flagged) | extra)


def _bootstrap(problem: Problem, best_theta: np.ndarray, n_boot: int, seed: int,
               progress: Callable | None = None) -> pd.DataFrame:
    """Resample points with replacement, refit all replicates in one batch, polish each."""
    progress = progress or (lambda it, **_: it)
    rng = np.random.default_rng(seed)
    n = problem.y.size
    rows = rng.integers(0, n, size=(n_boot, n))  # (B, n) indices of each resample
    counts = np.stack([np.bincount(r, minlength=n) for r in rows]).astype(float)  # (B, n)
    theta, _ = batched_lm(problem, np.repeat(best_theta[None, :], n_boot, axis=0), counts)
    # no extra rounds for a refit that runs out of evaluations: in notebook 01's back-test they made the window
    # fits 1.7x slower (19 s -> 32 s) and moved mainly the percentiles of parameters flagged poorly determined
    # (M4's eps0 high 5.8e3 -> 3.0e4; the others by <= 4e-4); the point fit, whose optimum the tables report, gets them
    refits = np.stack([canonical_order(problem, polish(problem, theta[b], rows[b], extra_rounds=0)[0])
                       for b in progress(range(n_boot), desc="bootstrap refits", unit="fit")])
    nat = problem.natural(refits)
    return pd.DataFrame({n: np.broadcast_to(np.asarray(nat[n]).ravel(), (n_boot,))
                         for n in problem.law.param_names})


def fit_frame(law: str | Law, df: pd.DataFrame, x_cols: Sequence[str], y_col: str, **kwargs) -> FitResult:
    """Fit ``law`` to columns of a tidy table; ``x_cols`` map onto the law's inputs in order."""
    law = get_law(law)
    xs, y = frame_columns(law, df, x_cols, y_col)
    return fit_law(law, xs, y, input_names=list(x_cols), y_name=y_col, **kwargs)


def frame_columns(law: str | Law, df: pd.DataFrame, x_cols: Sequence[str],
                  y_col: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The law's inputs and measured column as float arrays, checked: InputError naming the column and
    the row (the table's index label) of the first text cell, NaN/inf or non-positive value."""
    law = get_law(law)
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"df must be a pandas DataFrame (a tidy table, one row per point); got a {type(df).__name__}")
    # one column name, not its letters: "ND" was the columns N and D, "params" six one-letter columns
    x_cols = [x_cols] if isinstance(x_cols, str) else list(x_cols)
    if isinstance(y_col, (list, tuple, set, dict, np.ndarray, pd.Index, pd.Series)):  # a label: str, int (header=None)
        raise InputError(f"y_col must be the name of one column; got {y_col!r}")
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]} & {str(c) for c in x_cols + [y_col]})
    if duplicated:
        raise InputError(f"the table has more than one column named {', '.join(map(repr, duplicated))}; "
                         "rename or drop the copies")
    repeated = sorted(repeats(x_cols))
    if repeated:
        raise InputError(f"input columns must be distinct (each input of law {law.name!r} needs its own); "
                         f"got {', '.join(map(repr, repeated))} more than once in {x_cols}")
    if len(x_cols) != len(law.inputs):
        raise InputError(f"law {law.name!r} takes {len(law.inputs)} input column(s) "
                         f"({', '.join(law.inputs)}); got {len(x_cols)}"
                         + (f": {', '.join(x_cols)}" if x_cols else " (an empty list)"))
    misplaced = [c for j, c in enumerate(map(str, x_cols)) if c in law.inputs and law.inputs.index(c) != j]
    if misplaced:  # columns map onto the inputs by position: (D, N) for chinchilla swapped A with B, α with β
        raise InputError(f"the input columns {x_cols} map onto law {law.name!r}'s inputs ({', '.join(law.inputs)}) "
                         f"in order, but {', '.join(map(repr, misplaced))} {'is' if len(misplaced) == 1 else 'are'} named after "
                         f"another input: list the columns in the law's order, e.g. {','.join(law.inputs)}")
    if y_col in x_cols:  # the law would be fitted to its own output: a typo, never a model
        raise InputError(f"the measured column {y_col!r} is also one of the input columns {x_cols}; "
                         "the inputs and the measured column must be different columns")
    for col in x_cols + [y_col]:
        if col not in df.columns:
            raise column_not_found(col, df.columns)
    cols = []
    for col in x_cols + [y_col]:
        raw = df[col]
        bad = non_real(raw, text=False)  # text cells are named below; True was read as 1.0, 2+1j as 2.0
        if bad is not None:
            raise InputError(f"column {col!r} must hold real numbers; got {describe_non_real(bad[1])} "
                             f"at {row_name(df.index, df.index[bad[0]])}")
        values = pd.to_numeric(raw, errors="coerce")
        text = values.isna() & raw.notna()
        if text.any():
            row = text.idxmax()
            raise InputError(f"column {col!r} has a non-numeric value {raw[row]!r} at {row_name(df.index, row)}")
        cols.append(values.to_numpy(dtype=float))
    validate_data(law, tuple(cols[:-1]), cols[-1], x_cols, y_col, rows=df.index)
    return tuple(cols[:-1]), cols[-1]
