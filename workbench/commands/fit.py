"""``fit``: fit a registered law to columns of a CSV file.

Output (``--json``): {"law", "params", "ci", "stderr", "objective", "n_points", "metrics", "at_bounds",
"poorly_determined", "covariance_estimated", "holdout_metrics", "where", ...}; parameters that ended on a bound of
the law, or whose standard error exceeds their value (every free one when the covariance could not be
estimated), are also named in a warning on stderr, as is a parameter left free that the law's paper fixes
(rosenfeld's eps0, the random-guess error).
With ``--by COLS`` each group of rows is fitted on its own: {"law", "by", "groups": [{"group": {col: value}, ...one
fit's keys, or "error"}, ...], "summary", "where", ...}; with ``--holdout`` the summary holds the mean over the groups of
each held-out metric ("holdout_metrics_mean") and δ over all their held-out points at once ("holdout_pooled"); its
stderr lines start with the group's values, a group that cannot be fitted (too few points, a bad value) is named
there and in its entry, and the exit code is then 2.
``--draws FILE.csv`` (with ``--bootstrap``) writes the refits' parameters, one row per resample, for
``allocate --draws``; the JSON then names the file ("draws").
Only numpy, pandas and scipy are imported: the verb starts quickly.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from pathlib import Path

from workbench.commands.paths import check_out, write_csv_atomic
from workbench.errors import DATA_ROW, InputError, repeats, row_name

MAX_BOOTSTRAP = 100_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    from workbench.laws import LAWS

    p.add_argument("--law", required=True, help=f"one of: {', '.join(LAWS)}")
    p.add_argument("--data", required=True, help="CSV file with one row per run")
    p.add_argument("--x", required=True, help="input column(s), comma-separated, in the law's input order "
                                               "(chinchilla: N,D; rosenfeld: m,n); a column whose name holds a "
                                               "comma is recognised whole, here and in --by")
    p.add_argument("--y", required=True, help="the measured loss/error column")
    p.add_argument("--objective", choices=["huber", "lsq", "divergence", "lsq_log1p"],
                   help="default: the law's paper's own (chinchilla: huber; rosenfeld: divergence)")
    p.add_argument("--delta", type=float, default=None,
                   help="Huber δ, for the huber objective only (default 1e-3, Hoffmann's)")
    p.add_argument("--fix", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                   help="hold parameters fixed, e.g. --fix eps0=0.9")
    p.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                   help="use only the rows whose COL equals VALUE (a number for a numeric column, the exact text "
                        "otherwise), e.g. --where 'Model=6 Enc, 6 Dec' for one curve of a file of several; "
                        "repeatable: every condition must hold")
    p.add_argument("--holdout", metavar="COL", help="0/1 column: fit on rows with 1, score rows with 0")
    p.add_argument("--by", metavar="COL[,COL...]",
                   help="fit each group of rows with equal values in these columns on its own, e.g. --by "
                        "Domain,Task,Model for a file of learning curves; the output lists one fit per group "
                        "(\"groups\") and, with --holdout, the groups' mean held-out metrics (\"summary\")")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help=f"bootstrap refits for 95%% intervals (at most {MAX_BOOTSTRAP})")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    p.add_argument("--no-progress", action="store_true",
                   help="no tqdm bars over the --by groups and the bootstrap's refits (shown only when stderr "
                        "is a terminal)")
    p.add_argument("--draws", metavar="FILE.csv",
                   help="write the bootstrap refits' parameters there, one row per resample (needs --bootstrap; "
                        "with --by, the group columns first): allocate --draws turns them into intervals on the "
                        "compute-optimal N and D")


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
        if not math.isfinite(fixed[name.strip()]):
            raise InputError(f"--fix {name}: the value must be a finite number; got {value!r}")
    return fixed


def split_columns(text: str, columns) -> list[str]:
    """A comma-separated list of column names, where a name may itself hold commas ("Model, size"): the reading
    in which every name is a column, runs of pieces joined again where they name one (the longest first; names
    stripped, empty pieces dropped); when there is none, the longest runs, so the caller names the piece that is
    not a column. So ``--by 'Model, size,dom'`` is ['Model, size', 'dom'] when the table has a column
    "Model, size", and ['Model', 'size', 'dom'] when it has those three."""
    pieces, columns = text.split(","), set(columns)

    @functools.cache
    def whole(i: int) -> tuple[str, ...] | None:  # pieces i… as column names only (longest names first), or None
        if i == len(pieces):
            return ()
        for j in range(len(pieces), i, -1):
            name = ",".join(pieces[i:j]).strip()
            rest = whole(j) if name in columns or (not name and j == i + 1) else None
            if rest is not None:
                return ((name,) if name else ()) + rest
        return None

    if (names := whole(0)) is not None:
        return list(names)
    names, i = [], 0  # some name is not a column: the longest runs, for the caller to name the one not found
    while i < len(pieces):
        j = next((j for j in range(len(pieces), i + 1, -1) if ",".join(pieces[i:j]).strip() in columns), i + 1)
        if name := ",".join(pieces[i:j]).strip():
            names.append(name)
        i = j
    return names


def _reads_as_number(value: str) -> bool:
    """Whether ``--where``'s value names a number; "NaN" does not (pandas reads a cell so written as missing,
    and NaN equals nothing): it is a label, as "NA" is."""
    try:
        return not math.isnan(float(value))
    except ValueError:
        return False


def _parse_where(items: list[str]) -> dict[str, str]:
    """``--where COL=VALUE`` items as {column: value}; the value is everything after the first '='."""
    where: dict[str, str] = {}
    for item in items:
        col, sep, value = item.partition("=")
        if not sep or not col.strip():
            raise InputError(f"--where expects COL=VALUE, e.g. --where 'Model=6 Enc, 6 Dec'; got {item!r}")
        if col.strip() in where:
            raise InputError(f"--where {col.strip()} is given more than once; got {where[col.strip()]!r} and "
                             f"{value!r} (rows must match every condition, so two values keep none)")
        where[col.strip()] = value
    return where


def select_rows(df, where: dict[str, str], data: str):
    """The rows of ``df`` matching every {column: value} condition, with their original index (the CSV's
    data row, which error messages name). InputError for an unknown column, a value that cannot be one of
    a numeric column's, or conditions that keep no row (naming the values present)."""
    import pandas as pd

    keep = pd.Series(True, index=df.index)
    for col, value in where.items():
        if col not in df.columns:
            raise InputError(f"--where {col}={value}: column {col!r} not found in --data {data}; its columns are "
                             f"{', '.join(map(repr, df.columns))}")
        column = df[col]
        if pd.api.types.is_bool_dtype(column):
            truth = {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower())
            if truth is None:
                raise InputError(f"--where {col}={value}: column {col!r} holds True/False; got {value!r}")
            match = column == truth
        elif pd.api.types.is_numeric_dtype(column):
            try:
                number = float(value)
            except ValueError:
                raise InputError(f"--where {col}={value}: column {col!r} is numeric; got {value!r}, "
                                 "not a number") from None
            match = column == number
        else:
            match = column.astype(str) == value
        if not match.any():
            present = pd.unique(column.dropna())
            shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in present[:10])
            more = f" and {len(present) - 10} more" if len(present) > 10 else ""
            raise InputError(f"--where {col}={value}: no row of --data {data} has {col} = {value!r}; "
                             f"its values are {shown}{more}")
        keep &= match
    if not keep.any():
        conditions = " and ".join(f"{c} = {v!r}" for c, v in where.items())
        raise InputError(f"--where: no row of --data {data} has {conditions} (each holds somewhere, "
                         "but never together)")
    return df[keep]


