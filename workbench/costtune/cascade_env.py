"""Cascade environment: one episode = one input climbing a ladder of settings (FrugalGPT / SkipNet).

The ladder (:mod:`workbench.costtune.ladder`) has L rungs of increasing cost. An episode starts with
nothing run (stage 0). Action a ∈ [0, L) names a *target rung*:

- if a is above the highest rung run so far, rung a runs (its FLOPs are paid) and the agent sees
  its confidence; skipping rungs is allowed, so the first action picks where to start;
- otherwise the agent stops and answers with the last rung's answer (at the top rung every action
  stops; before any rung has run no action does).

Reward per step: −λ·C(rung)/C_ref when a rung runs, ``correct`` (0/1) when the agent stops, so an
episode's undiscounted return is correct − λ·(total FLOPs of every rung run)/C_ref
(C_ref = ``OutcomeTable.cost_ref``). λ is the Lagrange multiplier of the cost constraint.

Observation (float32, 2L + n_bins + 2): one-hot of the stage (L + 1: nothing run, rung 0 … L−1 run),
one-hot of the last rung's confidence bin (zeros before any rung), that confidence, and the fitted
laws' predicted error of every rung in this state (``Ladder.pred_error``).

:class:`CascadeEnv` is the gymnasium environment (one input per episode, drawn with replacement from
one split). :class:`VectorCascade` steps many episodes at once with numpy for the agent; both call the
same pure :func:`transition`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from workbench.costtune.ladder import Ladder
from workbench.costtune.outcomes import OutcomeTable
from workbench.errors import InputError


def transition(stage: np.ndarray, action: np.ndarray, n_stages: int) -> tuple[np.ndarray, np.ndarray]:
    """Pure cascade dynamics for arrays of episodes. stage: (E,) 0 = nothing run, j + 1 = rung j run
    last; action: (E,) target rung. Returns (next stage, stopped) — a stopped episode keeps its stage."""
    stop = (action + 1 <= stage) | (stage == n_stages)
    return np.where(stop, stage, action + 1), stop


def state_index(stage: np.ndarray, conf_bin: np.ndarray, n_bins: int) -> np.ndarray:
    """(E,) row of ``Ladder.pred_error`` / of a tabular policy: 0 before any rung, else 1 + j·n_bins + bin."""
    return np.where(stage == 0, 0, 1 + (stage - 1) * n_bins + conf_bin)


class _Tables:
    """Per-input arrays of the ladder (shared by both environments): correct (N, L), conf (N, L),
    conf bin (N, L), the observation builder and the reward."""

    def __init__(self, table: OutcomeTable, ladder: Ladder, split: str, lam: float):
        if not lam >= 0:
            raise InputError(f"lam must be >= 0; got {lam!r}")
        self.table, self.ladder, self.lam = table, ladder, float(lam)
        self.rows = table.inputs(split)
        all_rows = np.arange(table.correct.shape[0])
        self.correct = table.correct[:, ladder.settings]  # (N, L)
        self.conf = table.conf[:, ladder.settings].astype(np.float32)  # (N, L)
        self.bins = ladder.conf_bins(table, all_rows)  # (N, L)
        self.cost_ref = table.cost_ref
        L, B = ladder.n_stages, ladder.n_bins
        self.obs_dim = 2 * L + B + 2

    def set_lambda(self, lam: float) -> None:
        """The Lagrange multiplier of the cost term (dual ascent moves it)."""
        self.lam = max(0.0, float(lam))

    def last(self, rows: np.ndarray, stage: np.ndarray) -> np.ndarray:
        return np.maximum(stage - 1, 0), stage > 0

    def states(self, rows: np.ndarray, stage: np.ndarray) -> np.ndarray:
        j, ran = self.last(rows, stage)
        return state_index(stage, np.where(ran, self.bins[rows, j], 0), self.ladder.n_bins)

    def observe(self, rows: np.ndarray, stage: np.ndarray) -> np.ndarray:
        """(E, obs_dim) observations of episodes on table rows ``rows`` at ``stage``."""
        L, B = self.ladder.n_stages, self.ladder.n_bins
        j, ran = self.last(rows, stage)
        obs = np.zeros((len(rows), self.obs_dim), np.float32)
        e = np.arange(len(rows))
        obs[e, stage] = 1.0
        obs[e[ran], L + 1 + self.bins[rows[ran], j[ran]]] = 1.0
        obs[:, L + 1 + B] = np.where(ran, self.conf[rows, j], 0.0)
        obs[:, L + B + 2:] = self.ladder.pred_error[self.states(rows, stage)]
        return obs

    def reward(self, rows, stage, new_stage, stop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reward, correct, cost) of one transition for each episode."""
        j, _ = self.last(rows, stage)
        correct = stop & self.correct[rows, j] & (stage > 0)
        cost = np.where(stop, 0.0, self.ladder.cost[np.maximum(new_stage - 1, 0)])
        return np.where(stop, correct.astype(float), -self.lam * cost / self.cost_ref), correct, cost


