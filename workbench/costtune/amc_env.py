"""Per-model compression environment (AMC, He et al. 2018; HAQ, Wang et al. 2019): an episode walks the
layers of one trained MLP student and picks, per layer, a keep ratio (density) and a precision.

At layer t the agent sees the layer's features (index, fan-in/out, share of the dense MACs, |w| mean
and std) and the budget's state (FLOPs spent on layers < t, FLOPs the remaining layers would cost
dense, FLOPs left under the budget, the previous action). Action = (density index, precision index)
on the grids ``AmcConfig.densities`` × ``AmcConfig.precisions``.

**Clamping (He et al.).** The action is clamped so the budget stays reachable: layer t may cost at
most budget − spent − (cheapest cost of every later layer). A too-expensive action keeps its
precision and lowers its density to the largest one that fits; if none fits it drops to the next
cheaper precision (fp32 → bf16 → int8). The cheapest option of a layer always fits, so the finished
model never costs more than the budget.

**Cost** (``workbench.compress``): a layer keeping k weights at b bits costs 2·k·b/32 FLOPs per
example (bit-ops in fp32-MAC units; pruned weights cost 0); biases are free, as in ``inference_cost``.

**Compression is real, precision simulated per layer.** Pruning keeps the round(d·n) largest-|w|
weights of the layer (per-layer magnitude pruning, AMC's; ties by ``torch.topk``). Precision applies
to the layer's weights and its input activations: bf16 rounds both to bfloat16 (fp32 accumulate);
int8 quantizes weights symmetric per tensor (scale max|w|/127.5, ``quantize_dynamic``'s default
observer) and the input activations affine per tensor over the evaluated batch (dynamic, 0..127 as
fbgemm's ``reduce_range`` does), both by multiplying with the reciprocal of the scale as fbgemm does,
then dequantizes. The fully-int8 dense model makes the same
predictions as ``compress.quantize``'s real int8 module (tests check it).

**Reward.** 0 until the last layer; then −error on the validation split (``reward="error"``, the budget
being enforced by the clamp) or −error·log(FLOPs) (``reward="error_log_flops"``, AMC's
FLOPs-aware reward). Evaluations are cached by the (clamped) action tuple.

:class:`AmcEnv` is the gymnasium environment; :func:`rollout` runs many action sequences with numpy
for the agent; both clamp with the same pure :func:`clamp`.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from workbench.cache import atomic_write, read_cached, remove_stale_temps
from workbench.compress import PRECISION_BITS, check_precision
from workbench.data import cache_dir as default_cache_dir
from workbench.errors import InputError, is_real_number, is_whole_number
from workbench.students import StudentSpec, param_shapes
from workbench.sweep_train import RunConfig, default_device, spec_of, train_stack
from workbench.tasks import make_task, task_config, task_in_dim, task_out_dim

REWARDS = ("error", "error_log_flops")


@dataclass(frozen=True)
class AmcConfig:
    """The student to compress and the per-layer action grids (the student's cache key is a subset)."""

    task: str = "teacher-classification"
    """Task of the student (``workbench.tasks``)."""
    width: int = 64
    """Hidden units per layer."""
    depth: int = 4
    """Hidden layers (the student has depth + 1 weight matrices = episode length)."""
    n: int = 16384
    """Training examples."""
    steps: int = 20000
    """Adam steps of the dense student (at most: see ``early_stopping``). Until session 23, 2,000, which left it
    far from trained: 500 steps of fine-tuning then took the dense int8 model from 0.0753 to 0.052 test error,
    more than any allocation of a budget moved it, so fine-tuning measured more training, not recovery. 20,000
    with the best validation checkpoint: dense fp32 test error 0.0475 (30,000: 0.0457, 8 s more, which notebook
    06's two minutes do not leave)."""
    lr: float = 3e-3
    """Adam learning rate."""
    early_stopping: bool = True
    """Keep the parameters of the best validation loss, checked every 100 steps (the validation split the agent
    also selects on; the test split is never read)."""
    seed: int = 0
    """Student seed (init and minibatches); the task seed is 0."""
    densities: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """Keep ratios a layer may take, increasing."""
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8")
    """Precisions a layer may take."""
    reward: str = "error"
    """``error`` (−validation error) or ``error_log_flops`` (−error·ln FLOPs)."""

    def validate(self) -> "AmcConfig":
        for name in ("width", "depth", "n", "steps"):  # width=16.5 passed here and failed in students.py
            if not is_whole_number(getattr(self, name)) or getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if not is_whole_number(self.seed) or self.seed < 0:
            raise InputError(f"seed must be a whole number >= 0; got {self.seed!r}")
        if not (is_real_number(self.lr) and 0 < self.lr < float("inf")):  # -3e-3 trained by gradient ascent
            raise InputError(f"lr must be finite and > 0; got {self.lr!r}")
        if not isinstance(self.early_stopping, bool):
            raise InputError(f"early_stopping must be True or False; got {self.early_stopping!r}")
        if list(self.densities) != sorted(set(self.densities)) or not all(0 < d <= 1 for d in self.densities):
            raise InputError(f"densities must be increasing values in (0, 1]; got {self.densities!r}")
        for p in self.precisions:
            check_precision(p)
        if self.reward not in REWARDS:
            raise InputError(f"reward must be one of {', '.join(REWARDS)}; got {self.reward!r}")
        return self

    def run(self) -> RunConfig:
        return RunConfig(task=task_config(self.task), family="mlp", width=self.width, depth=self.depth,
                         n=self.n, seed=self.seed, steps=self.steps, lr=self.lr, early_stopping=self.early_stopping)

    def spec(self) -> StudentSpec:
        """The student's shape from the config alone, without training it or generating its task (the
        ``spec_of`` of the trained student)."""
        task = self.run().task
        return StudentSpec("mlp", task_in_dim(task), task_out_dim(task), self.width, self.depth)


def _student_problem(params, spec: StudentSpec) -> str | None:
    """Why ``params`` (as ``torch.load`` read them) are not a trained student of shape ``spec``; None when they are."""
    if not isinstance(params, dict):
        return f"a {type(params).__name__}, not a dict of tensors"
    for name, shape in param_shapes(spec).items():
        value = params.get(name)
        if not isinstance(value, torch.Tensor) or value.dtype != torch.float32 or tuple(value.shape) != shape:
            got = (f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                   else type(value).__name__)
            return f"{name} is {got}, not float32 {shape}"
        if not torch.isfinite(value).all():
            return f"{name} holds a weight that is not finite"
    return None


def trained_student(cfg: AmcConfig, cache_dir: str | Path | None = None) -> tuple[StudentSpec, list[tuple]]:
    """(spec, [(W (fan_in, fan_out), b (fan_out,)) per layer]) of the dense student, trained once with
    ``train_stack`` and cached under ``<cache>/costtune/amc-student-<key>.pt``. A file that cannot be that
    student (unreadable, a tensor missing or of another shape or type, a weight not finite) is named in a
    :class:`~workbench.errors.CacheWarning` and the student trained again."""
    run = cfg.validate().run()
    task = make_task(run.task)
    spec = spec_of(run, task)
    path = Path(cache_dir or default_cache_dir()) / "costtune" / f"amc-student-{run.key()}.pt"
    remove_stale_temps(path.parent)  # a killed save's half-written student
    params = read_cached(path, lambda p: _student_problem(p, spec),  # CPU tensors, as trained ones come back
                         load=lambda f: torch.load(f, map_location="cpu", weights_only=True),
                         unreadable=(RuntimeError, EOFError, pickle.UnpicklingError))
    if params is None:
        params = {k: v[0] for k, v in train_stack(task, [run], default_device()).params.items()}  # CPU tensors
        with atomic_write(path) as tmp:
            torch.save(params, tmp)
    return spec, [(params[f"w{i}"], params[f"b{i}"]) for i in range(spec.depth + 1)]


# ----------------------------------------------------------------------------------------------
# pure pieces: cost, clamping, one compressed layer


def layer_flops(kept: np.ndarray | int, bits: np.ndarray | int) -> np.ndarray:
    """FLOPs per example of a dense layer keeping ``kept`` weights at ``bits``: 2 · kept · bits/32."""
    return 2.0 * np.asarray(kept, float) * np.asarray(bits, float) / 32.0  # 2 × compress.bitops


def option_costs(numel: np.ndarray, densities, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights kept (L, D) and FLOPs (L, D, P) of every (layer, density, precision) option, for layers of
    ``numel`` weights: round(d·n) weights, at least 1, at each precision's bits."""
    kept = np.maximum(1, np.round(np.outer(numel, densities))).astype(int)  # (L, D)
    return kept, layer_flops(kept[:, :, None], bits[None, None, :])


def min_budget_fraction(spec: StudentSpec, densities=AmcConfig.densities,
                        precisions=AmcConfig.precisions) -> float:
    """The smallest budget, as a fraction of the dense fp32 FLOPs, that ``AmcProblem.set_budget`` accepts for
    an MLP student of ``spec``: every layer at its cheapest option. From the shapes alone (no training)."""
    shapes = param_shapes(spec)
    numel = np.array([math.prod(shapes[f"w{i}"]) for i in range(spec.depth + 1)])  # (L,)
    _, cost = option_costs(numel, densities, np.array([PRECISION_BITS[p] for p in precisions]))
    return float(cost.reshape(len(numel), -1).min(1).sum() / layer_flops(numel, 32).sum())


def clamp(cost: np.ndarray, order: np.ndarray, allowed: np.ndarray, d: np.ndarray, p: np.ndarray):
    """Clamp actions of E episodes at one layer (module docstring).

    cost: (D, P) FLOPs of each option of this layer; order: (P, D·P) for each requested precision the
    flat options in order of preference (same precision by density descending, then cheaper
    precisions); allowed: (E,) most FLOPs the layer may cost; d, p: (E,) requested indices.
    Returns clamped (d, p) and their cost (E,)."""
    flat = cost.ravel()  # (D·P,)
    fits = flat[None, :] <= allowed[:, None] + 1e-9  # (E, D·P)
    pref = order[p]  # (E, D·P)
    first = pref[np.arange(len(p)), np.argmax(np.take_along_axis(fits, pref, 1), axis=1)]
    ok = cost[d, p] <= allowed + 1e-9
    chosen = np.where(ok, d * cost.shape[1] + p, first)
    d_c, p_c = np.divmod(chosen, cost.shape[1])
    return d_c, p_c, flat[chosen]


def preference_order(bits: np.ndarray, n_d: int) -> np.ndarray:
    """(P, D·P) fallback order of :func:`clamp` for precisions with these ``bits``."""
    P = len(bits)
    out = []
    for p in range(P):
        cheaper = [q for q in np.argsort(-bits, kind="stable") if bits[q] < bits[p]]
        seq = [p] + cheaper + [q for q in range(P) if q != p and q not in cheaper]
        out.append([d * P + q for q in seq for d in range(n_d - 1, -1, -1)])
    return np.array(out)


def prune_mask(w: torch.Tensor, keep: int) -> torch.Tensor:
    """0/1 mask of w's ``keep`` largest-|w| entries (per-layer magnitude pruning; ties by ``torch.topk``)."""
    flat = w.reshape(-1)
    mask = torch.zeros_like(flat)
    mask[torch.topk(flat.abs(), max(1, min(keep, flat.numel()))).indices] = 1.0
    return mask.view_as(w)


def prune_layer(w: torch.Tensor, keep: int) -> torch.Tensor:
    """w with all but its ``keep`` largest-|w| entries set to 0."""
    return w * prune_mask(w, keep)


def quantize_weight(w: torch.Tensor, precision: str) -> torch.Tensor:
    """Weights after rounding to ``precision`` (dequantized back to float32)."""
    if precision == "bf16":
        return w.to(torch.bfloat16).float()
    if precision == "int8":  # MinMaxObserver, per_tensor_symmetric, qint8: scale max|w|/127.5 in float32
        scale = torch.clamp_min(w.abs().max() / 127.5, torch.finfo(torch.float32).eps)
        return _to_grid(w, scale, 0, -128, 127)
    return w


def quantize_input(x: torch.Tensor, precision: str) -> torch.Tensor:
    """Activations entering a layer at ``precision``: bf16 rounding, or dynamic affine per tensor on
    0..127 (fbgemm's ``reduce_range``: x86 dynamic int8 keeps 7 bits of the activation)."""
    if precision == "bf16":
        return x.to(torch.bfloat16).float()
    if precision == "int8":  # scale and zero point as fbgemm's ChooseQuantizationParams (qmin 0, qmax 127)
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        scale = (hi - lo) / 127.0
        if float(np.float32(scale)) == 0 or 1.0 / scale > float(np.finfo(np.float32).max):
            scale = 0.1
        if scale < _SMALL_SCALE:  # fbgemm widens tiny ranges: scale 6.1e-5, the range scaled with it
            lo, hi, scale = lo * _SMALL_SCALE / scale, hi * _SMALL_SCALE / scale, _SMALL_SCALE
        from_lo, from_hi = -lo / scale, 127 - hi / scale  # fbgemm takes the one of the smaller "error"
        zero = from_lo if -abs(lo / scale) < 127 - abs(hi / scale) else from_hi
        zero = min(max(round(zero), 0), 127)
        return _to_grid(x, torch.tensor(scale, dtype=torch.float32), zero, 0, 127)
    return x


_SMALL_SCALE = 6.1e-5


def _to_grid(x: torch.Tensor, scale: torch.Tensor, zero: int, lo: int, hi: int) -> torch.Tensor:
    """x quantized and dequantized as torch's int8 kernels (fbgemm's ``Quantize``) do it: x times the float32
    reciprocal of the float32 ``scale`` plus ``zero`` in one rounding to float32 (a fused multiply-add), rounded
    half to even, clamped to [lo, hi]. Multiplying by the reciprocal is not dividing by the scale: the largest |w|
    lands on ±127.5 exactly, a tie that w / scale rounded to -128 where torch's w · (1/scale) gave -127 (or the
    reverse), one step on a layer's largest weight; before, that moved up to 45 of 8,192 predictions of the test's
    int8 models away from the real modules'."""
    inv = 1.0 / scale  # float32
    q = torch.round((x.double() * inv.double() + zero).float())  # fma(x, inv, zero): x·inv is exact in float64
    return (torch.clamp(q, lo, hi) - zero) * scale


@torch.no_grad()
def compressed_logits(layers: list[tuple], precisions: list[str], x: torch.Tensor) -> torch.Tensor:
    """(N, out) logits of the MLP ``layers`` [(W already pruned and quantized, b)] at per-layer precisions."""
    h = x  # (N, fan_in)
    for i, ((w, b), prec) in enumerate(zip(layers, precisions)):
        h = quantize_input(h, prec) @ w + quantize_weight(b, "bf16" if prec == "bf16" else "fp32")  # (N, fan_out)
        if prec == "bf16":
            h = h.to(torch.bfloat16).float()  # a bf16 layer outputs bf16
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def compressed_error(layers: list[tuple], precisions: list[str], x: torch.Tensor, y: torch.Tensor) -> float:
    """0/1 error of :func:`compressed_logits`."""
    return float((compressed_logits(layers, precisions, x).argmax(1) != y).float().mean())


# ----------------------------------------------------------------------------------------------
# the problem: precomputed per-layer options, costs, features, cached evaluations


class AmcProblem:
    """One trained student, its per-layer option grid and the budget: everything an episode needs,
    precomputed (compressed weights per (layer, density, precision), option costs, layer features)."""

    def __init__(self, cfg: AmcConfig, budget: float | None = None, cache_dir: str | Path | None = None):
        self.cfg = cfg.validate()
        self.spec, self.layers = trained_student(cfg, cache_dir)
        task = make_task(cfg.run().task)
        self.splits = {"val": (task.x_val, task.y_val), "test": (task.x_test, task.y_test)}
        L, D, P = len(self.layers), len(cfg.densities), len(cfg.precisions)
        self.n_layers, self.n_d, self.n_p = L, D, P
        self.bits = np.array([PRECISION_BITS[p] for p in cfg.precisions])
        self.numel = np.array([w.numel() for w, _ in self.layers])  # (L,)
        self.kept, self.cost = option_costs(self.numel, cfg.densities, self.bits)  # (L, D), (L, D, P)
        self.dense_flops = layer_flops(self.numel, 32)  # (L,) each layer dense at fp32
        self.full_flops = float(self.dense_flops.sum())  # the dense fp32 model
        self.min_cost = self.cost.reshape(L, -1).min(1)  # (L,)
        self.min_rest = np.concatenate([np.cumsum(self.min_cost[::-1])[::-1][1:], [0.0]])  # (L,) layers > t
        self.order = preference_order(self.bits, D)
        self.set_budget(self.full_flops if budget is None else budget)  # None: the dense fp32 model's
        # compressed weights of every option: options[t][d][p] = (W, b)
        self.options = [[[(quantize_weight(prune_layer(w, int(self.kept[t, d])), prec), b)
                          for prec in cfg.precisions] for d in range(D)] for t, (w, b) in enumerate(self.layers)]
        fan = np.array([w.shape for w, _ in self.layers], float)  # (L, 2)
        mag = np.array([[w.abs().mean().item(), w.abs().std().item()] for w, _ in self.layers])  # (L, 2)
        self.features = np.column_stack([np.arange(L) / max(L - 1, 1), fan / fan.max(),
                                         self.numel / self.numel.sum(), mag / mag.max(0)]).astype(np.float32)
        self._errors: dict[tuple, float] = {}

    def set_budget(self, budget: float) -> None:
        """FLOPs per example the compressed model may cost (at least the cheapest option of every layer)."""
        if not self.min_cost.sum() <= budget:
            raise InputError(f"budget must be >= {self.min_cost.sum():.6g} FLOPs (every layer at its cheapest "
                             f"option); got {budget!r}")
        self.budget = float(budget)

    def allowed(self, t: int, spent: np.ndarray) -> np.ndarray:
        """(E,) most FLOPs layer t may cost so that every later layer can still take its cheapest option."""
        return self.budget - spent - self.min_rest[t]

    def observe(self, t: int, spent: float, prev: tuple[int, int] | None) -> np.ndarray:
        """The observation at layer t (module docstring), float32 in [0, 1]."""
        f = self.features[min(t, self.n_layers - 1)]
        rest = float(self.dense_flops[t:].sum())  # layers >= t, dense fp32 (whatever the grids hold)
        left = max(self.budget - spent, 0.0)
        d_prev = self.cfg.densities[prev[0]] if prev else 1.0
        b_prev = self.bits[prev[1]] / 32 if prev else 1.0
        extra = np.array([spent, rest, left], np.float32) / self.full_flops
        return np.clip(np.concatenate([f, extra, [d_prev, b_prev]]), 0.0, 1.0).astype(np.float32)

    @property
    def obs_dim(self) -> int:
        return self.features.shape[1] + 5

    def error(self, d: tuple[int, ...], p: tuple[int, ...], split: str = "val") -> float:
        """Error of the model with option (d[t], p[t]) at every layer, cached by the action tuple."""
        key = (split, tuple(int(i) for i in d), tuple(int(i) for i in p))
        if key not in self._errors:
            x, y = self.splits[split]
            layers = [self.options[t][d[t]][p[t]] for t in range(self.n_layers)]
            self._errors[key] = compressed_error(layers, [self.cfg.precisions[i] for i in p], x, y)
        return self._errors[key]

    def flops(self, d, p) -> float:
        return float(sum(self.cost[t, d[t], p[t]] for t in range(self.n_layers)))

    def reward(self, err: float, flops: float) -> float:
        return -err if self.cfg.reward == "error" else -err * math.log(flops)


def rollout(prob: AmcProblem, d: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clamp E requested action sequences d, p (E, L) layer by layer; returns clamped d, p (E, L) and
    FLOPs (E,). The same dynamics as :class:`AmcEnv`, vectorised."""
    E, L = d.shape
    d_c, p_c = np.zeros_like(d), np.zeros_like(p)
    spent = np.zeros(E)
    for t in range(L):
        d_c[:, t], p_c[:, t], c = clamp(prob.cost[t], prob.order, prob.allowed(t, spent), d[:, t], p[:, t])
        spent += c
    return d_c, p_c, spent


class AmcEnv(gym.Env):
    """The per-layer compression episode as a gymnasium environment (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, problem: AmcProblem):
        self.prob = problem
        self.action_space = gym.spaces.MultiDiscrete([problem.n_d, problem.n_p])
        self.observation_space = gym.spaces.Box(0.0, 1.0, (problem.obs_dim,), np.float32)
        self._t, self._spent, self._d, self._p = 0, 0.0, [], []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t, self._spent, self._d, self._p = 0, 0.0, [], []
        return self.prob.observe(0, 0.0, None), {}

    def step(self, action):
        if self._t >= self.prob.n_layers:
            raise InputError(f"the episode is over: all {self.prob.n_layers} layers have an action; call reset()")
        if not self.action_space.contains(np.asarray(action)):
            raise InputError(f"action must be [density index < {self.prob.n_d}, precision index < "
                             f"{self.prob.n_p}]; got {action!r}")
        t, prob = self._t, self.prob
        d, p, c = clamp(prob.cost[t], prob.order, prob.allowed(t, np.array([self._spent])),
                        np.array([int(action[0])]), np.array([int(action[1])]))
        self._d.append(int(d[0]))
        self._p.append(int(p[0]))
        self._spent += float(c[0])
        self._t += 1
        info = {"layer": t, "density": prob.cfg.densities[self._d[-1]], "precision": prob.cfg.precisions[self._p[-1]],
                "layer_flops": float(c[0]), "flops": self._spent}
        done = self._t == prob.n_layers
        reward = 0.0
        if done:
            err = prob.error(tuple(self._d), tuple(self._p))
            reward = prob.reward(err, self._spent)
            info["error"] = err
        return prob.observe(self._t, self._spent, (self._d[-1], self._p[-1])), float(reward), done, False, info
