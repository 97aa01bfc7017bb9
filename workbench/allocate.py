"""Compute allocation: how to split a FLOPs budget between model size and data (pure functions).

Units throughout: N in parameters, D in tokens, C in FLOPs, loss in the law's own units (nats per
token for the Chinchilla fits). Training costs ``flops_per_param_token · N · D`` FLOPs (6 by the
usual forward + backward count, Kaplan et al. 2020 §2.1); inference costs 2 FLOPs per parameter per
token (a forward pass only).

Sources:
- closed form: Hoffmann et al. 2022 (Chinchilla), Approach 3, appendix D.2; see SCIENCE.md §2.
- inference-aware optimum: Sardana & Frankle 2024, "Beyond Chinchilla-Optimal".
- train-vs-test-time exchange: Snell et al. 2024, §7 (FLOPs-matched comparison, R = D_inf/D_pre).

The numeric routines work for any registered law with inputs ``("N", "D")`` (``chinchilla``,
``kaplan``); they evaluate the law on a log-spaced grid first and refine the best grid point with a
bounded Brent search, so a law that is not unimodal along the constraint still gets its global grid
optimum.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from workbench.errors import InputError, is_finite, is_real_number, is_whole_number, real_values
from workbench.laws import Law, get_law

TRAIN_FLOPS_PER_PARAM_TOKEN = 6.0
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0

# Search ranges (natural logs). N from 1 parameter to 1e30; D likewise: wide enough for any budget
# a person might ask about, narrow enough that a 512-point grid has steps of ~0.13 in log N.
_LOG_N_MAX = math.log(1e30)
_LOG_D_MAX = math.log(1e30)
_GRID_POINTS = 512


class BudgetTooSmall(InputError):
    """A training budget below the smallest model a law's compute-optimal allocation can name (one parameter
    seeing one token): its loss there is far above any target, which the allocate verb's search for the largest
    budget that works relies on."""
_BISECTION_STEPS = 80

# a generous upper limit, so that a mistyped huge number is an InputError, not a process killed for memory
MAX_N_GRID = 10 ** 6
"""Most points ``isoflop_curve`` spaces itself (an int ``n_grid``): 10**6 rows take about 40 MB and 0.05 s;
10**9 would take 40 GB."""

# Published Chinchilla fits (law "chinchilla", natural units, loss in nats/token).
PUBLISHED_FITS: dict[str, dict[str, float]] = {
    # Besiroglu et al. 2024 (Epoch AI), refit on 240 points recovered from Hoffmann's figure 4.
    "epoch2024": {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366},
    # Hoffmann et al. 2022, Approach 3, as printed in the paper (rounded).
    "hoffmann2022": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    # The same fit with the unrounded exponents of the paper's TeX source (Besiroglu et al. 2024, §3).
    "hoffmann2022-tex": {"E": 1.6934, "A": 406.4, "B": 410.7, "alpha": 0.3392, "beta": 0.2849},
}


# What a user of a published fit should know about it (the allocate verb adds it to its output as "note").
PUBLISHED_FIT_NOTES: dict[str, str] = {
    "hoffmann2022": ("the exponents as printed (0.34, 0.28) are rounded: at 5.76e23 FLOPs they give about 93 tokens "
                     "per parameter where the unrounded ones (hoffmann2022-tex) give about 59, and Epoch's refit "
                     "(epoch2024) about 18 (Besiroglu et al. 2024)"),
}


def published_fit(name: str) -> dict[str, float]:
    """A copy of a published Chinchilla fit by name (see ``PUBLISHED_FITS``)."""
    try:
        return dict(PUBLISHED_FITS[name])
    except KeyError:
        raise InputError(f"published fit must be one of {', '.join(PUBLISHED_FITS)}; got {name!r}") from None


def _positive(name: str, value, *, allow_zero: bool = False) -> float:
    if not is_real_number(value):  # float() read the text '1e21' as a number and True as 1
        raise InputError(f"{name} must be a number; got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # 10**400, an int beyond any float
        v = math.inf if value > 0 else -math.inf
    ok = v >= 0 if allow_zero else v > 0
    if not (math.isfinite(v) and ok):
        rule = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise InputError(f"{name} must be {rule}; got {value!r}")
    return v


def _target_loss(value) -> float:
    """A target loss as a float, or an InputError: a string (float('2.5') read it as a number, float('x') was a
    bare ValueError), None, a boolean or a non-finite number."""
    if not is_finite(value):
        raise InputError(f"target_loss must be a finite number; got {value!r}")
    return float(value)


def _nd_law(law: str | Law) -> Law:
    law = get_law(law)
    if tuple(law.inputs) != ("N", "D"):
        raise InputError(
            f"law must take inputs (N, D) (model parameters, training tokens) for compute allocation; "
            f"law {law.name!r} takes {law.inputs}"
        )
    return law


def _loss(law: Law, params: Mapping[str, float], N, D) -> np.ndarray:
    N, D = np.broadcast_arrays(np.atleast_1d(np.asarray(N, dtype=float)), np.atleast_1d(np.asarray(D, dtype=float)))
    return np.asarray(law.predict((N.ravel(), D.ravel()), params), dtype=float).reshape(N.shape)


# ----------------------------------------------------------------------------------------------
# compute-optimal allocation


def chinchilla_optimal(C, *, E, A, B, alpha, beta, flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN) -> dict:
    """Closed-form compute-optimal N and D for L(N, D) = E + A/N^α + B/D^β under C = 6·N·D.

    Hoffmann et al. 2022, eq. (4) / appendix D.2:
    G = (αA/(βB))^(1/(α+β)),  N_opt = G·(C/6)^(β/(α+β)),  D_opt = (C/6)^(α/(α+β)) / G.

    Args:
        C: training compute in FLOPs (a scalar or an array).
        E, A, B, alpha, beta: the law's parameters in natural units (loss in nats/token).
        flops_per_param_token: FLOPs per parameter per training token (6 for forward + backward).

    Returns:
        dict with ``N`` (parameters), ``D`` (tokens), ``tokens_per_param`` (D/N), ``loss`` (the law at
        the optimum) and ``flops`` (= C). Floats for a scalar C, arrays otherwise.

    Note: Hoffmann's rounded values (α=0.34, β=0.28) give ≈93 tokens/parameter at C=5.76e23;
    the unrounded values of the paper's TeX source (α=0.3392, β=0.2849, E=1.6934) give ≈59 and
    N ≈ 40B, the number the paper reports (Besiroglu et al. 2024 discuss the rounding bias).
    """
    scalar = np.ndim(C) == 0
    C = np.asarray(C, dtype=float)
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise InputError(f"C (training compute, FLOPs) must be finite and > 0; got {C.tolist()!r}")
    for name, v in (("E", E), ("A", A), ("B", B), ("alpha", alpha), ("beta", beta)):
        _positive(name, v, allow_zero=name == "E")
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    k = C / flops_per_param_token
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # extreme parameters: refused below
        G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        N = G * k ** (beta / (alpha + beta))
        D = k ** (alpha / (alpha + beta)) / G
        loss = E + A / N**alpha + B / D**beta
    bad = ~(np.isfinite(N) & np.isfinite(D) & (N >= 1) & (D >= 1))
    if np.any(bad):  # the formula holds for any C, but a model needs a parameter and a token
        i = int(np.argmax(bad.ravel()))
        c, n, d = (float(np.ravel(v)[i]) for v in (C, N, D))
        # N >= 1 and D >= 1 once k = C/6 is at least both bounds (in logs: G may underflow)
        log_ratio = math.log(alpha * A) - math.log(beta * B)  # (alpha + beta) log G
        log_k = max(-log_ratio / beta, log_ratio / alpha)
        least = flops_per_param_token * math.exp(log_k) if log_k < 700 else math.inf
        if not (math.isfinite(n) and math.isfinite(d) and math.isfinite(least)):
            raise InputError(f"the law's compute-optimal model at C = {c:g} FLOPs lies beyond float range (N = {n:.3g} "
                             f"parameters, D = {d:.3g} tokens): its parameters (A = {A:g}, B = {B:g}, alpha = {alpha:g}, "
                             f"beta = {beta:g}) put the optimum at no size a model can have")
        raise BudgetTooSmall(f"C (training compute, FLOPs) must be at least {least:.4g} for this law's compute-optimal "
                             f"model to have one parameter and see one token (at {c:g}: N = {n:.3g} parameters, "
                             f"D = {d:.3g} tokens); got {c!r}")
    out = {"N": N, "D": D, "tokens_per_param": D / N, "loss": loss, "flops": C}
    return {key: float(v) for key, v in out.items()} if scalar else out


def optimum_intervals(law: str | Law, draws: pd.DataFrame, C: float, *, level: float = 0.95) -> dict:
    """Percentile intervals of the compute-optimal allocation at budget ``C`` over a fit's bootstrap draws.

    ``draws``: one row per resample, a column per parameter of the law (``FitResult.bootstrap``, or the CSV
    ``fit --draws`` writes). Each draw's optimum is computed as for a point estimate (closed form for
    chinchilla, the numeric search otherwise); a draw with no optimum (an exponent of 0, a loss flat in float
    precision) is counted in ``draws_failed`` and left out. Besiroglu et al. (2024) report Chinchilla's
    tokens per parameter this way, with intervals from a bootstrap of the fit.

    Returns ``{"ci": {"N", "D", "tokens_per_param", "loss"}: [low, high], "level", "draws_used",
    "draws_failed"}``.
    """
    law = _nd_law(law)
    if not isinstance(draws, pd.DataFrame):  # a fit without a bootstrap has draws None: 'NoneType ... columns'
        raise InputError(f"draws must be a DataFrame of bootstrap refits, one column per parameter (a fit's "
                         f".bootstrap: fit with bootstrap > 0); got {type(draws).__name__}")
    if not (is_real_number(level) and 0 < level < 1):
        raise InputError(f"level must be a fraction in (0, 1), e.g. 0.95; got {level!r}")
    missing = [n for n in law.param_names if n not in draws.columns]
    if missing:
        raise InputError(f"the draws need a column per parameter of law {law.name!r} ({', '.join(law.param_names)}); "
                         f"missing {', '.join(missing)}")
    names = list(law.param_names)
    rows = []
    for draw in draws[names].to_numpy(dtype=float):
        params = dict(zip(names, draw))
        try:  # chinchilla's closed form is exact at any budget (see the allocate verb)
            rows.append(chinchilla_optimal(C, **params) if law.name == "chinchilla" else compute_optimal(law, params, C))
        except InputError:
            rows.append({})
    values = {k: np.array([r.get(k, np.nan) for r in rows], dtype=float) for k in ("N", "D", "tokens_per_param", "loss")}
    good = np.logical_and.reduce([np.isfinite(v) for v in values.values()])
    if good.sum() < 2:
        raise InputError(f"the draws give a compute-optimal allocation at C = {C:g} for {int(good.sum())} of "
                         f"{len(draws)} rows; intervals need at least 2")
    q = (1 - level) / 2
    ci = {k: [float(np.quantile(v[good], q)), float(np.quantile(v[good], 1 - q))] for k, v in values.items()}
    return {"ci": ci, "level": level, "draws_used": int(good.sum()), "draws_failed": int((~good).sum())}


def _refine_min(f, grid: np.ndarray, values: np.ndarray) -> float:
    """Bounded Brent search for min f around the best finite grid point; returns the argmin."""
    i = int(np.nanargmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if hi <= lo:
        return float(grid[i])
    # f is inf where no model of the searched sizes reaches the target (next to the 1e30 edge): Brent's
    # parabola steps then take inf - inf, which numpy would warn about on stderr; such steps are rejected anyway
    with np.errstate(invalid="ignore"):
        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return float(res.x) if res.fun <= values[i] else float(grid[i])


def compute_optimal(law: str | Law, params: Mapping[str, float], C: float, *,
                    flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN) -> dict:
    """Numeric compute-optimal allocation: minimise L(N, C/(6N)) over N for a budget of C FLOPs.

    Works for any registered law with inputs (N, D). Minimises over log N on a grid from 1
    parameter to the largest N that still sees one token, then refines with bounded Brent. Raises
    InputError when the loss is flat to float precision around the best grid point (a budget so large
    that the law's excess over its floor vanishes next to it: chinchilla beyond C ≈ 1e100), rather than
    returning an arbitrary N; :func:`chinchilla_optimal` is exact at any budget.

    Returns dict ``N`` (parameters), ``D`` (tokens), ``tokens_per_param``, ``loss``, ``flops`` (= C).
    """
    law = _nd_law(law)
    C = _positive("C (training compute, FLOPs)", C)
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    k = C / flops_per_param_token  # N·D
    if k <= 1.0:
        raise BudgetTooSmall(f"C (training compute, FLOPs) must exceed {flops_per_param_token} (one parameter, one token); "
                             f"got {C!r}")
    log_k = math.log(k)
    grid = np.linspace(0.0, log_k, _GRID_POINTS)  # log N; D = k/N >= 1

    def f(u):
        return float(_loss(law, params, math.exp(u), math.exp(log_k - u))[0])

    values = _loss(law, params, np.exp(grid), np.exp(log_k - grid))
    if not np.any(np.isfinite(values)):
        raise InputError(f"law {law.name!r} gives no finite loss with params {dict(params)!r}")
    values = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(values))
    if i in (0, values.size - 1):  # the loss still falls at the search's edge: the optimum is not a model
        _check_loss_falls(law, params, log_k)  # or the parameters are no scaling law's (a negative exponent)
        edge = ("fewer than one parameter (N = 1 is the smallest searched)" if i == 0 else
                "fewer than one training token (D = 1 at the largest N searched)")
        raise BudgetTooSmall(f"C (training compute, FLOPs) is too small for a compute-optimal model of law "
                             f"{law.name!r}: along the budget its loss falls toward {edge}; got {C!r}")
    rise = min(values[j] for j in (i - 1, i + 1) if 0 <= j < values.size) - values[i]
    if not rise > 64 * np.finfo(float).eps * abs(values[i]):  # flat to float precision: any N would "win"
        raise InputError(f"C (training compute, FLOPs) is too large for a numeric optimum of law {law.name!r}: "
                         f"the loss no longer changes along the budget in float precision; got {C!r}"
                         + (" (chinchilla_optimal gives the closed form at any budget)" if law.name == "chinchilla" else ""))
    u = _refine_min(f, grid, values)
    N, D = math.exp(u), math.exp(log_k - u)
    return {"N": N, "D": D, "tokens_per_param": D / N, "loss": f(u), "flops": C}


def _check_loss_falls(law: Law, params: Mapping[str, float], log_k: float) -> None:
    """Refuse parameters whose loss rises with model size at fixed data, or with data at fixed model size,
    across the searched range (N and D from 1 to k = exp(log_k), the other held at sqrt(k)): a negative exponent.
    Without this check such a law's optimum sits at the search's edge and reads as a budget too small (or a target
    below the law's reach). Called only on those paths, never on a well-posed search."""
    mid = math.exp(log_k / 2)
    for name, other, (a, b) in (("N (model parameters)", "D", ((1.0, mid), (math.exp(log_k), mid))),
                                ("D (training tokens)", "N", ((mid, 1.0), (mid, math.exp(log_k))))):
        lo, hi = (float(_loss(law, params, *point)[0]) for point in (a, b))
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            raise InputError(f"law {law.name!r} with params {dict(params)!r} is no scaling law: its loss rises with "
                             f"{name} at fixed {other} = {mid:.3g}, from {lo:.6g} at 1 to {hi:.6g} at "
                             f"{math.exp(log_k):.3g}; check the exponents' and amplitudes' signs")


def isoflop_curve(law: str | Law, params: Mapping[str, float], C: float, n_grid: int | Sequence[float] = 64, *,
                  decades: float = 2.0, flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Loss along the isoFLOP line 6·N·D = C (Hoffmann et al. 2022, Approach 2 plots).

    Args:
        n_grid: model sizes N to evaluate, or an int: that many log-spaced sizes spanning ``decades``
            either side of the compute-optimal N (clipped so that D >= 1 token). Given sizes must leave at
            least one token each, N <= C / flops_per_param_token; a larger one is refused (InputError), not
            dropped: a row of fewer than one training token is no model, and a table shorter than its grid
            would misalign with the grid unsaid.

    Returns:
        DataFrame with columns C, N, D, tokens_per_param, loss (one row per N).
    """
    law = _nd_law(law)
    C = _positive("C (training compute, FLOPs)", C)
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    k = C / flops_per_param_token
    if not (is_finite(decades) and decades > 0):  # '2' was a bare TypeError
        raise InputError(f"decades must be a finite number > 0 (the span either side of the optimal N); "
                         f"got {decades!r}")
    if np.ndim(n_grid) == 0:
        if not is_whole_number(n_grid) or n_grid < 2:  # 2.5 would quietly become 2 points
            raise InputError(f"n_grid must be an int >= 2 or a sequence of model sizes; got {n_grid!r}")
        if n_grid > MAX_N_GRID:  # 10**9 points: a 40 GB table
            raise InputError(f"n_grid must be <= {MAX_N_GRID} (points per curve); got {n_grid!r}")
        n = int(n_grid)
        centre = math.log10(compute_optimal(law, params, C, flops_per_param_token=flops_per_param_token)["N"])
        N = np.logspace(centre - decades, min(centre + decades, math.log10(k)), n)
    else:
        N = real_values(n_grid, "n_grid").ravel()
        if N.size == 0 or np.any(~np.isfinite(N)) or np.any(N <= 0):
            raise InputError(f"n_grid must hold finite model sizes > 0; got {N.tolist()!r}")
        too_big = np.flatnonzero(N > k)  # D = C/(6·N) < 1 token: were returned as rows like any other
        if too_big.size:
            i = too_big[0]
            raise InputError(f"n_grid must hold model sizes N <= C/{flops_per_param_token:g} = {k:.6g} at C = {C:g} "
                             f"FLOPs, so that each trains on at least one token (D = C/({flops_per_param_token:g}·N)); "
                             f"got {too_big.size} larger, the first N = {N[i]:g} (D = {k / N[i]:.3g} tokens): "
                             "drop those sizes for this budget")
    D = k / N
    return pd.DataFrame({"C": C, "N": N, "D": D, "tokens_per_param": D / N, "loss": _loss(law, params, N, D)})


def frontier(law: str | Law, params: Mapping[str, float], C_grid: Sequence[float], *,
             flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Compute-optimal frontier: one row per budget with columns C, N, D, tokens_per_param, loss."""
    C_grid = real_values(C_grid, "C_grid (training FLOPs)").ravel()  # "1e21" was read as 1e21, True as 1
    if C_grid.size == 0:
        raise InputError("C_grid must hold at least one budget (FLOPs); got none")
    rows = [compute_optimal(law, params, C, flops_per_param_token=flops_per_param_token) for C in C_grid]
    return pd.DataFrame(rows).rename(columns={"flops": "C"})[["C", "N", "D", "tokens_per_param", "loss"]]


# ----------------------------------------------------------------------------------------------
# inference-aware allocation (Sardana & Frankle 2024)


def tokens_for_loss(law: str | Law, params: Mapping[str, float], N, target_loss: float) -> np.ndarray:
    """Training tokens D such that L(N, D) = target_loss, for each model size N (vectorised).

    Bisection on log D in [0, log 1e30] (the law must decrease in D). Returns inf where even 1e30
    tokens do not reach the target (the model is too small), and 1 where one token already does.
    ``target_loss`` must be finite and every N finite and > 0 (InputError otherwise).
    """
    law = _nd_law(law)
    target = _target_loss(target_loss)
    N = np.atleast_1d(real_values(N, "N (model sizes)"))
    if N.size == 0 or np.any(~np.isfinite(N)) or np.any(N <= 0):
        raise InputError(f"N (model sizes) must hold finite numbers > 0; got {N.tolist()!r}")
    lo = np.zeros_like(N)
    hi = np.full_like(N, _LOG_D_MAX)
    reachable = _loss(law, params, N, np.exp(hi)) <= target
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = _loss(law, params, N, np.exp(mid)) > target  # loss still too high: more data
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(reachable, np.exp(hi), np.inf)


def iso_loss_curve(law: str | Law, params: Mapping[str, float], target_loss: float, n_grid: Sequence[float],
                   inference_tokens: float = 0.0, *,
                   flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN,
                   inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Cost of reaching ``target_loss`` with each model size N in ``n_grid``.

    Returns a DataFrame with columns N, D_train, train_flops, inference_flops, total_flops
    (FLOPs; inf where N cannot reach the target).
    """
    T = _positive("inference_tokens", inference_tokens, allow_zero=True)
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    inference_flops_per_param_token = _positive("inference_flops_per_param_token", inference_flops_per_param_token)
    N = real_values(n_grid, "n_grid").ravel()
    if N.size == 0 or np.any(~np.isfinite(N)) or np.any(N <= 0):
        raise InputError(f"n_grid must hold finite model sizes > 0; got {N.tolist()!r}")
    D = tokens_for_loss(law, params, N, target_loss)
    train = flops_per_param_token * N * D
    infer = inference_flops_per_param_token * N * T
    return pd.DataFrame({"N": N, "D_train": D, "train_flops": train, "inference_flops": infer,
                         "total_flops": train + infer})


def inference_aware_floor(law: str | Law, params: Mapping[str, float]) -> float:
    """The lowest loss :func:`inference_aware_optimal` can target: the law's loss at the largest model
    and data it searches (1e30 parameters, 1e30 tokens); a target at or below it has no solution there."""
    return float(_loss(_nd_law(law), params, np.exp(_LOG_N_MAX), np.exp(_LOG_D_MAX))[0])


def inference_aware_optimal(law: str | Law, params: Mapping[str, float], target_loss: float,
                            inference_tokens: float, *,
                            flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN,
                            inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN) -> dict:
    """Cheapest model that reaches ``target_loss`` and then serves ``inference_tokens`` tokens.

    Sardana & Frankle 2024: minimise 6·N·D_train + 2·N·D_inference subject to L(N, D_train) = target.
    Solved numerically (grid over log N, then bounded Brent); D_train(N) by bisection.

    Args:
        target_loss: the loss the trained model must reach (law units).
        inference_tokens: tokens the model will process over its lifetime (>= 0).

    Returns:
        dict with N, D_train, tokens_per_param, loss (= target), train_flops, inference_flops,
        total_flops (FLOPs) and inference_tokens.
    """
    law = _nd_law(law)
    target = _target_loss(target_loss)
    T = _positive("inference_tokens", inference_tokens, allow_zero=True)
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    inference_flops_per_param_token = _positive("inference_flops_per_param_token", inference_flops_per_param_token)

    def total(logN):
        N = np.exp(np.atleast_1d(logN))
        D = tokens_for_loss(law, params, N, target)
        with np.errstate(over="ignore"):  # a total beyond float range is inf: told apart below
            return (flops_per_param_token * D + inference_flops_per_param_token * T) * N

    grid = np.linspace(0.0, _LOG_N_MAX, _GRID_POINTS)
    values = total(grid)
    if not np.any(np.isfinite(values)):
        _check_loss_falls(law, params, _LOG_N_MAX)  # a negative exponent: no model reaches the target
        floor = inference_aware_floor(law, params)
        if target > floor:  # reachable, but every model that reaches it costs more FLOPs than a float holds
            raise InputError(f"inference_tokens is too large: serving it with any model that reaches the target "
                             f"loss {target:.10g} costs more than {np.finfo(float).max:.3g} FLOPs; "
                             f"got {inference_tokens!r}")
        raise InputError(
            f"target_loss must be above the loss the law {law.name!r} can reach (about "
            f"{floor:.10g} with 1e30 parameters and tokens); got {target_loss!r}"
        )
    one = float(_loss(law, params, 1.0, 1.0)[0])
    if target >= one:  # one parameter trained on one token reaches it: there is no model size to choose
        raise InputError(f"target_loss must be below the law's loss at one parameter and one token ({one:.10g}): "
                         f"every model reaches it; got {target_loss!r}")
    u = _refine_min(lambda v: float(total(v)[0]), grid, values)
    N = math.exp(u)
    D = float(tokens_for_loss(law, params, N, target)[0])
    train = flops_per_param_token * N * D
    infer = inference_flops_per_param_token * N * T
    return {"N": N, "D_train": D, "tokens_per_param": D / N, "loss": target, "train_flops": train,
            "inference_flops": infer, "total_flops": train + infer, "inference_tokens": T}


def lifetime_cost_frontier(law: str | Law, params: Mapping[str, float], C_grid: Sequence[float],
                           inference_tokens: float, *,
                           flops_per_param_token: float = TRAIN_FLOPS_PER_PARAM_TOKEN,
                           inference_flops_per_param_token: float = INFERENCE_FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Loss against lifetime FLOPs (training + serving ``inference_tokens``) for two policies.

    For each budget C the target loss is the compute-optimal loss at C; ``compute_optimal_total`` serves
    that compute-optimal model, ``inference_aware_total`` the cheapest model of equal loss
    (Sardana & Frankle 2024). Columns: C, loss, N_compute_optimal, compute_optimal_total,
    N_inference_aware, D_inference_aware, inference_aware_total, saving (fraction of FLOPs saved).
    """
    T = _positive("inference_tokens", inference_tokens, allow_zero=True)
    flops_per_param_token = _positive("flops_per_param_token", flops_per_param_token)
    inference_flops_per_param_token = _positive("inference_flops_per_param_token", inference_flops_per_param_token)
    C_grid = real_values(C_grid, "C_grid (training FLOPs)").ravel()  # "1e21" was read as 1e21, True as 1
    if C_grid.size == 0:
        raise InputError("C_grid must hold at least one budget (FLOPs); got none")
    rows = []
    for C in C_grid:
        co = compute_optimal(law, params, C, flops_per_param_token=flops_per_param_token)
        ia = inference_aware_optimal(law, params, co["loss"], T, flops_per_param_token=flops_per_param_token,
                                     inference_flops_per_param_token=inference_flops_per_param_token)
        co_total = C + inference_flops_per_param_token * co["N"] * T
        rows.append({"C": C, "loss": co["loss"], "N_compute_optimal": co["N"], "compute_optimal_total": co_total,
                     "N_inference_aware": ia["N"], "D_inference_aware": ia["D_train"],
                     "inference_aware_total": ia["total_flops"], "saving": 1.0 - ia["total_flops"] / co_total})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# pretraining vs test-time compute (Snell et al. 2024)


def flops_matched_exchange(R: float, k: float = 1.0, *, N: float = 1.0, D_pretrain: float = 1.0) -> dict:
    """FLOPs-matched comparison of a small model with k test-time samples and a larger model.

    Snell et al. 2024, §7: pretraining costs 6·N·D_pretrain, inference 2·N·D_inference, with
    R = D_inference / D_pretrain. Sampling k times at test time multiplies inference by k:
        total(N, k) = 6·N·D_pre + 2·N·R·D_pre·k = N·D_pre·(6 + 2·R·k).
    A model N' = M·N trained on the same D_pre and sampled once costs N'·D_pre·(6 + 2·R), so the
    FLOPs-matched size multiplier is M = (3 + R·k) / (3 + R). Small R (little inference) makes test-time
    samples cheap relative to a bigger model: M → 1 + R·k/3 as R → 0.

    Args:
        R: inference tokens over pretraining tokens (> 0).
        k: test-time samples per query (>= 1; fractional values allowed for averages).
        N: parameters of the small model; D_pretrain: its pretraining tokens (scale the FLOPs only).

    Returns:
        dict with pretrain_flops, inference_flops, total_flops (of the small model with k samples),
        size_multiplier M and N_equivalent = M·N (the larger model with the same total at k = 1).
    """
    R = _positive("R (inference tokens / pretraining tokens)", R)
    k = _positive("k (test-time samples)", k)
    if k < 1:
        raise InputError(f"k (test-time samples) must be >= 1; got {k!r}")
    N = _positive("N (parameters)", N)
    D_pretrain = _positive("D_pretrain (tokens)", D_pretrain)
    pre = TRAIN_FLOPS_PER_PARAM_TOKEN * N * D_pretrain
    inf = INFERENCE_FLOPS_PER_PARAM_TOKEN * N * R * D_pretrain * k
    M = (3.0 + R * k) / (3.0 + R)
    return {"R": R, "k": k, "pretrain_flops": pre, "inference_flops": inf, "total_flops": pre + inf,
            "size_multiplier": M, "N_equivalent": M * N}


def samples_for_size_multiplier(R: float, M: float) -> float:
    """Test-time samples k that cost as much as a model M times larger (inverse of the above).

    k = (M·(3 + R) − 3) / R; e.g. R = 1, M = 14 (Snell's ≈14× larger model) gives k = 53.
    """
    R = _positive("R (inference tokens / pretraining tokens)", R)
    M = _positive("M (size multiplier)", M)
    if M < 1:
        raise InputError(f"M (size multiplier) must be >= 1; got {M!r}")
    return (M * (3.0 + R) - 3.0) / R
