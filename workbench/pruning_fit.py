"""The pruning law on IMP tables: per network, jointly through the invariant m*, and what it buys.

Rosenfeld et al. (ICML 2021) model the error of a network pruned to density d as
ε̂(d) = ε_np·|(d − j·p·(ε↑/ε_np)^(1/γ)) / (d − j·p)|^γ (law ``"pruning"``): a plateau at the dense
error ε_np, then a power-law rise of slope γ, then ε↑. Across depths l and widths w the density is
replaced by the invariant m* = l^φ·w^ψ·d (law ``"pruning-joint"``): networks with equal m* have equal
error, and data size enters only through each network's dense error ε_np. Both are fitted on the
relative divergence, as in the paper.

:func:`cheapest_at_target` answers the practical question: for a target error, which is cheaper in
non-zero weights, the best dense network or a pruned one, using the joint law to find each
network's smallest density that still reaches the target.

IMP rows come from :func:`workbench.prune.run_prune`; :func:`run_prune_cached` keeps each study's table
on disk keyed by a hash of its full config (a rerun is one file read, a changed config recomputes), and
each finished student's rows too, so an interrupted study resumes where it stopped. A table file that is
not the study's (unreadable, a row or column missing or foreign, another method) is named in a
:class:`~workbench.errors.CacheWarning` and rebuilt from the students' rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from workbench.cache import atomic_write, read_cached
from workbench.errors import InputError
from workbench.fit import FitResult, fit_frame
from workbench.laws import get_law
from workbench.prune import MEASURED_COLUMNS, PruneConfig, run_prune, student_key
from workbench.sweep import check_one_config, row_columns

NETWORK = ("depth", "width", "n")  # one pruning curve per network and data size


def prune_key(cfg: PruneConfig) -> str:
    """Stable hash of a pruning study's table (the cache key): its full config and every student's own key
    (:func:`workbench.prune.student_key`, which carries the versions of the training code). Version 1 hashed the
    config alone, so a fix that changed a student's numbers and bumped its key (a rewound learning-rate schedule,
    session 22) still served the table computed before it."""
    blob = json.dumps({"v": 2, **dataclasses.asdict(cfg),
                       "students": sorted(student_key(cfg, run) for run in cfg.sweep.runs())},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def run_prune_cached(cfg: PruneConfig, cache_dir: str | Path, progress: bool | Callable = True,
                     **kwargs) -> pd.DataFrame:
    """:func:`run_prune`, with the table stored as ``<cache_dir>/prune/<key>.csv`` (written atomically).
    ``progress``: as for :func:`run_prune` (a bool, or a bar factory such as ``workbench.report.progress``)."""
    cfg.validate()
    path = Path(cache_dir) / "prune" / f"{prune_key(cfg)}.csv"
    cached = read_cached(path, lambda df: table_problem(df, cfg), load=pd.read_csv)
    if cached is not None:
        return cached
    df = run_prune(cfg, progress=progress, cache_dir=cache_dir, **kwargs)
    with atomic_write(path) as tmp:
        df.to_csv(tmp, index=False)
    return pd.read_csv(path)


def table_problem(df: pd.DataFrame, cfg: PruneConfig) -> str | None:
    """Why ``df`` (a CSV read back) is not the table :func:`run_prune` makes of ``cfg``: a column missing or not
    numbers, a student or round missing, foreign or twice, another method or rewind step; None when it is."""
    config = ("width", "depth", "n", "seed", "round")
    for name in config + MEASURED_COLUMNS:
        if name not in df.columns:
            return f"no {name!r} column"
        if not pd.api.types.is_numeric_dtype(df[name]):
            return f"column {name!r} holds {df[name].dtype} values, not numbers"
    s = cfg.sweep
    fixed = {**row_columns(s.runs()[0]), "method": cfg.method, "rewind_step": cfg.rewind_step}
    for name, value in fixed.items():  # the task's and optimiser's columns, the same in every row
        if name not in config and (name not in df.columns or not (df[name] == value).all()):
            return f"not every row has {name} {value!r}"
    expected = {(w, d, n, seed, r) for w in s.widths for d in s.depths for n in s.sizes for seed in s.seeds
                for r in range(cfg.rounds + 1)}
    got = list(df[list(config)].itertuples(index=False, name=None))
    if len(got) != len(expected) or set(got) != expected:
        return f"{len(got)} rows, not the study's {len(expected)} (width, depth, n, seed, round) rows each once"
    return None


def _need(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"the table must have column(s) {', '.join(missing)}; "
                         f"it has {', '.join(map(str, df.columns))}")


def curves(df: pd.DataFrame, y_col: str = "test_loss", over: Sequence[str] = ("seed",)) -> pd.DataFrame:
    """Seed-averaged pruning curves: one row per (depth, width, n, round) with density, ``y_col``,
    its seed sd, params_nonzero, and ``eps_np`` (the network's seed-mean dense error, round 0). ``over``: the
    configuration columns the mean may run over (e.g. ``("seed", "task_seed")`` for several teachers); rows that
    differ in any other (imp and oneshot rows, two step budgets) are an InputError naming the column."""
    _need(df, list(NETWORK) + ["round", "density", "params_nonzero", y_col])
    over = [over] if isinstance(over, str) else list(over)
    check_one_config(df, list(NETWORK) + ["round"], over, "curves")
    g = df.groupby(list(NETWORK) + ["round"], sort=True).agg(
        density=("density", "mean"), params_nonzero=("params_nonzero", "mean"),
        **{y_col: (y_col, "mean"), f"{y_col}_sd": (y_col, "std")}).reset_index()
    dense = g[g["round"] == 0].set_index(list(NETWORK))[y_col].rename("eps_np")
    if len(dense) != g.groupby(list(NETWORK)).ngroups:
        raise InputError("every network needs its dense run (round 0) to give eps_np")
    return g.join(dense, on=list(NETWORK))


def fit_networks(table: pd.DataFrame, y_col: str = "test_loss", **fit_kw) -> pd.DataFrame:
    """The pruning law fitted to each network's curve (a :func:`curves` table).

    Columns: depth, width, n, eps_np, eps_up, p, gamma, mean_abs_rel_divergence, std_rel_divergence,
    points, at_bounds (parameters on a bound of the law, e.g. γ = 50: a rise more abrupt than the density
    steps resolve), poorly_determined (standard error above the value, e.g. ε↑ and p of a curve that
    never nears its plateau: only q = p·(ε↑/ε_np)^(1/γ) is fitted), fit.
    """
    _need(table, list(NETWORK) + ["density", y_col])
    rows = []
    for key, sub in table.groupby(list(NETWORK), sort=True):
        fit = fit_frame("pruning", sub, ["density"], y_col, **fit_kw)
        rows.append({**dict(zip(NETWORK, key)), **fit.params,
                     "mean_abs_rel_divergence": fit.metrics["mean_abs_rel_divergence"],
                     "std_rel_divergence": fit.metrics["std_rel_divergence"], "points": len(sub),
                     "at_bounds": ", ".join(fit.at_bounds),
                     "poorly_determined": ", ".join(fit.poorly_determined), "fit": fit})
    return pd.DataFrame(rows)


def fit_joint(table: pd.DataFrame, y_col: str = "test_loss", **fit_kw) -> FitResult:
    """The joint law: ε̂ from m* = l^φ·w^ψ·d and each network's measured ε_np (a :func:`curves` table)."""
    _need(table, ["depth", "width", "density", "eps_np", y_col])
    return fit_frame("pruning-joint", table, ["depth", "width", "density", "eps_np"], y_col, **fit_kw)


def _joint(fit: FitResult) -> None:
    if fit.law != "pruning-joint":
        raise InputError(f"fit must be a fit of the 'pruning-joint' law (fit_joint); got a fit of {fit.law!r}")


def m_star(depth, width, density, fit: FitResult):
    """The invariant m* = l^φ·w^ψ·d of a joint fit."""
    _joint(fit)
    return np.asarray(depth, float) ** fit.params["phi"] * np.asarray(width, float) ** fit.params["psi"] \
        * np.asarray(density, float)


def predict_joint(fit: FitResult, depth, width, density, eps_np) -> np.ndarray:
    """The joint law's error for arrays (broadcast together) of depth, width, density and ε_np."""
    _joint(fit)
    arrays = np.broadcast_arrays(*(np.asarray(v, float) for v in (depth, width, density, eps_np)))
    return fit.predict(tuple(a.ravel() for a in arrays)).reshape(arrays[0].shape)


def min_density(fit: FitResult, depth: float, width: float, eps_np: float, target: float,
                lowest: float = 1e-4) -> float:
    """The smallest density at which the joint law's error is still ≤ ``target``.

    The law rises monotonically as density falls, so bisection in log density. Returns nan when
    even the dense network (d = 1) misses the target, and ``lowest`` when every density reaches it.
    """
    _joint(fit)
    law = get_law(fit.law)

    def err(d):
        return float(law.predict((np.array([depth]), np.array([width]), np.array([d]), np.array([eps_np])),
                                 fit.params)[0])

    if err(1.0) > target:
        return float("nan")
    if err(lowest) <= target:
        return float(lowest)
    lo, hi = np.log(lowest), 0.0  # err(e^lo) > target >= err(e^hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if err(np.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(hi))


def cheapest_at_target(table: pd.DataFrame, fit: FitResult, target: float, y_col: str = "test_loss",
                       n: int | None = None) -> pd.DataFrame:
    """Cheapest network (fewest non-zero weights) reaching ``target``: measured dense, measured
    pruned (any IMP round) and law-predicted pruned (each network at its :func:`min_density`).

    ``table``: a :func:`curves` table; ``n``: the data size to compare at (default: the largest).
    One row per kind: kind, depth, width, density, params_nonzero, error (measured or predicted);
    a kind that cannot reach the target has nan entries.
    """
    _joint(fit)
    _need(table, list(NETWORK) + ["round", "density", "params_nonzero", "eps_np", y_col])
    n = int(table["n"].max()) if n is None else int(n)
    at_n = table[table["n"] == n]
    if at_n.empty:
        raise InputError(f"no rows at n={n}; the table has n in {sorted(table['n'].unique())}")
    out = []

    def pick(kind, rows, err_col):
        ok = rows[rows[err_col] <= target]
        if ok.empty:
            out.append({"kind": kind, "depth": np.nan, "width": np.nan, "density": np.nan,
                        "params_nonzero": np.nan, "error": np.nan})
            return
        best = ok.loc[ok["params_nonzero"].idxmin()]
        out.append({"kind": kind, "depth": int(best["depth"]), "width": int(best["width"]),
                    "density": float(best["density"]), "params_nonzero": float(best["params_nonzero"]),
                    "error": float(best[err_col])})

    pick("dense (measured)", at_n[at_n["round"] == 0], y_col)
    pick("pruned (measured)", at_n, y_col)
    dense = at_n[at_n["round"] == 0]
    law_rows = []
    for _, r in dense.iterrows():
        d = min_density(fit, r["depth"], r["width"], r["eps_np"], target)
        if np.isfinite(d):
            # biases are never pruned: params_nonzero = params − prunable·(1 − d)
            prunable = r["params_nonzero"] - _biases(table, r)
            law_rows.append({"depth": r["depth"], "width": r["width"], "density": d,
                             "params_nonzero": _biases(table, r) + d * prunable,
                             "law_error": float(predict_joint(fit, r["depth"], r["width"], d, r["eps_np"]))})
    pick("pruned (law)", pd.DataFrame(law_rows, columns=["depth", "width", "density", "params_nonzero",
                                                          "law_error"]), "law_error")
    return pd.DataFrame(out)


def _biases(table: pd.DataFrame, dense_row: pd.Series) -> float:
    """Unprunable parameters of a network, from its IMP rows: params_nonzero at density d is
    biases + d·prunable, so two rounds give biases."""
    rows = table[(table["depth"] == dense_row["depth"]) & (table["width"] == dense_row["width"])
                 & (table["n"] == dense_row["n"])].sort_values("density")
    if len(rows) < 2:
        return 0.0
    a, b = rows.iloc[0], rows.iloc[-1]
    slope = (b["params_nonzero"] - a["params_nonzero"]) / (b["density"] - a["density"])  # = prunable
    return float(b["params_nonzero"] - slope * b["density"])


def cheapest_table(table: pd.DataFrame, fit: FitResult, targets: Sequence[float], y_col: str = "test_loss",
                   n: int | None = None) -> pd.DataFrame:
    """:func:`cheapest_at_target` for each target, one frame with a ``target`` column and
    ``saving`` (dense measured params_nonzero / this kind's params_nonzero)."""
    parts = []
    for t in targets:
        part = cheapest_at_target(table, fit, float(t), y_col=y_col, n=n)
        dense = part.loc[part["kind"] == "dense (measured)", "params_nonzero"].iloc[0]
        parts.append(part.assign(target=float(t), saving=dense / part["params_nonzero"]))
    return pd.concat(parts, ignore_index=True)[["target", "kind", "depth", "width", "density", "params_nonzero",
                                                 "error", "saving"]]


def dense_error_at(table: pd.DataFrame, depth: int, n: int, widths) -> np.ndarray:
    """ε_np at any width for one depth and data size: log-log interpolation of the measured dense
    errors (linear extrapolation outside the measured widths), for drawing the joint law's contours."""
    rows = table[(table["depth"] == depth) & (table["n"] == n) & (table["round"] == 0)].sort_values("width")
    if len(rows) < 2:
        raise InputError(f"need dense runs of >= 2 widths at depth={depth}, n={n}; got {len(rows)}")
    lw, le = np.log(rows["width"].to_numpy(float)), np.log(rows["eps_np"].to_numpy(float))
    x = np.log(np.asarray(widths, float))
    slope_lo = (le[1] - le[0]) / (lw[1] - lw[0])
    slope_hi = (le[-1] - le[-2]) / (lw[-1] - lw[-2])
    y = np.interp(x, lw, le)
    y = np.where(x < lw[0], le[0] + slope_lo * (x - lw[0]), y)
    y = np.where(x > lw[-1], le[-1] + slope_hi * (x - lw[-1]), y)
    return np.exp(y)
