"""Seeded, offline task generation: teacher-student regression/classification, MNIST-1D, digits.

Every task is a pure function of its :class:`TaskConfig`. A task holds one seeded training
*pool*; a training set of size n is the first n rows of the pool, so sets of different sizes are
nested (prefixes). The validation split and the (large) test set are fixed per task config.

Teacher-student follows Sharma & Kaplan 2020: inputs uniform on [-0.5, 0.5]^input_dim with only
the first ``intrinsic_dim`` features varying (the rest are held at 0), a random ReLU MLP teacher
with weights and biases N(0, 1/fan_in). Deviations, chosen so that losses are comparable across
teachers: each teacher output is standardised (zero mean, unit variance) using a fixed reference
sample of 4,096 inputs; classification labels are the argmax of the standardised outputs.
Label noise touches the pool and the validation split only; the test set is clean, so test
error measures distance from the teacher (noise error is then visible as a train/test gap).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch

from workbench.errors import InputError, canonical_numbers, is_real_number, is_whole_number
from workbench.students import float32_default
from workbench.limits import (  # noqa: F401 (re-exported)
    DIGITS_ROWS, MAX_DEPTH, MAX_DIM, MAX_ROWS, MAX_SEED, MNIST1D_MAX_ROWS, TASK_SIZE_DEFAULTS, TASKS)

EXACT_ROWS = 2 ** 17
"""Teacher splits of up to this many rows are labelled in one piece; larger ones in chunks of it
(``_teacher_split``). The same bound decides whole-split evaluation in ``sweep_train.split_means``."""


# independent random streams of one task seed (numpy SeedSequence spawn keys)
_TEACHER, _POOL, _VAL, _TEST, _NOISE_POOL, _NOISE_VAL, _REF, _SHUFFLE = range(8)


@dataclass(frozen=True)
class TaskConfig:
    """Everything that defines a task; part of every sweep row's cache key."""

    name: str = "teacher-regression"
    """One of ``TASKS``."""
    seed: int = 0
    """Task seed: teacher weights, inputs, noise, and (digits) the shuffle."""
    pool_size: int = 16384
    """Rows in the training pool; every training size n must be <= pool_size."""
    val_size: int = 1024
    """Rows in the validation split (early stopping)."""
    test_size: int = 8192
    """Rows in the fixed test set."""
    input_dim: int = 20
    """Teacher tasks: ambient input dimension (Sharma & Kaplan use 20)."""
    intrinsic_dim: int = 4
    """Teacher tasks: number of input features that vary (the manifold dimension d)."""
    teacher_width: int = 64
    """Teacher tasks: hidden width of the teacher (Sharma & Kaplan use 600)."""
    teacher_depth: int = 2
    """Teacher tasks: number of hidden layers of the teacher."""
    n_outputs: int = 1
    """teacher-regression: output dimension."""
    n_classes: int = 10
    """teacher-classification: number of classes (teacher output dimension)."""
    label_noise: float = 0.0
    """Regression: std of gaussian noise added to standardised targets. Classification: fraction
    of labels replaced by a different, uniformly random class. Pool and validation only."""

    def __post_init__(self):
        canonical_numbers(self)  # 8.0 -> 8, label_noise 0 -> 0.0: same value, same cache key and seeds

    def validate(self) -> "TaskConfig":
        """Raise InputError naming the first bad field; return self."""
        if self.name not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}; got {self.name!r}")
        for field, most in (("pool_size", MAX_ROWS), ("val_size", MAX_ROWS), ("test_size", MAX_ROWS),
                            ("input_dim", MAX_DIM), ("intrinsic_dim", MAX_DIM), ("teacher_width", MAX_DIM),
                            ("teacher_depth", MAX_DEPTH), ("n_outputs", MAX_DIM)):
            if not is_whole_number(getattr(self, field)) or getattr(self, field) < 1:  # '300' was a TypeError
                raise InputError(f"{field} must be a positive integer; got {getattr(self, field)!r}")
            if getattr(self, field) > most:
                raise InputError(f"{field} must be <= {most}; got {getattr(self, field)!r}")
        if not is_whole_number(self.n_classes) or not 2 <= self.n_classes <= MAX_DIM:
            raise InputError(f"n_classes must be in [2, {MAX_DIM}] (a whole number); got {self.n_classes!r}")
        if self.intrinsic_dim > self.input_dim:
            raise InputError(f"intrinsic_dim must be <= input_dim={self.input_dim}; "
                             f"got {self.intrinsic_dim!r}")
        if (not is_real_number(self.label_noise) or not 0 <= self.label_noise < float("inf")  # '0.1': TypeError
                or (self.name != "teacher-regression" and self.label_noise > 1)):
            raise InputError(f"label_noise must be finite and >= 0 (a fraction <= 1 for classification); "
                             f"got {self.label_noise!r}")
        if not is_whole_number(self.seed) or not 0 <= int(self.seed) <= MAX_SEED:  # 2.5 would draw seed 2's task
            raise InputError(f"seed (the task seed) must be in [0, {MAX_SEED}] (a whole number); got {self.seed!r}")
        if self.name == "mnist1d" and self.pool_size + self.val_size + self.test_size > MNIST1D_MAX_ROWS:
            raise InputError(f"mnist1d makes its examples one at a time in Python (measured: 4.4 minutes and "
                             f"1.4 GB for 2**20): pool_size + val_size + test_size must be <= "
                             f"{MNIST1D_MAX_ROWS} (2**20); got {self.pool_size + self.val_size + self.test_size}")
        if self.name == "digits" and self.pool_size + self.val_size + self.test_size > DIGITS_ROWS:
            raise InputError(f"digits has {DIGITS_ROWS} examples: pool_size + val_size + test_size must be "
                             f"<= {DIGITS_ROWS}; got {self.pool_size + self.val_size + self.test_size}")
        return self

    @property
    def kind(self) -> str:
        """``regression`` (teacher-regression) or ``classification`` (every other task)."""
        return "regression" if self.name == "teacher-regression" else "classification"

    def columns(self) -> dict:
        """The config as tidy-table columns (``task`` for the name, ``task_*`` for the rest)."""
        d = dataclasses.asdict(self)
        return {"task": d.pop("name"), **{f"task_{k}": v for k, v in d.items()}}