def _read_csv(data: str):
    """The ``--data`` table; InputError for a missing file, a folder, a malformed CSV or a repeated column name."""
    import pandas as pd

    path = Path(data)
    if not str(data).strip():
        raise InputError(f"--data must name a CSV file; got {data!r}")
    if path.is_dir():
        raise InputError(f"--data must name a CSV file, not a folder; got {data!r}")
    if path.exists() and not path.is_file():  # /dev/null, a pipe: no table to read
        raise InputError(f"--data must name a CSV file; {data!r} exists but is not a regular file")
    if not path.is_file():
        raise InputError(f"--data file not found: {data}")
    try:
        df = pd.read_csv(path)
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())  # pandas' message ends with a newline, may span lines
        raise InputError(f"--data {data} is not a readable CSV file: {reason}") from None
    if len(header) == 1:  # a file saved with another separator (a spreadsheet's ';' or a tab) reads as one column;
        # checked first: with decimal commas its rows split into more fields than that one, a shift of columns
        other = next((sep for sep in (";", "\t", "|") if sep in header[0]), None)
        if other is not None:
            shown = "a tab" if other == "\t" else repr(other)
            raise InputError(f"--data {data} reads as one column, {header[0]!r}: its fields are separated by {shown}, "
                             "and the CLI reads comma-separated files; save it with commas between fields (and points "
                             "as the decimal mark)")
    if df.index.nlevels > 1 or not isinstance(df.index, pd.RangeIndex):
        # pandas reads rows with more fields than the header by making the first field(s) the index, which
        # shifts every column by one: a loss column would read NaN, its error naming a row by an N value
        extra = df.index.nlevels
        raise InputError(f"--data {data}: its first data row has {len(header) + extra} fields but the header "
                         f"names {len(header)} ({', '.join(header)}), which would shift every column; a comma at "
                         "the end of each line does this: remove it, or name every column in the header")
    repeated = repeats([name for name in header if name.strip()])  # blank names may repeat
    if repeated:
        raise InputError(f"--data {data}: column {repeated[0]!r} appears {header.count(repeated[0])} times in the "
                         "header; column names must be unique")
    # errors name a row as the user counts it in the file: the first row under the header is data row 1
    df.index = pd.RangeIndex(1, len(df) + 1, name=DATA_ROW)
    return df


