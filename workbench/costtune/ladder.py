"""The cascade's ladder of settings and the scaling-law predictions that guide the cascade agent.

Ladder (the action space of :mod:`workbench.costtune.cascade_env`): the settings on the static
cost–error Pareto frontier of the *train* inputs, thinned so that each rung costs at least
``spacing`` times the one below it (a cascade pays every rung it runs, so rungs closer than that
add cost faster than they add accuracy), at most ``max_stages`` rungs, sorted by cost.

Confidence bins: after rung j has run, the input's difficulty is summarised by the bin of rung j's
confidence (max probability or vote share), ``n_bins`` quantile bins of the train inputs (0 = most
confident). Before any rung has run there is one state.

Law guidance (Snell et al. 2024's per-difficulty view, with FrugalGPT's "answer now or escalate"):
for each state (rung j run, its confidence bin b) the registered ``power`` law
err ≈ a·C^(−b) + c is fitted on the train inputs of that state to the error of every setting of
each strategy group against its FLOPs (``guidance``'s recipe, conditioned on the cascade's state
instead of the probe), and evaluated at each rung's cost: ``pred_error[state, rung]``. Where a fit
fails the empirical error is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.costtune.guidance import ERROR_FLOOR
from workbench.costtune.outcomes import OutcomeTable
from workbench.costtune.policies import pareto, static_points
from workbench.errors import InputError
from workbench.fit import fit_law


@dataclass(frozen=True)
class Ladder:
    """Rungs, confidence bins and law predictions of one cascade (all fitted on train inputs)."""

    settings: np.ndarray
    """(L,) table setting index of each rung, increasing cost."""
    cost: np.ndarray
    """(L,) FLOPs per input of each rung."""
    names: tuple[str, ...]
    """(L,) setting names."""
    conf_edges: np.ndarray
    """(L, n_bins − 1) inner quantile edges of each rung's confidence (train inputs)."""
    pred_error: np.ndarray
    """(S, L) law-predicted error of each rung in each state; S = 1 + L·n_bins, state 0 = nothing run,
    state 1 + j·n_bins + b = rung j run with confidence bin b."""
    n_bins: int
    """Confidence bins per rung."""

    @property
    def n_stages(self) -> int:
        return len(self.settings)

    @property
    def n_states(self) -> int:
        return 1 + self.n_stages * self.n_bins

    def conf_bins(self, table: OutcomeTable, rows: np.ndarray) -> np.ndarray:
        """(R, L) confidence bin of every rung for table rows (0 = most confident)."""
        conf = table.conf[np.ix_(rows, self.settings)]
        return np.stack([self.n_bins - 1 - np.searchsorted(self.conf_edges[j], conf[:, j], side="right")
                         for j in range(self.n_stages)], 1)


def frontier_rungs(table: OutcomeTable, spacing: float = 2.0, max_stages: int = 8,
                   top_se: float = 0.0) -> np.ndarray:
    """Setting indices of the thinned train frontier (see the module docstring), increasing cost.
    The top rung is the cheapest frontier setting whose train error is within ``top_se`` standard
    errors (binomial, of the lowest train error) of the lowest one (the "one-standard-error rule":
    costlier settings are not distinguishable from it on the train inputs; 0 keeps the most
    accurate). Thinning walks down from the top rung."""
    if not spacing >= 1:
        raise InputError(f"spacing must be >= 1; got {spacing!r}")
    if max_stages < 2:
        raise InputError(f"max_stages must be >= 2; got {max_stages!r}")
    if not top_se >= 0:
        raise InputError(f"top_se must be >= 0; got {top_se!r}")
    tr = table.inputs("train")
    pts = static_points(table, tr)
    front = [int(np.flatnonzero((table.cost == c) & np.isclose(pts[:, 1], e))[0]) for c, e in pareto(pts)]
    err = pts[front, 1]
    tol = err[-1] + top_se * np.sqrt(err[-1] * (1 - err[-1]) / len(tr))
    top = int(np.flatnonzero(err <= tol + 1e-12)[0])
    kept = [front[top]]
    for a in reversed(front[:top]):
        if table.cost[a] * spacing <= table.cost[kept[-1]] + 1e-9:
            kept.append(a)
    return np.array(kept[:max_stages][::-1])


def _state_predictions(table: OutcomeTable, rows: np.ndarray, rungs: np.ndarray) -> np.ndarray:
    """(L,) law-predicted error of each rung from the errors of all settings on ``rows``."""
    err = 1.0 - table.correct[rows].mean(0) if len(rows) else np.ones(table.correct.shape[1])
    groups = table.settings["strategy"].to_numpy()
    pred = err[rungs].astype(float)
    for g in np.unique(groups[rungs]):
        cols = np.flatnonzero(groups == g)
        at = np.flatnonzero(groups[rungs] == g)
        try:
            fit = fit_law("power", table.cost[cols], np.maximum(err[cols], ERROR_FLOOR), polish_top=1,
                          screen_iter=3, max_iter=20)
            pred[at] = np.clip(fit.predict(table.cost[rungs[at]]), 0.0, 1.0)
        except (InputError, ValueError, FloatingPointError):
            pass  # too few or degenerate points: keep the empirical error
    return pred


MAX_STAGES = 12
"""Most rungs a ladder may have: ``cascade_agent.evaluate`` is exact over the 2^L sets of rungs run."""


def build_ladder(table: OutcomeTable, spacing: float = 2.0, max_stages: int = 8, n_bins: int = 6,
                 top_se: float = 0.0) -> Ladder:
    """The ladder, its confidence bins and the law predictions of every state (train inputs only)."""
    if n_bins < 1:
        raise InputError(f"n_bins must be >= 1; got {n_bins!r}")
    if not 2 <= max_stages <= MAX_STAGES:  # the exact evaluation walks all 2^L sets of rungs run
        raise InputError(f"max_stages must lie in [2, {MAX_STAGES}]; got {max_stages!r}")
    rungs = frontier_rungs(table, spacing, max_stages, top_se)
    tr = table.inputs("train")
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = np.stack([np.quantile(table.conf[tr, a], qs) for a in rungs]).reshape(len(rungs), n_bins - 1)
    ladder = Ladder(rungs, table.cost[rungs].astype(float), tuple(table.settings["name"][rungs]), edges,
                    np.zeros((1 + len(rungs) * n_bins, len(rungs))), n_bins)
    bins = ladder.conf_bins(table, tr)  # (R, L)
    pred = [_state_predictions(table, tr, rungs)]
    for j in range(len(rungs)):
        for b in range(n_bins):
            pred.append(_state_predictions(table, tr[bins[:, j] == b], rungs))
    return Ladder(rungs, ladder.cost, ladder.names, edges, np.stack(pred), n_bins)
