"""Scaling-law guidance: fitted laws predict each setting's error for an input's difficulty bin.

Per probe-difficulty bin b (train inputs only) and per strategy group g (``argmax`` = the
compression settings, ``vote``, ``bon``, ``refine``), error vs inference FLOPs is fitted with the
registered ``power`` law, err ≈ a·C^(−b) + c (``workbench.fit.fit_law``); the prediction for every
setting of the group is the law at its cost. Errors are floored at 1e-3 (the law's objective is on
log error). Pass@k of the largest student is fitted with the ``coverage`` law exp(a·k^b)
(Brown et al. 2024) for the test-time analysis.

The prior the agent takes from these predictions (``prior_logits``): logits = −(err̂ + λ·C/C_ref)/τ,
i.e. a softmax over settings favouring those the laws say maximise the reward at the current λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.costtune.outcomes import OutcomeTable
from workbench.costtune.policies import probe_bins
from workbench.errors import InputError
from workbench.fit import FitResult, fit_law
from workbench.testtime import pass_at_k

ERROR_FLOOR = 1e-3


@dataclass(frozen=True)
class Guidance:
    """Law-predicted error of every setting in every difficulty bin."""

    pred_error: np.ndarray
    """(n_bins, A) predicted error."""
    fits: dict
    """(bin, group) -> FitResult of the power law (absent where the fit failed: empirical used)."""
    bins: np.ndarray
    """(N,) bin of each input (0 = easiest)."""


def fit_guidance(table: OutcomeTable, n_bins: int = 5) -> Guidance:
    """Fit the power law per (bin, strategy group) on the train inputs."""
    tr = table.inputs("train")
    bins = probe_bins(table, n_bins)
    groups = table.settings["strategy"].to_numpy()
    cost = table.cost
    pred = np.zeros((n_bins, len(cost)))
    fits: dict = {}
    for b in range(n_bins):
        rows = tr[bins[tr] == b]
        err = 1.0 - table.correct[rows].mean(0)
        for g in np.unique(groups):
            cols = np.flatnonzero(groups == g)
            y = np.maximum(err[cols], ERROR_FLOOR)
            try:
                fit = fit_law("power", cost[cols], y, polish_top=1)
                pred[b, cols] = np.clip(fit.predict(cost[cols]), 0.0, 1.0)
                fits[(b, str(g))] = fit
            except (InputError, ValueError, FloatingPointError):
                pred[b, cols] = err[cols]
    return Guidance(pred, fits, bins)


def prior_logits(pred_error: np.ndarray, cost: np.ndarray, lam: float, cost_ref: float,
                 temperature: float) -> np.ndarray:
    """Law-guided initial logits (…, A): −(predicted error + lam·cost/cost_ref) / temperature."""
    return -(pred_error + lam * cost / cost_ref) / temperature


def coverage_fit(table: OutcomeTable, width_index: int = -1, inputs: str = "train") -> tuple[np.ndarray, np.ndarray, FitResult]:
    """(ks, mean pass@k, coverage-law fit) for one width's fp32 samples (unbiased pass@k)."""
    idx = table.inputs(inputs)
    n = int(table.config.testtime.max_k)
    ks = np.array([k for k in (1, 2, 4, 8, 16, 32) if k <= n])
    cover = np.array([pass_at_k(n, table.pass_counts[idx, width_index], int(k)).mean() for k in ks])
    return ks, cover, fit_law("coverage", ks.astype(float), np.maximum(cover, ERROR_FLOOR))