def _note_repeated_rows(df) -> None:
    """A note on stderr when rows repeat earlier ones exactly (a file concatenated twice, say): each copy
    counts as one more point, weighting those points and any held-out ones, without a word otherwise."""
    again = df.duplicated().to_numpy()
    if again.any():
        first = int(df.index[again][0])
        sys.stderr.write(f"note: {int(again.sum())} row(s) repeat an earlier row exactly (the first at {row_name(df.index, first)}); "
                         "each copy is fitted as one more point: drop them if they are not repeated measurements\n")


def _note_mixed_curves(df, used: list[str], label: str = "", x_cols: list[str] | None = None) -> None:
    """A note on stderr when a text column the fit does not use holds several values (a file of several
    learning curves, e.g. one per model): they are fitted as one curve unless ``--where`` picks one or ``--by``
    fits each. A column whose every value names one row (sweep's ``key``, a run id) labels rows, not curves: no
    note. Failing that, a number column (a model size labelling each curve, as a sweep table's ``width`` does)
    whose values differ among rows of equal inputs ``x_cols`` gets the same note, worded for repeated
    measurements (seeds), which are meant to be pooled."""
    import pandas as pd

    for col in df.columns:
        if col in used or pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        given = df[col].dropna()
        values = given.unique()
        if 1 < len(values) < len(given):
            shown = ", ".join(map(repr, values[:3])) + (", ..." if len(values) > 3 else "")
            sys.stderr.write(f"{label}note: column {col!r} holds {len(values)} different values ({shown}), fitted together "
                             f"as one curve; --where {col}=VALUE fits one of them, --by {col} each on its own\n")
            return
    if not x_cols or any(c not in df.columns for c in x_cols):
        return
    for col in df.columns:
        if col in used or not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        values = df[col].dropna().unique()
        if not 1 < len(values) <= 50:
            continue
        if (df.groupby(list(x_cols), dropna=False)[col].nunique() > 1).any():
            shown = ", ".join(f"{v:g}" for v in sorted(values)[:4]) + (", ..." if len(values) > 4 else "")
            sys.stderr.write(f"{label}note: rows of equal {', '.join(x_cols)} differ in column {col!r} ({len(values)} "
                             f"values: {shown}), fitted together as one curve; if they label different curves, --by "
                             f"{col} fits each on its own (repeated measurements, such as seeds, are pooled as meant)\n")
            return


