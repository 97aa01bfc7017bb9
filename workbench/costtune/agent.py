"""REINFORCE with a learned baseline and a dual-ascent Lagrange multiplier (cleanrl-style, numpy).

Policy: softmax over the A settings of logits = φ(obs)·W + prior(obs, λ), where φ one-hot encodes
the probe's max probability and margin (fixed bin edges, no fitting) and prior is the scaling-law
guidance (``guidance.prior_logits``; zero when unguided). W starts at 0, so the unguided agent
starts uniform and the guided one starts at the laws' choice. The guided agent also never picks a setting off
the laws' predicted (cost, error) front in every bin (:func:`law_support`): its comparison with the unguided one
mixes the prior with a smaller action set.

This one-shot router is the issue's per-input environment (``env.InputRoutingEnv``); the numbers the study
reports come from the cascade agent (``cascade_agent``, ``cascade_env``), which replaced it there.

Each update: collect ``batch`` real environment steps, advantage = reward − baseline(φ) (a linear
value function fitted by SGD), normalised; Adam ascent on E[adv · ∇log π(a|obs)]. Constrained
mode ("minimise error subject to mean cost <= budget"): after each update
    λ ← max(0, λ + η·(mean cost − budget)/budget)
(dual ascent, with η in units of the budget), and the environment's reward uses the new λ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.costtune.env import N_PROBE_FEATURES, InputRoutingEnv
from workbench.costtune.guidance import prior_logits
from workbench.errors import InputError, is_finite, is_whole_number

MAXPROB_EDGES = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.995])
MARGIN_EDGES = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 0.98])


@dataclass(frozen=True)
class AgentConfig:
    """Agent and training-loop settings (every field is also a cache/report column)."""

    steps: int = 20000
    """Real environment steps (the sample budget)."""
    batch: int = 128
    """Environment steps per policy update."""
    lr: float = 0.1
    """Adam step size of the policy weights."""
    value_lr: float = 0.2
    """SGD step size of the linear baseline."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    guided: bool = True
    """Start from the scaling-law prior (True) or from a uniform policy (False)."""
    prior_temperature: float = 0.01
    """Temperature τ of the law prior: logits = −(err̂ + λ·cost/cost_ref)/τ."""
    lam: float = 0.0
    """Initial (or, without a budget, fixed) Lagrange multiplier, in units of 1/cost_ref."""
    budget: float | None = None
    """Mean FLOPs per input to respect (None: fixed λ, no dual ascent)."""
    dual_lr: float = 0.05
    """Dual-ascent step η, in units of the budget."""
    eval_every: int = 1024
    """Environment steps between learning-curve evaluations."""
    seed: int = 0
    """Seed of the environment's input draws and the agent's action samples."""

    def validate(self) -> "AgentConfig":
        return check_dual_config(self, ("steps", "batch", "eval_every"))


def check_dual_config(cfg, counts: tuple[str, ...]):
    """Shared checks of a dual-ascent agent's config: the ``counts`` fields are positive integers, ``seed`` a whole
    number >= 0, ``lr`` (and ``prior_temperature``) finite and > 0, ``budget`` (if set) finite and > 0 FLOPs, and
    ``lam``, ``dual_lr``, ``value_lr``, ``ent_coef``, ``prior_count`` (those the config has) finite and >= 0.
    Returns ``cfg``; raises InputError naming the field (lr = inf trained to NaN probabilities, unsaid)."""
    for name in counts:
        if not is_whole_number(getattr(cfg, name)) or getattr(cfg, name) < 1:  # 2.5 and True passed
            raise InputError(f"{name} must be a positive integer; got {getattr(cfg, name)!r}")
    if not is_whole_number(cfg.seed) or cfg.seed < 0:
        raise InputError(f"seed must be a whole number >= 0; got {cfg.seed!r}")
    positive = ["lr", "prior_temperature"] + ([] if cfg.budget is None else ["budget"])
    for name in positive:
        if hasattr(cfg, name) and not (is_finite(getattr(cfg, name)) and getattr(cfg, name) > 0):
            raise InputError(f"{name} must be finite and > 0{' FLOPs' * (name == 'budget')}; "
                             f"got {getattr(cfg, name)!r}")
    for name in ("lam", "dual_lr", "value_lr", "ent_coef", "prior_count"):
        if hasattr(cfg, name) and not (is_finite(getattr(cfg, name)) and getattr(cfg, name) >= 0):
            raise InputError(f"{name} must be finite and >= 0; got {getattr(cfg, name)!r}")
    return cfg