@dataclass(frozen=True)
class Task:
    """A generated task. ``x_*`` are float32, ``y_*`` float32 (N, out) or int64 (N,)."""

    config: TaskConfig
    kind: str  # "regression" | "classification"
    x_pool: torch.Tensor
    y_pool: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_dim(self) -> int:
        return int(self.x_pool.shape[1])

    @property
    def out_dim(self) -> int:
        """Student output units: regression outputs or number of classes."""
        if self.kind == "regression":
            return int(self.y_pool.shape[1])
        return REAL_CLASSES if self.config.name in ("mnist1d", "digits") else int(self.config.n_classes)

    def train_subset(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The nested training set of size n: the first n rows of the pool."""
        if not is_whole_number(n) or not 1 <= n <= len(self.x_pool):  # 2.5 was a TypeError from slicing
            raise InputError(f"training size n must be a whole number in [1, pool_size={len(self.x_pool)}]; got {n!r}")
        return self.x_pool[:int(n)], self.y_pool[:int(n)]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))


def teacher_weights(cfg: TaskConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random ReLU teacher: [(W (fan_in, fan_out), b (fan_out,)), ...], entries N(0, 1/fan_in)."""
    out = cfg.n_outputs if cfg.name == "teacher-regression" else cfg.n_classes
    dims = [cfg.input_dim] + [cfg.teacher_width] * cfg.teacher_depth + [out]
    rng = _rng(cfg.seed, _TEACHER)
    layers = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        std = 1.0 / np.sqrt(fan_in)
        layers.append((rng.normal(0, std, (fan_in, fan_out)), rng.normal(0, std, fan_out)))
    return layers


def teacher_forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Raw teacher outputs (N, out) for inputs x (N, input_dim), float64."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def _draw_inputs(cfg: TaskConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """The next n rows (n, input_dim) of ``rng``: first intrinsic_dim features U[-0.5, 0.5], the rest 0."""
    x = np.zeros((n, cfg.input_dim))
    x[:, : cfg.intrinsic_dim] = rng.random((n, cfg.intrinsic_dim)) - 0.5
    return x


def _teacher_inputs(cfg: TaskConfig, n: int, stream: int) -> np.ndarray:
    """(n, input_dim) inputs of one stream (:func:`_draw_inputs`). Row-major draws, so the first k rows do
    not depend on n, and drawing them in chunks from one generator gives the same rows."""
    return _draw_inputs(cfg, _rng(cfg.seed, stream), n)


def _teacher_split(cfg: TaskConfig, layers, mu: np.ndarray, sd: np.ndarray, n: int,
                   stream: int) -> tuple[torch.Tensor, np.ndarray]:
    """One split before label noise: inputs (n, input_dim) float32 and the standardised teacher
    outputs (n, out) float64 (regression) or their argmax (n,) (classification).

    Splits of up to ``EXACT_ROWS`` rows are labelled in one piece, as always (their numbers are in
    cached sweep rows); larger ones ``EXACT_ROWS`` rows at a time, so that memory stays near the
    float32 inputs instead of several float64 copies of every hidden layer (2^24 rows at teacher
    width 64: 8.6 GB per copy). The inputs are the same either way (one stream drawn row-major);
    the labels of a chunked split may differ from an unchunked one only by BLAS rounding.
    """
    def targets(raw: np.ndarray) -> np.ndarray:
        clean = (raw - mu) / sd
        return clean if cfg.name == "teacher-regression" else clean.argmax(1)

    if n <= EXACT_ROWS:
        x = _teacher_inputs(cfg, n, stream)
        return torch.tensor(x, dtype=torch.float32), targets(teacher_forward(layers, x))
    rng = _rng(cfg.seed, stream)
    x32 = torch.zeros((n, cfg.input_dim), dtype=torch.float32)
    out = None
    for start in range(0, n, EXACT_ROWS):
        m = min(EXACT_ROWS, n - start)
        x = _draw_inputs(cfg, rng, m)  # continuing the stream of _teacher_inputs
        x32[start:start + m] = torch.from_numpy(x)  # rounds to float32 as torch.tensor does
        y = targets(teacher_forward(layers, x))
        if out is None:
            out = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        out[start:start + m] = y
    return x32, out


def _make_teacher_task(cfg: TaskConfig) -> Task:
    layers = teacher_weights(cfg)
    ref = teacher_forward(layers, _teacher_inputs(cfg, 4096, _REF))
    mu, sd = ref.mean(0), ref.std(0) + 1e-12
    xs, ys = {}, {}
    for s, n, noise_stream in ((_POOL, cfg.pool_size, _NOISE_POOL), (_VAL, cfg.val_size, _NOISE_VAL),
                               (_TEST, cfg.test_size, None)):
        xs[s], y = _teacher_split(cfg, layers, mu, sd, n, s)
        rng = _rng(cfg.seed, noise_stream) if noise_stream is not None else None
        if cfg.name == "teacher-regression":
            if rng is not None and cfg.label_noise > 0:
                y = y + cfg.label_noise * rng.standard_normal(y.shape)
            ys[s] = torch.tensor(y, dtype=torch.float32)
        else:
            if rng is not None:
                y = _flip_labels(y, cfg.label_noise, cfg.n_classes, rng)
            ys[s] = torch.tensor(y, dtype=torch.int64)
    return Task(cfg, cfg.kind, xs[_POOL], ys[_POOL], xs[_VAL], ys[_VAL], xs[_TEST], ys[_TEST])


def _flip_labels(labels: np.ndarray, fraction: float, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Each label replaced, with probability ``fraction``, by a different class drawn uniformly.

    One (flip, shift) pair of uniforms per row, drawn row by row, so row i's noise does not depend on how many
    rows follow it: a pool's first n labels are the same in a larger pool, as its inputs are (nested
    training sets across pool sizes). Until session 14 all flips were drawn before all shifts, which tied
    every row's shift to the pool size (``RunConfig.key`` version 4)."""
    if fraction <= 0:
        return labels
    u = rng.random((len(labels), 2))  # row-major: row i takes the (2i)th and (2i+1)th draws
    flip = u[:, 0] < fraction
    shift = 1 + (u[:, 1] * (n_classes - 1)).astype(np.int64)  # 1..C-1: a flipped label is always another class
    return np.where(flip, (labels + shift) % n_classes, labels)


REAL_CLASSES = 10
"""Classes of the real benchmarks (MNIST-1D and digits)."""


def _split_real(cfg: TaskConfig, x: np.ndarray, y: np.ndarray) -> Task:
    """pool | val | test, in that order of rows; ``label_noise`` flips pool and validation labels (the
    test labels stay clean), as for teacher-classification."""
    p, v, t = cfg.pool_size, cfg.val_size, cfg.test_size
    y = np.asarray(y)
    y_pool = _flip_labels(y[:p], cfg.label_noise, REAL_CLASSES, _rng(cfg.seed, _NOISE_POOL))
    y_val = _flip_labels(y[p:p + v], cfg.label_noise, REAL_CLASSES, _rng(cfg.seed, _NOISE_VAL))
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    i64 = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return Task(cfg, "classification", f32(x[:p]), i64(y_pool), f32(x[p:p + v]), i64(y_val),
                f32(x[p + v:p + v + t]), i64(y[p + v:p + v + t]))


def _make_mnist1d(cfg: TaskConfig) -> Task:
    """MNIST-1D generated procedurally (never downloaded): one ``make_dataset`` call with
    ``num_samples`` = pool + val + test (rounded up to a multiple of 10), seed = task seed."""
    from mnist1d.data import get_dataset_args, make_dataset

    total = cfg.pool_size + cfg.val_size + cfg.test_size
    args = get_dataset_args()
    args.num_samples = int(-(-total // 10) * 10)
    args.train_split = 1.0
    args.seed = int(cfg.seed)
    # mnist1d seeds the global numpy RNG and Python's ``random`` (``mnist1d.utils.set_seed``): leave both as we
    # found them (before, only numpy's was restored, and ``random`` went on from ``random.seed(task seed)``)
    state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(state)
        random.setstate(py_state)
    return _split_real(cfg, data["x"], data["y"])


def _make_digits(cfg: TaskConfig) -> Task:
    """sklearn's 8x8 digits (1797 images, bundled with sklearn), pixels / 16, shuffled by seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = _rng(cfg.seed, _SHUFFLE).permutation(len(d.target))
    return _split_real(cfg, d.data[order] / 16.0, d.target[order])


_MAKERS = {
    "teacher-regression": _make_teacher_task,
    "teacher-classification": _make_teacher_task,
    "mnist1d": _make_mnist1d,
    "digits": _make_digits,
}

_CACHE: dict[TaskConfig, Task] = {}


@float32_default  # a caller's float64 default made float64 tasks the engine cannot train on
def make_task(cfg: TaskConfig) -> Task:
    """Generate the task defined by ``cfg`` (kept in-process, so a second call only copies it). Each call returns
    its own tensors: the caller may change them in place without changing the task the engine trains on next
    (it handed out the kept tensors, so ``make_task(cfg).y_test.mul_(0)`` made every later student of ``cfg``
    score against zeros, and cached those rows under the right key)."""
    cfg.validate()
    if cfg not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[cfg] = _MAKERS[cfg.name](cfg)
    kept = _CACHE[cfg]
    return dataclasses.replace(kept, **{f.name: getattr(kept, f.name).clone() for f in dataclasses.fields(kept)
                                        if isinstance(getattr(kept, f.name), torch.Tensor)})


def task_config(name: str, **overrides) -> TaskConfig:
    """A TaskConfig with the size defaults of task ``name``; ``overrides`` win."""
    if name not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    return TaskConfig(name=name, **{**TASK_SIZE_DEFAULTS[name], **overrides}).validate()


def task_in_dim(cfg: TaskConfig) -> int:
    """Input features of a task without generating it (MNIST-1D signals have length 40)."""
    return {"mnist1d": 40, "digits": 64}.get(cfg.name, cfg.input_dim)


def task_out_dim(cfg: TaskConfig) -> int:
    """Student output units of a task without generating it (what ``Task.out_dim`` gives once made)."""
    if cfg.kind == "regression":
        return int(cfg.n_outputs)
    return REAL_CLASSES if cfg.name in ("mnist1d", "digits") else int(cfg.n_classes)
