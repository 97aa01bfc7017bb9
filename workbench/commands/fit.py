"""``fit``: fit a registered law to columns of a CSV file.

Output (``--json``): {"law", "params", "ci", "stderr", "objective", "n_points", "metrics", "at_bounds",
"poorly_determined", "holdout_metrics", ...}; parameters that ended on a bound of the law, or whose
standard error exceeds their value, are also named in a warning on stderr.
Only numpy, pandas and scipy are imported: the verb starts quickly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.errors import InputError

MAX_BOOTSTRAP = 100_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    from workbench.laws import LAWS

    p.add_argument("--law", required=True, help=f"one of: {', '.join(LAWS)}")
    p.add_argument("--data", required=True, help="CSV file with one row per run")
    p.add_argument("--x", required=True, help="input column(s), comma-separated, in the law's input order "
                                               "(chinchilla: N,D; rosenfeld: m,n)")
    p.add_argument("--y", required=True, help="the measured loss/error column")
    p.add_argument("--objective", choices=["huber", "lsq", "divergence", "lsq_log1p"],
                   help="default: the law's paper's own (chinchilla: huber; rosenfeld: divergence)")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber δ (default 1e-3, Hoffmann's)")
    p.add_argument("--fix", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                   help="hold parameters fixed, e.g. --fix eps0=0.9")
    p.add_argument("--holdout", metavar="COL", help="0/1 column: fit on rows with 1, score rows with 0")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help=f"bootstrap refits for 95%% intervals (at most {MAX_BOOTSTRAP})")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")


def _parse_fix(items: list[str]) -> dict[str, float]:
    fixed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--fix expects NAME=VALUE; got {item!r}")
        if name.strip() in fixed:
            raise InputError(f"--fix {name.strip()} is given more than once; got {fixed[name.strip()]!r} and {value!r}")
        try:
            fixed[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--fix {name}: expected a number; got {value!r}") from None
    return fixed


def run(args: argparse.Namespace) -> dict:
    import pandas as pd

    from workbench.backtest import backtest
    from workbench.fit import fit_frame
    from workbench.laws import get_law

    law = get_law(args.law)
    if args.bootstrap > MAX_BOOTSTRAP:
        raise InputError(f"--bootstrap must be <= {MAX_BOOTSTRAP} resamples; got {args.bootstrap!r}")
    path = Path(args.data)
    if not path.is_file():
        raise InputError(f"--data file not found: {path}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"--data {path} is not a readable CSV file: {exc}") from None
    x_cols = [c.strip() for c in args.x.split(",") if c.strip()]
    kwargs = dict(objective=args.objective, fix=_parse_fix(args.fix), bootstrap=args.bootstrap,
                  seed=args.seed, delta=args.delta)
    if args.holdout:
        bt = backtest(law, df, x_cols, args.y, holdout=args.holdout, **kwargs)
        result, holdout_metrics = bt.fit, bt.holdout_metrics
    else:
        result, holdout_metrics = fit_frame(law, df, x_cols, args.y, **kwargs), None
    if result.at_bounds:  # on stderr, so --json keeps one object on stdout
        names = result.at_bounds
        bounds = ", ".join(f"{n} in [{law.param(n).lower:g}, {law.param(n).upper:g}]" for n in names)
        sys.stderr.write(f"warning: {', '.join(names)} ended on the law's bound ({bounds}): the data do not pin "
                         f"{'them' if len(names) > 1 else 'it'} down; read the value as a limit, not an estimate\n")
    loose = [n for n in result.poorly_determined if n not in result.at_bounds]
    if loose:
        errs = ", ".join(f"{n} = {result.params[n]:.4g} ± {result.stderr[n]:.2g}" for n in loose)
        sys.stderr.write(f"warning: {', '.join(loose)} poorly determined ({errs}, asymptotic 1-σ): only a "
                         "combination of the parameters is fitted; fix one (--fix) or add data where they act\n")
    out = result.to_dict()
    out["holdout_metrics"] = holdout_metrics
    return out
