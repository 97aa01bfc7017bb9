"""Checks of the notebooks' parameters, run in each notebook's first code cell.

A bad value (an empty list, a region the sliders do not offer, a name the data does not have) would
otherwise fail cells later, after the training, as a KeyError or IndexError deep in pandas. Here it
fails at once with one line, an :class:`~workbench.errors.InputError` naming the parameter, the rule and
the value. Only what the library does not already refuse clearly is checked here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from workbench.errors import InputError, check_flag, is_finite, is_real_number, repeats
from workbench.laws import get_law


def _nonempty(name: str, values: Sequence[Any]) -> None:
    if len(values) == 0:
        raise InputError(f"{name} must list at least one value; got {list(values)!r}")


def _members(name: str, values: Sequence[Any], allowed: Sequence[Any], of: str) -> None:
    missing = [v for v in values if v not in allowed]
    if missing:
        raise InputError(f"{name} must be values of {of} {list(allowed)!r}; got {missing[0]!r} in {list(values)!r}")


def _unique(name: str, values: Sequence[Any]) -> None:
    repeated = repeats(values)
    if repeated:
        raise InputError(f"{name} must not repeat a value; got {repeated[0]!r} twice in {list(values)!r}")


def _is_int(value: Any) -> bool:
    """A Python int that is not a bool (True passed as a count of 1: ``seeds=True``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _integer_at_least(name: str, value: Any, least: int, why: str = "") -> None:
    if not (_is_int(value) and value >= least):
        raise InputError(f"{name} must be an integer >= {least}{why}; got {value!r}")


def _numbers(name: str, values: Sequence[Any], rule: str, ok) -> None:
    """Every value a real number for which ``ok`` holds (NaN fails every comparison, so every rule)."""
    bad = [v for v in values if not (is_real_number(v) and ok(v))]
    if bad:
        raise InputError(f"{name} must be {rule}; got {bad[0]!r} in {list(values)!r}")


def _free_constants(law: str) -> int:
    """How many constants a fit of ``law`` estimates: it needs more points than that."""
    spec = get_law(law)
    return len(spec.params) - len(spec.defaults_fixed)


def check_compute_planner(*, compute_min: float, compute_max: float, n_budgets: int,
                          isoflop_budgets: Sequence[float]) -> None:
    """Notebook 02: the frontier's range and count, and the isoFLOP budgets, give at least one budget
    (an empty one was a KeyError on the frontier's columns; compute_min = 0 was refused as 'C ... got nan'),
    and the range runs up (compute_min >= compute_max ran and drew the frontier reversed or at one budget)."""
    for name, value in {"compute_min": compute_min, "compute_max": compute_max}.items():
        if not (is_finite(value) and value > 0):
            raise InputError(f"{name} must be a finite number of FLOPs > 0; got {value!r}")
    if not compute_min < compute_max:  # np.logspace runs down as readily as up: the frontier was drawn reversed
        raise InputError(f"compute_min must be < compute_max = {compute_max!r} (the frontier's smallest and largest "
                         f"budgets); got {compute_min!r}")
    if not (_is_int(n_budgets) and n_budgets >= 1):
        raise InputError(f"n_budgets must be an integer >= 1; got {n_budgets!r}")
    _nonempty("isoflop_budgets", isoflop_budgets)


def check_scaling_laws(*, models: Sequence[str], forms: Sequence[str], model: str, fit_windows: Sequence[float],
                       extrapolate_to: Sequence[float], planted_noise: float, curves: Sequence[str]) -> None:
    """Notebook 01: the NMT curves named are curves of the data (``curves``), each list has a value and
    no repeat (the back-test table has one column per form, one row per model), every extrapolation
    target is a number of examples > 0 (a target <= 0 drew an empty figure rather than failing), and the
    planted noise is a finite size >= 0 (NaN and inf failed at the planted fit as "column 'y' has 240
    NaN/inf value(s)", a negative one there as 'noise must be >= 0', after the back-tests)."""
    for name, values in {"models": models, "forms": forms, "fit_windows": fit_windows,
                         "extrapolate_to": extrapolate_to}.items():
        _nonempty(name, values)
        _unique(name, list(values))
    _members("models", models, curves, "the NMT curves")
    if model not in curves:
        raise InputError(f"model must be one of the NMT curves {list(curves)!r}; got {model!r}")
    bad = [x for x in extrapolate_to if not (is_finite(x) and x > 0)]
    if bad:
        raise InputError(f"extrapolate_to must be finite numbers of examples > 0; got {bad[0]!r} in {list(extrapolate_to)!r}")
    if not (is_finite(planted_noise) and planted_noise >= 0):
        raise InputError(f"planted_noise must be a finite relative noise >= 0; got {planted_noise!r}")


def check_teacher_student(*, widths: Sequence[int], sizes: Sequence[int], fit_widths: Sequence[int],
                          fit_sizes: Sequence[int], fit_default: Sequence[int], budgets: Sequence[int],
                          budget_widths: Sequence[int], noise_levels: Sequence[float], noise_widths: Sequence[int],
                          noise_sizes: Sequence[int], realizability_widths: Sequence[int], dims: Sequence[int],
                          dim_widths: Sequence[int], seeds: int, dim_teachers: int, dim_seeds: int,
                          floor_interval: bool, fit_bootstrap: int) -> None:
    """Notebook 03: every sweep has something to run, and the extrapolation slider's fit regions agree
    with the main sweep; ``floor_interval`` is True or False (a count, as the bootstrap it replaced took, is
    refused here rather than after the sweeps); ``fit_bootstrap``, the refits behind the joint law's and the
    extrapolation's intervals, is a whole number >= 2 (a percentile interval needs refits; the figures and the
    summary draw it).

    Each section's lists must be non-empty and its counts >= 1 (an empty one failed only when its figure
    was drawn, after the other sweeps had trained); the noise sweeps draw their training sets from the main
    sweep's pool of ``max(sizes)`` examples. Each largest width of a fit region must be a width of the sweep
    (the fit region is read off its parameter count), and ``fit_default`` must be one
    ``[largest width, largest n]`` pair of the slider.
    """
    lists = {"widths": widths, "sizes": sizes, "budgets": budgets, "budget_widths": budget_widths,
             "noise_levels": noise_levels, "noise_widths": noise_widths, "noise_sizes": noise_sizes,
             "realizability_widths": realizability_widths, "dims": dims, "dim_widths": dim_widths}
    for name, values in lists.items():
        _nonempty(name, values)
    for name, count in {"seeds": seeds, "dim_teachers": dim_teachers, "dim_seeds": dim_seeds}.items():
        if not (_is_int(count) and count >= 1):
            raise InputError(f"{name} must be an integer >= 1; got {count!r}")
    check_flag(floor_interval, "floor_interval")
    _integer_at_least("fit_bootstrap", fit_bootstrap, 2,
                      " (refits behind the joint law's 95% intervals and its extrapolation's bands)")
    if max(noise_sizes) > max(sizes):
        raise InputError(f"noise_sizes must be <= max(sizes) = {max(sizes)!r} (the pool they are drawn from); "
                         f"got {max(noise_sizes)!r}")
    _nonempty("fit_widths", fit_widths)
    _nonempty("fit_sizes", fit_sizes)
    _members("fit_widths", fit_widths, widths, "widths")
    if len(fit_default) != 2:
        raise InputError(f"fit_default must be [largest width, largest n], two values; got {list(fit_default)!r}")
    if fit_default[0] not in fit_widths:
        raise InputError(f"fit_default's width must be one of fit_widths {list(fit_widths)!r}; got {fit_default[0]!r}")
    if fit_default[1] not in fit_sizes:
        raise InputError(f"fit_default's n must be one of fit_sizes {list(fit_sizes)!r}; got {fit_default[1]!r}")


def check_pruning(*, widths: Sequence[int], depths: Sequence[int], sizes: Sequence[int], seeds: int, rounds: int,
                  targets: Sequence[float], bootstrap: int) -> None:
    """Notebook 04: before any training, every section has what it fits and draws.

    Each list needs a value and no repeat (a repeated width, depth or size trained and counted the same
    networks twice, a repeated target broke the slider's cell; sizes = [] was 'max() arg is an empty
    sequence', targets = [] 'No objects to concatenate'). The pruning law's constants are fitted to each
    network's rounds + 1 densities (rounds = 1 was 'law 'pruning' has 4 free parameters but only 2 data
    point(s)'); the contour figure reads the dense error across >= 2 widths; the joint law's invariant
    m* = l^φ·w^ψ·d needs depths >= 1 (depth 0 failed at the joint fit); a target is a test error, strictly
    between 0 and 1 (0 gave all-NaN rows, 1.5 a 'pruned (law)' network of predicted error 1.5); ``bootstrap``,
    the refits behind the joint law's intervals, is a whole number >= 2.
    """
    for name, values in {"widths": widths, "depths": depths, "sizes": sizes, "targets": targets}.items():
        _nonempty(name, values)
        _unique(name, list(values))
    if len(widths) < 2:
        raise InputError(f"widths must list at least two values (the contour figure reads the dense error across "
                         f"widths); got {list(widths)!r}")
    _numbers("depths", depths, "hidden-layer counts >= 1 (the joint law's m* = l^φ·w^ψ·d needs l > 0)",
             lambda d: d >= 1)
    _integer_at_least("seeds", seeds, 1)
    least = _free_constants("pruning")
    _integer_at_least("rounds", rounds, least, f" (the pruning law's {least} constants are fitted to each "
                                               "network's rounds + 1 densities)")
    _numbers("targets", targets, "test errors strictly between 0 and 1", lambda t: 0 < t < 1)
    _integer_at_least("bootstrap", bootstrap, 2, " (refits behind the joint law's 95% intervals)")


def check_test_time_compute(*, train_steps: int, max_k: int, ratios: Sequence[float]) -> None:
    """Notebook 05: what the outcome table's config would refuse under another name, and what fails after
    the table is built. train_steps = 0 was 'steps must be an integer >= 1'; the coverage law's constants
    are fitted to pass@k at k = 1, 2, 4, ... <= max_k (max_k = 3 was "law 'coverage' has 2 free parameters
    but only 2 data point(s)"); the FLOPs-matched slider needs R values, each once and >= 0 (ratios = []
    failed in the last cell, [-1.0] as 'R (inference / pretraining examples) must be ...')."""
    _integer_at_least("train_steps", train_steps, 1)
    free = _free_constants("coverage")
    _integer_at_least("max_k", max_k, 2 ** free, f" (the coverage law's {free} constants are fitted to pass@k at "
                                                 "k = 1, 2, 4, ... <= max_k)")
    _nonempty("ratios", ratios)
    _unique("ratios", list(ratios))
    _numbers("ratios", ratios, "finite numbers >= 0 (R: inference over pretraining examples)",
             lambda r: math.isfinite(r) and r >= 0)


def check_rl_cost_tuning(*, train_steps: int, agent_steps: int, n_budgets: int, amc_width: int, amc_depth: int,
                         amc_train_steps: int, amc_episodes: int, amc_budgets: Sequence[float],
                         amc_finetune_steps: int) -> None:
    """Notebook 06: the study's and the per-model section's settings under the notebook's names. The
    library named them as the CLI's flags or its own fields ('--steps must be a positive integer' for
    agent_steps = 0, '--n-budgets must be >= 2' for n_budgets, 'width must be ...' for amc_width), and the
    per-model section's failed only after the RL study had run (amc_budgets = [0.1, 0.1] as "float()
    argument must be ... not 'Series'")."""
    _integer_at_least("train_steps", train_steps, 1)
    _integer_at_least("agent_steps", agent_steps, 1)
    _integer_at_least("n_budgets", n_budgets, 2)
    for name, value in {"amc_width": amc_width, "amc_depth": amc_depth, "amc_train_steps": amc_train_steps,
                        "amc_episodes": amc_episodes}.items():
        _integer_at_least(name, value, 1)
    _integer_at_least("amc_finetune_steps", amc_finetune_steps, 0)
    _nonempty("amc_budgets", amc_budgets)
    _unique("amc_budgets", list(amc_budgets))
    _numbers("amc_budgets", amc_budgets, "fractions in (0, 1] of the dense model's FLOPs", lambda b: 0 < b <= 1)
    # below the cheapest compressed model the per-model section failed only after the RL study had run ("budget
    # must be >= 75 FLOPs (every layer at its cheapest option); got 6.016"); that floor needs only the shapes
    from workbench.compress import PRECISION_BITS
    from workbench.costtune.amc_env import AmcConfig, min_budget_fraction  # torch and gymnasium: only here

    amc = AmcConfig(width=amc_width, depth=amc_depth)  # as the per-model section builds it
    least = min_budget_fraction(amc.spec(), amc.densities, amc.precisions)
    cheapest = f"density {min(amc.densities):g} at {min(amc.precisions, key=PRECISION_BITS.__getitem__)}"
    _numbers("amc_budgets", amc_budgets, f">= {least:.4g} for amc_width={amc_width}, amc_depth={amc_depth} "
             f"(every layer at its cheapest option, {cheapest})", lambda b: b >= least)


def check_variance_limited(*, vl_linear: bool, vl_widths: Sequence[int], vl_sizes: Sequence[int], vl_ratio: float,
                           vl_teachers: int, vl_seeds: int, vl_steps: int, vl_n: int, vl_width_widths: Sequence[int],
                           vl_width_seeds: int, vl_interval: bool) -> None:
    """Notebook 03's variance-limited section (:mod:`workbench.variance_limited`): each regime leaves more
    points than the ``power`` law has constants. In data, each model (the linear student if ``vl_linear``,
    one hidden layer of each ``vl_widths``, on teacher regression) is fitted on the sizes with
    n >= vl_ratio × its parameters; in width, on the distinct ``vl_width_widths`` at n = ``vl_n``."""
    from workbench.students import StudentSpec, count_params
    from workbench.tasks import task_config, task_in_dim

    need = _free_constants("power") + 1
    if not (is_finite(vl_ratio) and vl_ratio > 0):
        raise InputError(f"vl_ratio must be a finite number > 0 (n / parameters); got {vl_ratio!r}")
    _numbers("vl_sizes", vl_sizes, "training sizes (integers >= 1)", lambda n: _is_int(n) and n >= 1)
    _numbers("vl_widths", vl_widths, "hidden widths (integers >= 1)", lambda w: _is_int(w) and w >= 1)
    in_dim = task_in_dim(task_config("teacher-regression"))
    models = ([("the linear student", 0, 1)] if vl_linear else []) + [(f"width {w}", 1, w) for w in vl_widths]
    if not models:
        raise InputError("vl_widths must list a width when vl_linear is False (the data regime needs a model); got []")
    for label, depth, width in models:
        params = count_params(StudentSpec("mlp", in_dim, 1, width, depth))
        used = sorted({n for n in vl_sizes if n >= vl_ratio * params})
        if len(used) < need:
            raise InputError(f"vl_sizes must hold >= {need} sizes n >= vl_ratio × parameters = {vl_ratio:g} × {params} "
                             f"for {label}; got {len(used)} in {list(vl_sizes)!r}")
    _numbers("vl_width_widths", vl_width_widths, "hidden widths (integers >= 1)",
             lambda w: _is_int(w) and w >= 1)
    if len(set(vl_width_widths)) < need:
        raise InputError(f"vl_width_widths must hold >= {need} distinct widths; got {list(vl_width_widths)!r}")
    for name, value in {"vl_teachers": vl_teachers, "vl_seeds": vl_seeds, "vl_steps": vl_steps, "vl_n": vl_n,
                        "vl_width_seeds": vl_width_seeds}.items():
        _integer_at_least(name, value, 1)
    check_flag(vl_interval, "vl_interval")


def check_real_benchmarks(*, references: Sequence[str], mnist_models: Sequence[str], digits_models: Sequence[str],
                          seeds: int, scaling_seeds: int, steps: int, mnist_sizes: Sequence[int], digits_sizes: Sequence[int],
                          laws: Sequence[str], interval: bool) -> None:
    """Notebook 07: the model names are Greydanus's (``real_benchmarks.REFERENCES``); digits is not a sequence,
    so its models are the MLP family's; each benchmark's sizes fit its pool, and a model traced against n
    needs more distinct sizes than each of ``laws`` has free constants (power 3, m4 4: its ε0 is fixed)."""
    from workbench import real_benchmarks as rb
    from workbench.tasks import task_config

    for name, values in {"references": references, "mnist_models": mnist_models}.items():
        _nonempty(name, values)
        _members(name, values, list(rb.REFERENCES), "Greydanus's models")
        _unique(name, list(values))
    _unique("digits_models", list(digits_models))  # [] skips digits
    mlp_family = [n for n, r in rb.REFERENCES.items() if r.family == "mlp"]
    _members("digits_models", digits_models, mlp_family, "the MLP-family models (digits' 64 pixels are no sequence)")
    _integer_at_least("seeds", seeds, 1)
    _integer_at_least("scaling_seeds", scaling_seeds, 1)
    _integer_at_least("steps", steps, 1)
    _nonempty("laws", laws)
    _members("laws", laws, list(rb.LAWS), "the laws of error against n")
    _unique("laws", list(laws))
    need = max(rb.min_sizes(law) for law in laws)
    pools = {"mnist_sizes": (mnist_sizes, rb.SPLIT["pool_size"]),
             "digits_sizes": (digits_sizes, task_config("digits").pool_size)}
    for name, (sizes, pool) in pools.items():
        if name == "digits_sizes" and not digits_models:
            continue
        _numbers(name, sizes, f"training sizes, integers in [1, {pool}] (the benchmark's pool)",
                 lambda n, pool=pool: _is_int(n) and 1 <= n <= pool)
        _unique(name, list(sizes))
        if len(sizes) < need:
            raise InputError(f"{name} must list >= {need} sizes (laws {', '.join(laws)}: at most {need - 1} free "
                             f"constants); got {list(sizes)!r}")
    check_flag(interval, "interval")
