"""Cascade environment: one episode = one input climbing a ladder of settings (FrugalGPT / SkipNet).

The ladder (:mod:`workbench.costtune.ladder`) has L rungs of increasing cost. An episode starts with
nothing run (stage 0). Action a ∈ [0, L] is either a *target rung* (a < L) or ``ANSWER_BEST`` (a = L):

- a target rung above the highest rung run so far runs (its FLOPs are paid) and the agent sees its
  confidence; skipping rungs is allowed, so the first action picks where to start;
- a target rung at or below the highest rung run stops and answers with the last rung's answer
  (at the top rung every target stops);
- a = L stops and answers with the *most confident* rung run so far (an ensemble by confidence:
  its answer is that rung's answer, so its correctness is read from the table, no new model run).
  Before any rung has run there is nothing to answer with, and a = L runs rung 0.

Reward per step: −λ·C(rung)/C_ref when a rung runs, ``correct`` (0/1) when the agent stops, so an
episode's undiscounted return is correct − λ·(total FLOPs of every rung run)/C_ref
(C_ref = ``OutcomeTable.cost_ref``). λ is the Lagrange multiplier of the cost constraint.

State (what the tabular agent sees, :func:`state_index`): the stage, the last rung's confidence bin,
and one bit: "an earlier rung was more confident than the last one" (only then does ``ANSWER_BEST``
differ from answering with the last rung). Observation (float32, 2L + n_bins + 4): one-hot of the
stage (L + 1), one-hot of the last rung's confidence bin (zeros before any rung), that confidence, the
highest confidence so far, the bit, and the fitted laws' predicted error of every rung in this state
(``Ladder.pred_error``).

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


def transition(stage: np.ndarray, action: np.ndarray, n_stages: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pure cascade dynamics for arrays of episodes. stage: (E,) 0 = nothing run, j + 1 = rung j run
    last; action: (E,) target rung, or ``n_stages`` = answer with the most confident rung so far.
    Returns (next stage, stopped, answers-with-the-most-confident) — a stopped episode keeps its stage."""
    best = action == n_stages
    target = np.where(best & (stage == 0), 0, action)  # nothing run yet: ANSWER_BEST runs rung 0
    stop = (stage > 0) & ((target + 1 <= stage) | (stage == n_stages) | best)
    return np.where(stop, stage, target + 1), stop, stop & best


def state_index(stage: np.ndarray, conf_bin: np.ndarray, earlier_better: np.ndarray, n_bins: int) -> np.ndarray:
    """(E,) row of a tabular policy: 0 before any rung, else 1 + 2·((stage − 1)·n_bins + bin) + bit."""
    return np.where(stage == 0, 0, 1 + 2 * ((stage - 1) * n_bins + conf_bin) + earlier_better)


