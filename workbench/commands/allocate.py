"""``allocate``: compute-optimal (and inference-aware) model and data size for a FLOPs budget.

Examples::

    python -m workbench allocate --law chinchilla \\
        --params '{"E": 1.82, "A": 482, "B": 2085, "alpha": 0.348, "beta": 0.366}' --compute 5.76e23 --json
    python -m workbench allocate --law chinchilla --params fit.json --compute 1e22 --inference-tokens 1e13

``--params`` takes a JSON object (inline, or the path of a file holding one); an object with a
``"params"`` key (the output of ``fit --json``) is read through that key; the name of a published
Chinchilla fit (``epoch2024``, ``hoffmann2022``, ``hoffmann2022-tex``) stands for its values. ``--draws`` takes
the bootstrap refits ``fit --bootstrap N --draws FILE.csv`` wrote and adds 95% intervals on the compute-optimal
allocation ("ci"), as Besiroglu et al. (2024) report Chinchilla's tokens per parameter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from workbench.errors import InputError, repeats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--law", required=True, help="registered law with inputs (N, D), e.g. chinchilla or kaplan")
    parser.add_argument("--params", required=True,
                        help="law parameters as a JSON object (natural units), the path of a JSON file, or a "
                             "published chinchilla fit: epoch2024, hoffmann2022, hoffmann2022-tex")
    parser.add_argument("--compute", required=True, metavar="C", help="training budget in FLOPs (> 0), e.g. 5.76e23")
    parser.add_argument("--inference-tokens", metavar="T", default=None,
                        help="tokens the model will serve over its life: adds the inference-aware optimum "
                             "(Sardana & Frankle 2024), the cheapest model of at most 1e30 parameters and 1e30 "
                             "training tokens that reaches the target loss")
    parser.add_argument("--draws", metavar="FILE.csv", default=None,
                        help="bootstrap draws of the fit (fit --bootstrap N --draws FILE.csv): adds 95%% intervals "
                             "on the compute-optimal N, D, tokens per parameter and loss (\"ci\")")
    parser.add_argument("--target-loss", metavar="L", default=None,
                        help="loss the inference-aware model must reach (default: the compute-optimal loss at C)")


def _number(flag: str, text: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{flag} must be a number; got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{flag} must be a finite number {'>= 0' if allow_zero else '> 0'}; got {text!r}")
    return value


def _looks_like_path(text: str) -> bool:
    """Not JSON-like, and has a folder part or a file suffix (fit.json, runs/fit)."""
    text = text.strip()
    return bool(text) and text[0] not in "{[\"" and ("/" in text or os.sep in text or bool(Path(text).suffix))


def parse_params(text: str, param_names: tuple[str, ...]) -> dict[str, float]:
    """Parse ``--params``: a JSON object (or a JSON file) holding exactly the law's parameters."""
    from workbench.allocate import PUBLISHED_FITS

    if text in PUBLISHED_FITS:
        if set(PUBLISHED_FITS[text]) != set(param_names):
            raise InputError(f"--params {text!r} is a published chinchilla fit; the law needs {', '.join(param_names)}")
        return dict(PUBLISHED_FITS[text])
    source = text
    path = Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        source = path.read_text()
    def unique_keys(pairs: list) -> dict:  # json keeps the last of a repeated key without a word
        repeated = next(iter(repeats([k for k, _ in pairs])), None)
        if repeated is not None:
            values = [v for k, v in pairs if k == repeated]
            raise InputError(f"--params gives {repeated!r} more than once ({', '.join(map(repr, values))}); "
                             f"give each parameter once; got {text!r}")
        return dict(pairs)

    try:
        obj = json.loads(source, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        if source is not text:  # read from a file
            what = "is empty" if not source.strip() else f"is not valid JSON ({exc.msg}, line {exc.lineno})"
            raise InputError(f"--params file {text!r} {what}; it must hold a JSON object of the law's parameters "
                             f"({', '.join(param_names)})") from None
        if source is text and _looks_like_path(text):
            what = "names a folder, not a file" if path.is_dir() else "file not found"
            raise InputError(f"--params {what}: {text!r} (expected a JSON object, a JSON file or one of "
                             f"{', '.join(PUBLISHED_FITS)})") from None
        raise InputError(f"--params must be a JSON object, a JSON file or one of {', '.join(PUBLISHED_FITS)}; "
                         f"got {text!r} ({exc.msg})") from None
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict):
        obj = obj["params"]
    if not isinstance(obj, dict):
        raise InputError(f"--params must be a JSON object of parameter name -> number; got {text!r}")
    missing = [n for n in param_names if n not in obj]
    unknown = [n for n in obj if n not in param_names]
    if missing or unknown:
        raise InputError(
            f"--params must hold exactly the law's parameters ({', '.join(param_names)}); "
            f"missing {missing}, unknown {unknown} in {text!r}"
        )
    out = {}
    for name in param_names:
        value = obj[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"--params: parameter {name!r} must be a finite number; got {value!r}")
        out[name] = float(value)
    return out


