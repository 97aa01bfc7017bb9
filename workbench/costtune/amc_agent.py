"""REINFORCE for the per-model compression environment (``amc_env``): a per-layer softmax policy over
densities and precisions, a running-mean baseline, many action sequences per update (cleanrl-style, numpy).

Policy: at layer t, density index ~ softmax(θ_d[t]) and precision index ~ softmax(θ_p[t]),
independently (a factored policy over the two discrete choices). The episode is deterministic (one
trained model, one validation split), so the best policy is one fixed action sequence and a policy of
the layer index alone loses nothing; the budget features of the observation matter through the
clamp, which the environment applies (``amc_env.rollout``, the same ``clamp`` as ``AmcEnv``).
He et al. use DDPG on continuous ratios; the discrete grid makes REINFORCE the simplest fit.

Each update: ``episodes`` action sequences are sampled, clamped and evaluated (cached by the clamped
tuple); advantage = reward − baseline, normalised over the batch; Adam ascent on
E[adv · ∇ log π(requested action)] (the clamp is part of the environment, so the score function is
that of the requested action). Baseline: running mean of the batch-mean reward.

Reported, as in AMC: the best sequence explored (highest validation reward), plus the greedy
(per-layer argmax) sequence; both are evaluated once more on the held-out test split by the study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.costtune.amc_env import AmcProblem, rollout
from workbench.errors import InputError, is_finite, is_real_number, is_whole_number


@dataclass(frozen=True)
class AmcAgentConfig:
    """Agent and training-loop settings."""

    episodes_total: int = 2048
    """Episodes (compressed models evaluated, cache hits included) in all."""
    episodes: int = 32
    """Episodes per policy update."""
    lr: float = 0.1
    """Adam step size of the logits."""
    baseline_lr: float = 0.2
    """Step of the baseline's running mean toward each batch's mean reward."""
    seed: int = 0
    """Seed of the action samples (the only randomness)."""

    def validate(self) -> "AmcAgentConfig":
        for name in ("episodes_total", "episodes"):  # 2.5 and True passed, to fail in numpy
            if not is_whole_number(getattr(self, name)) or getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if not is_whole_number(self.seed) or self.seed < 0:
            raise InputError(f"seed must be a whole number >= 0; got {self.seed!r}")
        if not (is_finite(self.lr) and self.lr > 0):  # inf trained to NaN probabilities, unsaid
            raise InputError(f"lr must be finite and > 0; got {self.lr!r}")
        if not (is_real_number(self.baseline_lr) and 0 < self.baseline_lr <= 1):
            raise InputError(f"baseline_lr must lie in (0, 1]; got {self.baseline_lr!r}")
        return self


@dataclass(frozen=True)
class AmcResult:
    """A trained per-layer policy and the sequences it reports."""

    probs_d: np.ndarray
    """(L, D) density probabilities per layer."""
    probs_p: np.ndarray
    """(L, P) precision probabilities per layer."""
    best: tuple[tuple[int, ...], tuple[int, ...]]
    """Best (clamped) (density indices, precision indices) explored, by validation reward."""
    greedy: tuple[tuple[int, ...], tuple[int, ...]]
    """Per-layer argmax of the final policy, clamped."""
    curve: pd.DataFrame
    """One row per update: episodes, mean_reward, best_reward, mean_error, mean_flops."""
    config: AmcAgentConfig


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _sample(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """(n, L) indices drawn from per-layer categorical probs (L, K)."""
    u = rng.random((n, probs.shape[0], 1))
    return np.minimum((u > probs.cumsum(-1)[None]).sum(-1), probs.shape[1] - 1)


def train(prob: AmcProblem, cfg: AmcAgentConfig) -> AmcResult:
    """REINFORCE with a baseline on ``prob`` at its current budget (module docstring)."""
    cfg.validate()
    # ---- seeding: action samples come from this generator only ----
    rng = np.random.default_rng(cfg.seed)
    L, D, P = prob.n_layers, prob.n_d, prob.n_p
    theta = {"d": np.zeros((L, D)), "p": np.zeros((L, P))}
    adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in theta.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    baseline, best_r, best = None, -np.inf, None
    records, done, update = [], 0, 0
    while done < cfg.episodes_total:
        # ---- rollout: a batch of whole episodes (sample, clamp, evaluate) ----
        probs = {k: _softmax(v) for k, v in theta.items()}
        a = {k: _sample(rng, probs[k], cfg.episodes) for k in theta}  # (E, L) requested indices
        d_c, p_c, flops = rollout(prob, a["d"], a["p"])
        err = np.array([prob.error(tuple(d_c[e]), tuple(p_c[e])) for e in range(cfg.episodes)])
        reward = np.array([prob.reward(e_, f) for e_, f in zip(err, flops)])
        done += cfg.episodes
        i = int(np.argmax(reward))
        if reward[i] > best_r:
            best_r, best = float(reward[i]), (tuple(int(x) for x in d_c[i]), tuple(int(x) for x in p_c[i]))
        # ---- baseline and advantage ----
        baseline = reward.mean() if baseline is None else baseline + cfg.baseline_lr * (reward.mean() - baseline)
        adv = reward - baseline
        adv = adv / (adv.std() + 1e-8)
        # ---- policy gradient: ∇θ[t] log π(a_t) = onehot(a_t) − π(·|t) ----
        update += 1
        for k in theta:
            onehot = np.eye(theta[k].shape[1])[a[k]]  # (E, L, K)
            grad = (adv[:, None, None] * (onehot - probs[k][None])).mean(0)  # (L, K)
            m, v = adam[k]
            m[:] = beta1 * m + (1 - beta1) * grad
            v[:] = beta2 * v + (1 - beta2) * grad**2
            theta[k] += cfg.lr * (m / (1 - beta1**update)) / (np.sqrt(v / (1 - beta2**update)) + eps)
        records.append({"episodes": done, "mean_reward": float(reward.mean()), "best_reward": best_r,
                        "mean_error": float(err.mean()), "mean_flops": float(flops.mean())})
    probs = {k: _softmax(v) for k, v in theta.items()}
    gd, gp, _ = rollout(prob, probs["d"].argmax(1)[None], probs["p"].argmax(1)[None])
    greedy = (tuple(int(x) for x in gd[0]), tuple(int(x) for x in gp[0]))
    return AmcResult(probs["d"], probs["p"], best, greedy, pd.DataFrame(records), cfg)
