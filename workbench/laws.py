"""Registry of published scaling-law forms (pure functions; no fitting machinery here).

Each law is registered once with its inputs, its parameters (bounds, whether the optimiser works on
log(value), and a default grid of starting points), the objective its paper fitted it with, and a
vectorised function. Functions broadcast: inputs have shape ``(n,)``, parameters may have shape
``(S, 1)`` (one row per optimiser start), and the result has shape ``(S, n)``.

Formulas follow the papers cited in each entry; deviations from them are listed in the README
("Deviations from the papers").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.errors import InputError, real_values

GridSpec = Sequence[float] | Callable[[tuple[np.ndarray, ...], np.ndarray], Sequence[float]]


@dataclass(frozen=True)
class Param:
    """One parameter of a law.

    ``grid`` holds starting values in the space the optimiser works in: log(value) when ``log`` is
    true (Hoffmann's grid for A is over a = log A), the value itself otherwise. It may be a callable
    ``grid(xs, y)`` for starts that depend on the data's scale.
    """

    name: str
    lower: float
    upper: float
    grid: GridSpec
    log: bool = False
    doc: str = ""

    def start_values(self, xs: tuple[np.ndarray, ...], y: np.ndarray) -> np.ndarray:
        values = self.grid(xs, y) if callable(self.grid) else self.grid
        lo, hi = self.fit_bounds()
        return np.clip(np.asarray(values, dtype=float), lo, hi)

    def fit_bounds(self) -> tuple[float, float]:
        """Bounds in optimiser space."""
        if self.log:
            return (np.log(self.lower) if self.lower > 0 else -np.inf, np.log(self.upper))
        return (self.lower, self.upper)

    def to_natural(self, theta):
        return np.exp(theta) if self.log else theta

    def to_fit(self, value):
        return np.log(value) if self.log else value


@dataclass(frozen=True)
class Law:
    """A registered scaling-law form: ``fn(xs, **params) -> prediction``."""

    name: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    fn: Callable[..., np.ndarray]
    objective: str
    source: str
    doc: str
    defaults_fixed: Mapping[str, float] = field(default_factory=dict)
    # parameters the law's paper holds fixed rather than fits, with what it fixes them to (the fit verb
    # notes any of them left free: the value depends on the task, so the user must supply it)
    paper_fixes: Mapping[str, str] = field(default_factory=dict)
    # optional analytic gradient: grad(xs, **params) -> tuple of dŷ/dp (natural units), one per param
    grad: Callable[..., tuple] | None = None
    # how many distinct best starts ``fit_law`` polishes: more for forms with many nearby local optima
    polish_top: int = 3
    # the largest value y may take (coverage is a probability: at most 1); None for no bound
    y_max: float | None = None
    # groups of parameters the law is symmetric under exchanging (a broken power law's breaks), each group's
    # first name the key they are sorted by: the fit reports them in that order (break 1 the earliest), so which
    # one is "break 1" does not depend on which optimum's labelling the optimiser happened to reach
    exchangeable: tuple[tuple[str, ...], ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise InputError(
            f"law {self.name!r} has no parameter {name!r}; its parameters are {', '.join(self.param_names)}"
        )

    def as_inputs(self, x) -> tuple[np.ndarray, ...]:
        """Accept a tuple/list of 1-D arrays (one per input), an ``(n, k)`` / ``(n,)`` array, or a DataFrame
        (columns named after the inputs are taken by name, in any order; other names by position); a list of k
        lists of k numbers (rows or columns?) is refused. In a tuple/list of columns a scalar stands for that
        value at every point: ``(N, 1e10)`` is the sizes N, each with 1e10 tokens (at least one column must be
        an array: k scalars are one point, written ``([N], [D])``)."""
        k = len(self.inputs)
        if (isinstance(x, list) and k > 1 and len(x) == k
                and all(isinstance(v, (list, tuple)) and len(v) == k for v in x)):
            # [[N1, D1], [N2, D2]] is two rows as much as two columns: refuse rather than guess columns
            raise InputError(f"x for law {self.name!r} is a list of {k} lists of {k} numbers: rows or columns? "
                             f"pass a tuple of {k} columns ({', '.join(self.inputs)}) or an array of shape (n, {k})")
        if isinstance(x, pd.DataFrame):
            x = self._frame_inputs(x)
        if isinstance(x, (tuple, list)) and len(x) == k and any(np.ndim(v) >= 1 for v in x):
            xs = tuple(real_values(v, f"input {name!r} of law {self.name!r}").ravel() for name, v in zip(self.inputs, x))
            # a scalar column is broadcast to the arrays' length (numpy gave "inhomogeneous shape" for (N, 1e10))
            n = next(v.size for v, given in zip(xs, x) if np.ndim(given) >= 1)
            xs = tuple(np.full(n, v[0]) if np.ndim(given) == 0 else v for v, given in zip(xs, x))
        else:
            arr = real_values(x, f"x for law {self.name!r}")
            if arr.ndim == 1 and k == 1:
                xs = (arr,)
            elif arr.ndim == 2 and arr.shape[1] == k:
                xs = tuple(arr[:, j] for j in range(k))
            elif arr.ndim == 0:  # one point still needs a sequence: say how to wrap it
                example = f"[{x!r}]" if k == 1 else "(" + ", ".join(f"[{v}]" for v in self.inputs) + ")"
                raise InputError(f"law {self.name!r} takes {k} input(s) ({', '.join(self.inputs)}) as 1-D arrays; "
                                 f"got the scalar {x!r}: wrap one point in a list, e.g. {example}")
            else:
                raise InputError(
                    f"law {self.name!r} takes {k} input(s) ({', '.join(self.inputs)}); "
                    f"got an array of shape {arr.shape}"
                )
        if len({v.shape for v in xs}) != 1:
            raise InputError(f"inputs of law {self.name!r} must have equal lengths; got {[v.size for v in xs]}")
        return xs

    def _frame_inputs(self, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """A DataFrame's columns as the law's inputs: by name when its columns are named after the inputs
        (in any order), else by position; refused when a column named after one input stands at another's
        position (a DataFrame ``(D, N)`` used by position would swap N and D without a word). A sweep
        table's ``(params, n)`` for rosenfeld's ``(m, n)`` is read by position: ``n`` is where n goes."""
        names = [str(c) for c in frame.columns]
        if sorted(names) == sorted(self.inputs) and len(set(names)) == len(names):
            return tuple(real_values(frame[c], f"column {c!r}") for c in frame.columns[[names.index(n) for n in self.inputs]])
        if len(names) != len(self.inputs):
            raise InputError(f"law {self.name!r} takes {len(self.inputs)} input(s) ({', '.join(self.inputs)}); "
                             f"got a DataFrame with {len(names)} column(s): {', '.join(names)}")
        misplaced = [n for j, n in enumerate(names) if n in self.inputs and self.inputs.index(n) != j]
        if misplaced:
            raise InputError(f"x for law {self.name!r} is a DataFrame with columns {names}: "
                             f"{', '.join(misplaced)} named after an input but not in its place; pass the columns "
                             f"{', '.join(self.inputs)} by those names (any order), or in that order")
        return tuple(real_values(frame.iloc[:, j], f"column {names[j]!r}") for j in range(len(names)))

    def predict(self, x, params: Mapping[str, float]) -> np.ndarray:
        """Evaluate the law at ``x`` with natural-unit ``params`` (a dict name -> value, exactly the law's
        parameters; a value may be an array, e.g. ``(B, 1)`` bootstrap draws against ``n`` points)."""
        if not isinstance(params, (Mapping, pd.Series)):  # a FitResult was "argument of type 'FitResult' is not iterable"
            raise InputError(f"params of law {self.name!r} must be a mapping of its parameter names to values "
                             f"(a fit's .params); got a {type(params).__name__}")
        missing = [n for n in self.param_names if n not in params]
        if missing:
            raise InputError(f"law {self.name!r} needs parameter(s) {', '.join(missing)}; got {sorted(params)}")
        # a mistyped name ('alhpa' beside 'alpha') was ignored: the value the user meant never reached the law
        unknown = [n for n in params.keys() if n not in self.param_names]
        if unknown:
            raise InputError(f"law {self.name!r} has no parameter(s) {', '.join(map(repr, unknown))}; its parameters "
                             f"are {', '.join(self.param_names)}: pass exactly those")
        values = {}
        for n in self.param_names:
            try:
                values[n] = np.asarray(params[n], dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"parameter {n} of law {self.name!r} must be a number; got {params[n]!r}") from None
        xs = self.as_inputs(x)
        with np.errstate(all="ignore"):
            return np.asarray(self.fn(xs, **values))


LAWS: dict[str, Law] = {}


def register(law: Law) -> Law:
    if law.name in LAWS:
        raise ValueError(f"law {law.name!r} registered twice")
    LAWS[law.name] = law
    return law


def get_law(name: str | Law) -> Law:
    if isinstance(name, Law):
        return name
    if not isinstance(name, str):  # a list was "unhashable type: 'list'"
        raise InputError(f"law must be the name of a registered law (one of {', '.join(LAWS)}) or a Law; "
                         f"got {name!r}")
    try:
        return LAWS[name]
    except KeyError:
        raise InputError(f"unknown law {name!r}; expected one of {', '.join(LAWS)}") from None


# ----------------------------------------------------------------------------------------------
# data-scaled starting grids


def _y_fracs(*fracs: float):
    return lambda xs, y: [f * float(np.min(y)) for f in fracs]


def _y_max(*fracs: float):
    return lambda xs, y: [f * float(np.max(y)) for f in fracs]


def _log_y_max(*fracs: float):
    return lambda xs, y: [float(np.log(f * np.max(y))) for f in fracs]


def _log_spread(y: np.ndarray) -> float:
    """log of the data's range (its largest value when every y is equal): the scale of a law's term that
    varies with x. The old absolute guard, log(ptp(y) + 1e-12), put every start 10+ orders of magnitude
    above losses around 1e-20 (the fit ended on a bound, far from the planted parameters); it is kept for
    ranges >= 1e-6, where it moves the start by under 1e-6 in log, so that fits of such data are unchanged
    to the last bit (BNSL's optimum moves by up to 4e-5 relative with the start)."""
    spread = float(np.ptp(y))
    if spread >= 1e-6:
        return float(np.log(spread + 1e-12))
    return float(np.log(spread if spread > 0 else np.max(y)))


def _log_x_quantiles(*qs: float, col: int = 0):
    return lambda xs, y: [float(np.quantile(np.log(xs[col]), q)) for q in qs]


# ----------------------------------------------------------------------------------------------
# the forms


def _power(xs, a, b, c):
    (x,) = xs
    return a * x ** (-b) + c


def _power_grad(xs, a, b, c):
    (x,) = xs
    t = x ** (-b)
    return (t, -a * t * np.log(x), np.ones_like(t))


register(Law(
    name="power",
    inputs=("x",),
    params=(
        Param("a", 1e-300, 1e300, lambda xs, y: [_log_spread(y) + s for s in (0, 3, 6, 10, 15)],
              log=True, doc="scale"),
        Param("b", 0.0, 10.0, (0.1, 0.3, 0.6, 1.0), doc="exponent"),
        Param("c", 0.0, np.inf, _y_fracs(0.0, 0.5, 0.9), doc="irreducible floor"),
    ),
    fn=_power,
    grad=_power_grad,
    objective="lsq",
    source="classic saturating power law",
    doc="y = a·x^(−b) + c",
))


def _kaplan_scale_starts(col: int):
    """Starts for log N_c (col 0) or log D_c (col 1) from the data: one term alone gives L = (X_c/X)^α, so
    log X_c = log X + log(L)/α at the data's median X and L, for α = 0.05, 0.1, 0.3 (the exponents' starts).
    For losses of a few nats, as in Kaplan et al., these lie near fixed starts of 20 – 35; for losses of 1e-6
    (MSE of a small teacher–student task) near −260 to −30, which a start near 27 does not reach."""
    def starts(xs, y):
        log_x, log_y = float(np.median(np.log(xs[col]))), float(np.median(np.log(y)))
        return [log_x + log_y / a for a in (0.05, 0.1, 0.3)]
    return starts


def _kaplan(xs, Nc, Dc, alpha_N, alpha_D):
    N, D = xs
    u = (alpha_N / alpha_D) * (np.log(Nc) - np.log(N))
    v = np.log(Dc) - np.log(D)
    return np.exp(alpha_D * np.logaddexp(u, v))


register(Law(
    name="kaplan",
    inputs=("N", "D"),
    params=(
        Param("Nc", 1e-300, 1e300, _kaplan_scale_starts(0), log=True, doc="critical model size (parameters)"),
        Param("Dc", 1e-300, 1e300, _kaplan_scale_starts(1), log=True, doc="critical data size (tokens)"),
        Param("alpha_N", 1e-4, 5.0, (0.05, 0.1, 0.3), doc="model-size exponent"),
        Param("alpha_D", 1e-4, 5.0, (0.05, 0.1, 0.3), doc="data-size exponent"),
    ),
    fn=_kaplan,
    objective="lsq",
    source="Kaplan et al. 2020, eq. 1.5",
    doc="L(N,D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D",
))


def _chinchilla_terms(N, D, A, B, alpha, beta):
    # A/N^α and B/D^β written as exp(a − α·log N), exp(b − β·log D) as in Hoffmann's LSE form
    return np.exp(np.log(A) - alpha * np.log(N)), np.exp(np.log(B) - beta * np.log(D))


def _chinchilla(xs, E, A, B, alpha, beta):
    N, D = xs
    tn, td = _chinchilla_terms(N, D, A, B, alpha, beta)
    return E + tn + td


def _chinchilla_grad(xs, E, A, B, alpha, beta):
    N, D = xs
    tn, td = _chinchilla_terms(N, D, A, B, alpha, beta)
    return (np.ones_like(tn), tn / A, td / B, -tn * np.log(N), -td * np.log(D))


register(Law(
    name="chinchilla",
    inputs=("N", "D"),
    params=(
        Param("E", 1e-12, 1e12, (-1.0, -0.5, 0.0, 0.5, 1.0), log=True, doc="irreducible loss (e = log E)"),
        Param("A", 1e-12, 1e30, (0.0, 5.0, 10.0, 15.0, 20.0, 25.0), log=True, doc="model term (a = log A)"),
        Param("B", 1e-12, 1e30, (0.0, 5.0, 10.0, 15.0, 20.0, 25.0), log=True, doc="data term (b = log B)"),
        Param("alpha", 0.0, 10.0, (0.0, 0.5, 1.0, 1.5, 2.0), doc="model-size exponent"),
        Param("beta", 0.0, 10.0, (0.0, 0.5, 1.0, 1.5, 2.0), doc="data-size exponent"),
    ),
    fn=_chinchilla,
    grad=_chinchilla_grad,
    objective="huber",
    source="Hoffmann et al. 2022, Approach 3 (grid of 4,500 starts); Besiroglu et al. 2024",
    doc="L(N,D) = E + A/N^α + B/D^β",
))


def _rosenfeld_envelope(eps_tilde, eps0, eta):
    # ε0·|ε̃ / (ε̃ − iη)| with real ε̃ ≥ 0: the modulus is ε̃ / sqrt(ε̃² + η²)
    return eps0 * np.abs(eps_tilde) / np.sqrt(eps_tilde**2 + eta**2)


def _rosenfeld(xs, alpha, b, beta, c_inf, eta, eps0):
    m, n = xs
    eps_tilde = n ** (-alpha) + b * m ** (-beta) + c_inf  # a fixed to 1
    return _rosenfeld_envelope(eps_tilde, eps0, eta)


register(Law(
    name="rosenfeld",
    inputs=("m", "n"),
    params=(
        Param("alpha", 0.0, 5.0, (0.3, 0.7, 1.2), doc="data-size exponent"),
        Param("b", 1e-12, 1e12, (-3.0, 0.0, 3.0), log=True, doc="model-term scale (a is fixed to 1)"),
        Param("beta", 0.0, 5.0, (0.3, 0.7, 1.2), doc="model-size exponent"),
        Param("c_inf", 0.0, 100.0, (0.0, 1e-3, 1e-2), doc="irreducible term of ε̃"),
        Param("eta", 1e-12, 1e12, (-6.0, -4.0, -2.0, 0.0), log=True, doc="envelope transition"),
        Param("eps0", 1e-6, 1e6, _y_max(1.0, 1.3), doc="random-guess error (fixable, e.g. eps0=0.9)"),
    ),
    fn=_rosenfeld,
    objective="divergence",
    source="Rosenfeld et al., ICLR 2020, eqs. 5-6",
    doc="ε̃ = n^(−α) + b·m^(−β) + c∞;  ε̂ = ε0·|ε̃/(ε̃ − iη)|",
    paper_fixes={"eps0": "Rosenfeld et al. set ε0 to the error of a random guess (0.9 for top-1 error on 10 "
                         "balanced classes)"},
))


def _pruning_envelope(dens, eps_np, eps_up, p, gamma):
    # ε_np·|(d − j·p·(ε↑/ε_np)^(1/γ)) / (d − j·p)|^γ, moduli written out for real d, p
    q = p * (eps_up / eps_np) ** (1.0 / gamma)
    return eps_np * ((dens**2 + q**2) / (dens**2 + p**2)) ** (gamma / 2.0)


def _pruning(xs, eps_np, eps_up, p, gamma):
    (dens,) = xs
    return _pruning_envelope(dens, eps_np, eps_up, p, gamma)


register(Law(
    name="pruning",
    inputs=("density",),
    params=(
        Param("eps_np", 1e-9, 1e6, lambda xs, y: [float(np.log(np.min(y)))], log=True,
              doc="error of the unpruned network"),
        Param("eps_up", 1e-9, 1e6, _log_y_max(1.0, 2.0), log=True, doc="error at very low density (ε↑)"),
        Param("p", 1e-12, 1e6, (-7.0, -5.0, -3.0, -1.0), log=True, doc="density where error starts to rise"),
        Param("gamma", 1e-3, 50.0, (0.5, 1.0, 2.0, 4.0), doc="slope of the power-law region"),
    ),
    fn=_pruning,
    objective="divergence",
    source="Rosenfeld et al., ICML 2021, eq. 1",
    doc="ε̂(d) = ε_np·|(d − j·p·(ε↑/ε_np)^(1/γ)) / (d − j·p)|^γ",
))


def _pruning_joint(xs, eps_up, p, gamma, phi, psi):
    depth, width, dens, eps_np = xs
    m_star = depth**phi * width**psi * dens  # the invariant: equal m* => equal error
    return _pruning_envelope(m_star, eps_np, eps_up, p, gamma)


register(Law(
    name="pruning-joint",
    inputs=("depth", "width", "density", "eps_np"),
    params=(
        Param("eps_up", 1e-9, 1e6, _log_y_max(1.0, 2.0), log=True, doc="error at very low m* (ε↑)"),
        Param("p", 1e-12, 1e12, (-3.0, 0.0, 3.0, 6.0), log=True, doc="p′: m* where error starts to rise"),
        Param("gamma", 1e-3, 50.0, (1.0, 2.0, 4.0), doc="slope of the power-law region"),
        Param("phi", -5.0, 5.0, (0.0, 0.5, 1.0), doc="depth exponent of m*"),
        Param("psi", -5.0, 5.0, (0.5, 1.0, 2.0), doc="width exponent of m*"),
    ),
    fn=_pruning_joint,
    objective="divergence",
    source="Rosenfeld et al., ICML 2021, eq. 2 (ε_np measured per dense network)",
    doc="pruning law with d replaced by m* = l^φ·w^ψ·d; inputs include each network's dense error",
))


def _m4(xs, eps_inf, eps0, alpha, beta, c, max_iter: int = 60):
    """Solve (ε − ε∞)/(ε0 − ε)^α = β·x^c for ε ∈ (ε∞, ε0): vectorised safeguarded Newton.

    f(ε) = (ε − ε∞) − β·x^c·(ε0 − ε)^α is increasing on the interval, negative at ε∞ and, for α > 0,
    positive at ε0, so the root is unique. Each step shrinks the bracket [lo, hi] by the sign of f and
    takes the Newton step when it stays inside the bracket, else bisects; it stops when every step is
    below 1e-14 of the interval (a few steps where the fits live: about 3× faster than 40 bisections
    and 3 Newton steps, to ~1e-13 of the same root) or after ``max_iter`` steps, more halvings than
    the interval has significant bits. At α = 0 the form is M2, ε = ε∞ + β·x^c, which is not capped at ε0.
    """
    (x,) = xs
    rhs = beta * x**c
    lo, hi = np.broadcast_arrays(eps_inf + 0 * rhs, eps0 + 0 * rhs)
    lo, hi = lo.copy(), hi.copy()
    eps = 0.5 * (lo + hi)
    tol = 1e-14 * np.abs(hi - lo)
    settled = np.logical_or(np.equal(alpha, 0), np.logical_not(np.greater(eps0, eps_inf)))  # answered below without the root
    for _ in range(max_iter):
        gap = np.maximum(eps0 - eps, 1e-300)
        t = rhs * gap**alpha
        f = (eps - eps_inf) - t
        pos = f > 0
        hi = np.where(pos, eps, hi)
        lo = np.where(pos, lo, eps)
        newton = eps - f / (1.0 + alpha * t / gap)
        nxt = np.where((newton >= lo) & (newton <= hi), newton, 0.5 * (lo + hi))
        done = (np.abs(nxt - eps) <= tol) | settled
        eps = nxt
        if done.all():
            break
    eps = np.where(alpha == 0, eps_inf + rhs, eps)  # (ε0 − ε)^0 = 1 for every ε: M2, not capped at ε0
    return np.where(eps0 > eps_inf, eps, np.nan)


def _m4_grad(xs, eps_inf, eps0, alpha, beta, c):
    """Implicit-function derivatives dε/dθ = −F_θ / F_ε of F = (ε − ε∞) − β·x^c·(ε0 − ε)^α."""
    (x,) = xs
    eps = _m4(xs, eps_inf, eps0, alpha, beta, c)
    gap = np.maximum(eps0 - eps, 1e-300)
    t = beta * x**c * gap**alpha  # β·x^c·(ε0 − ε)^α
    f_eps = 1.0 + alpha * t / gap
    # at α = 0 past ε0 (M2 above the random guess) (ε0 − ε)^α has no derivative in α: 0 there
    d_alpha = np.where(eps0 - eps > 0, t * np.log(gap) / f_eps, 0.0)
    return (1.0 / f_eps, alpha * t / gap / f_eps, d_alpha, t / beta / f_eps, t * np.log(x) / f_eps)


# β and c of β·x^c, shared by M4 and M1
_ALABDULMOHSIN_SCALE_EXPONENT = (
    Param("beta", 1e-300, 1e300, (0.0, 3.0, 6.0, 9.0, 12.0), log=True, doc="scale"),
    Param("c", -10.0, 0.0, (-0.1, -0.3, -0.6), doc="exponent (negative)"),
)

register(Law(
    name="m4",
    inputs=("x",),
    params=(
        Param("eps_inf", 0.0, 1e6, _y_fracs(0.0, 0.5, 0.9), doc="irreducible loss ε∞"),
        Param("eps0", 1e-9, 1e6, _y_max(1.05, 2.0), doc="loss of a random guess ε0 (fixable)"),
        Param("alpha", 0.0, 10.0, (0.0, 0.5, 1.0), doc="curvature near ε0"),
        *_ALABDULMOHSIN_SCALE_EXPONENT,
    ),
    fn=_m4,
    grad=_m4_grad,
    objective="lsq",
    source="Alabdulmohsin, Neyshabur & Zhai, NeurIPS 2022, eq. 4",
    doc="(ε − ε∞)/(ε0 − ε)^α = β·x^c, solved for ε",
))


# M1 and M3 of the same paper, the estimators it compares M4 with (M2, ε∞ + β·x^c, is ``power``). Its
# reference code fits each by least squares on log loss, as the registry's "lsq" objective does.

def _m1(xs, beta, c):
    (x,) = xs
    return beta * x**c


def _m1_grad(xs, beta, c):
    (x,) = xs
    t = x**c
    return (t, beta * t * np.log(x))


register(Law(
    name="m1",
    inputs=("x",),
    params=(
        *_ALABDULMOHSIN_SCALE_EXPONENT,
    ),
    fn=_m1,
    grad=_m1_grad,
    objective="lsq",
    source="Alabdulmohsin, Neyshabur & Zhai, NeurIPS 2022, M1",
    doc="ε = β·x^c (a pure power law: no floor)",
))


def _m3(xs, beta, c, gamma):
    (x,) = xs
    return beta * (1.0 / x + gamma) ** c


def _m3_grad(xs, beta, c, gamma):
    (x,) = xs
    u = 1.0 / x + gamma
    t = u**c
    return (t, beta * t * np.log(u), beta * c * t / u)


register(Law(
    name="m3",
    inputs=("x",),
    params=(
        Param("beta", 1e-300, 1e300, (0.0, 3.0, 6.0, 9.0, 12.0, 16.0), log=True, doc="scale"),
        Param("c", 0.0, 10.0, (0.1, 0.3, 0.6, 1.0), doc="exponent (positive: u = 1/x + γ falls with x)"),
        # γ sets the limit β·γ^c as x → ∞; its scale is that of 1/x, so the starts are 1/x at the data's
        # largest and middle x and 1e-3 of the former (almost a pure power law)
        Param("gamma", 1e-300, 1e300, lambda xs, y: [float(-np.log(np.max(xs[0]))) + s for s in (-7.0, 0.0)]
              + [float(-np.log(np.median(xs[0])))], log=True, doc="γ: 1/x at which the curve bends to its limit"),
    ),
    fn=_m3,
    grad=_m3_grad,
    objective="lsq",
    source="Alabdulmohsin, Neyshabur & Zhai, NeurIPS 2022, M3",
    doc="ε = β·(1/x + γ)^c (limit β·γ^c as x → ∞)",
))


def _bnsl(xs, a, b, c0, **breaks):
    (x,) = xs
    logx = np.log(x)
    log_term = np.log(b) - c0 * logx
    for i in range(len(breaks) // 3):
        c, d, f = breaks[f"c{i + 1}"], breaks[f"d{i + 1}"], breaks[f"f{i + 1}"]
        # (1 + (x/d)^(1/f))^(−c·f) = exp(−c·f·softplus((log x − log d)/f))
        log_term = log_term - c * f * np.logaddexp(0.0, (logx - np.log(d)) / f)
    return a + np.exp(log_term)


def _register_bnsl(name: str, n_breaks: int) -> None:
    params = [
        Param("a", 0.0, 1e6, _y_fracs(0.0, 0.8), doc="limit as x → ∞"),
        Param("b", 1e-300, 1e300, lambda xs, y: [_log_spread(y) + s for s in (0, 4, 8)],
              log=True, doc="scale"),
        Param("c0", -2.0, 10.0, (0.0, 0.3), doc="initial slope"),
    ]
    quantiles = {1: (0.3, 0.7), 2: (0.35,), 3: (0.7,)}
    for i in range(1, n_breaks + 1):
        qs = quantiles[1] if n_breaks == 1 else quantiles[min(i + 1, 3)]
        params += [
            Param(f"c{i}", -10.0, 10.0, (0.2, 0.6), doc=f"change of slope at break {i}"),
            Param(f"d{i}", 1e-300, 1e300, _log_x_quantiles(*qs), log=True, doc=f"location of break {i}"),
            Param(f"f{i}", 1e-3, 100.0, (-1.0, 0.5), log=True, doc=f"sharpness of break {i}"),
        ]
    register(Law(
        name=name,
        inputs=("x",),
        params=tuple(params),
        fn=_bnsl,
        objective="lsq_log1p",
        source="Caballero et al., ICLR 2023, eq. 1",
        doc=f"broken neural scaling law with {n_breaks} break(s): "
            "y = a + b·x^(−c0)·Π_i (1 + (x/d_i)^(1/f_i))^(−c_i·f_i)",
        # a break's sharpness f and slope change c trade off along shallow valleys with several local optima
        # a few 1e-7 apart in the objective: with the best 3 polished, which one won depended on the rows'
        # order (float rounding in the batched LM) on one of the five NMT curves; the best 10 find the
        # same optimum for every order tried
        polish_top=10,
        exchangeable=tuple((f"d{i}", f"c{i}", f"f{i}") for i in range(1, n_breaks + 1)) if n_breaks > 1 else (),
    ))


_register_bnsl("bnsl", 1)
_register_bnsl("bnsl2", 2)


def _coverage(xs, a, b):
    (k,) = xs
    return np.exp(a * k**b)


register(Law(
    name="coverage",
    inputs=("k",),
    params=(
        Param("a", -100.0, 0.0, (-0.1, -1.0, -4.0), doc="log coverage at k = 1 (negative)"),
        Param("b", -10.0, 0.0, (-0.2, -0.5, -1.0), doc="exponent (negative)"),
    ),
    fn=_coverage,
    objective="lsq",
    source="Brown et al. 2024, 'Large Language Monkeys', eq. 2",
    doc="coverage(k) ≈ exp(a·k^b), b < 0",
    y_max=1.0,
))


def start_grid(law: Law, xs: tuple[np.ndarray, ...], y: np.ndarray, free: Sequence[str]) -> np.ndarray:
    """Cartesian product of the free parameters' starting values, shape ``(S, P)`` (optimiser space)."""
    axes = [law.param(name).start_values(xs, y) for name in free]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(free))