def read_draws(path: str, law):
    """The ``--draws`` table: one row per bootstrap refit, exactly the law's parameters as columns, all numbers."""
    import numpy as np
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(f"--draws file not found: {path!r} (write one with fit --bootstrap N --draws FILE.csv)")
    try:
        draws = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"--draws {path} is not a readable CSV file: {' '.join(str(exc).split())}") from None
    names = list(law.param_names)
    missing = [n for n in names if n not in draws.columns]
    extra = [c for c in draws.columns if c not in names]
    if missing or extra:
        if extra and not missing:
            hint = " (a fit --by file holds every group's draws: keep one group's rows and the parameter columns)"
        elif not set(names) & set(draws.columns):  # e.g. a JSON file, read as a CSV of one strange column
            hint = " (it reads as no CSV of draws: write one with fit --bootstrap N --draws FILE.csv)"
        else:
            hint = ""
        shown = extra if len(extra) <= 8 else extra[:8] + [f"... {len(extra) - 8} more"]
        shown = [c if len(str(c)) <= 40 else str(c)[:37] + "..." for c in shown]
        raise InputError(f"--draws {path} must have exactly the columns of the parameters of law {law.name!r} "
                         f"({', '.join(names)}); missing {missing}, unknown {shown}{hint}")
    for name in names:
        values = pd.to_numeric(draws[name], errors="coerce").to_numpy(dtype=float)  # text -> NaN
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise InputError(f"--draws {path}: column {name!r} must hold finite numbers; data row {row + 1} holds "
                             f"{draws[name].iloc[row]!r}")
        draws[name] = values
    if len(draws) < 2:
        raise InputError(f"--draws {path} holds {len(draws)} draw(s); intervals need at least 2")
    return draws


def run(args: argparse.Namespace) -> dict:
    from workbench import allocate
    from workbench.laws import get_law

    law = get_law(args.law)
    if tuple(law.inputs) != ("N", "D"):
        raise InputError(f"--law must take inputs (N, D) for compute allocation; {law.name!r} takes {law.inputs}")
    params = parse_params(args.params, law.param_names)
    for name, value in params.items():  # the law's own bounds; an exponent of 0 has no optimum
        p = law.param(name)
        if not (p.lower <= value <= p.upper) or (p.lower == 0 and value == 0):
            raise InputError(f"--params: {name} must lie in {'(' if p.lower == 0 else '['}{p.lower:g}, {p.upper:g}] "
                             f"for law {law.name!r}; got {value:g}")
    C = _number("--compute", args.compute)

    # chinchilla has a closed form, exact at any budget; the numeric search loses the optimum once the
    # law's excess over E falls below float precision (C around 1e100 for the published fits)
    def optimum(c: float) -> dict:
        return allocate.chinchilla_optimal(c, **params) if law.name == "chinchilla" else allocate.compute_optimal(law, params, c)

    draws = read_draws(args.draws, law) if args.draws is not None else None
    opt = optimum(C)
    result = {"law": law.name, "params": params, "compute": C, "N": opt["N"], "D": opt["D"],
              "tokens_per_param": opt["tokens_per_param"], "loss": opt["loss"], "flops": opt["flops"]}
    if draws is not None:
        spread = allocate.optimum_intervals(law, draws, C)
        result["ci"] = spread["ci"]
        result["ci_method"] = (f"95% percentile over {spread['draws_used']} bootstrap draws of the fit ({args.draws})"
                               + (f"; {spread['draws_failed']} draw(s) without an optimum left out"
                                  if spread["draws_failed"] else ""))
    if args.params in allocate.PUBLISHED_FIT_NOTES:
        result["note"] = allocate.PUBLISHED_FIT_NOTES[args.params]

    if args.inference_tokens is not None or args.target_loss is not None:
        T = 0.0 if args.inference_tokens is None else _number("--inference-tokens", args.inference_tokens,
                                                              allow_zero=True)
        floor = allocate.inference_aware_floor(law, params)  # the loss of the largest model searched
        if args.target_loss is None:
            target = opt["loss"]
            if not target > floor:
                raise InputError(_beyond_search(args, C, opt, floor, optimum, params.get("E")))
        else:
            try:
                target = float(args.target_loss)
            except ValueError:
                raise InputError(f"--target-loss must be a number; got {args.target_loss!r}") from None
            if not target > floor:  # NaN included
                raise InputError(f"--target-loss must be above {floor:.10g}, the loss law {law.name!r} reaches with "
                                 "1e30 parameters and 1e30 tokens (the largest model the inference-aware search "
                                 f"covers); got {args.target_loss!r}")
        ia = allocate.inference_aware_optimal(law, params, target, T)
        result["inference_aware"] = ia
        result["inference_aware"]["savings_vs_compute_optimal"] = _savings(law, params, target, T, ia)
    return result