def run(args: argparse.Namespace) -> dict:
    from workbench.fit import MAX_DELTA, MIN_DELTA
    from workbench.objectives import DEFAULT_DELTA
    from workbench.laws import get_law

    law = get_law(args.law)
    objective = args.objective or law.objective
    if args.delta is not None and objective != "huber":  # refused, not ignored: it would change nothing
        raise InputError(f"--delta is the Huber δ, used only by the huber objective; law {law.name!r} is fitted "
                         f"with {objective!r}{'' if args.objective else ' (its default)'}: drop --delta or add "
                         f"--objective huber; got --delta {args.delta!r}")
    if args.delta is None:
        args.delta = DEFAULT_DELTA
    if not (math.isfinite(args.delta) and MIN_DELTA <= args.delta <= MAX_DELTA):
        raise InputError(f"--delta must be a number in [{MIN_DELTA:g}, {MAX_DELTA:g}] (a larger Huber δ is plain "
                         f"least squares, a smaller one least absolute deviations); got {args.delta!r}")
    if args.bootstrap > MAX_BOOTSTRAP:
        raise InputError(f"--bootstrap must be <= {MAX_BOOTSTRAP} resamples; got {args.bootstrap!r}")
    if args.draws is not None:
        if not args.bootstrap:
            raise InputError(f"--draws writes the bootstrap refits: add --bootstrap N (N >= 2); got --draws "
                             f"{args.draws!r} without it")
        check_out(args.draws, "--draws")
        if Path(args.draws).resolve() == Path(args.data).resolve():
            raise InputError(f"--draws {args.draws!r} is the --data file: writing the draws there would replace the "
                             "measurements; name another file")
    if args.holdout is not None and not args.holdout.strip():
        raise InputError(f"--holdout must name a 0/1 column of the CSV; got {args.holdout!r}")
    where = _parse_where(args.where)
    df = _read_csv(args.data)
    if where:
        import pandas as pd

        # matched as the file writes them: text columns, and a number column with missing cells asked for a
        # label that is not a number (labels 1, 2, NA: pandas read the NA as missing, the column as numbers)
        text = [c for c, v in where.items()
                if c in df.columns and (df[c].isna().all() or not pd.api.types.is_numeric_dtype(df[c])
                                        or (df[c].isna().any() and not _reads_as_number(v)))]
        df = select_rows(_labels_as_written(df, text, args.data), where, args.data)  # --where Model=NA finds "NA"
    x_cols = split_columns(args.x, df.columns)
    repeated = sorted(repeats(x_cols))
    if repeated:
        raise InputError(f"--x lists {', '.join(map(repr, repeated))} more than once (each input of law "
                         f"{law.name!r} needs its own column); got {args.x!r}")
    _note_repeated_rows(df)
    fixed = _parse_fix(args.fix)
    by = _parse_by(args.by, df, x_cols + [args.y.strip(), (args.holdout or "").strip()], args.data, law)
    if by:
        out, draws = _fit_groups(law, _labels_as_written(df, by, args.data), x_cols, args, fixed, by)
    else:
        _note_mixed_curves(df, x_cols + [args.y.strip(), (args.holdout or "").strip()], x_cols=x_cols)
        out, draws = _fit_one(law, df, x_cols, args, fixed, "")
    if args.draws is not None and draws is not None:
        out["draws"] = str(write_csv_atomic(draws, args.draws, "--draws"))
    out["where"] = where
    # enough to rerun it: the file and its columns, and the resampling seed of the intervals
    out["data"] = {"file": args.data, "x": x_cols, "y": args.y, "holdout": args.holdout, "by": by or None}
    out["seed"] = args.seed if args.bootstrap else None
    return out


def _parse_by(text: str | None, df, used: list[str], data: str, law) -> list[str]:
    """The ``--by`` columns, each a column of the table that the fit does not use itself and not named after a
    parameter of the law (the draws file has a column per group column and per parameter)."""
    if text is None:
        return []
    cols = split_columns(text, df.columns)  # a column whose name holds a comma is taken whole
    if not cols:
        raise InputError(f"--by must name one or more columns, comma-separated; got {text!r}")
    repeated = repeats(cols)
    if repeated:
        raise InputError(f"--by lists {', '.join(map(repr, repeated))} more than once; got {text!r}")
    for col in cols:
        if col not in df.columns:
            raise InputError(f"--by {text}: column {col!r} not found in --data {data}; its columns are "
                             f"{', '.join(map(repr, df.columns))}")
        if col in used:
            raise InputError(f"--by {text}: column {col!r} is an input, the loss or the holdout column of the fit; "
                             "group by columns that label the curves")
        if col in law.param_names:
            raise InputError(f"--by {text}: column {col!r} has the name of a parameter of law {law.name!r} "
                             f"({', '.join(law.param_names)}), which the output and the draws file use; rename it")
    return cols


