"""Test-time compute for classifiers: sampling, a learned verifier, voting, sequential refinement,
difficulty bins and pass@k (Snell et al. 2024; Brown et al. 2024).

A classifier has no generation to sample, so a *sample* here is one stochastic forward pass: the
input is perturbed (gaussian noise, ``noise`` × each feature's pool std) and an answer is drawn from
the student's softmax at ``temperature``. Each sample therefore costs one forward pass, like one
LLM generation. Strategies, with the cost each counts per input (FLOPs):

- ``argmax``: one clean pass, the most likely class.                        cost = f
- ``vote``-k: majority vote over k samples (ties: larger summed probability). cost = k·f
- ``bon``-k: best-of-k weighted by a verifier: each sample's answer gets the verifier's score,
  scores of equal answers are summed, the top answer wins (Snell's "weighted best-of-N").
                                                                            cost = k·(f + v)
- ``refine``-t: a weight-tied refiner r(x, p) -> logits is applied t times to the student's own
  softmax output p_0 (p_{s+1} = softmax(r(x, p_s))).                       cost = f + t·r

Deviation, noted: Snell's sequential revisions re-run the same LLM; here the refiner is a separate
small network (its weights shared across steps) conditioned on the student's previous output.
The verifier is a small MLP scoring (input, one-hot candidate answer) -> P(answer is correct),
trained on the training pool with answers sampled from the family's students.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import InputError, canonical_numbers, is_finite, is_whole_number
from workbench.students import float32_default, one_torch_thread
from workbench.sweep_train import keeps_torch_rng

STRATEGIES = ("argmax", "vote", "bon", "refine")


@dataclass(frozen=True)
class TestTimeConfig:
    """How samples are drawn and how the verifier and refiner are built and trained."""

    __test__ = False  # not a pytest test class despite its name

    temperature: float = 1.0
    """Softmax temperature of sampled answers."""
    noise: float = 0.05
    """Input noise std of a sample, in units of each input feature's std over the pool."""
    max_k: int = 16
    """Samples drawn per input (best-of-k and vote use the first k; pass@k is estimated from all)."""
    ks: tuple[int, ...] = (2, 4, 8, 16)
    """Sample counts offered as settings for best-of-k and majority vote."""
    refine_steps: tuple[int, ...] = (1, 2, 4)
    """Refinement step counts offered as settings."""
    verifier_width: int = 32
    """Hidden units of the verifier MLP."""
    refiner_width: int = 32
    """Hidden units of the weight-tied refiner MLP."""
    train_steps: int = 800
    """Adam steps for the verifier and for the refiner."""
    train_inputs: int = 4096
    """Pool inputs the verifier and refiner are trained on."""
    seed: int = 0
    """Seed of the noise, the samples and the verifier/refiner init and batches."""

    def __post_init__(self):
        canonical_numbers(self)  # 1 -> 1.0 in a float field: same value, same cache key

    def validate(self) -> "TestTimeConfig":
        """Raise InputError naming the first bad field; return self."""
        for name in ("temperature", "noise"):  # inf noise drowned every sample; a string was a TypeError
            value = getattr(self, name)
            if not (is_finite(value) and (value > 0 if name == "temperature"
                                                                        else value >= 0)):
                raise InputError(f"{name} must be a finite number {'> 0' if name == 'temperature' else '>= 0'}; "
                                 f"got {value!r}")
        for name in ("verifier_width", "refiner_width", "train_steps", "train_inputs", "max_k"):
            if not is_whole_number(getattr(self, name)) or getattr(self, name) < 1:  # 2.5 or True passed
                raise InputError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if not is_whole_number(self.seed) or self.seed < 0:
            raise InputError(f"seed must be a whole number >= 0; got {self.seed!r}")
        for name in ("ks", "refine_steps"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not values or not all(is_whole_number(v) and v >= 1 for v in values) \
                    or len(set(values)) != len(values):  # () failed after training; (4, 4) named two settings alike
                raise InputError(f"{name} must be a non-empty tuple of distinct whole numbers >= 1; got {values!r}")
        if any(k > self.max_k for k in self.ks):
            raise InputError(f"ks must lie in [1, max_k={self.max_k}]; got {self.ks!r}")
        return self


LogitFn = Callable[[torch.Tensor], torch.Tensor]  # inputs (N, in) -> logits (N, C)


# ----------------------------------------------------------------------------------------------
# sampling


@torch.no_grad()
def sample_answers(logit_fn: LogitFn, x: torch.Tensor, k: int, feature_std: torch.Tensor,
                   cfg: TestTimeConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """k stochastic passes: answers (k, N) int64 and the sampled answers' probabilities (k, N)."""
    answers, probs = [], []
    for _ in range(k):
        eps = torch.randn(x.shape, generator=generator) * (cfg.noise * feature_std)  # (N, in)
        p = torch.softmax(logit_fn(x + eps) / cfg.temperature, dim=-1)  # (N, C)
        a = torch.multinomial(p, 1, generator=generator).squeeze(1)  # (N,)
        answers.append(a)
        probs.append(p.gather(1, a[:, None]).squeeze(1))
    return torch.stack(answers), torch.stack(probs)


def aggregate(answers: torch.Tensor, weights: torch.Tensor, n_classes: int,
              tiebreak: torch.Tensor | None = None) -> torch.Tensor:
    """Per input, the summed weight of each class over samples: (N, C). answers, weights (k, N)."""
    k, n = answers.shape
    totals = torch.zeros(n, n_classes, dtype=torch.float64)
    totals.scatter_add_(1, answers.T, weights.T.double())
    if tiebreak is not None:  # a weight far below one sample's, to break ties deterministically
        tb = torch.zeros(n, n_classes, dtype=torch.float64)
        tb.scatter_add_(1, answers.T, tiebreak.T.double())
        totals = totals + 1e-6 * tb / max(k, 1)
    return totals


def vote_outcome(answers: torch.Tensor, probs: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict:
    """Majority vote: correct, loss (−log of the smoothed vote share of y), confidence (N,)."""
    totals = aggregate(answers, torch.ones_like(probs), n_classes, tiebreak=probs)
    return _outcome(totals, y)


def bon_outcome(answers: torch.Tensor, scores: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict:
    """Verifier-weighted best-of-k: correct, loss, confidence (N,)."""
    totals = aggregate(answers, scores, n_classes)
    return _outcome(totals, y)


def _outcome(totals: torch.Tensor, y: torch.Tensor) -> dict:
    share = (totals + 1e-3) / (totals + 1e-3).sum(1, keepdim=True)  # (N, C), smoothed
    return {"correct": (totals.argmax(1) == y).numpy(), "loss": (-share.gather(1, y[:, None]).log()).squeeze(1).float().numpy(),
            "conf": share.max(1).values.float().numpy()}


def argmax_outcome(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """One clean pass: correct, cross-entropy loss, max softmax probability (N,)."""
    p = torch.softmax(logits, -1)
    return {"correct": (logits.argmax(1) == y).numpy(), "loss": F.cross_entropy(logits, y, reduction="none").numpy(),
            "conf": p.max(1).values.numpy()}


# ----------------------------------------------------------------------------------------------
# verifier and refiner


class Verifier(torch.nn.Module):
    """Scores a candidate answer a for input x: sigmoid(MLP([x, one_hot(a)])) = P(a is correct)."""

    def __init__(self, in_dim: int, n_classes: int, width: int):
        super().__init__()
        self.n_classes = n_classes
        self.net = torch.nn.Sequential(torch.nn.Linear(in_dim + n_classes, width), torch.nn.ReLU(),
                                       torch.nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Logit of 'a is correct', (N,). x (N, in); a (N,) int64."""
        return self.net(torch.cat([x, F.one_hot(a, self.n_classes).float()], 1)).squeeze(1)

    def flops(self) -> int:
        """Inference FLOPs per scored candidate (2 × MACs)."""
        return 2 * sum(m.weight.numel() for m in self.net if isinstance(m, torch.nn.Linear))

    @torch.no_grad()
    def score(self, x: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        """Scores (k, N) in (0, 1) of answers (k, N) for inputs x (N, in)."""
        return torch.stack([torch.sigmoid(self(x, a)) for a in answers])


class Refiner(torch.nn.Module):
    """Weight-tied refinement step: logits_{s+1} = MLP([x, p_s]); p_0 is the student's softmax."""

    def __init__(self, in_dim: int, n_classes: int, width: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(in_dim + n_classes, width), torch.nn.ReLU(),
                                       torch.nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor, p0: torch.Tensor, steps: int) -> list[torch.Tensor]:
        """Logits after each of ``steps`` refinements, a list of (N, C)."""
        p, out = p0, []
        for _ in range(steps):
            logits = self.net(torch.cat([x, p], 1))
            out.append(logits)
            p = torch.softmax(logits, -1)
        return out

    def flops(self) -> int:
        """Inference FLOPs of one refinement step (2 × MACs)."""
        return 2 * sum(m.weight.numel() for m in self.net if isinstance(m, torch.nn.Linear))


def _adam_loop(module: torch.nn.Module, loss_fn: Callable[[torch.Tensor], torch.Tensor], n: int,
               steps: int, gen: torch.Generator, batch: int = 256, lr: float = 3e-3) -> None:
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(n, (batch,), generator=gen)
        loss = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@keeps_torch_rng  # seeds torch's global generator for its layers' init: the caller's is put back
@float32_default
@one_torch_thread  # its numbers are cached: the same on any thread count
def train_verifier(students: list[LogitFn], x: torch.Tensor, y: torch.Tensor, n_classes: int,
                   feature_std: torch.Tensor, cfg: TestTimeConfig) -> Verifier:
    """Fit the verifier (BCE) on answers sampled from every student on the pool inputs x."""
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + 17)
    torch.manual_seed(cfg.seed * 1000 + 17)  # init of the nn.Linear layers
    verifier = Verifier(x.shape[1], n_classes, cfg.verifier_width)
    xs, ans = [], []
    for f in students:  # 2 samples per student and input: (2 * S * N,) candidates
        a, _ = sample_answers(f, x, 2, feature_std, cfg, gen)
        xs.append(x.repeat(2, 1))
        ans.append(a.reshape(-1))
    xs, ans = torch.cat(xs), torch.cat(ans)
    label = (ans == y.repeat(2 * len(students))).float()
    _adam_loop(verifier, lambda i: F.binary_cross_entropy_with_logits(verifier(xs[i], ans[i]), label[i]),
               len(xs), cfg.train_steps, gen)
    return verifier.eval()


@keeps_torch_rng  # seeds torch's global generator for its layers' init: the caller's is put back
@float32_default
@one_torch_thread  # its numbers are cached: the same on any thread count
def train_refiner(students: list[LogitFn], x: torch.Tensor, y: torch.Tensor, n_classes: int,
                  cfg: TestTimeConfig) -> Refiner:
    """Fit the refiner with deep supervision: mean over steps of the cross-entropy of each step."""
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + 29)
    torch.manual_seed(cfg.seed * 1000 + 29)
    refiner = Refiner(x.shape[1], n_classes, cfg.refiner_width)
    with torch.no_grad():
        p0 = torch.cat([torch.softmax(f(x), -1) for f in students])  # (S * N, C)
    xs, ys = x.repeat(len(students), 1), y.repeat(len(students))
    steps = max(cfg.refine_steps)

    def loss(i):
        return sum(F.cross_entropy(lg, ys[i]) for lg in refiner(xs[i], p0[i], steps)) / steps

    _adam_loop(refiner, loss, len(xs), cfg.train_steps, gen)
    return refiner.eval()


# ----------------------------------------------------------------------------------------------
# difficulty and pass@k


def pass_at_k(n: int, c: np.ndarray, k: int) -> np.ndarray:
    """Unbiased pass@k from c correct out of n samples (Chen et al. 2021): 1 − C(n−c, k)/C(n, k). n and k are whole
    numbers (8.0 is 8); c an array of whole numbers in [0, n]."""
    for name, value in (("n", n), ("k", k)):  # 8.0 was math.comb's TypeError, True was taken as 1
        if not is_whole_number(value):
            raise InputError(f"{name} must be a whole number of samples; got {value!r}")
    n, k = int(n), int(k)
    if not 1 <= k <= n:
        raise InputError(f"k must be in [1, n={n}]; got {k!r}")
    if np.asarray(c).dtype.kind not in "biuf":  # ['1', '2'] was read as numbers
        raise InputError(f"c (correct samples) must be numbers; got {np.asarray(c).dtype} values")
    raw = np.asarray(c, dtype=float)
    bad = ~((raw >= 0) & (raw <= n) & (raw == np.round(raw)))  # NaN fails every comparison
    if bad.any():
        raise InputError(f"c (correct samples) must hold whole numbers in [0, n={n}]; "
                         f"got {raw.ravel()[np.flatnonzero(bad.ravel())[0]]:g}")
    c = raw.astype(int)
    return np.array([1.0 - (math.comb(n - ci, k) / math.comb(n, k)) for ci in c.ravel()]).reshape(c.shape)


def bin_edges(score: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """Inner quantile edges (n_bins − 1,) of a difficulty score (higher = easier)."""
    if not is_whole_number(n_bins) or n_bins < 1:  # 2.5 was numpy's TypeError, True one bin
        raise InputError(f"n_bins must be a whole number >= 1; got {n_bins!r}")
    n_bins = int(n_bins)
    score = np.asarray(score, float)
    if score.size == 0 or not np.isfinite(score).all():
        raise InputError(f"score must be a non-empty array of finite numbers; got {score.size} value(s), "
                         f"{int((~np.isfinite(score)).sum())} of them NaN/inf")
    return np.quantile(score, np.linspace(0, 1, n_bins + 1)[1:-1])


def difficulty_bins(score: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each input, 0 = easiest (highest score) ... len(edges) = hardest (Snell's levels 1..5).
    Scores with many ties (pass rates) should carry a tiny tiebreak, e.g. + 1e-6 × a confidence.
    A NaN score has no bin (InputError)."""
    s = np.asarray(score, float)
    if np.isnan(s).any():  # searchsorted puts NaN past every edge: bin 0, the easiest
        raise InputError(f"score must hold no NaN; got {int(np.isnan(s).sum())} NaN of {s.size} value(s) "
                         f"(first at position {int(np.argmax(np.isnan(s).ravel()))})")
    e = np.asarray(edges, float)
    if e.ndim != 1 or np.isnan(e).any() or np.any(np.diff(e) < 0):
        raise InputError(f"edges must be a 1-D ascending array without NaN (as from bin_edges); got {e.tolist()!r}")
    return len(edges) - np.searchsorted(edges, s, side="right")
