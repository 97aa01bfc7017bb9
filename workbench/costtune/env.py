"""Per-input environment: pick an inference setting for each input (gymnasium API).

One step = one input drawn (with replacement, from the env's own seeded RNG) from one split of an
:class:`~workbench.costtune.outcomes.OutcomeTable`.

- observation (float32, 3 + A): the probe pass's max probability, top-2 margin and entropy,
  then the scaling laws' predicted error of each of the A settings for this input's difficulty
  bin (``workbench.costtune.guidance``). The probe's FLOPs are part of every step's cost.
- action: a setting index in [0, A).
- reward: correct − λ·cost/cost_ref, cost = probe + setting FLOPs (``OutcomeTable.route_cost``),
  cost_ref = the largest dense fp32 student's FLOPs (``OutcomeTable.cost_ref``). ``step``'s ``info`` carries
  ``correct``, ``cost``, ``setting`` and ``input`` (the input just answered) and ``next_input`` (the table row of the
  returned observation); ``reset``'s carries ``input``, the row of its observation.
- an episode is ``episode_len`` inputs, then ``truncated``: the inputs are independent, no state ends the task,
  so the episode's end is a length limit (gymnasium's meaning of truncation), not a terminal state.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from workbench.costtune.guidance import Guidance, fit_guidance
from workbench.costtune.outcomes import OutcomeTable
from workbench.errors import InputError

N_PROBE_FEATURES = 3


class InputRoutingEnv(gym.Env):
    """Choose a setting per input; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, table: OutcomeTable, split: str = "train", lam: float = 0.0, episode_len: int = 32,
                 guidance: Guidance | None = None):
        if episode_len < 1:
            raise InputError(f"episode_len must be a positive integer; got {episode_len!r}")
        if not lam >= 0:
            raise InputError(f"lam must be >= 0; got {lam!r}")
        self.table, self.lam, self.episode_len = table, float(lam), int(episode_len)
        self.rows = table.inputs(split)
        self.guidance = guidance if guidance is not None else fit_guidance(table)
        self.cost = table.route_cost()
        self.cost_ref = table.cost_ref
        n_actions = len(self.cost)
        self.action_space = gym.spaces.Discrete(n_actions)
        # probabilities, margins, predicted errors lie in [0, 1]; the entropy in [0, log C]
        high = float(max(1.0, np.ceil(table.probe.max())))
        self.observation_space = gym.spaces.Box(0.0, high, (N_PROBE_FEATURES + n_actions,), np.float32)
        self._obs = (np.concatenate([table.probe, self.guidance.pred_error[self.guidance.bins]], 1)
                     .astype(np.float32))  # (N, 3 + A): every input's observation, precomputed
        self._t, self._i = 0, None

    def set_lambda(self, lam: float) -> None:
        """The Lagrange multiplier of the cost term (the agent's dual ascent moves it)."""
        self.lam = max(0.0, float(lam))

    def observation(self, inputs: np.ndarray) -> np.ndarray:
        """Observations of the given table rows (for evaluating a policy without stepping)."""
        return self._obs[inputs]

    def _draw(self) -> np.ndarray:
        self._i = int(self.rows[self.np_random.integers(len(self.rows))])
        return self._obs[self._i].copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        obs = self._draw()
        return obs, {"input": self._i}

    def step(self, action):
        if self._i is None:  # table.correct[None, a] is a whole column: bool() of it raised numpy's ambiguity error
            raise InputError("no episode is running: call reset() first")
        if not self.action_space.contains(action):
            raise InputError(f"action must be an integer in [0, {self.action_space.n}); got {action!r}")
        a = int(action)
        correct = bool(self.table.correct[self._i, a])
        cost = float(self.cost[a])
        reward = float(correct) - self.lam * cost / self.cost_ref
        info = {"correct": correct, "cost": cost, "input": self._i, "setting": a}
        self._t += 1
        obs = self._draw()
        info["next_input"] = self._i
        return obs, reward, False, self._t >= self.episode_len, info