def _labels_as_written(df, by: list[str], data: str):
    """``df`` with each ``by`` column holding its labels as the file writes them where pandas read text such as
    "NA", "None" or "n/a" as missing: ``--by`` pooled those curves into one group of missing label, and
    ``--where Model=NA`` matched none of them. Empty cells stay missing."""
    import pandas as pd

    if not by:
        return df
    raw = pd.read_csv(data, usecols=by, dtype=str, keep_default_na=False)
    raw.index = pd.RangeIndex(1, len(raw) + 1, name=df.index.name)
    raw = raw.loc[df.index]
    for col in by:
        text = raw[col]
        if (df[col].isna() & (text.str.strip() != "")).any():
            df = df.assign(**{col: text.where(text.str.strip() != "")})
    return df


def _fit_groups(law, df, x_cols: list[str], args, fixed: dict, by: list[str]):
    """One fit per group of rows with equal ``by`` values, in the order the groups first appear, as (the output
    dict, every fitted group's draws with its group columns first, or None)."""
    import numpy as np
    import pandas as pd

    from workbench.fit import _free_and_fixed, frame_columns

    # what is not about any one group is said once, before the groups: --fix names, the columns
    _free_and_fixed(law, fixed)
    frame_columns(law, df.iloc[:0], x_cols, args.y)
    from tqdm import tqdm

    groups, failed, drawn = [], [], []
    parts = list(df.groupby(by, sort=False, dropna=False))
    # a bar over the groups on a terminal (a BNSL --by fit with a bootstrap ran a minute without a word; a log
    # file gets the lines alone); the groups' notes are written with the bar cleared, so they read as whole lines
    bar = tqdm(parts, desc="fits", unit="group", file=sys.stderr, leave=False,
               disable=True if getattr(args, "no_progress", False) or len(parts) < 2 else None)
    for values, part in bar:
        values = values if isinstance(values, tuple) else (values,)
        group = {col: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item") else v)
                 for col, v in zip(by, values)}
        label = ", ".join(f"{col}={v!r}" for col, v in group.items()) + ": "
        try:
            with tqdm.external_write_mode(file=sys.stderr):
                _note_mixed_curves(part, x_cols + [args.y.strip(), (args.holdout or "").strip()] + by, label, x_cols)
            fitted, part_draws = _fit_one(law, part, x_cols, args, fixed, label)
        except InputError as exc:  # this group alone: the others are still fitted and reported
            groups.append({"group": group, "n_rows": int(len(part)), "error": " ".join(str(exc).split())})
            failed.append((label, groups[-1]))
            continue
        groups.append({"group": group, **fitted})
        if part_draws is not None:
            drawn.append(part_draws.assign(**group)[by + list(part_draws.columns)])
    summary = {"groups": len(groups), "fitted": len(groups) - len(failed)}
    scored = [g["holdout_metrics"] for g in groups if g.get("holdout_metrics")]
    if scored:  # the mean over the groups of each held-out metric, as Alabdulmohsin et al. average over tasks
        summary["holdout_metrics_mean"] = {k: float(np.mean([m[k] for m in scored])) for k in scored[0]}
        summary["holdout_pooled"] = _pooled_divergence([g for g in groups if g.get("holdout_metrics")])
    for label, entry in failed:
        sys.stderr.write(f"{label}error: {entry['error']}\n")
    out = {"law": law.name, "by": by, "groups": groups, "summary": summary}
    if failed:  # exit code 2, with every group that could be fitted printed
        out.update(failed=[entry["group"] for _, entry in failed], bad_input=True)
    return out, (pd.concat(drawn, ignore_index=True) if drawn else None)


def _pooled_divergence(groups: list[dict]) -> dict:
    """δ over every held-out point of ``groups`` at once: their count, mean and std (population, as each group's
    own). The mean of the groups' own stds, in ``holdout_metrics_mean``, says nothing of how the groups differ:
    it is 0 where each group holds out one point (a file of learning curves with its last point held out)."""
    import numpy as np

    n = np.array([g["n_holdout"] for g in groups], dtype=float)
    mean = np.array([g["holdout_metrics"]["mean_rel_divergence"] for g in groups])
    std = np.array([g["holdout_metrics"]["std_rel_divergence"] for g in groups])
    total = float(n.sum())
    pooled_mean = float((n * mean).sum() / total)
    second = float((n * (std**2 + mean**2)).sum() / total)  # E[δ²] over all the points
    return {"n": int(total), "mean_rel_divergence": pooled_mean,
            "std_rel_divergence": float(np.sqrt(max(second - pooled_mean**2, 0.0)))}