def _beyond_search(args, C: float, opt: dict, floor: float, optimum, irreducible: float | None) -> str:
    """The error when the default target (the compute-optimal loss at --compute) lies below every loss
    the inference-aware search reaches: --compute is too large for it. Names the largest budget that works
    (bisection on log C; the compute-optimal loss falls as C grows)."""
    from workbench.allocate import BudgetTooSmall

    def reachable(log_c: float) -> bool:
        try:
            return optimum(10.0 ** log_c)["loss"] > floor
        except BudgetTooSmall:  # below one parameter seeing one token: a loss far above the floor
            return True
        except InputError:  # a numeric optimum refused as flat in float precision: far beyond
            return False

    lo, hi = 1.0, math.log10(C)  # 10 FLOPs: more than one parameter seeing one token
    if reachable(lo):
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if reachable(mid) else (lo, mid)
        digits = math.floor(lo) - 1  # two significant digits, rounded down: the budget shown works
        advice = (f"use --compute <= {math.floor(10.0 ** (lo - digits)) * 10.0 ** digits:.2g}, or --target-loss "
                  f"above {floor:.10g}")
    else:
        advice = f"use --target-loss above {floor:.10g}"
    at_e = " (E, the law's floor, to float precision)" if opt["loss"] == irreducible else ""
    return (f"--inference-tokens {args.inference_tokens}: the inference-aware model must reach the compute-optimal "
            f"loss at --compute {args.compute}, {opt['loss']:.10g}{at_e} (N = {opt['N']:.3g} parameters, D = "
            f"{opt['D']:.3g} tokens), but its search covers at most 1e30 parameters and 1e30 tokens, which reach no "
            f"lower than {floor:.10g}; {advice}")


def _savings(law, params, target: float, T: float, ia: dict) -> float:
    """Fraction of total FLOPs saved against serving the compute-optimal model of equal loss."""
    from workbench import allocate

    base = allocate.inference_aware_optimal(law, params, target, 0.0)
    base_total = base["train_flops"] + allocate.INFERENCE_FLOPS_PER_PARAM_TOKEN * base["N"] * T
    return 1.0 - ia["total_flops"] / base_total


def render(out: dict) -> str:
    """The result for a person (the verb without ``--json``)."""
    lines = [f"{out['law']} at C = {out['compute']:.3g} FLOPs, compute-optimal: N = {out['N']:.3g} parameters, "
             f"D = {out['D']:.3g} tokens ({out['tokens_per_param']:.3g} tokens per parameter), loss {out['loss']:.6g}"]
    if "ci" in out:
        ci = out["ci"]
        lines.append(f"  intervals: N {ci['N'][0]:.3g} – {ci['N'][1]:.3g}, D {ci['D'][0]:.3g} – {ci['D'][1]:.3g}, "
                     f"tokens per parameter {ci['tokens_per_param'][0]:.3g} – {ci['tokens_per_param'][1]:.3g}, "
                     f"loss {ci['loss'][0]:.6g} – {ci['loss'][1]:.6g} ({out['ci_method']})")
    ia = out.get("inference_aware")
    if ia is not None:
        lines.append(f"inference-aware, serving {ia['inference_tokens']:.3g} tokens at loss {ia['loss']:.6g}: "
                     f"N = {ia['N']:.3g} parameters, D = {ia['D_train']:.3g} training tokens "
                     f"({ia['tokens_per_param']:.3g} per parameter); training {ia['train_flops']:.3g} + inference "
                     f"{ia['inference_flops']:.3g} = {ia['total_flops']:.3g} FLOPs, "
                     f"{100 * ia['savings_vs_compute_optimal']:.1f}% less than the compute-optimal model of equal loss")
    if "note" in out:
        lines.append(f"note: {out['note']}")
    return "\n".join(lines)
