"""Policy gradient for the cascade environment: a tabular softmax policy, a Monte-Carlo critic, many
vectorised episodes per update, and a dual-ascent Lagrange multiplier (cleanrl-style, numpy).

Policy: π(a | s) = softmax(θ[s] + prior[s]) over the L target rungs and ``ANSWER_BEST``, s = the
cascade state (``cascade_env.state_index``: which rung ran last, its confidence bin, and whether an
earlier rung was more confident). θ starts at 0. The guided agent's prior is the fitted laws' reward
estimate (``Ladder.pred_error``): stopping scores −err̂(last rung)/τ, escalating to rung a scores
−(err̂(a) + λ·C_a/C_ref)/τ; the unguided agent has no prior (uniform start).

Each update: ``episodes`` episodes run to the end in lockstep (``VectorCascade``). The default
estimator (``all_actions``, the "all-actions" policy gradient of Sutton et al. 2000 / mean
actor-critic) keeps, per (state, action), decayed Monte-Carlo sums of the episode's final
correctness and of the FLOPs paid from that step on; Q̂(s, a) = mean correctness − λ·mean FLOPs/C_ref
(so a moving λ re-prices the critic at once), and the ascent direction of θ[s] is
d(s)·π(·|s)⊙(Q̂(s, ·) − Σ_a π(a|s)Q̂(s, a)), d(s) = the share of episodes visiting s, over the actions
seen (unseen ones: zero). The guided critic starts from the laws' estimate (stop: 1 − err̂(last);
escalate to a: 1 − err̂(a) and C_a) with weight ``prior_count`` episodes. Why not plain REINFORCE
(kept as ``estimator="reinforce"``: sampled action's return minus a state baseline, normalised):
the choices that matter change correctness on a few percent of inputs, far below the 0/1 noise of
one return, and averaging returns per action gives many more effective samples per update. Adam
ascent on θ either way. Constrained mode ("minimise error subject to mean FLOPs <= budget"), after
each update
    λ ← max(0, λ + η·(mean episode FLOPs − budget)/budget).
Budgets span orders of magnitude of λ, so the guided agent also takes its starting λ and the
scale of its dual step from the laws: λ₀ = −dê/dC·C_ref, the slope of the law-predicted
(state-0) error of the ladder between the two rungs that bracket the budget (``law_lambda``), and
η is multiplied by max(λ₀, 1e-3). Dual ascent makes λ (and so the policy) oscillate around the
budget; the reported policy is the mixture of the policies of the last ``average_last`` share of
updates, made stationary (and λ the average λ): per state, the iterates' action probabilities are
averaged with weights equal to how often each iterate's own episodes visited that state. Averaging
occupancies this way gives the mixture's expected cost and correctness, so the report keeps the
budget that dual ascent enforced on the iterates; a plain per-state average of the probabilities
does not (on one mnist1d/MLP run it spent 2.35× its budget while its iterates averaged 0.95×).

Evaluation is exact, not sampled: probability mass is pushed through the sets of rungs run for
every input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.costtune.agent import check_dual_config
from workbench.costtune.cascade_env import VectorCascade, _Tables, law_state
from workbench.errors import InputError


@dataclass(frozen=True)
class CascadeAgentConfig:
    """Agent and training-loop settings."""

    steps: int = 200_000
    """Real environment steps (rung runs and stops) in all."""
    episodes: int = 256
    """Episodes per policy update."""
    lr: float = 0.1
    """Adam step size of the logits θ."""
    estimator: str = "all_actions"
    """Policy-gradient estimator: ``all_actions`` (Σ_a ∇π(a|s)·Q̂(s, a) with a tabular Monte-Carlo
    critic, module docstring) or ``reinforce`` (the sampled action's return minus a state baseline)."""
    critic_decay: float = 0.9
    """Per update, the critic's accumulated returns and counts are multiplied by this (its memory)."""
    prior_count: float = 8.0
    """Guided agent: pseudo-count (episodes) of the laws' reward estimate in the critic's start."""
    policy: str = "tabular"
    """Logits θ[s] = φ(s)·W: ``tabular`` (φ = one-hot of the state) or ``linear`` (per stage and
    "earlier rung more confident" bit, an intercept and a slope in the confidence bin, so a soft
    confidence threshold; ``state_features``)."""
    value_lr: float = 0.3
    """``reinforce``: step of the baseline's running mean toward each update's mean return per state."""
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
    """Share of the training steps at the end whose policies (and λ) are averaged for the report
    (occupancy-weighted: see the module docstring)."""
    eval_every: int = 10_000
    """Environment steps between learning-curve evaluations."""
    seed: int = 0
    """Seed of the input draws and the action samples."""

    def validate(self) -> "CascadeAgentConfig":
        check_dual_config(self, ("steps", "episodes", "eval_every"))
        if not 0 < self.average_last <= 1:
            raise InputError(f"average_last must lie in (0, 1]; got {self.average_last!r}")
        if self.estimator not in ("all_actions", "reinforce"):
            raise InputError(f"estimator must be 'all_actions' or 'reinforce'; got {self.estimator!r}")
        if self.policy not in ("tabular", "linear"):
            raise InputError(f"policy must be 'tabular' or 'linear'; got {self.policy!r}")
        if not 0 <= self.critic_decay <= 1:
            raise InputError(f"critic_decay must lie in [0, 1]; got {self.critic_decay!r}")
        if not self.prior_temperature > 0:
            raise InputError(f"prior_temperature must be > 0; got {self.prior_temperature!r}")
        return self


def state_stages(n_stages: int, n_bins: int) -> np.ndarray:
    """(S,) stage of every policy state: 0 for state 0, j + 1 for the 2·n_bins states of rung j."""
    return np.concatenate([[0], np.repeat(np.arange(1, n_stages + 1), 2 * n_bins)])


MASKED = -1e9
"""Logit of ``ANSWER_BEST`` before any rung has run (nothing to answer with)."""


def prior_logits(pred_error: np.ndarray, cost: np.ndarray, lam: float, cost_ref: float, temperature: float,
                 n_bins: int) -> np.ndarray:
    """(S, L + 1) law-guided logits of every policy state (module docstring); ``pred_error`` is the
    ladder's (1 + L·n_bins, L) table. The k + 1 stop actions of a stage-k state (k targets at or below
    the last rung, and ``ANSWER_BEST``) share the stop score (−log(k + 1) each), so the prior's stop
    probability does not grow with k; the laws predict the last rung's error, so they do not tell
    the two ways of answering apart."""
    L = pred_error.shape[1]
    stage = state_stages(L, n_bins)  # (S,)
    err = pred_error[law_state(np.arange(len(stage)))]  # (S, L)
    last = err[np.arange(len(stage)), np.maximum(stage - 1, 0)][:, None]
    stop = -last / temperature - np.log(stage[:, None] + 1.0)
    go = -(err + lam * cost[None, :] / cost_ref) / temperature
    targets = np.where(np.arange(L)[None, :] + 1 <= stage[:, None], stop, go)  # (S, L)
    return np.concatenate([targets, np.where(stage[:, None] == 0, MASKED, stop)], 1)


def state_features(n_stages: int, n_bins: int, kind: str = "tabular") -> np.ndarray:
    """(S, P) features φ(s) of every policy state. ``tabular``: the identity. ``linear``: for each
    group g (state 0, and each (stage, bit) pair) a one-hot column and the one-hot times x, the
    confidence bin scaled to [0, 1] (0 = most confident)."""
    S = 1 + 2 * n_stages * n_bins
    if kind == "tabular":
        return np.eye(S)
    s = np.arange(1, S)
    group = np.concatenate([[0], 1 + 2 * ((s - 1) // (2 * n_bins)) + (s - 1) % 2])  # (S,)
    x = np.concatenate([[0.0], ((s - 1) // 2 % n_bins) / max(n_bins - 1, 1)])
    onehot = np.eye(1 + 2 * n_stages)[group]  # (S, G)
    return np.concatenate([onehot, onehot * x[:, None]], 1)


def law_critic(pred_error: np.ndarray, cost: np.ndarray, cost_ref: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, L + 1) each: the laws' estimate of the final correctness and of the FLOPs to go (units of
    C_ref) after each action — stop: 1 − err̂(last rung), 0; escalate to a: 1 − err̂(a), C_a/C_ref."""
    L = pred_error.shape[1]
    stage = state_stages(L, n_bins)
    err = pred_error[law_state(np.arange(len(stage)))]  # (S, L)
    last = err[np.arange(len(stage)), np.maximum(stage - 1, 0)][:, None]
    stops = np.arange(L + 1)[None, :] + 1 <= stage[:, None]
    stops[:, L] = stage > 0
    go_err = np.concatenate([err, err[:, :1]], 1)  # ANSWER_BEST at stage 0 runs rung 0
    go_cost = np.concatenate([cost, cost[:1]]) / cost_ref
    return np.where(stops, 1.0 - last, 1.0 - go_err), np.where(stops, 0.0, go_cost[None, :])


def action_mask(n_stages: int, n_bins: int) -> np.ndarray:
    """(S, L + 1) additive mask: ``ANSWER_BEST`` is unavailable before any rung has run."""
    stage = state_stages(n_stages, n_bins)
    out = np.zeros((len(stage), n_stages + 1))
    out[stage == 0, n_stages] = MASKED
    return out


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
    """Exact expected error, FLOPs and reward (at lam) of the policy ``probs`` (S, L + 1) on table rows;
    ``per_input``: also each row's expected ``correct`` and ``flops`` (R,).

    The state depends on which rungs ran (through the most confident one), so probability mass is
    pushed through the 2^L sets of rungs run, one level (highest rung run) at a time."""
    levels = tables.levels(rows)  # per rung: states (M, R) and the most confident rung's correctness
    L, R = tables.ladder.n_stages, len(rows)
    corr = tables.correct[rows].T  # (L, R)
    stop_p = np.stack([probs[:, : j + 1].sum(1) for j in range(L)], 1)  # (S, L) stop at stage j + 1
    mass = np.zeros((2**L, R))  # probability that the set of rungs run is m (bitmask) at some point
    correct, cost = np.zeros(R), np.zeros(R)
    p0 = probs[0]
    first = p0[:L].copy()
    first[0] += p0[L]  # ANSWER_BEST before any rung runs rung 0
    for a in range(L):
        mass[1 << a] = first[a]
        cost += first[a] * tables.ladder.cost[a]
    for j, (state, right_best) in enumerate(levels):
        m = (1 << j) + np.arange(1 << j)  # (M,) every set whose highest rung is j
        w = mass[m]  # (M, R)
        correct += (w * (stop_p[:, j][state] * corr[j][None, :] + probs[:, L][state] * right_best)).sum(0)
        for a in range(j + 1, L):
            go = w * probs[:, a][state]  # (M, R)
            mass[m | (1 << a)] += go
            cost += go.sum(0) * tables.ladder.cost[a]
    err, flops = float(1.0 - correct.mean()), float(cost.mean())
    out = {"error": err, "cost": flops, "reward": float(1.0 - err - lam * flops / tables.cost_ref)}
    return {**out, "correct": correct, "flops": cost} if per_input else out


def chain_policy(n_stages: int, n_bins: int, chain: tuple[int, ...], cuts: tuple[int, ...]) -> np.ndarray:
    """(S, L + 1) the deterministic tabular policy of a threshold chain (``policies.ladder_cascade_configs``):
    run ``chain[0]``; after ``chain[i]`` answer with it when its confidence bin is below ``cuts[i]``,
    else run ``chain[i + 1]``; answer after the last. States off the chain answer with the last rung."""
    stage = state_stages(n_stages, n_bins)
    conf_bin = (np.arange(len(stage)) - 1) // 2 % n_bins
    probs = np.zeros((len(stage), n_stages + 1))
    probs[:, 0] = 1.0  # any target at or below the last rung stops and answers with it
    probs[0] = np.eye(n_stages + 1)[chain[0]]
    for i, (rung, cut) in enumerate(zip(chain[:-1], cuts)):
        go = (stage == rung + 1) & (conf_bin >= cut)
        probs[go] = np.eye(n_stages + 1)[chain[i + 1]]
    return probs


def greedy(probs: np.ndarray) -> np.ndarray:
    """The deterministic policy taking each state's most probable target."""
    return np.eye(probs.shape[1])[probs.argmax(1)]


@dataclass
class CascadeResult:
    """A trained cascade policy (iterate-averaged), its λ and its learning curve."""

    probs: np.ndarray
    """(S, L + 1) action probabilities of the reported (averaged) policy."""
    lam: float
    """Average λ over the averaging window (the fixed λ without a budget)."""
    curve: pd.DataFrame
    """One row per evaluation: step, lam, reward, error, cost (exact, current policy, on
    ``learning_curve_rows`` of the train inputs)."""
    config: CascadeAgentConfig = field(default_factory=CascadeAgentConfig)


CURVE_ROWS = 2000
"""Learning curves evaluate the policy exactly on at most this many train inputs (a fixed subsample,
the same for every agent), so a curve evaluated at each of a run's ~600 updates costs seconds, not minutes,
on 10,000 inputs."""


def learning_curve_rows(rows: np.ndarray) -> np.ndarray:
    """The fixed subsample of ``rows`` the learning curves are evaluated on (all of them if few)."""
    if len(rows) <= CURVE_ROWS:
        return rows
    return np.sort(np.random.default_rng(0).choice(rows, CURVE_ROWS, replace=False))


def train(env: VectorCascade, cfg: CascadeAgentConfig, eval_lam: float | None = None) -> CascadeResult:
    """Policy gradient (+ dual ascent when ``cfg.budget`` is set); see the module docstring.
    The learning curve reports the expected reward at ``eval_lam`` (default: the current λ) on
    ``learning_curve_rows``."""
    cfg.validate()
    # ---- seeding: input draws and action samples come from this generator only ----
    rng = np.random.default_rng(cfg.seed)
    t, lad = env.t, env.t.ladder
    S, L, A = t.n_states, lad.n_stages, lad.n_stages + 1
    mask = action_mask(L, lad.n_bins)
    phi = state_features(L, lad.n_bins, cfg.policy)  # (S, P)
    W, value = np.zeros((phi.shape[1], A)), np.zeros(S)  # θ = φ W: (S, A) logits
    m, v = np.zeros_like(W), np.zeros_like(W)  # Adam moments
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    lam, dual_scale = cfg.lam, 1.0
    if cfg.guided and cfg.budget is not None:
        lam = law_lambda(lad.pred_error[0], lad.cost, cfg.budget, t.cost_ref)
        dual_scale = max(lam, 1e-3)
    env.set_lambda(lam)
    n_sa, q_ok, q_cost = np.zeros((S, A)), np.zeros((S, A)), np.zeros((S, A))  # the critic's sums
    if cfg.guided:
        ok0, cost0 = law_critic(lad.pred_error, lad.cost, t.cost_ref, lad.n_bins)
        n_sa[:] = cfg.prior_count
        q_ok[:], q_cost[:] = cfg.prior_count * ok0, cfg.prior_count * cost0

    def policy(lam_: float) -> np.ndarray:
        z = phi @ W + (prior_logits(lad.pred_error, lad.cost, lam_, t.cost_ref, cfg.prior_temperature, lad.n_bins)
                     if cfg.guided else mask)
        return _softmax(z)

    curve_rows = learning_curve_rows(t.rows)
    records, step, update, next_eval = [], 0, 0, 0
    average = IterateAverage(S, A)
    while step < cfg.steps:
        if step >= next_eval:
            lam_e = lam if eval_lam is None else eval_lam
            records.append({"step": step, "lam": lam, **evaluate(policy(lam), t, curve_rows, lam_e)})
            next_eval += cfg.eval_every
        # ---- rollout: `episodes` episodes to the end, in lockstep ----
        probs = policy(lam)
        s = env.reset(rng, cfg.episodes)
        S_b, A_b, R_b, C_b, live_b = [], [], [], [], []
        for _ in range(L + 1):
            cum = probs[s].cumsum(1)  # (E, L + 1)
            a = np.minimum((rng.random((len(s), 1)) > cum).sum(1), L)
            spent = env.cost.copy()
            s_next, r, live = env.step(a)
            S_b.append(s), A_b.append(a), R_b.append(r), C_b.append(env.cost - spent), live_b.append(live)
            step += int(live.sum())
            s = s_next
            if env.done.all():
                break
        S_b, A_b, R_b, C_b, live_b = (np.stack(x) for x in (S_b, A_b, R_b, C_b, live_b))  # (T, E)
        s_l, a_l = S_b[live_b], A_b[live_b]
        if cfg.estimator == "all_actions":
            # ---- critic: decayed Monte-Carlo means of final correctness and FLOPs to go per (s, a) ----
            ok = np.broadcast_to(env.correct[None, :], S_b.shape)[live_b].astype(float)
            togo = (C_b[::-1].cumsum(0)[::-1] / t.cost_ref)[live_b]  # (n,) FLOPs from this step on
            n_sa *= cfg.critic_decay
            q_ok *= cfg.critic_decay
            q_cost *= cfg.critic_decay
            np.add.at(n_sa, (s_l, a_l), 1.0)
            np.add.at(q_ok, (s_l, a_l), ok)
            np.add.at(q_cost, (s_l, a_l), togo)
            # ---- policy gradient over all actions: ∇θ[s] = d(s)·π(·|s)⊙(Q̂(s,·) − V̂(s)) ----
            seen = n_sa > 1e-6
            q = np.where(seen, (q_ok - lam * q_cost) / np.maximum(n_sa, 1e-6), 0.0)  # (S, A)
            pw = probs * seen
            v_hat = (pw * q).sum(1, keepdims=True) / np.maximum(pw.sum(1, keepdims=True), 1e-12)
            visits = np.bincount(s_l, minlength=S)[:, None] / cfg.episodes  # (S, 1)
            grad = visits * probs * np.where(seen, q - v_hat, 0.0)
        else:
            G = R_b[::-1].cumsum(0)[::-1]  # (T, E) return-to-go
            g_l = G[live_b]
            # ---- baseline: running mean of the return in each state ----
            adv = g_l - value[s_l]
            tot, cnt = np.bincount(s_l, g_l, S), np.bincount(s_l, minlength=S)
            seen = cnt > 0
            value[seen] += cfg.value_lr * (tot[seen] / cnt[seen] - value[seen])
            # ---- policy gradient: ∇θ[s] log π(a|s) = onehot(a) − π(·|s) ----
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            g = -probs[s_l] * adv[:, None]  # (n, L + 1)
            g[np.arange(len(a_l)), a_l] += adv
            grad = np.zeros((S, A))
            np.add.at(grad, s_l, g)
            grad /= cfg.episodes
        update += 1
        grad = phi.T @ grad  # (P, A) chain rule through θ = φ W
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        W += cfg.lr * (m / (1 - beta1**update)) / (np.sqrt(v / (1 - beta2**update)) + eps)
        # ---- dual ascent on λ ----
        if cfg.budget is not None:
            lam = max(0.0, lam + cfg.dual_lr * dual_scale * (env.cost.mean() - cfg.budget) / cfg.budget)
            env.set_lambda(lam)
        # ---- iterate averaging over the last share of training ----
        if step >= (1 - cfg.average_last) * cfg.steps:
            average.add(probs, s_l, lam)  # the iterate that generated this batch, with the batch's own visits
    lam_e = lam if eval_lam is None else eval_lam
    records.append({"step": step, "lam": lam, **evaluate(policy(lam), t, curve_rows, lam_e)})
    if average.n == 0:
        return CascadeResult(policy(lam), lam, pd.DataFrame(records), cfg)
    return CascadeResult(*average.result(), pd.DataFrame(records), cfg)


class IterateAverage:
    """The mixture of policy iterates as one stationary policy (see the module docstring): per state, the
    iterates' action probabilities weighted by how often each iterate's own episodes visited that state, so the
    mixture's expected cost and correctness are the iterates' average; λ is averaged plainly."""

    def __init__(self, n_states: int, n_actions: int):
        self.occ_probs = np.zeros((n_states, n_actions))  # Σ_k visits_k(s)·π_k(·|s)
        self.occ = np.zeros(n_states)  # Σ_k visits_k(s)
        self.plain = np.zeros((n_states, n_actions))  # Σ_k π_k(·|s)
        self.lam = 0.0
        self.n = 0

    def add(self, probs: np.ndarray, states: np.ndarray, lam: float) -> None:
        """One iterate: its (S, A) probabilities, the states its batch visited (one entry per visit), its λ."""
        visits = np.bincount(states, minlength=len(self.occ)).astype(float)
        self.occ_probs += visits[:, None] * probs
        self.occ += visits
        self.plain += probs
        self.lam += lam
        self.n += 1

    def result(self) -> tuple[np.ndarray, float]:
        """(S, A) averaged policy and the average λ; states no iterate visited keep the plain average (they
        carry no mass anyway)."""
        seen = self.occ > 0
        report = self.plain / self.n
        report[seen] = self.occ_probs[seen] / self.occ[seen, None]
        return report, self.lam / self.n