def _fit_one(law, df, x_cols: list[str], args, fixed: dict, label: str):
    """One fit of ``df`` (the whole selection, or one ``--by`` group) as (its output dict, its bootstrap draws or
    None); its warnings on stderr start with ``label``."""
    from tqdm import tqdm

    from workbench.backtest import backtest
    from workbench.fit import fit_frame

    def say(text: str) -> None:  # a whole line, with any progress bar (``--by``'s) cleared around it
        with tqdm.external_write_mode(file=sys.stderr):
            sys.stderr.write(text)

    def bar(iterable, **kw):  # the bootstrap's refits on a terminal (a bootstrap of an M4 curve runs ~30 s)
        return tqdm(iterable, file=sys.stderr, leave=False, disable=True if getattr(args, "no_progress", False) else None,
                    **kw)

    kwargs = dict(objective=args.objective, fix=fixed, bootstrap=args.bootstrap, seed=args.seed, delta=args.delta,
                  progress=bar)
    if args.holdout is not None:
        bt = backtest(law, df, x_cols, args.y, holdout=args.holdout, **kwargs)
        result, holdout_metrics, n_holdout = bt.fit, bt.holdout_metrics, bt.n_holdout
    else:
        result, holdout_metrics, n_holdout = fit_frame(law, df, x_cols, args.y, **kwargs), None, None
    if result.at_bounds:  # on stderr, so --json keeps one object on stdout
        names = result.at_bounds
        bounds = ", ".join(f"{n} in [{law.param(n).lower:g}, {law.param(n).upper:g}]" for n in names)
        say(f"{label}warning: {', '.join(names)} ended on the law's bound ({bounds}): the data do not pin "
            f"{'them' if len(names) > 1 else 'it'} down; read the value as a limit, not an estimate\n")
    for name, how in law.paper_fixes.items():
        if name not in fixed and name not in law.defaults_fixed:
            say(f"{label}note: {name} was fitted ({name} = {result.params[name]:.4g}), not fixed as the law's "
                f"paper fixes it: {how}; pass --fix {name}=VALUE to fit as the paper does\n")
    loose = [n for n in result.poorly_determined if n not in result.at_bounds]
    if not result.covariance_estimated:
        say(f"{label}warning: no standard errors: the covariance could not be estimated at the optimum "
            "(it is singular: the data leave some combination of the parameters undetermined), so "
            f"every free parameter is listed as poorly determined ({', '.join(result.poorly_determined)}); "
            "fix some (--fix), try a law with fewer parameters, or add data where they act\n")
    elif loose:
        errs = ", ".join(f"{n} = {result.params[n]:.4g} ± {result.stderr[n]:.2g}" for n in loose)
        say(f"{label}warning: {', '.join(loose)} poorly determined ({errs}, asymptotic 1-σ): only a "
            "combination of the parameters is fitted; fix one (--fix) or add data where they act\n")
    out = result.to_dict()
    out["holdout_metrics"] = holdout_metrics
    if n_holdout is not None:
        out["n_holdout"] = n_holdout
    return out, result.bootstrap


def _pct(value) -> str:
    return "—" if value is None or value != value else f"{100 * value:.2f}%"


def _metrics_line(metrics: dict) -> str:
    return (f"mean |δ| {_pct(metrics['mean_abs_rel_divergence'])}, mean δ {_pct(metrics['mean_rel_divergence'])}, "
            f"std δ {_pct(metrics['std_rel_divergence'])}, RMSE(log) {metrics['rmse_log']:.4g}")


def _param_table(out: dict) -> str:
    """One row per parameter: value, asymptotic 1-σ, 95% interval, and whether it is fixed, on a bound or loose."""
    import pandas as pd

    rows = []
    for name, value in out["params"].items():
        flags = ["fixed" if name in out["fixed"] else "", "on a bound" if name in out["at_bounds"] else "",
                 "poorly determined" if name in out["poorly_determined"] and name not in out["at_bounds"] else ""]
        se = out["stderr"].get(name)
        ci = out["ci"].get(name)
        rows.append({"parameter": name, "value": f"{value:.6g}",
                     "± 1σ": "" if se is None or name in out["fixed"] else f"{se:.2g}",
                     "95% interval": "" if not ci or name in out["fixed"] else f"[{ci[0]:.4g}, {ci[1]:.4g}]",
                     "": ", ".join(f for f in flags if f)})
    table = pd.DataFrame(rows)
    table = table[[c for c in table.columns if (table[c] != "").any()]]  # no empty interval or flag column
    return _aligned(table)


