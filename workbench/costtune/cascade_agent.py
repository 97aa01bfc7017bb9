"""REINFORCE for the cascade environment: a tabular softmax policy, a learned baseline, many
vectorised episodes per update, and a dual-ascent Lagrange multiplier (cleanrl-style, numpy).

Policy: π(a | s) = softmax(θ[s] + prior[s]) over target rungs, s = the cascade state
(``cascade_env.state_index``: which rung ran last and its confidence bin, exactly the one-hot part of
the gymnasium observation). θ starts at 0. The guided agent's prior is the fitted laws' reward
estimate (``Ladder.pred_error``): stopping scores −err̂(last rung)/τ, escalating to rung a scores
−(err̂(a) + λ·C_a/C_ref)/τ; the unguided agent has no prior (uniform start).

Each update: ``episodes`` episodes run to the end in lockstep (``VectorCascade``); the return-to-go
G_t of each step minus a tabular baseline V(s) (a running mean of G in that state) is the
advantage, normalised; Adam ascent on E[adv · ∇ log π(a|s)]. Constrained mode ("minimise error
subject to mean FLOPs <= budget"), after each update
    λ ← max(0, λ + η·(mean episode FLOPs − budget)/budget).
Budgets span orders of magnitude of λ, so the guided agent also takes its starting λ and the
scale of its dual step from the laws: λ₀ = −dê/dC·C_ref, the slope of the law-predicted
(state-0) error of the ladder between the two rungs that bracket the budget (``law_lambda``), and
η is multiplied by max(λ₀, 1e-3). Dual ascent makes λ (and so the policy) oscillate around the
budget; the reported policy is the average of the policies of the last ``average_last`` share of
updates (and λ the average λ).

Evaluation is exact, not sampled: probability mass is pushed through the ladder for every input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.costtune.cascade_env import VectorCascade, _Tables
from workbench.errors import InputError


@dataclass(frozen=True)
class CascadeAgentConfig:
    """Agent and training-loop settings."""

    steps: int = 200_000
    """Real environment steps (rung runs and stops) in all."""
    episodes: int = 1024
    """Episodes per policy update."""
    lr: float = 0.1
    """Adam step size of the logits θ."""
    value_lr: float = 0.3
    """Step of the baseline's running mean toward each update's mean return per state."""
    guided: bool = True
    """Add the law prior to the logits (True) or start uniform (False)."""
    prior_temperature: float = 0.01
    """Temperature τ of the law prior, in units of reward."""
    lam: float = 0.0
    """Initial (or, without a budget, fixed) Lagrange multiplier, in units of 1/C_ref (the guided
    agent with a budget starts at the laws' λ₀ instead)."""
    budget: float | None = None
    """Mean FLOPs per input to respect (None: fixed λ, no dual ascent)."""
    dual_lr: float = 0.05
    """Dual-ascent step η per unit of relative budget violation (× λ₀ for the guided agent)."""
    average_last: float = 0.5
    """Share of the training steps at the end whose policies (and λ) are averaged for the report."""
    eval_every: int = 10_000
    """Environment steps between learning-curve evaluations."""
    seed: int = 0
    """Seed of the input draws and the action samples."""

    def validate(self) -> "CascadeAgentConfig":
        for name in ("steps", "episodes", "eval_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.budget is not None and not self.budget > 0:
            raise InputError(f"budget must be > 0 FLOPs; got {self.budget!r}")
        if not self.lam >= 0:
            raise InputError(f"lam must be >= 0; got {self.lam!r}")
        if not 0 < self.average_last <= 1:
            raise InputError(f"average_last must lie in (0, 1]; got {self.average_last!r}")
        if not self.prior_temperature > 0:
            raise InputError(f"prior_temperature must be > 0; got {self.prior_temperature!r}")
        return self


def state_stages(n_stages: int, n_bins: int) -> np.ndarray:
    """(S,) stage of every state: 0 for state 0, j + 1 for the states of rung j."""
    return np.concatenate([[0], np.repeat(np.arange(1, n_stages + 1), n_bins)])


def prior_logits(pred_error: np.ndarray, cost: np.ndarray, lam: float, cost_ref: float, temperature: float,
                 n_bins: int) -> np.ndarray:
    """(S, L) law-guided logits (module docstring). The k stop-equivalent targets of a stage-k state
    share the stop score (−log k each), so the prior's stop probability does not grow with k."""
    S, L = pred_error.shape
    stage = state_stages(L, n_bins)[:, None]  # (S, 1)
    target = np.arange(L)[None, :]  # (1, L)
    last = pred_error[np.arange(S), np.maximum(stage[:, 0] - 1, 0)][:, None]
    stop = -last / temperature - np.log(np.maximum(stage, 1))
    go = -(pred_error + lam * cost[None, :] / cost_ref) / temperature
    return np.where(target + 1 <= stage, stop, go)


def law_lambda(pred_error: np.ndarray, cost: np.ndarray, budget: float, cost_ref: float) -> float:
    """λ₀ (units 1/C_ref): the law-predicted error's slope −dê/dC·C_ref between the ladder rungs
    bracketing ``budget`` (first or last segment outside the ladder); ``pred_error``: (L,)."""
    j = int(np.clip(np.searchsorted(cost, budget) - 1, 0, len(cost) - 2))
    slope = (pred_error[j] - pred_error[j + 1]) / (cost[j + 1] - cost[j]) * cost_ref
    return float(max(slope, 0.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def evaluate(probs: np.ndarray, tables: _Tables, rows: np.ndarray, lam: float = 0.0, per_input: bool = False) -> dict:
    """Exact expected error, FLOPs and reward (at lam) of the policy ``probs`` (S, L) on table rows;
    ``per_input``: also each row's expected ``correct`` and ``flops`` (R,)."""
    L = tables.ladder.n_stages
    mass = np.zeros((len(rows), L + 1))  # (R, stage): probability the episode reaches that stage
    mass[:, 0] = 1.0
    correct, cost = np.zeros(len(rows)), np.zeros(len(rows))
    for k in range(L + 1):
        p = probs[tables.states(rows, np.full(len(rows), k))]  # (R, L)
        if k == L:
            correct += mass[:, k] * tables.correct[rows, k - 1]
            break
        if k > 0:
            correct += mass[:, k] * p[:, :k].sum(1) * tables.correct[rows, k - 1]
        go = mass[:, k, None] * p[:, k:]  # (R, L − k): escalate to rungs k … L−1
        mass[:, k + 1:] += go
        cost += go @ tables.ladder.cost[k:]
    err, flops = float(1.0 - correct.mean()), float(cost.mean())
    out = {"error": err, "cost": flops, "reward": float(1.0 - err - lam * flops / tables.cost_ref)}
    return {**out, "correct": correct, "flops": cost} if per_input else out


def greedy(probs: np.ndarray) -> np.ndarray:
    """The deterministic policy taking each state's most probable target."""
    return np.eye(probs.shape[1])[probs.argmax(1)]


@dataclass
class CascadeResult:
    """A trained cascade policy (iterate-averaged), its λ and its learning curve."""

    probs: np.ndarray
    """(S, L) action probabilities of the reported (averaged) policy."""
    lam: float
    """Average λ over the averaging window (the fixed λ without a budget)."""
    curve: pd.DataFrame
    """One row per evaluation: step, lam, reward, error, cost (exact, train inputs, current policy)."""
    config: CascadeAgentConfig = field(default_factory=CascadeAgentConfig)


def train(env: VectorCascade, cfg: CascadeAgentConfig, eval_lam: float | None = None) -> CascadeResult:
    """REINFORCE with a baseline (+ dual ascent when ``cfg.budget`` is set); see the module docstring.
    The learning curve reports the expected reward at ``eval_lam`` (default: the current λ)."""
    cfg.validate()
    # ---- seeding: input draws and action samples come from this generator only ----
    rng = np.random.default_rng(cfg.seed)
    t, lad = env.t, env.t.ladder
    S, L = lad.n_states, lad.n_stages
    theta, value = np.zeros((S, L)), np.zeros(S)
    m, v = np.zeros_like(theta), np.zeros_like(theta)  # Adam moments
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    lam, dual_scale = cfg.lam, 1.0
    if cfg.guided and cfg.budget is not None:
        lam = law_lambda(lad.pred_error[0], lad.cost, cfg.budget, t.cost_ref)
        dual_scale = max(lam, 1e-3)
    env.set_lambda(lam)

    def policy(lam_: float) -> np.ndarray:
        z = theta + (prior_logits(lad.pred_error, lad.cost, lam_, t.cost_ref, cfg.prior_temperature, lad.n_bins)
                     if cfg.guided else 0.0)
        return _softmax(z)

    records, step, update, next_eval = [], 0, 0, 0
    avg_probs, avg_lam, n_avg = np.zeros((S, L)), 0.0, 0
    while step < cfg.steps:
        if step >= next_eval:
            lam_e = lam if eval_lam is None else eval_lam
            records.append({"step": step, "lam": lam, **evaluate(policy(lam), t, t.rows, lam_e)})
            next_eval += cfg.eval_every
        # ---- rollout: `episodes` episodes to the end, in lockstep ----
        probs = policy(lam)
        s = env.reset(rng, cfg.episodes)
        S_b, A_b, R_b, live_b = [], [], [], []
        for _ in range(L + 1):
            cum = probs[s].cumsum(1)  # (E, L)
            a = np.minimum((rng.random((len(s), 1)) > cum).sum(1), L - 1)
            s_next, r, live = env.step(a)
            S_b.append(s), A_b.append(a), R_b.append(r), live_b.append(live)
            step += int(live.sum())
            s = s_next
            if env.done.all():
                break
        S_b, A_b, R_b, live_b = (np.stack(x) for x in (S_b, A_b, R_b, live_b))  # (T, E)
        G = R_b[::-1].cumsum(0)[::-1]  # (T, E) return-to-go
        s_l, a_l, g_l = S_b[live_b], A_b[live_b], G[live_b]
        # ---- baseline: running mean of the return in each state ----
        adv = g_l - value[s_l]
        tot, cnt = np.bincount(s_l, g_l, S), np.bincount(s_l, minlength=S)
        seen = cnt > 0
        value[seen] += cfg.value_lr * (tot[seen] / cnt[seen] - value[seen])
        # ---- policy gradient: ∇θ[s] log π(a|s) = onehot(a) − π(·|s) ----
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        g = -probs[s_l] * adv[:, None]  # (n, L)
        g[np.arange(len(a_l)), a_l] += adv
        grad = np.zeros_like(theta)
        np.add.at(grad, s_l, g)
        grad /= cfg.episodes
        update += 1
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        theta += cfg.lr * (m / (1 - beta1**update)) / (np.sqrt(v / (1 - beta2**update)) + eps)
        # ---- dual ascent on λ ----
        if cfg.budget is not None:
            lam = max(0.0, lam + cfg.dual_lr * dual_scale * (env.cost.mean() - cfg.budget) / cfg.budget)
            env.set_lambda(lam)
        # ---- iterate averaging over the last share of training ----
        if step >= (1 - cfg.average_last) * cfg.steps:
            avg_probs += policy(lam)
            avg_lam += lam
            n_avg += 1
    lam_e = lam if eval_lam is None else eval_lam
    records.append({"step": step, "lam": lam, **evaluate(policy(lam), t, t.rows, lam_e)})
    if n_avg == 0:
        avg_probs, avg_lam, n_avg = policy(lam), lam, 1
    return CascadeResult(avg_probs / n_avg, avg_lam / n_avg, pd.DataFrame(records), cfg)