class CascadeEnv(gym.Env):
    """The cascade as a gymnasium environment (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, table: OutcomeTable, ladder: Ladder, split: str = "train", lam: float = 0.0):
        self.t = _Tables(table, ladder, split, lam)
        L = ladder.n_stages
        self.action_space = gym.spaces.Discrete(L)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.t.obs_dim,), np.float32)
        self._row, self._stage, self._spent = np.zeros(1, int), np.zeros(1, int), 0.0

    def set_lambda(self, lam: float) -> None:
        self.t.set_lambda(lam)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._row = np.array([self.t.rows[self.np_random.integers(len(self.t.rows))]])
        self._stage, self._spent = np.zeros(1, int), 0.0
        return self.t.observe(self._row, self._stage)[0], {"input": int(self._row[0])}

    def step(self, action):
        if not self.action_space.contains(action):
            raise InputError(f"action must be an integer in [0, {self.action_space.n}); got {action!r}")
        new, stop = transition(self._stage, np.array([int(action)]), self.t.ladder.n_stages)
        reward, correct, cost = self.t.reward(self._row, self._stage, new, stop)
        self._stage, self._spent = new, self._spent + float(cost[0])
        info = {"input": int(self._row[0]), "stage": int(new[0]), "cost": float(cost[0]),
                "episode_cost": self._spent, "correct": bool(correct[0])}
        return self.t.observe(self._row, new)[0], float(reward[0]), bool(stop[0]), False, info


class VectorCascade:
    """E cascade episodes stepped together with numpy (the agent's rollout engine); episodes that
    stopped are frozen until :meth:`reset`. Same dynamics and rewards as :class:`CascadeEnv`."""

    def __init__(self, table: OutcomeTable, ladder: Ladder, split: str = "train", lam: float = 0.0):
        self.t = _Tables(table, ladder, split, lam)
        self.n_actions = ladder.n_stages

    def set_lambda(self, lam: float) -> None:
        self.t.set_lambda(lam)

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Start n episodes on inputs drawn with replacement; returns their states (n,)."""
        self.rows = self.t.rows[rng.integers(len(self.t.rows), size=n)]
        self.stage = np.zeros(n, int)
        self.done = np.zeros(n, bool)
        self.cost = np.zeros(n)
        self.correct = np.zeros(n, bool)
        return self.t.states(self.rows, self.stage)

    def step(self, action: np.ndarray):
        """Step the live episodes. Returns (states (E,), reward (E,), live-before mask (E,)); rewards
        of episodes already done are 0."""
        live = ~self.done
        new, stop = transition(self.stage, action, self.n_actions)
        reward, correct, cost = self.t.reward(self.rows, self.stage, new, stop)
        reward = np.where(live, reward, 0.0)
        self.cost += np.where(live, cost, 0.0)
        self.correct |= live & correct
        self.stage = np.where(live, new, self.stage)
        self.done |= live & stop
        return self.t.states(self.rows, self.stage), reward, live