def _aligned(table) -> str:
    """``table`` as text in aligned columns, counting a wide (CJK) character as two terminal cells."""
    import pandas as pd

    with pd.option_context("display.unicode.east_asian_width", True):
        return table.to_string(index=False)


def render(out: dict) -> str:
    """The result for a person (the verb without ``--json``): what was fitted, the parameters with their
    uncertainty, the fit's and the held-out points' divergence; with ``--by``, one line per group."""
    import pandas as pd

    data = out["data"]
    where = ("; rows where " + " and ".join(f"{c} = {v!r}" for c, v in out["where"].items())) if out["where"] else ""
    lines = [f"{out['law']} fitted to {data['file']} (x: {', '.join(data['x'])}; y: {data['y']}{where})"]
    if "groups" in out:
        lines[0] += f", one fit per {', '.join(out['by'])}"
        from workbench.laws import get_law

        params = list(get_law(out["law"]).param_names)
        measured = ["points", *params, "fit RMSE(log)", "held-out RMSE(log)", "loose", "error"]
        rows = []
        for g in out["groups"]:
            cells = dict.fromkeys(measured, "")
            if "error" in g:
                cells["error"] = g["error"]
            else:
                ci = g.get("ci") or {}  # --bootstrap: each value with its interval, as without --by
                cells.update({"points": str(g["n_points"]),
                              **{k: f"{v:.4g}" + (f" [{ci[k][0]:.3g}, {ci[k][1]:.3g}]"
                                                  if k in ci and k not in g["fixed"] else "")
                                 for k, v in g["params"].items()},
                              "fit RMSE(log)": f"{g['metrics']['rmse_log']:.4g}",
                              "loose": ", ".join(dict.fromkeys(g["at_bounds"] + g["poorly_determined"]))})
                if g.get("holdout_metrics"):
                    cells["held-out RMSE(log)"] = f"{g['holdout_metrics']['rmse_log']:.4g}"
            rows.append(["(missing)" if v is None else str(v) for v in g["group"].values()] + list(cells.values()))
        table = pd.DataFrame(rows, columns=list(out["by"]) + measured)  # a group column may share a name: kept apart
        keep = [j for j in range(table.shape[1]) if j < len(out["by"]) or (table.iloc[:, j] != "").any()]
        lines.append(_aligned(table.iloc[:, keep]))
        summary = out["summary"]
        lines.append(f"{summary['fitted']} of {summary['groups']} groups fitted")
        methods = sorted({g["ci_method"] for g in out["groups"] if g.get("ci_method")})
        if methods:
            lines.append(f"[intervals] in brackets: {'; '.join(methods)}")
        if "holdout_metrics_mean" in summary:
            m, pooled = summary["holdout_metrics_mean"], summary["holdout_pooled"]
            lines.append(f"held-out ({data['holdout']} = 0), mean over the {summary['fitted']} fitted groups: "
                         f"mean |δ| {_pct(m['mean_abs_rel_divergence'])}, mean δ {_pct(m['mean_rel_divergence'])}, "
                         f"RMSE(log) {m['rmse_log']:.4g}; std δ over their {pooled['n']} held-out points "
                         f"{_pct(pooled['std_rel_divergence'])}")
    else:
        how = out["objective"] + (f" (δ = {out['delta']:g})" if out.get("delta") is not None else "")
        lines.append(f"{out['n_points']} points, objective {how}, best of {out['n_starts']:,} starts, "
                     f"{out['seconds']:.1f} s" + (f"; intervals: {out['ci_method']}" if out["ci_method"] else ""))
        lines.append(_param_table(out))
        lines.append(f"fit: {_metrics_line(out['metrics'])}")
        if out.get("holdout_metrics"):
            lines.append(f"held-out ({data['holdout']} = 0): {_metrics_line(out['holdout_metrics'])}")
    if out.get("draws"):
        lines.append(f"bootstrap draws written to {out['draws']}")
    return "\n".join(lines)