def law_state(state: np.ndarray) -> np.ndarray:
    """(E,) row of ``Ladder.pred_error`` (which conditions on stage and bin, not on the bit)."""
    return np.where(state == 0, 0, 1 + (state - 1) // 2)


def n_policy_states(ladder: Ladder) -> int:
    return 1 + 2 * ladder.n_stages * ladder.n_bins


class _Tables:
    """Per-input arrays of the ladder (shared by both environments): correct (N, L), conf (N, L),
    conf bin (N, L), the state and observation builders and the reward."""

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
        self.n_states = n_policy_states(ladder)
        self.obs_dim = 2 * L + B + 4
        self._levels: dict[bytes, list] = {}

    def levels(self, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """What exact evaluation (``cascade_agent.evaluate``) needs of ``rows`` and no policy: for each
        rung j, over the sets m of rungs run whose highest is j (bitmasks 2^j … 2^(j+1) − 1), the policy
        state after rung j (M, R) and whether the most confident rung of m is right (M, R), read-only.
        Cached per row set (a learning curve evaluates the same rows at every update), first in, first out, at
        most four sets (≈ 13 MB each for 10,000 rows and 8 rungs)."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise InputError(f"rows must be a 1-D array of row indices; got dtype {rows.dtype}, shape {rows.shape}")
        rows = rows.astype(np.int64)
        key = rows.tobytes()  # int64, so equal keys mean equal row sets
        if key not in self._levels:
            L, B = self.ladder.n_stages, self.ladder.n_bins
            conf, corr, bins = self.conf[rows].T, self.correct[rows].T, self.bins[rows].T  # (L, R) each
            cols, bits, out = np.arange(len(rows))[None, :], np.arange(L), []
            for j in range(L):
                m = (1 << j) + np.arange(1 << j)  # (M,) every set whose highest rung is j
                member = (m[:, None] >> bits[None, :]) & 1  # (M, L)
                best = np.where(member[:, :, None] == 1, conf[None], -np.inf).argmax(1)  # (M, R) earliest on ties
                state = 1 + 2 * (j * B + bins[j][None, :]) + (best != j)
                state, right = state.astype(np.int32), corr[best, cols]
                state.flags.writeable = right.flags.writeable = False
                out.append((state, right))
            if len(self._levels) >= 4:
                self._levels.pop(next(iter(self._levels)))
            self._levels[key] = out
        return self._levels[key]

    def set_lambda(self, lam: float) -> None:
        """The Lagrange multiplier of the cost term (dual ascent moves it)."""
        self.lam = max(0.0, float(lam))

    def states(self, rows: np.ndarray, stage: np.ndarray, best: np.ndarray) -> np.ndarray:
        """(E,) policy state of episodes at ``stage`` whose most confident rung so far is ``best``."""
        j, ran = np.maximum(stage - 1, 0), stage > 0
        earlier = ran & (best != j)
        return state_index(stage, np.where(ran, self.bins[rows, j], 0), earlier.astype(int), self.ladder.n_bins)

    def observe(self, rows: np.ndarray, stage: np.ndarray, best: np.ndarray) -> np.ndarray:
        """(E, obs_dim) observations of episodes on table rows ``rows``."""
        L, B = self.ladder.n_stages, self.ladder.n_bins
        j, ran = np.maximum(stage - 1, 0), stage > 0
        obs = np.zeros((len(rows), self.obs_dim), np.float32)
        e = np.arange(len(rows))
        obs[e, stage] = 1.0
        obs[e[ran], L + 1 + self.bins[rows[ran], j[ran]]] = 1.0
        obs[:, L + 1 + B] = np.where(ran, self.conf[rows, j], 0.0)
        obs[:, L + 2 + B] = np.where(ran, self.conf[rows, best], 0.0)
        obs[:, L + 3 + B] = ran & (best != j)
        obs[:, L + B + 4:] = self.ladder.pred_error[law_state(self.states(rows, stage, best))]
        return obs

    def step(self, rows, stage, best, action):
        """One transition of each episode: (new stage, new best, stop, reward, correct, cost)."""
        new, stop, use_best = transition(stage, action, self.ladder.n_stages)
        j = np.maximum(stage - 1, 0)
        answer = np.where(use_best, best, j)
        correct = stop & self.correct[rows, answer]
        ran = ~stop
        k = np.maximum(new - 1, 0)
        cost = np.where(ran, self.ladder.cost[k], 0.0)
        first = stage == 0
        more = self.conf[rows, k] > self.conf[rows, best]  # ties keep the earlier (cheaper) rung
        new_best = np.where(ran & (first | more), k, best)
        reward = np.where(stop, correct.astype(float), -self.lam * cost / self.cost_ref)
        return new, new_best, stop, reward, correct, cost


class CascadeEnv(gym.Env):
    """The cascade as a gymnasium environment (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, table: OutcomeTable, ladder: Ladder, split: str = "train", lam: float = 0.0):
        self.t = _Tables(table, ladder, split, lam)
        self.action_space = gym.spaces.Discrete(ladder.n_stages + 1)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.t.obs_dim,), np.float32)
        self._row, self._stage, self._best, self._spent = np.zeros(1, int), np.zeros(1, int), np.zeros(1, int), 0.0
        self._live = False  # an episode is running: reset() starts one, an answer ends it

    def set_lambda(self, lam: float) -> None:
        self.t.set_lambda(lam)

    def _obs(self):
        return self.t.observe(self._row, self._stage, self._best)[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._row = np.array([self.t.rows[self.np_random.integers(len(self.t.rows))]])
        self._stage, self._best, self._spent = np.zeros(1, int), np.zeros(1, int), 0.0
        self._live = True
        return self._obs(), {"input": int(self._row[0])}

    def step(self, action):
        # as AmcEnv: a step after the answer paid the answer's reward again, and one before any reset stepped on
        # row 0 of the table whatever the split (a held-out input for a train env)
        if not self._live:
            raise InputError("no episode is running: call reset() first (after the answer that ended the last one)")
        if not self.action_space.contains(action):
            raise InputError(f"action must be an integer in [0, {self.action_space.n}); got {action!r}")
        new, best, stop, reward, correct, cost = self.t.step(self._row, self._stage, self._best,
                                                             np.array([int(action)]))
        self._stage, self._best, self._spent = new, best, self._spent + float(cost[0])
        info = {"input": int(self._row[0]), "stage": int(new[0]), "cost": float(cost[0]),
                "episode_cost": self._spent, "correct": bool(correct[0])}
        self._live = not bool(stop[0])
        return self._obs(), float(reward[0]), bool(stop[0]), False, info


class VectorCascade:
    """E cascade episodes stepped together with numpy (the agent's rollout engine); episodes that
    stopped are frozen until :meth:`reset`. Same dynamics and rewards as :class:`CascadeEnv`."""

    def __init__(self, table: OutcomeTable, ladder: Ladder, split: str = "train", lam: float = 0.0):
        self.t = _Tables(table, ladder, split, lam)
        self.n_actions = ladder.n_stages + 1

    def set_lambda(self, lam: float) -> None:
        self.t.set_lambda(lam)

    def reset(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Start n episodes on inputs drawn with replacement; returns their states (n,)."""
        self.rows = self.t.rows[rng.integers(len(self.t.rows), size=n)]
        self.stage = np.zeros(n, int)
        self.best = np.zeros(n, int)
        self.done = np.zeros(n, bool)
        self.cost = np.zeros(n)
        self.correct = np.zeros(n, bool)
        return self.t.states(self.rows, self.stage, self.best)

    def step(self, action: np.ndarray):
        """Step the live episodes. Returns (states (E,), reward (E,), live-before mask (E,)); rewards
        of episodes already done are 0."""
        live = ~self.done
        new, best, stop, reward, correct, cost = self.t.step(self.rows, self.stage, self.best, action)
        reward = np.where(live, reward, 0.0)
        self.cost += np.where(live, cost, 0.0)
        self.correct |= live & correct
        self.stage = np.where(live, new, self.stage)
        self.best = np.where(live, best, self.best)
        self.done |= live & stop
        return self.t.states(self.rows, self.stage, self.best), reward, live
