"""Teacher-student analysis: the Rosenfeld joint law on a sweep table, and the four error sources.

Rosenfeld et al. (ICLR 2020) model the test error of a family of networks as one function of model
size m and data size n, ε̂(m, n) = ε0·|ε̃/(ε̃ − iη)| with ε̃ = n^(−α) + b·m^(−β) + c∞ (law
``"rosenfeld"`` in :mod:`workbench.laws`), fitted by least squares on the relative divergence
δ = (ε̂ − ε)/ε. Rosenfeld's thesis splits the error into four sources, each measured here on its own
slice of a teacher-student sweep (Sharma & Kaplan 2020 setup, :mod:`workbench.tasks`):

- **noise**: label noise of std σ on standardised targets puts a Bayes floor σ² under the MSE
  against *noisy* labels. ``tasks.py`` keeps the test set clean and adds noise to the training pool
  and the validation split, so the noisy held-out error is ``val_loss`` (never used for training, and not for
  model selection when early stopping is off). The joint law's limit m, n → ∞ is the fitted floor.
- **realizability**: a student narrower than the teacher cannot represent it; its error against
  n levels off at an approximation floor that a wide enough student does not have.
- **uncertainty** (finite data): the n^(−α) term, seen at the largest width.
- **learning deficiency** (finite optimisation): the error that more Adam steps still remove.

Sharma & Kaplan predict the model-size exponent of the loss ≈ 4/d for inputs on a d-dimensional
manifold; :func:`exponents_by_dim` fits the ``"power"`` law to loss against parameters at the
largest data size, one intrinsic dimension at a time.

Every function takes the tidy table of :func:`workbench.sweep.run_sweep` (one row per student) and
returns a new frame or an immutable fit; none mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.backtest import Backtest, backtest
from workbench.data import cache_dir
from workbench.errors import InputError, check_flag, is_real_number, is_whole_number, no_missing
from workbench.fit import FitResult, fit_frame, fit_law, warm_start
from workbench.laws import get_law
from workbench.seed_interval import jackknife_t, units_table
from workbench.sweep import SweepConfig, check_one_config, run_grids
from workbench.tasks import REAL_CLASSES, task_config

# random-guess MSE of the standardised teacher outputs (predicting the mean): Rosenfeld's ε0
CLEAN_EPS0 = 1.0
TEACHER_TASKS = ("teacher-regression", "teacher-classification")


def error_column(task: str) -> str:
    """The measured error of a teacher task's sweep: ``test_loss`` (MSE) for regression,
    ``test_error`` (0/1, Rosenfeld et al.'s top-1 error) for classification."""
    if task not in TEACHER_TASKS:
        raise InputError(f"task must be one of {', '.join(TEACHER_TASKS)}; got {task!r}")
    return "test_loss" if task == "teacher-regression" else "test_error"


def random_guess_error(task: str, n_classes: int = 10) -> float:
    """Rosenfeld's ε0, the error of a model that learned nothing: the MSE of predicting the mean of
    the standardised outputs (1) for regression, 1 − 1/C for a uniform guess among C classes."""
    error_column(task)  # validates the name
    if task == "teacher-regression":
        return CLEAN_EPS0
    if n_classes < 2:
        raise InputError(f"n_classes must be >= 2; got {n_classes!r}")
    return 1.0 - 1.0 / n_classes


def default_cache_dir() -> Path:
    """The shared run cache (``workbench.data.cache_dir``)."""
    return cache_dir()


def teacher_sweep(*, intrinsic_dim: int = 8, widths: Sequence[int] = (16, 32, 64, 128, 256),
                  sizes: Sequence[int] = (256, 512, 1024, 2048, 4096, 8192, 16384),
                  seeds: Sequence[int] = (0, 1, 2, 3), steps: int = 2000, lr: float = 3e-3,
                  batch_size: int = 256, depth: int = 1, label_noise: float = 0.0,
                  teacher_width: int = 64, teacher_depth: int = 2, val_size: int = 1024,
                  early_stopping: bool = True, task_seed: int = 0, pool_size: int | None = None,
                  lr_schedule: str = "constant", task: str = "teacher-regression") -> SweepConfig:
    """The teacher-student sweep the notebook uses: MLP students of ``depth`` hidden layers on
    ``task`` (``teacher-regression`` or ``teacher-classification``, see :func:`error_column`).

    Early stopping (best clean-validation checkpoint every 100 steps) takes the noise of Adam's last
    iterate out of the measured error; turn it off whenever ``val_loss`` is the measurement (noise),
    and use ``lr_schedule="wsd"`` there instead: its final linear decay removes most of that noise
    without selecting on the measurement. The pool (default) is just large enough for the largest
    size. ``lr_schedule``: ``constant``, ``cosine`` or ``wsd`` (``sweep_train.lr_factor``).
    """
    if label_noise > 0 and early_stopping:
        raise InputError("early_stopping must be False when label_noise > 0: the noisy validation "
                         "split is then the measurement of the noise floor, not a selection set; "
                         f"got label_noise={label_noise!r} with early_stopping=True")
    error_column(task)  # validates the name
    for name, value in (("intrinsic_dim", intrinsic_dim), ("teacher_width", teacher_width),
                        ("teacher_depth", teacher_depth), ("val_size", val_size), ("task_seed", task_seed),
                        ("steps", steps), ("batch_size", batch_size), ("depth", depth)):
        if not is_whole_number(value):  # int() truncated 2.9 to 2 unsaid
            raise InputError(f"{name} must be a whole number; got {value!r}")
    for name, values in (("widths", widths), ("sizes", sizes), ("seeds", seeds)):
        if isinstance(values, (str, bytes)) or not all(is_whole_number(v) for v in values):  # 8.7 trained width 8
            raise InputError(f"{name} must be a list of whole numbers; got {values!r}")
    if pool_size is not None and not is_whole_number(pool_size):
        raise InputError(f"pool_size must be a whole number or None; got {pool_size!r}")
    if not is_real_number(lr):  # '0.1' was read as 0.1
        raise InputError(f"lr must be a number; got {lr!r}")
    task = task_config(task, intrinsic_dim=int(intrinsic_dim), label_noise=float(label_noise),
                       teacher_width=int(teacher_width), teacher_depth=int(teacher_depth),
                       pool_size=int(pool_size or max(sizes)), val_size=int(val_size), seed=int(task_seed))
    return SweepConfig(task=task, widths=tuple(int(w) for w in widths), depths=(int(depth),),
                       sizes=tuple(int(n) for n in sizes), seeds=tuple(int(s) for s in seeds),
                       steps=int(steps), batch_size=int(batch_size), lr=float(lr),
                       early_stopping=bool(early_stopping), lr_schedule=str(lr_schedule)).validate()


def step_schedule(sizes: Sequence[int], steps_small: int, steps_large: int, round_to: int = 100) -> dict[int, int]:
    """Adam steps per training size, log-linear in n from ``steps_small`` (smallest n) to ``steps_large``.

    Small sets converge in fewer steps than large ones; one fixed budget leaves the large-n corner
    optimisation-limited (learning deficiency), and two budgets put a kink in the error surface. A
    smooth schedule is the middle way (a fixed number of epochs would scale steps ∝ n; this grows
    slower, as n^(log(steps_large/steps_small)/log(n_max/n_min))).
    """
    sizes = list(sizes)
    if not sizes or any(not is_whole_number(n) or n < 1 for n in sizes):  # [] was an IndexError, -1 a NaN log
        raise InputError(f"sizes must be a non-empty list of whole numbers >= 1 (training-set sizes); got {sizes!r}")
    sizes = sorted(int(n) for n in sizes)
    for name, value in (("steps_small", steps_small), ("steps_large", steps_large), ("round_to", round_to)):
        if not is_whole_number(value) or value < 1:  # round_to=0 divided by zero
            raise InputError(f"{name} must be a whole number >= 1; got {value!r}")
    lo, hi = np.log(sizes[0]), np.log(sizes[-1])
    out = {}
    for n in sizes:
        frac = 0.0 if hi == lo else (np.log(n) - lo) / (hi - lo)
        out[n] = int(max(round_to, round(steps_small * (steps_large / steps_small) ** frac / round_to) * round_to))
    return out


def steps_by_dim(dims: Sequence[int], steps: int, overrides: Mapping | None = None) -> dict[int, int]:
    """Adam steps per intrinsic dimension d: ``steps`` for every d in ``dims`` except those that
    ``overrides`` (d -> steps) names; keys may be strings, as a dict parameter arrives from JSON, and a
    key that is not in ``dims`` is ignored (so narrowing ``dims`` needs no change here).

    Small d needs the longer budgets: the loss a student must reach falls with d (the widest students of
    the exponent sweep reach 1e-4 – 2e-3 at d = 2, about 1e-2 at d = 8), and a fixed budget leaves the
    widest ones furthest from converged, which flattens the fitted exponent (learning deficiency).
    """
    if not is_whole_number(steps):  # int() truncated 2500.7 to 2500 unsaid
        raise InputError(f"steps must be a whole number of Adam steps; got {steps!r}")
    out = {int(d): int(steps) for d in dims}
    for key, value in _whole_mapping(overrides or {}, "step overrides", "an intrinsic dimension").items():
        if key in out:
            out[key] = value
    bad = {d: s for d, s in out.items() if s < 1}
    if bad:
        raise InputError(f"steps must be >= 1 for every intrinsic dimension; got {bad}")
    return out


def _whole_mapping(mapping: Mapping, name: str, key_is: str) -> dict[int, int]:
    """``mapping`` with whole-number keys and values as ints; keys may be strings, as a dict parameter arrives from
    JSON. Anything else (2500.7 steps, a key 'd2') is an InputError naming ``name``: int() truncated fractions."""
    if not isinstance(mapping, Mapping):
        raise InputError(f"{name} must map {key_is} to a step count; got {mapping!r}")

    def whole(v):
        v = v.strip() if isinstance(v, str) else v
        return int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v

    out = {}
    for key, value in mapping.items():
        k, v = whole(key), whole(value)
        if not is_whole_number(k) or not is_whole_number(v):
            raise InputError(f"{name} must map {key_is} to a whole number of steps; got "
                             f"{key!r}: {value!r}")
        out[int(k)] = int(v)
    return out


def teacher_sweeps(*, sizes: Sequence[int] = (256, 512, 1024, 2048, 4096, 8192, 16384),
                   steps: int | Mapping[int, int] = 4000, lr_schedule: str = "constant",
                   pool_size: int | None = None, **kw) -> list[SweepConfig]:
    """:func:`teacher_sweep` with a step budget per training size (``steps``: one int, or n -> steps,
    e.g. from :func:`step_schedule`): one config per distinct budget, all on one task (pool size =
    ``pool_size``, default the largest size), so their rows are comparable."""
    if isinstance(sizes, (str, bytes)) or not all(is_whole_number(n) for n in sizes):  # 256.7 trained n = 256
        raise InputError(f"sizes must be a list of whole numbers; got {sizes!r}")
    sizes = sorted(int(n) for n in sizes)
    if isinstance(steps, Mapping):
        given = _whole_mapping(steps, "steps", "each training size")
        missing = [n for n in sizes if n not in given]
        if missing:
            raise InputError(f"steps must give a budget for every size; got none for {missing}")
        budget = {n: given[n] for n in sizes}
    elif is_whole_number(steps):  # 100.0 was "argument of type 'float' is not iterable"
        budget = {n: int(steps) for n in sizes}
    else:
        raise InputError(f"steps must be a whole number or a mapping of training size to steps; got {steps!r}")
    out = []
    for b in sorted(set(budget.values())):
        out.append(teacher_sweep(sizes=[n for n in sizes if budget[n] == b], steps=b,
                                 pool_size=pool_size or max(sizes), lr_schedule=lr_schedule, **kw))
    return out


def run_sweeps(cfgs: Sequence[SweepConfig], cache_dir: str | Path | None = None,
               progress: bool | Callable = True, workers: int = 1) -> pd.DataFrame:
    """:func:`workbench.sweep.run_sweep` on each config (cached under ``cache_dir``), one table; ``progress`` as
    there (a bool, or a bar factory such as ``workbench.report.progress``); ``workers``: processes training
    the configs' stacks at once (0: one per CPU core; :func:`workbench.sweep.run_grids`)."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return pd.concat(run_grids(list(cfgs), cache_dir=cache_dir, progress=progress, workers=workers), ignore_index=True)


def _need(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"the table must have column(s) {', '.join(missing)}; "
                         f"it has {', '.join(map(str, df.columns))}")


_no_missing = no_missing  # the rule lives in workbench.errors (variance_limited uses it too)


def seed_mean(df: pd.DataFrame, y_cols: Sequence[str] = ("test_loss",),
              by: Sequence[str] = ("width", "params", "n"), over: Sequence[str] = ("seed",)) -> pd.DataFrame:
    """Average each ``y_col`` over seeds: one row per ``by`` group with ``Y``, ``Y_sd`` and ``seeds`` (rows
    averaged).

    ``over``: the configuration columns the average may run over (e.g. ``("seed", "task_seed")`` for several
    teachers); a group whose students differ in any other (steps, lr, task settings, a pruning round:
    ``sweep.CONFIG_COLUMNS``) is an InputError naming the column (two step budgets were averaged and their gap
    reported as seed spread). A NaN in a ``by`` or ``y_col`` column is an InputError (it would be skipped, not
    counted). The ``task`` and ``task_*`` columns that are one value across the whole table are kept (after the
    averages), so a fit of the averaged table still knows its task (:func:`default_eps0`)."""
    # one column name, not its letters ('width' was the columns w, i, d, t, h)
    by = [by] if isinstance(by, str) else list(by)
    over = [over] if isinstance(over, str) else list(over)
    y_cols = [y_cols] if isinstance(y_cols, str) else list(y_cols)
    _need(df, by + y_cols)
    _no_missing(df, by + y_cols)
    check_one_config(df, by, over, "seed_mean")
    grouped = df.groupby(by, sort=True)
    out = grouped[y_cols].mean()
    for y in y_cols:
        out[f"{y}_sd"] = grouped[y].std(ddof=1)
    out["seeds"] = grouped.size()
    out = out.reset_index()
    for col in df.columns:  # the task, where the table has one
        if (col == "task" or str(col).startswith("task_")) and col not in out.columns and len(df) \
                and df[col].nunique(dropna=False) == 1:
            out[col] = df[col].iloc[0]
    return out


# ----------------------------------------------------------------------------------------------
# the joint law


AUTO = "auto"
"""``eps0``'s default (:func:`default_eps0`)."""

CLASSIFICATION_TASKS = ("teacher-classification", "mnist1d", "digits")


def default_eps0(table: pd.DataFrame, y_col: str) -> float:
    """ε0 for a table when none is given. For a 0/1 error column (``*_error``) of a classification task (the
    table's one ``task``), the error of a uniform guess, 1 − 1/C, with C its ``task_n_classes`` (10 for MNIST-1D
    and digits). For any other column, :data:`CLEAN_EPS0` = 1.0, as before: the random-guess MSE of the
    standardised teacher-regression outputs (for a cross-entropy loss, whose random guess is ln C, pass eps0).
    Until session 25 a 0/1 error was fitted with ε0 = 1.0 too, which it never reaches: on a planted law with
    ε0 = 0.9 the fit put the floor at 0 (true 0.06) and its extrapolation missed by 17% while its in-sample fit
    looked good. A 0/1 error whose table names no single classification task is refused."""
    if not str(y_col).endswith("_error"):
        return CLEAN_EPS0
    task = table["task"].iloc[0] if "task" in table.columns and len(table) and table["task"].nunique() == 1 else None
    if task in ("mnist1d", "digits"):
        return 1.0 - 1.0 / REAL_CLASSES
    classes = table["task_n_classes"] if "task_n_classes" in table.columns else pd.Series(dtype=float)
    if task == "teacher-classification" and classes.nunique() == 1 and is_whole_number(classes.iloc[0]) \
            and classes.iloc[0] >= 2:
        return 1.0 - 1.0 / int(classes.iloc[0])
    raise InputError(f"eps0: y_col={y_col!r} is a 0/1 error, whose random-guess value 1 - 1/C needs the task and its "
                     f"class count C, and the table names no single classification task ({', '.join(CLASSIFICATION_TASKS)}) "
                     "with one task_n_classes; pass eps0 (e.g. 0.9 for 10 classes) or None to fit it")


def _eps0_fix(eps0, fit_kw: dict, table: pd.DataFrame, y_col: str) -> dict:
    """``fit_kw``'s ``fix`` (popped) with ε0 added, unless ``eps0`` is None (ε0 free); ``"auto"``:
    :func:`default_eps0`."""
    fix = dict(fit_kw.pop("fix", None) or {})
    if isinstance(eps0, str) and eps0 == AUTO:
        eps0 = default_eps0(table, y_col) if "eps0" not in fix else None  # a fix={"eps0": ...} given wins
    if eps0 is not None:
        if not is_real_number(eps0):  # 'x' was a bare ValueError from float(), '0.9' was read as 0.9
            raise InputError(f"eps0 must be a number (the random-guess error, e.g. 0.9), 'auto' (that of y_col) or None "
                             f"to fit it; got {eps0!r}")
        fix["eps0"] = float(eps0)
    return fix


def fit_joint(table: pd.DataFrame, y_col: str = "test_loss", m_col: str = "params", n_col: str = "n",
              eps0: float | str | None = AUTO, **fit_kw) -> FitResult:
    """Fit Rosenfeld's joint law ε̂(m, n) to a (seed-averaged) table. ε0 is fixed, as Rosenfeld et al. fix it, to
    ``eps0``: by default (:func:`default_eps0`) 1 − 1/C for a classification task's 0/1 error, else 1.0 (the
    random-guess MSE of the standardised teacher-regression outputs); ``eps0=None`` leaves it free."""
    fix = _eps0_fix(eps0, fit_kw, table, y_col)
    return fit_frame("rosenfeld", table, [m_col, n_col], y_col, fix=fix, **fit_kw)


def joint_floor(fit: FitResult) -> float:
    """The law's error as m, n → ∞: ε0·c∞/√(c∞² + η²)."""
    if fit.law != "rosenfeld":
        raise InputError(f"joint_floor needs a fit of the 'rosenfeld' law; got {fit.law!r}")
    p = fit.params
    return float(p["eps0"] * p["c_inf"] / np.hypot(p["c_inf"], p["eta"]))


def extrapolation_masks(table: pd.DataFrame, fit_max_m: float, fit_max_n: float, factor: float = 4.0,
                        m_col: str = "params", n_col: str = "n",
                        scale_col: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fit, target) row masks: fit on m ≤ fit_max_m and n ≤ fit_max_n; target the points at least
    ``factor`` times larger in *both*, up to 1% (Rosenfeld et al. 2020: small-scale fit, large-scale check).
    ``scale_col`` (e.g. ``"width"``): the model is ``factor`` times larger in that column instead, exactly, than
    the largest value of it in the fit region. A width 4× larger has a little less than 4× the parameters, the
    output layer's biases not scaling: 1.5% less for a 10-class student of width 16, beyond the 1% slack, so a
    region set by width lost its width-64 targets unsaid."""
    _need(table, [m_col, n_col] + ([scale_col] if scale_col is not None else []))
    for name, value in (("fit_max_m", fit_max_m), ("fit_max_n", fit_max_n)):  # '4' was a bare TypeError
        if not is_real_number(value) or np.isnan(value):
            raise InputError(f"{name} must be a number (the largest {name[-1]} fitted on); got {value!r}")
    if not (is_real_number(factor) and factor >= 1):  # '4' was a bare TypeError from the comparison
        raise InputError(f"factor must be a number >= 1; got {factor!r}")
    m, n = table[m_col].to_numpy(float), table[n_col].to_numpy(float)
    fit = (m <= fit_max_m) & (n <= fit_max_n)
    if scale_col is None:  # 1% slack: a width 4x larger has 4x the parameters minus the output bias (22w + 1 for w -> 4w)
        bigger = m >= 0.99 * factor * fit_max_m
    else:
        scale = table[scale_col].to_numpy(float)
        bigger = scale >= factor * scale[fit].max() if fit.any() else np.zeros(len(table), bool)
    target = bigger & (n >= 0.99 * factor * fit_max_n)
    return fit, target


@dataclass(frozen=True)
class Extrapolation:
    """A small-scale fit scored on the large-scale targets."""

    backtest: Backtest
    fit_max_m: float
    fit_max_n: float
    factor: float
    targets: pd.DataFrame  # the target rows with ``predicted`` and ``divergence`` columns

    @property
    def fit(self) -> FitResult:
        return self.backtest.fit


def extrapolate(table: pd.DataFrame, fit_max_m: float, fit_max_n: float, factor: float = 4.0,
                y_col: str = "test_loss", m_col: str = "params", n_col: str = "n",
                eps0: float | str | None = AUTO, scale_col: str | None = None, **fit_kw) -> Extrapolation:
    """Fit the joint law on the small-scale corner, predict the points ``factor``× larger in m and n
    (in ``scale_col`` and n with ``scale_col``: :func:`extrapolation_masks`). ``eps0``: as for :func:`fit_joint`.

    With ``bootstrap=B`` (passed to the fit), the targets also get the 95% band of the B refits'
    predictions (``predicted_low``, ``predicted_high``) and whether the measurement lies inside it."""
    fit_mask, target_mask = extrapolation_masks(table, fit_max_m, fit_max_n, factor, m_col, n_col, scale_col)
    if fit_mask.sum() < 7 or not target_mask.any():
        raise InputError(f"the split fit_max_m={fit_max_m:g}, fit_max_n={fit_max_n:g}, factor={factor:g} "
                         f"leaves {int(fit_mask.sum())} fit points (need >= 7) and "
                         f"{int(target_mask.sum())} targets (need >= 1)")
    used = table[fit_mask | target_mask]
    fix = _eps0_fix(eps0, fit_kw, table, y_col)
    bt = backtest("rosenfeld", used, [m_col, n_col], y_col, mask=fit_mask[fit_mask | target_mask], fix=fix,
                  **fit_kw)
    targets = table[target_mask].copy()
    x = (targets[m_col].to_numpy(float), targets[n_col].to_numpy(float))
    targets["predicted"] = bt.fit.predict(x)
    targets["divergence"] = targets["predicted"] / targets[y_col] - 1.0
    if bt.fit.bootstrap is not None and not bt.fit.bootstrap.empty:  # the fit's own uncertainty
        targets["predicted_low"], targets["predicted_high"] = bt.fit.predict_interval(x, level=0.95)
        targets["inside_interval"] = targets[y_col].between(targets["predicted_low"], targets["predicted_high"])
    return Extrapolation(bt, float(fit_max_m), float(fit_max_n), float(factor), targets)


# ----------------------------------------------------------------------------------------------
# the error sources


def noise_floors(tables: Mapping[float, pd.DataFrame], y_col: str = "val_loss", interval: bool = False,
                 **fit_kw) -> pd.DataFrame:
    """Per label-noise std σ: the joint law fitted to the noisy held-out MSE, its floor against σ².

    ``tables``: σ -> a per-student table (a ``seed`` column; averaged over the seeds here) or a seed-averaged one,
    with ``width``, ``params``, ``n`` and ``y_col``. ε0 is fixed to the random-guess MSE against noisy labels,
    1 + σ². With ``interval`` and ≥ 2 seeds, each at every (params, n), ``floor_low`` / ``floor_high`` are the
    floor's 95% leave-one-seed-out jackknife-t interval (:func:`workbench.seed_interval.jackknife_t`; each refit
    starts from the full fit's optimum), clipped at 0, and ``ratio_low`` / ``ratio_high`` the same over σ²; NaN when
    c∞ or η ends on a bound, or α or β on its lower bound 0 (a constant term then trades off against c∞: the limit
    ε0·c∞/√(c∞² + η²) is no measured floor). It holds the seeds' training noise only: the noisy held-out labels are
    one draw shared by every seed, and their own sampling noise (a relative sd of about √(2/N) of σ² for N held-out
    examples) is not in it.
    Columns: label_noise, noise_level (σ²), fitted_floor, floor_low, floor_high, floor_ratio (fitted/σ², nan for
    σ = 0), ratio_low, ratio_high, mean_abs_rel_divergence, at_bounds (the law's parameters on a bound: a curve
    already flat at its floor can be fitted with c_inf at its bound and the floor ~1e-27, which is no measurement
    of the noise), fit.
    """
    interval = check_flag(interval, "interval")
    rows = []
    for sigma, table in sorted(tables.items()):
        per_seed = "seed" in table.columns
        avg = seed_mean(table, [y_col]) if per_seed else table
        eps0 = CLEAN_EPS0 + float(sigma) ** 2
        fit = fit_joint(avg, y_col=y_col, eps0=eps0, **fit_kw)
        floor, level = joint_floor(fit), float(sigma) ** 2
        low = high = np.nan
        wide = units_table(table, ["params", "n"], y_col, f"σ = {sigma:g}") if interval and per_seed else None
        if wide is not None and len(wide) >= 2 and not _floor_unmeasured(fit):
            points = wide.columns.to_frame(index=False)
            kw = {**fit_kw, "starts": warm_start(fit), "polish_top": 1}
            low, high = (float(v) for v in jackknife_t(
                lambda w: joint_floor(fit_joint(points.assign(**{y_col: w.mean(0)}), y_col=y_col, eps0=eps0, **kw)),
                wide.to_numpy(), lower=0.0))
        rows.append({"label_noise": float(sigma), "noise_level": level, "fitted_floor": floor,
                     "floor_low": low, "floor_high": high,
                     "floor_ratio": floor / level if level > 0 else np.nan,
                     "ratio_low": low / level if level > 0 else np.nan,
                     "ratio_high": high / level if level > 0 else np.nan,
                     "mean_abs_rel_divergence": fit.metrics["mean_abs_rel_divergence"],
                     "at_bounds": ", ".join(fit.at_bounds), "fit": fit})
    return pd.DataFrame(rows)


def _floor_unmeasured(fit: FitResult) -> bool:
    """True when the joint law's limit is not a measured floor: c∞ or η on a bound, or α or β on its lower bound
    (n^−α or b·m^−β then a constant, which trades off against c∞)."""
    law = {p.name: p for p in get_law(fit.law).params}
    at_lower = {p for p in ("alpha", "beta") if p in fit.at_bounds
                and abs(fit.params[p] - law[p].lower) < abs(fit.params[p] - law[p].upper)}
    return bool(at_lower or {"c_inf", "eta"} & set(fit.at_bounds))


def floors_by_width(table: pd.DataFrame, y_col: str = "test_loss", teacher_width: int | None = None,
                    interval: bool = False) -> pd.DataFrame:
    """Realizability: per width, ``power`` fitted to the seed-mean error against n; its floor c is
    the error that no amount of data removes (approximation error below the teacher's width,
    optimisation error above it).

    ``table`` is per student (a ``seed`` column) or already seed-averaged. With ``interval`` and per-student
    rows (≥ 2 seeds, or teachers: :func:`workbench.seed_interval.units_table`, each at every n), ``floor_low`` /
    ``floor_high`` give c's 95% leave-one-out jackknife-t interval (:func:`workbench.seed_interval.jackknife_t`,
    clipped at 0; NaN when c ends on its bound of 0, where the jackknife measures nothing): with few seeds a floor
    a little above the last measured error is within its noise. On a planted curve with 4 seeds it held the floor in
    373 and 379 of 400 repeats (c = 0.002, 0.06: ``benchmarks/bench_interval_coverage.py --what floor``); the
    seed-resampling percentile interval it replaced held it in 80 and 83 of 100.
    Columns: width, floor, floor_low, floor_high, exponent, at_bounds (parameters on a bound of the
    law, e.g. b = 10 when the curve drops in one step), error_at_max_n, realizable (width ≥
    teacher_width, when given). A NaN in width, n or ``y_col`` is an InputError.
    """
    _need(table, ["width", "n", y_col])
    _no_missing(table, ["width", "n", y_col])
    interval = check_flag(interval, "interval")
    per_seed = "seed" in table.columns
    rows = []
    for width, sub in table.groupby("width", sort=True):
        curve = sub.groupby("n", sort=True)[y_col].mean()
        fit = fit_law("power", curve.index.to_numpy(float), curve.to_numpy(float))
        low = high = np.nan
        wide = units_table(sub, "n", y_col, f"width {width}") if interval and per_seed else None
        if wide is not None and len(wide) >= 2 and "c" not in fit.at_bounds:  # one seed: no spread to measure
            n = wide.columns.to_numpy(float)
            low, high = (float(v) for v in jackknife_t(lambda w: fit_law("power", n, w.mean(0)).params["c"],
                                                       wide.to_numpy(), lower=0.0))
        rows.append({"width": int(width), "floor": fit.params["c"], "floor_low": low, "floor_high": high,
                     "exponent": fit.params["b"], "at_bounds": ", ".join(fit.at_bounds),
                     "error_at_max_n": float(curve.iloc[-1]),
                     "realizable": (bool(width >= teacher_width) if teacher_width else np.nan)})
    return pd.DataFrame(rows)


def learning_deficiency(df: pd.DataFrame, y_col: str = "test_loss", by: Sequence[str] = ("width",),
                        over: Sequence[str] = ("seed",)) -> pd.DataFrame:
    """Per ``by`` group and step budget: seed-mean error and its excess over the group's longest budget
    (what more optimisation still removes). Columns: by..., steps, flops_train, Y, excess, excess_ratio.
    ``over``: the configuration columns the mean may run over (as for :func:`seed_mean`; students differing in any
    other, e.g. two data sizes at one width, are an InputError). A NaN in any of these columns is an InputError."""
    by = [by] if isinstance(by, str) else list(by)
    over = [over] if isinstance(over, str) else list(over)
    _need(df, by + ["steps", "flops_train", y_col])
    _no_missing(df, by + ["steps", "flops_train", y_col])
    check_one_config(df, by + ["steps"], over, "learning_deficiency")
    g = df.groupby(by + ["steps"], sort=True).agg(**{y_col: (y_col, "mean"),
                                                      "flops_train": ("flops_train", "mean")}).reset_index()
    longest = g.loc[g.groupby(by)["steps"].idxmax(), by + [y_col]].rename(columns={y_col: "_best"})
    g = g.merge(longest, on=by)
    g["excess"] = g[y_col] - g["_best"]
    g["excess_ratio"] = g[y_col] / g["_best"]
    return g.drop(columns="_best")


def compute_frontier(df: pd.DataFrame, x_col: str = "flops_train", y_col: str = "test_loss") -> pd.DataFrame:
    """The lower envelope of error against compute: rows that no cheaper row beats, sorted by x."""
    _need(df, [x_col, y_col])
    _no_missing(df, [x_col, y_col])  # a NaN error made every later comparison False: a frontier of one row
    s = df.sort_values([x_col, y_col])
    keep = s[y_col].to_numpy() < np.minimum.accumulate(np.r_[np.inf, s[y_col].to_numpy()[:-1]])
    return s[keep].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# model-size exponent against 4/d (Sharma & Kaplan 2020)


def model_size_exponent(table: pd.DataFrame, y_col: str = "test_loss", n: int | None = None,
                        floor: float | None = 0.0, bootstrap: int = 0, seed: int = 0) -> FitResult:
    """``power`` law y = a·params^(−b) + c fitted at data size ``n`` (default: the largest).

    ``floor=0.0`` fixes c = 0 (noiseless, realizable-in-the-limit teacher: Sharma & Kaplan's pure
    power law); ``None`` fits it.
    """
    _need(table, ["params", "n", y_col])
    if n is not None and not is_whole_number(n):  # int() fitted n=1024.5 at 1024 unsaid; '1024' was read as 1024
        raise InputError(f"n must be a whole number (a data size in the table) or None for the largest; got {n!r}")
    n = int(table["n"].max()) if n is None else int(n)
    sub = table[table["n"] == n].sort_values("params")
    if sub["params"].nunique() < 3:  # rows of several seeds of one size are one model size
        raise InputError(f"model_size_exponent needs >= 3 model sizes at n={n}; got {sub['params'].nunique()} "
                         f"(in {len(sub)} row(s))")
    fix = None if floor is None else {"c": float(floor)}
    return fit_law("power", sub["params"].to_numpy(float), sub[y_col].to_numpy(float), fix=fix,
                   bootstrap=bootstrap, seed=seed)


def exponents_by_dim(tables: Mapping[int, pd.DataFrame], y_col: str = "test_loss", floor: float | None = 0.0,
                     interval: bool = False) -> pd.DataFrame:
    """Per intrinsic dimension d: the fitted model-size exponent beside Sharma & Kaplan's 4/d.

    ``tables``: d -> a per-student table (``task_seed`` and / or ``seed`` columns: the teachers and seeds the loss
    is averaged over before the fit) or an already averaged one (keys may be strings, as from JSON). With
    ``interval`` and ≥ 2 units (teachers, each averaged over its seeds, or seeds under one teacher:
    :func:`workbench.seed_interval.units_table`), each at every model size of the fitted (largest) n, ci_low /
    ci_high are b's 95% leave-one-out jackknife-t interval (:func:`workbench.seed_interval.jackknife_t`; NaN when
    b ends on a bound). The point bootstrap used before resampled the 5 – 6 points of the averaged curve, which
    measures their scatter about the fitted line, not how the exponent moves with the teacher drawn. On a planted
    curve with 4 units and 10% noise each the jackknife held b in 188 of 200 repeats, the point bootstrap in 159
    (``benchmarks/bench_interval_coverage.py --what dim``).
    Columns: intrinsic_dim, exponent, ci_low, ci_high (nan without an interval), theory (4/d), ratio
    (exponent / theory), ratio_low, ratio_high (the interval over theory), units (the units the interval left out
    in turn; 1 without), fit.
    """
    interval = check_flag(interval, "interval")
    dims = {}
    for key, table in tables.items():
        try:
            d = int(key)
            whole = d == float(key)
        except (TypeError, ValueError):
            whole = False
        if not whole or d < 1:  # 4/d needs a whole dimension >= 1
            raise InputError(f"tables must map an intrinsic dimension (a whole number >= 1) to a table; got key {key!r}")
        if d in dims:
            raise InputError(f"tables names intrinsic dimension {d} twice; got keys {list(tables)!r}")
        dims[d] = table
    rows = []
    bounds = next((p.lower, p.upper) for p in get_law("power").params if p.name == "b")
    for d, table in sorted(dims.items()):
        units = [c for c in ("task_seed", "seed") if c in table.columns]
        avg = seed_mean(table, [y_col], by=["params", "n"], over=units) if units else table
        fit = model_size_exponent(avg, y_col=y_col, floor=floor)
        lo = hi = np.nan
        at_n = table[table["n"] == table["n"].max()]  # model_size_exponent fits the largest n
        wide = units_table(at_n, "params", y_col, f"d = {d}") if interval and units else None
        n_units = 1 if wide is None else len(wide)
        if n_units >= 2 and "b" not in fit.at_bounds:
            params = wide.columns.to_numpy(float)
            fix = None if floor is None else {"c": float(floor)}
            lo, hi = (float(v) for v in jackknife_t(lambda w: fit_law("power", params, w.mean(0), fix=fix).params["b"],
                                                    wide.to_numpy(), lower=bounds[0], upper=bounds[1]))
        rows.append({"intrinsic_dim": int(d), "exponent": fit.params["b"], "ci_low": lo, "ci_high": hi,
                     "theory": 4.0 / d, "ratio": fit.params["b"] * d / 4.0, "ratio_low": lo * d / 4.0,
                     "ratio_high": hi * d / 4.0, "units": n_units, "fit": fit})
    return pd.DataFrame(rows)