def features(obs: np.ndarray) -> np.ndarray:
    """φ(obs): one-hot of the probe's max-probability bin and margin bin, (B, F)."""
    obs = np.atleast_2d(obs)
    a = np.searchsorted(MAXPROB_EDGES, obs[:, 0])
    b = np.searchsorted(MARGIN_EDGES, obs[:, 1])
    phi = np.zeros((len(obs), len(MAXPROB_EDGES) + len(MARGIN_EDGES) + 2))
    phi[np.arange(len(obs)), a] = 1.0
    phi[np.arange(len(obs)), len(MAXPROB_EDGES) + 1 + b] = 1.0
    return phi


def law_support(pred_error: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """(A,) bool: settings on the law-predicted (cost, error) Pareto front of at least one bin."""
    keep = np.zeros(len(cost), bool)
    for err in pred_error:  # one bin's predicted errors (A,)
        order = np.lexsort((err, cost))
        best = np.inf
        for a in order:
            if err[a] < best - 1e-9:
                keep[a], best = True, err[a]
    return keep


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@dataclass
class Policy:
    """Linear softmax policy with an optional law prior."""

    W: np.ndarray
    """(F, A) weights."""
    cost: np.ndarray
    """(A,) route cost of each setting (FLOPs)."""
    cost_ref: float
    """Cost normaliser."""
    guided: bool
    """Add the law prior to the logits."""
    prior_temperature: float
    """τ of the prior."""
    support: np.ndarray | None = None
    """(A,) bool: settings the policy may choose (None: all). The guided agent keeps the settings
    the laws call Pareto-efficient in some difficulty bin."""

    def probs(self, obs: np.ndarray, lam: float) -> np.ndarray:
        """(B, A) action probabilities."""
        obs = np.atleast_2d(obs)
        logits = features(obs) @ self.W
        if self.guided:
            logits = logits + prior_logits(obs[:, N_PROBE_FEATURES:], self.cost, lam, self.cost_ref,
                                           self.prior_temperature)
        if self.support is not None:
            logits = np.where(self.support, logits, -1e9)
        return _softmax(logits)


@dataclass
class AgentResult:
    """A trained policy, its final λ and its learning curve."""

    policy: Policy
    lam: float
    curve: pd.DataFrame
    """One row per evaluation: step, lam, reward, error, cost (expected, on the train inputs)."""
    config: AgentConfig = field(default_factory=AgentConfig)


def evaluate(policy: Policy, env: InputRoutingEnv, rows: np.ndarray, lam: float, greedy: bool = False) -> dict:
    """Expected error, cost and reward (at lam) of the stochastic policy on table rows (exact);
    ``greedy``: of the deterministic policy taking each input's most probable setting."""
    p = policy.probs(env.observation(rows), lam)  # (R, A)
    if greedy:
        p = np.eye(p.shape[1])[p.argmax(1)]
    correct = (p * env.table.correct[rows]).sum(1).mean()
    cost = float((p @ env.cost).mean())
    return {"error": float(1.0 - correct), "cost": cost, "reward": float(correct - lam * cost / env.cost_ref)}


def train(env: InputRoutingEnv, cfg: AgentConfig, eval_lam: float | None = None) -> AgentResult:
    """REINFORCE with baseline (+ dual ascent when ``cfg.budget`` is set); see the module docstring.
    The learning curve reports expected reward at ``eval_lam`` (default: the current λ)."""
    cfg.validate()
    # ---- seeding: the env's input draws and the agent's action samples, nothing else is random ----
    rng = np.random.default_rng(cfg.seed)
    obs, _ = env.reset(seed=cfg.seed)
    env.action_space.seed(cfg.seed)

    n_feat, n_act = features(obs).shape[1], env.action_space.n
    support = law_support(env.guidance.pred_error, env.cost) if cfg.guided else None
    policy = Policy(np.zeros((n_feat, n_act)), env.cost, env.cost_ref, cfg.guided, cfg.prior_temperature, support)
    value = np.zeros(n_feat)
    m, v = np.zeros_like(policy.W), np.zeros_like(policy.W)  # Adam moments
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    lam = cfg.lam
    env.set_lambda(lam)
    eval_rows = env.rows
    records, step, update = [], 0, 0
    recorded_after = [0]  # the update count the last curve row was evaluated after

    def record():
        lam_e = lam if eval_lam is None else eval_lam
        records.append({"step": step, "lam": lam, **evaluate(policy, env, eval_rows, lam_e)})
        recorded_after[0] = update

    record()
    while step < cfg.steps:
        # ---- rollout: batch real environment steps ----
        n = min(cfg.batch, cfg.steps - step)
        obs_b = np.zeros((n, len(obs)), np.float32)
        act_b, rew_b, cost_b = np.zeros(n, int), np.zeros(n), np.zeros(n)
        for t in range(n):
            p = policy.probs(obs, lam)[0]
            a = int(rng.choice(n_act, p=p))
            obs_b[t], act_b[t] = obs, a
            obs, reward, terminated, truncated, info = env.step(a)
            rew_b[t], cost_b[t] = reward, info["cost"]
            if terminated or truncated:
                obs, _ = env.reset()
            step += 1
            if step % cfg.eval_every == 0:
                record()
        # ---- policy gradient with a learned baseline ----
        phi = features(obs_b)  # (n, F)
        adv = rew_b - phi @ value
        value += cfg.value_lr * phi.T @ adv / n
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        probs = policy.probs(obs_b, lam)  # (n, A)
        onehot = np.eye(n_act)[act_b]
        grad = phi.T @ (adv[:, None] * (onehot - probs)) / n  # ascent direction of E[adv log π]
        if cfg.ent_coef:
            grad += cfg.ent_coef * phi.T @ entropy_logit_grad(probs) / n
        update += 1
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        policy.W += cfg.lr * (m / (1 - beta1**update)) / (np.sqrt(v / (1 - beta2**update)) + eps)
        # ---- dual ascent on λ ----
        if cfg.budget is not None:
            lam = max(0.0, lam + cfg.dual_lr * (cost_b.mean() - cfg.budget) / cfg.budget)
            env.set_lambda(lam)
    if recorded_after[0] != update:  # the last row is the returned policy's, even when the last batch ended on an
        if records[-1]["step"] == step:  # evaluation step (that row was taken before the batch's update)
            records.pop()
        record()
    return AgentResult(policy, lam, pd.DataFrame(records), cfg)


def entropy_logit_grad(probs: np.ndarray) -> np.ndarray:
    """(n, A) ∂H/∂logits of a softmax's entropy H = −Σ p log p, row by row: −p·(log p − Σ p log p)."""
    logp = np.log(probs + 1e-12)
    return -probs * (logp - (probs * logp).sum(1, keepdims=True))


def final_reward(curve: pd.DataFrame, final_share: float = 0.05) -> float:
    """A learning curve's final expected reward: the mean of its evaluations in the last ``final_share`` of
    its steps (the last evaluation included), so that it spans the same steps however often the curve was
    evaluated (0.05: the last 3 points of a 40-point curve)."""
    last = curve["step"].iloc[-1]
    return float(curve.loc[curve["step"] >= last - final_share * last, "reward"].mean())


def steps_to_fraction(curve: pd.DataFrame, fraction: float = 0.98, final_share: float = 0.05) -> int:
    """First environment step at which the expected reward reaches ``fraction`` of the final reward
    (:func:`final_reward`), read as within ``1 - fraction`` of its size below it, so that a negative final
    reward (a cost-heavy λ, a short run) gets a target below it too; exact only to the curve's evaluation
    spacing. Some evaluation of the final share is at least their mean, so the target is reached (to float
    rounding of the mean: a hair of slack); a curve with NaN rewards gives its last step."""
    final = final_reward(curve, final_share)
    target = final - (1.0 - fraction) * abs(final) - 1e-12 * max(1.0, abs(final))
    step = steps_to_reward(curve, target)
    return int(curve["step"].iloc[-1]) if step is None else step


def steps_to_reward(curve: pd.DataFrame, target: float) -> int | None:
    """First environment step at which the expected reward reaches ``target``; None when it never does."""
    hit = curve.index[curve["reward"] >= target]
    return int(curve.loc[hit[0], "step"]) if len(hit) else None
