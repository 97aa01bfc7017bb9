"""The fit verb as a user's script calls it: one JSON object on stdout; bad input → one line, exit 2."""

import json
import re
import shlex

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli

from workbench.backtest import backtest
from workbench.data import planted
from workbench.laws import get_law

NMT = "data/revisiting_scaling_laws_nmt.csv"


@pytest.fixture(scope="module")
def chin_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "chin.csv"
    planted("chinchilla", noise=0.01, seed=5).rename(columns={"y": "loss"}).to_csv(path, index=False)
    return path


def test_fit_chinchilla_json(cli, chin_csv):
    proc = cli("fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss",
               "--bootstrap", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object
    assert set(out) >= {"law", "params", "ci", "objective", "n_points", "metrics", "holdout_metrics"}
    assert out["objective"] == "huber" and out["n_points"] == 240
    assert abs(out["params"]["alpha"] - 0.348) < 0.02 and abs(out["params"]["beta"] - 0.366) < 0.02
    assert set(out["ci"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(out["metrics"]) >= {"mean_rel_divergence", "std_rel_divergence", "rmse_log"}
    # what it takes to rerun it: the file and columns, the Huber δ, what the intervals are and their seed
    assert out["data"] == {"file": str(chin_csv), "x": ["N", "D"], "y": "loss", "holdout": None, "by": None}
    assert out["delta"] == 1e-3 and out["seed"] == 0
    assert out["ci_method"] == "95% percentile bootstrap, 20 resamples of the points"


def test_fit_json_without_intervals_or_huber_says_so(cli):
    proc = cli("fit", "--law", "m4", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--where",
               "Model=Dec-only", "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["objective"] == "lsq"
    assert out["delta"] is None and out["seed"] is None and out["ci_method"] is None and out["ci"] == {}


def test_a_file_of_several_curves_fitted_as_one_gets_a_note(cli):
    """The NMT file holds five learning curves (column Model): fitting it whole pools them, which may be meant
    but usually is not; stderr says so and names --where. One curve picked, or no text column: no note."""
    base = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--json"]
    pooled = cli(*base)
    assert pooled.returncode == 0 and json.loads(pooled.stdout)["n_points"] == 53  # all five, as asked
    assert ("note: column 'Model' holds 5 different values ('6 Enc, 6 Dec', '28 Enc, 6 Dec', '6 Enc, 28 Dec', ...), "
            "fitted together as one curve; --where Model=VALUE fits one of them, --by Model each on its own") in pooled.stderr
    assert "Domain" not in pooled.stderr  # one value: nothing to pick
    one = cli(*base, "--where", "Model=Dec-only")
    assert one.returncode == 0 and "note:" not in one.stderr


def test_rows_repeating_earlier_ones_get_a_note(cli, tmp_path):
    """A file concatenated twice fits each point twice (weights, and held-out points counted twice): said on
    stderr, with the first repeat's data row; the fit still runs as asked."""
    curve = pd.read_csv(ROOT / NMT).query("Model == 'Dec-only'")
    path = tmp_path / "twice.csv"
    pd.concat([curve, curve.iloc[:3]]).to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "Seen Examples", "--y", "Loss", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["n_points"] == len(curve) + 3
    assert (f"note: 3 row(s) repeat an earlier row exactly (the first at data row {len(curve) + 1} of the file); "
            "each copy is fitted as one more point") in proc.stderr
    once = cli("fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--where", "Model=Dec-only")
    assert once.returncode == 0 and "repeat" not in once.stderr


def test_parameter_on_a_bound_is_warned_about(cli, chin_csv, tmp_path):
    proc = cli("fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["at_bounds"] == [] and "warning" not in proc.stderr
    step = tmp_path / "step.csv"  # drops in one step, then flat: the exponent goes to its upper bound
    step.write_text("x,y\n256,0.5\n512,0.01\n1024,0.0101\n2048,0.0099\n4096,0.01\n8192,0.0100\n")
    proc = cli("fit", "--law", "power", "--data", str(step), "--x", "x", "--y", "y", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["at_bounds"] == ["b"]
    assert "warning: b ended on the law's bound (b in [0, 10])" in proc.stderr


def test_poorly_determined_parameters_are_warned_about(cli, tmp_path):
    # a·x^(−b) (c fixed at 0) measured at one x only: ∂y/∂a and ∂y/∂b are exactly collinear whatever the values and
    # the noise, so both are flagged on every draw (30 of 30, helper-98), with their errors when the covariance is
    # only near-singular, as "no standard errors" when it is singular. (The pruning curve used before flagged ε↑ and p
    # on 11 of 20 noise draws: the noise decided whether the ε↑-p ridge was near or exact. That a determined
    # parameter is not flagged is test_fit's poorly-determined test.)
    x = np.full(8, 1000.0)
    y = 2 * x**-0.5 * np.exp(0.005 * np.random.default_rng(0).standard_normal(8))
    path = tmp_path / "one_x.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--fix", "c=0", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["poorly_determined"]) == {"a", "b"}
    assert re.search(r"warning: a, b poorly determined \(a = \S+ ± \S+, b = \S+ ± \S+, asymptotic 1-σ\)", proc.stderr) or (
        "every free parameter is listed as poorly determined (a, b)" in proc.stderr)


def test_a_fit_without_covariance_warns_and_names_every_free_parameter(cli, tmp_path):
    # a broken power law fitted to a pure power law: no break, so the covariance is singular (no stderr)
    x = np.logspace(0, 6, 30)
    path = tmp_path / "pure.csv"
    pd.DataFrame({"x": x, "y": 3 * x**-0.4}).to_csv(path, index=False)
    proc = cli("fit", "--law", "bnsl", "--data", str(path), "--x", "x", "--y", "y", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["stderr"] == {} and out["covariance_estimated"] is False
    assert set(out["poorly_determined"]) == {"a", "b", "c0", "c1", "d1", "f1"}
    assert "warning: no standard errors: the covariance could not be estimated" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rosenfeld_eps0_left_free_is_noted_with_the_papers_value(cli, tmp_path):
    m, n = (v.ravel() for v in np.meshgrid(np.logspace(3, 5, 5), np.logspace(2.5, 4.5, 6)))
    y = get_law("rosenfeld").predict((m, n), {"alpha": 0.6, "b": 20.0, "beta": 0.5, "c_inf": 0.01, "eta": 0.2,
                                              "eps0": 0.9})
    path = tmp_path / "rosenfeld.csv"
    pd.DataFrame({"m": m, "n": n, "err": y}).to_csv(path, index=False)
    args = ("fit", "--law", "rosenfeld", "--data", str(path), "--x", "m,n", "--y", "err", "--json")
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    eps0 = json.loads(proc.stdout)["params"]["eps0"]
    assert f"note: eps0 was fitted (eps0 = {eps0:.4g}), not fixed as the law's paper fixes it: " in proc.stderr
    assert "0.9 for top-1 error on 10 balanced classes" in proc.stderr and "--fix eps0=VALUE" in proc.stderr
    proc = cli(*args, "--fix", "eps0=0.9")
    assert proc.returncode == 0 and json.loads(proc.stdout)["params"]["eps0"] == 0.9
    assert "note:" not in proc.stderr


def test_fit_with_holdout_and_fix(cli, tmp_path):
    proc = cli("fit", "--law", "m4", "--data", NMT, "--x", "Seen Examples", "--y", "Loss",
               "--holdout", "Training", "--fix", "eps0=5.0", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["params"]["eps0"] == 5.0 and out["holdout_metrics"]["rmse_log"] >= 0


def test_readme_m4_example_fits_one_curve(cli):
    """The README's command, as printed there: one of the five NMT curves, not all of them pooled."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^python -m workbench fit --law m4 .*?--json$", readme, re.M | re.S).group(0)
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:3] == ["python", "-m", "workbench"] and "--where" in argv
    proc = cli(*argv[3:])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    nmt = pd.read_csv(ROOT / NMT)
    curve = nmt[nmt["Model"] == out["where"]["Model"]]
    assert nmt["Model"].nunique() == 5 and out["n_points"] == (curve["Training"] == 1).sum() == 10
    bt = backtest("m4", curve, ["Seen Examples"], "Loss", holdout="Training")  # what notebook 01 fits
    assert out["params"] == pytest.approx(bt.fit.params, rel=1e-9)
    assert out["holdout_metrics"]["rmse_log"] < 0.05  # the pooled fit's was 0.10


def test_where_keeps_the_rows_matching_every_condition(cli, tmp_path):
    base = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--json"]
    runs = {"numeric": (["--where", "Training=1"], 48), "text": (["--where", "Model=Dec-only"], 11),
            "both": (["--where", "Model=Dec-only", "--where", "Training=1.0"], 10)}
    for name, (where, n_points) in runs.items():
        proc = cli(*base, *where)
        assert proc.returncode == 0, (name, proc.stderr)
        assert json.loads(proc.stdout)["n_points"] == n_points, name
    # rows keep their CSV data row: an error in a kept row names that row, not its place in the subset
    bad = pd.read_csv(ROOT / NMT)
    bad.loc[25, "Loss"] = float("nan")
    path = tmp_path / "nan.csv"
    bad.to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "Seen Examples", "--y", "Loss",
               "--where", f"Model={bad.loc[25, 'Model']}")
    assert proc.returncode == 2 and "first at data row 26 of the file" in proc.stderr


@pytest.mark.parametrize("where, needle", [
    (["Training"], "--where expects COL=VALUE, e.g. --where 'Model=6 Enc, 6 Dec'; got 'Training'"),
    (["=1"], "--where expects COL=VALUE"),
    (["Modle=Dec-only"], "--where Modle=Dec-only: column 'Modle' not found in --data data/revisiting_scaling_laws_nmt.csv; "
                         "its columns are 'Domain', 'Task', 'Model'"),
    (["Model=6 enc, 6 dec"], "no row of --data data/revisiting_scaling_laws_nmt.csv has Model = '6 enc, 6 dec'; its "
                             "values are '6 Enc, 6 Dec', '28 Enc, 6 Dec'"),
    (["Training=yes"], "--where Training=yes: column 'Training' is numeric; got 'yes', not a number"),
    (["Training=2"], "has Training = '2'; its values are 1, 0"),
    (["Model=Dec-only", "Model=TEnc-LSTM"], "--where Model is given more than once; got 'Dec-only' and 'TEnc-LSTM'"),
    (["Training=0", "Seen Examples=500000"], "no row of --data data/revisiting_scaling_laws_nmt.csv has "
                                             "Training = '0' and Seen Examples = '500000' (each holds somewhere"),
])
def test_a_bad_where_exits_2_naming_it(cli, where, needle):
    argv = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--json"]
    for w in where:
        argv += ["--where", w]
    proc = cli(*argv)
    assert proc.returncode == 2 and proc.stdout == ""
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_fit_does_not_import_torch(cli, chin_csv):
    proc = cli("fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--json")
    assert proc.returncode == 0
    import subprocess
    import sys
    code = ("import sys, runpy; sys.argv=['workbench','fit','--law','power','--data','" + NMT +
            "','--x','Seen Examples','--y','Loss','--json']\n"
            "from workbench.cli import main; main(); assert 'torch' not in sys.modules, 'torch imported'")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _bad_csv(tmp_path, mutate):
    df = planted("chinchilla", seed=0).rename(columns={"y": "loss"})
    df = mutate(df)
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("mutate, args, needle", [
    (lambda d: d.assign(loss=np.where(d.index == 3, np.nan, d["loss"])), (), "'loss' has 1 NaN/inf"),
    (lambda d: d.assign(loss=np.where(d.index == 3, np.inf, d["loss"])), (), "'loss' has 1 NaN/inf"),
    (lambda d: d.assign(N=np.where(d.index == 7, -5.0, d["N"])), (), "'N' must be > 0"),
    (lambda d: d.head(3), (), "only 3 data point"),
    (lambda d: d, ("--law", "nope"), "unknown law 'nope'"),
    (lambda d: d, ("--x", "N,Q"), "column 'Q' not found"),
    (lambda d: d, ("--fix", "zeta=1"), "no parameter 'zeta'"),
    (lambda d: d, ("--fix", "E"), "NAME=VALUE"),
    (lambda d: d, ("--fix", "E=1", "E=2"), "more than once"),
    (lambda d: d, ("--bootstrap", "1"), "bootstrap must be 0 (no intervals) or an integer >= 2 (resamples); got 1"),
    (lambda d: d, ("--bootstrap", "99999999999999999999"), "--bootstrap must be <= 100000 resamples"),
    (lambda d: d, ("--bootstrap", "5", "--seed", "-1"), "seed must be an int >= 0"),
    (lambda d: d.assign(loss=d["loss"].astype(object).where(d.index != 4, "abc")), (), "non-numeric value 'abc' at data row 5 of the file"),
    # held-out rows are checked like fitted ones, and rows are named by the CSV's data row (the first row under
    # the header is 1, so pandas' row 6 is data row 7), not by their place in the subset
    (lambda d: d.assign(fit=(d.index % 2).astype(int), loss=np.where(d.index == 6, np.nan, d["loss"])),
     ("--holdout", "fit"), "first at data row 7 of the file"),
    (lambda d: d.assign(fit=(d.index % 2).astype(int), loss=d["loss"].astype(object).where(d.index != 8, "lost")),
     ("--holdout", "fit"), "non-numeric value 'lost' at data row 9 of the file"),
    (lambda d: d.assign(fit=(d.index % 2).astype(int), N=np.where(d.index == 5, -2.0, d["N"])),
     ("--holdout", "fit"), "got -2 at data row 6 of the file"),
    # a holdout value is named plainly (not np.int64(2)), with its row
    (lambda d: d.assign(fit=np.where(d.index == 3, 2, 1)), ("--holdout", "fit"), "and 1 (fit); got 2 at data row 4 of the file"),
    (lambda d: d.assign(fit=np.where(d.index == 4, np.nan, 1)), ("--holdout", "fit"),
     "got an empty or NaN value at data row 5 of the file"),
    (lambda d: d, ("--holdout", ""), "--holdout must name a 0/1 column of the CSV; got ''"),
    # a repeated column name is refused, not renamed x.1 by pandas
    (lambda d: d.set_axis(["N", "N", "loss", "y_true"], axis=1), (), "column 'N' appears 2 times in the header"),
    (lambda d: d.set_axis(["N", "D", "loss", "loss"], axis=1), (), "column 'loss' appears 2 times in the header"),
    (lambda d: d, ("--x", "N,N"), "--x lists 'N' more than once (each input of law 'chinchilla' needs its own column)"),
    (lambda d: d, ("--x", " D , D"), "--x lists 'D' more than once"),
    (lambda d: d, ("--fix", "E=inf"), "--fix E: the value must be a finite number; got 'inf'"),
    (lambda d: d, ("--fix", "alpha=nan"), "--fix alpha: the value must be a finite number; got 'nan'"),
    # a δ above ~1e154 overflowed in scipy (f_scale**2): the last-resort handler, which did not name --delta
    (lambda d: d, ("--objective", "huber", "--delta", "1e300"), "--delta must be a number in [1e-12, 1e+100]"),
    (lambda d: d, ("--delta", "0"), "--delta must be a number in [1e-12, 1e+100] (a larger Huber δ is plain least "
                                    "squares, a smaller one least absolute deviations); got 0.0"),
    # a δ below ~1e-160 raised a ValueError traceback in scipy's polish (exit 1); 1e-40 ended on the bounds
    (lambda d: d, ("--delta", "1e-170"), "--delta must be a number in [1e-12, 1e+100]"),
    (lambda d: d, ("--delta", "1e-40"), "--delta must be a number in [1e-12, 1e+100]"),
    # --delta is refused, not ignored, where the objective is not Huber's
    (lambda d: d, ("--objective", "lsq", "--delta", "0.1"), "--delta is the Huber δ, used only by the huber objective; "
                                                           "law 'chinchilla' is fitted with 'lsq': drop --delta"),
    (lambda d: d, ("--law", "power", "--x", "N", "--delta", "0.1"), "law 'power' is fitted with 'lsq' (its default)"),
    # the measured column given as an input too: a typo, never a model
    (lambda d: d, ("--x", "N,loss"), "the measured column 'loss' is also one of the input columns ['N', 'loss']"),
    # a header written with ', ' between names: ' D' would show as an invisible D in the list of columns
    (lambda d: d.rename(columns={"D": " D"}), (), "the header has ' D', with spaces around the name"),
    (lambda d: d.assign(fit=(d.index % 2).astype(int)), ("--holdout", " fit"),
     "holdout column ' fit' not found; available columns: N, D, loss, y_true, fit (the name given has spaces around "
     "it; the column is 'fit')"),
])
def test_bad_input_exit_2(cli, tmp_path, mutate, args, needle):
    base = {"--law": "chinchilla", "--data": _bad_csv(tmp_path, mutate), "--x": "N,D", "--y": "loss"}
    extra = list(args)
    for k in list(base):
        if k in extra[::2]:
            base.pop(k)
    argv = ["fit"] + [v for kv in base.items() for v in kv] + extra + ["--json"]
    proc = cli(*argv)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert needle in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_missing_file_exit_2(cli):
    proc = cli("fit", "--law", "power", "--data", "no/such.csv", "--x", "x", "--y", "y", "--json")
    assert proc.returncode == 2 and "not found: no/such.csv" in proc.stderr


@pytest.mark.parametrize("data, needle", [("", "--data must name a CSV file; got ''"),
                                          ("data", "--data must name a CSV file, not a folder; got 'data'"),
                                          # was "--data file not found: /dev/null"
                                          ("/dev/null", "'/dev/null' exists but is not a regular file"),
                                          ("malformed", "not a readable CSV file: Error tokenizing data.")])
def test_bad_data_path_or_csv_is_one_line_naming_it(cli, tmp_path, data, needle):
    if data == "malformed":
        data = str(tmp_path / "malformed.csv")
        (tmp_path / "malformed.csv").write_text("x,y\n1,2\n2,1,3,4\n3,0.5\n")
    proc = cli("fit", "--law", "power", "--data", data, "--x", "x", "--y", "y", "--json")
    assert proc.returncode == 2 and proc.stdout == "" and needle in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_comma_ending_every_line_is_named_not_read_as_shifted_columns(cli, tmp_path):
    """pandas makes the first field the index when data rows have one field more than the header: every
    column shifted by one, and the error named a 'row' by a value of N."""
    path = tmp_path / "trailing.csv"
    path.write_text("N,D,loss\n" + "".join(f"{n},{d},{2 + 1e3 / n ** 0.3 + 1e3 / d ** 0.3},\n"
                                            for n in (1e7, 1e8, 1e9) for d in (1e9, 1e10, 1e11)))
    proc = cli("fit", "--law", "chinchilla", "--data", str(path), "--x", "N,D", "--y", "loss", "--json")
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert (f"--data {path}: its first data row has 4 fields but the header names 3 (N, D, loss), which would "
            "shift every column; a comma at the end of each line does this") in proc.stderr


@pytest.mark.parametrize("sep, shown, decimal", [(";", "';'", "."), ("\t", "a tab", "."), (";", "';'", ",")])
def test_a_file_with_another_separator_is_named_not_reported_as_a_missing_column(cli, tmp_path, sep, shown, decimal):
    # before: "column 'N' not found; available columns: N;D;loss", which reads as if N were there; with decimal
    # commas (a European spreadsheet's file) "its first data row has 5 fields ... a comma at the end of each line"
    path = tmp_path / "other.csv"
    path.write_text(sep.join(["N", "D", "loss"]) + "\n" + "".join(
        f"{n:g}{sep}{10 * n:g}{sep}{2 + n ** -0.3:.6f}\n".replace(".", decimal) for n in (1e7, 1e8, 1e9, 1e10)))
    proc = cli("fit", "--law", "chinchilla", "--data", str(path), "--x", "N,D", "--y", "loss", "--json")
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.strip() == (f"error: --data {path} reads as one column, {sep.join(['N', 'D', 'loss'])!r}: its "
                                   f"fields are separated by {shown}, and the CLI reads comma-separated files; save it "
                                   "with commas between fields (and points as the decimal mark)")


def test_delta_is_taken_with_the_huber_objective(cli, chin_csv):
    proc = cli("fit", "--law", "power", "--data", str(chin_csv), "--x", "N", "--y", "loss", "--objective", "huber",
               "--delta", "0.01", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["objective"] == "huber"


def test_an_option_given_twice_exits_2_but_fix_repeats(cli, chin_csv):
    base = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--json"]
    proc = cli(*base, "--data", str(chin_csv))
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert f"--data is given more than once; got '{NMT}' and '{chin_csv}'" in proc.stderr
    proc = cli(*base, "--fix", "a=1", "--fix", "b=0.5")  # --fix extends: repeatable
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fixed"] == {"a": 1.0, "b": 0.5}


def test_missing_required_argument_exit_2(cli):
    proc = cli("fit", "--law", "power")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_a_column_naming_each_row_once_is_not_a_curve_label(cli, tmp_path):
    """sweep's table has a text column `key` with one value per row (the row's cache hash): before, fitting
    it (the README's rosenfeld example) noted that the file held 24 curves and offered `--where key=VALUE`,
    a one-point fit. A column whose every value names one row is an identifier: no note; a real label
    column beside it is still named."""
    rows = planted("power", noise=0.01, seed=1).rename(columns={"y": "loss"})
    rows["key"] = [f"{i:024x}" for i in range(len(rows))]
    rows["family"] = "mlp"
    path = tmp_path / "keyed.csv"
    rows.to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "loss", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "note:" not in proc.stderr
    rows["model"] = np.where(np.arange(len(rows)) % 2, "small", "large")
    rows.to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "loss", "--json")
    assert proc.returncode == 0 and "note: column 'model' holds 2 different values" in proc.stderr


def test_by_fits_each_curve_of_a_file_on_its_own_as_where_fits_one(cli):
    """``--by Model`` on the NMT file: five fits in the file's order, each the one ``--where Model=...`` gives
    (parameters and held-out tail), and the mean held-out metrics over the curves."""
    base = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--holdout", "Training",
            "--json"]
    proc = cli(*base, "--by", "Model")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    models = ["6 Enc, 6 Dec", "28 Enc, 6 Dec", "6 Enc, 28 Dec", "Dec-only", "TEnc-LSTM"]
    assert out["by"] == ["Model"] and [g["group"] for g in out["groups"]] == [{"Model": m} for m in models]
    assert out["data"]["by"] == ["Model"]
    for model in ("6 Enc, 6 Dec", "TEnc-LSTM"):
        one = json.loads(cli(*base, "--where", f"Model={model}").stdout)
        got = out["groups"][models.index(model)]
        assert got["params"] == pytest.approx(one["params"], rel=1e-9)
        assert got["holdout_metrics"] == pytest.approx(one["holdout_metrics"], rel=1e-9)
        assert got["n_points"] == one["n_points"]
    rmse = [g["holdout_metrics"]["rmse_log"] for g in out["groups"]]
    # one held-out point per curve: the pooled std of δ is the spread of the curves' own δ (their own stds are 0)
    delta = [g["holdout_metrics"]["mean_rel_divergence"] for g in out["groups"]]
    assert [g["n_holdout"] for g in out["groups"]] == [1] * 5 and np.std(delta) > 0.005
    assert out["summary"] == {"groups": 5, "fitted": 5, "holdout_metrics_mean": pytest.approx(
        {k: np.mean([g["holdout_metrics"][k] for g in out["groups"]]) for k in out["groups"][0]["holdout_metrics"]}),
        "holdout_pooled": {"n": 5, "mean_rel_divergence": pytest.approx(np.mean(delta)),
                           "std_rel_divergence": pytest.approx(np.std(delta))}}
    assert out["summary"]["holdout_metrics_mean"]["rmse_log"] == pytest.approx(np.mean(rmse))
    assert "note: column 'Model'" not in proc.stderr  # the curves are fitted apart: nothing pooled


def test_by_names_the_group_a_warning_or_an_error_is_about_and_fits_the_others(cli, tmp_path):
    nmt = pd.read_csv(ROOT / NMT)
    short = nmt[nmt["Model"] != "Dec-only"]
    short = pd.concat([short, nmt[nmt["Model"] == "Dec-only"].head(2)])  # two points: too few for m4's five
    path = tmp_path / "curves.csv"
    short.to_csv(path, index=False)
    proc = cli("fit", "--law", "m4", "--data", str(path), "--x", "Seen Examples", "--y", "Loss", "--by", "Model",
               "--json")
    assert proc.returncode == 2  # not every group could be fitted; the others are printed
    out = json.loads(proc.stdout)
    assert out["failed"] == [{"Model": "Dec-only"}] and out["summary"]["fitted"] == 4
    bad = out["groups"][-1]
    assert bad["group"] == {"Model": "Dec-only"} and bad["n_rows"] == 2 and "params" not in bad
    assert re.search(r"^Model='Dec-only': error: .*2", proc.stderr, re.M)
    assert all("params" in g for g in out["groups"][:-1])
    # every other stderr line names its curve
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("Model='") for ln in lines), lines


@pytest.mark.parametrize("by, message", [
    ("Modl", "--by Modl: column 'Modl' not found in --data"),
    ("Loss", "column 'Loss' is an input, the loss or the holdout column"),
    ("Model,Model", "--by lists 'Model' more than once"),
    (" , ", "--by must name one or more columns"),
])
def test_by_refuses_a_column_it_cannot_group_by(cli, by, message):
    proc = cli("fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--by", by, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_by_says_an_error_common_to_every_group_once(cli):
    proc = cli("fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--by", "Model",
               "--fix", "nope=1", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "nope" in proc.stderr


def test_fit_draws_feed_allocate_intervals(cli, chin_csv, tmp_path):
    """fit --bootstrap N --draws FILE writes the refits; allocate --draws turns them into intervals on N and D."""
    draws, fit_json = tmp_path / "draws.csv", tmp_path / "fit.json"
    proc = cli("fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss", "--bootstrap", "30",
               "--draws", str(draws), "--json")
    assert proc.returncode == 0, proc.stderr
    fit_json.write_text(proc.stdout)
    out = json.loads(proc.stdout)
    table = pd.read_csv(draws)
    assert out["draws"] == str(draws) and list(table.columns) == ["E", "A", "B", "alpha", "beta"] and len(table) == 30
    for name, (low, high) in out["ci"].items():  # the file holds the draws the intervals were read from
        assert table[name].quantile(0.025) == pytest.approx(low) and table[name].quantile(0.975) == pytest.approx(high)
    alloc = cli("allocate", "--law", "chinchilla", "--params", str(fit_json), "--compute", "5.76e23", "--draws",
                str(draws), "--json")
    assert alloc.returncode == 0, alloc.stderr
    got = json.loads(alloc.stdout)
    for key in ("N", "D", "tokens_per_param", "loss"):
        assert got["ci"][key][0] < got[key] < got["ci"][key][1], key
    assert got["ci_method"] == f"95% percentile over 30 bootstrap draws of the fit ({draws})"


@pytest.mark.parametrize("case, message", [
    ("no-bootstrap", "--draws writes the bootstrap refits: add --bootstrap N"),
    ("folder", "--draws must name a file, not a folder"),
])
def test_fit_draws_refused_before_fitting(cli, chin_csv, tmp_path, case, message):
    args = ["fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss", "--json"]
    args += {"no-bootstrap": ["--draws", str(tmp_path / "d.csv")],
             "folder": ["--bootstrap", "5", "--draws", str(tmp_path)]}[case]
    proc = cli(*args)
    assert proc.returncode == 2 and proc.stdout == "" and message in proc.stderr


@pytest.mark.parametrize("content, message", [
    ("Model,E,A,B,alpha,beta\nx,1.8,400,400,0.3,0.3\nx,1.8,400,400,0.3,0.3\n",
     "unknown ['Model'] (a fit --by file holds every group's draws"),
    ("E,A,B,alpha\n1.8,400,400,0.3\n1.8,400,400,0.3\n", "missing ['beta']"),
    # a JSON file: its fragments were listed as a 600-character "unknown [...]"
    ('{"E": 1.8, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28, "more": [1, 2, 3, 4, 5, 6, 7, 8, 9]}\n',
     "(it reads as no CSV of draws: write one with fit --bootstrap N --draws FILE.csv)"),
    ("E,A,B,alpha,beta\n1.8,400,400,0.3,0.3\n1.8,400,400,0.3,nan\n", "column 'beta' must hold finite numbers; data row 2"),
    ("E,A,B,alpha,beta\n1.8,400,400,0.3,0.3\n", "holds 1 draw(s); intervals need at least 2"),
    (None, "--draws file not found"),
])
def test_allocate_names_a_draws_file_it_cannot_use(cli, tmp_path, content, message):
    path = tmp_path / "draws.csv"
    if content is not None:
        path.write_text(content)
    proc = cli("allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "1e22", "--draws", str(path),
               "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_without_json_fit_prints_a_table_a_person_reads(cli, chin_csv):
    proc = cli("fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss", "--bootstrap", "10",
               "--fix", "E=1.82")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(cli("fit", "--law", "chinchilla", "--data", str(chin_csv), "--x", "N,D", "--y", "loss",
                         "--bootstrap", "10", "--fix", "E=1.82", "--json").stdout)
    text = proc.stdout
    assert text.startswith(f"chinchilla fitted to {chin_csv} (x: N, D; y: loss)\n240 points, objective huber")
    rows = {line.split()[0]: line for line in text.splitlines()}
    assert rows["E"].split()[1:] == ["1.82", "fixed"]
    alpha = out["params"]["alpha"]
    assert f"{alpha:.6g}" in rows["alpha"] and f"[{out['ci']['alpha'][0]:.4g}, {out['ci']['alpha'][1]:.4g}]" in rows["alpha"]
    assert f"RMSE(log) {out['metrics']['rmse_log']:.4g}" in rows["fit:"]
    grouped = cli("fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--by", "Model",
                  "--holdout", "Training")
    assert grouped.returncode == 0
    lines = grouped.stdout.splitlines()
    assert lines[0].endswith("one fit per Model") and "held-out RMSE(log)" in lines[1]
    assert sum(line.lstrip().startswith(("6 Enc", "28 Enc", "Dec-only", "TEnc")) for line in lines) == 5
    assert lines[-2] == "5 of 5 groups fitted" and lines[-1].startswith("held-out (Training = 0), mean over the 5 fitted groups")


def test_without_json_by_with_bootstrap_shows_each_groups_intervals(cli):
    """--by with --bootstrap printed the values alone: the intervals were only in the JSON."""
    args = ["fit", "--law", "power", "--data", NMT, "--x", "Seen Examples", "--y", "Loss", "--by", "Model",
            "--bootstrap", "10", "--fix", "c=0"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(cli(*args, "--json").stdout)
    lines = proc.stdout.splitlines()
    for g in out["groups"]:
        row = next(line for line in lines if line.lstrip().startswith(g["group"]["Model"]))
        lo, hi = g["ci"]["b"]
        assert f"{g['params']['b']:.4g} [{lo:.3g}, {hi:.3g}]" in row
        assert " 0 " in row + " " and "[0, 0]" not in row  # the fixed c has no interval
    assert lines[-1] == "[intervals] in brackets: 95% percentile bootstrap, 10 resamples of the points"


def test_without_json_allocate_prints_the_optimum_and_its_intervals(cli, tmp_path):
    draws = tmp_path / "draws.csv"
    pd.DataFrame([{"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": a, "beta": 0.366} for a in (0.33, 0.348, 0.36)]
                 ).to_csv(draws, index=False)
    proc = cli("allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "5.76e23", "--draws",
               str(draws), "--inference-tokens", "1e13")
    assert proc.returncode == 0, proc.stderr
    first, second, third = proc.stdout.splitlines()
    assert first.startswith("chinchilla at C = 5.76e+23 FLOPs, compute-optimal: N = 7.2") and "(18.4 tokens" in first
    assert second.startswith("  intervals: N ") and "over 3 bootstrap draws" in second
    assert third.startswith("inference-aware, serving 1e+13 tokens")


def test_curves_labelled_by_a_number_column_get_a_note_naming_by(cli, tmp_path):
    # before: two learning curves told apart only by a numeric column (a model size) were fitted as one, no word
    nmt = pd.read_csv(ROOT / NMT)
    two = nmt[nmt["Model"].isin(["6 Enc, 6 Dec", "Dec-only"])].copy()
    two["params"] = two["Model"].map({"6 Enc, 6 Dec": 1.2e8, "Dec-only": 3.5e8})
    path = tmp_path / "numeric.csv"
    two.drop(columns=["Model", "Domain", "Task"]).to_csv(path, index=False)
    base = ["fit", "--law", "power", "--data", str(path), "--x", "Seen Examples", "--y", "Loss", "--json"]
    pooled = cli(*base)
    assert pooled.returncode == 0
    assert ("note: rows of equal Seen Examples differ in column 'params' (2 values: 1.2e+08, 3.5e+08), fitted "
            "together as one curve; if they label different curves, --by params fits each") in pooled.stderr
    apart = cli(*base, "--by", "params")
    assert apart.returncode == 0 and "note:" not in apart.stderr
    assert [g["group"] for g in json.loads(apart.stdout)["groups"]] == [{"params": 1.2e8}, {"params": 3.5e8}]
    one = cli(*base, "--where", "params=1.2e8")  # one curve: nothing differs among equal inputs
    assert one.returncode == 0 and "note:" not in one.stderr


def test_by_groups_that_all_fail_are_each_named_and_a_group_column_keeps_its_values_in_the_table(cli, tmp_path):
    # before: every group failing alike was one unnamed error with no output; a group column named "points" was
    # overwritten by the point counts in the text table, one named after a parameter overwrote its draws
    rows = [{"curve": c, "x": x, "y": 2.0 * x ** -0.5 + 0.1, "points": p, "c": c}
            for c, n, p in (("A", 3, 7), ("B", 3, 8)) for x in np.geomspace(10, 1e4, n)]
    path = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    base = ["fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y"]
    short = cli(*base, "--by", "curve", "--json")
    assert short.returncode == 2 and json.loads(short.stdout)["failed"] == [{"curve": "A"}, {"curve": "B"}]
    assert [line.split(":")[0] for line in short.stderr.splitlines()] == ["curve='A'", "curve='B'"]
    longer = pd.concat([pd.DataFrame(rows)] * 2).assign(x=lambda d: d["x"] * np.repeat([1.0, 1.5], len(rows)))
    longer.to_csv(path, index=False)
    table = cli(*base, "--by", "points")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[1].split()[:3] == ["points", "points", "a"]
    assert [line.split()[:2] for line in lines[2:4]] == [["7", "6"], ["8", "6"]]  # the label, then the count
    refused = cli(*base, "--by", "c", "--bootstrap", "3", "--draws", str(tmp_path / "d.csv"))
    assert refused.returncode == 2 and "column 'c' has the name of a parameter of law 'power'" in refused.stderr
    assert not (tmp_path / "d.csv").exists()


def test_draws_may_not_overwrite_the_data(cli, chin_csv, tmp_path):
    copy = tmp_path / "runs.csv"
    copy.write_bytes(chin_csv.read_bytes())
    proc = cli("fit", "--law", "chinchilla", "--data", str(copy), "--x", "N,D", "--y", "loss", "--bootstrap", "3",
               "--draws", str(tmp_path / "." / "runs.csv"))
    assert proc.returncode == 2 and "is the --data file" in proc.stderr
    assert copy.read_bytes() == chin_csv.read_bytes()


def test_by_keeps_labels_such_as_na_and_none_apart(cli, tmp_path):
    # before: pandas read the labels "NA" and "None" as missing, and those two curves were fitted as one
    x = np.geomspace(10, 1e4, 6)
    rows = [{"s": label, "x": v, "y": scale * v ** -0.5 + 0.1} for label, scale in (("A", 1.0), ("NA", 2.0),
                                                                                      ("None", 4.0), ("", 8.0))
            for v in x]
    path = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--by", "s", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [g["group"]["s"] for g in out["groups"]] == ["A", "NA", "None", None]  # an empty cell stays missing
    assert all(g["n_points"] == 6 for g in out["groups"])
    text = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--by", "s").stdout
    assert "(missing)" in text


def test_where_finds_labels_such_as_na_as_written(cli, tmp_path):
    # before: pandas read "NA" as missing, so --where s=NA matched no row ("its values are 'A'"), and a column
    # holding only "NA" was numeric ("column 's' is numeric; got 'NA'")
    x = np.geomspace(10, 1e4, 6)
    rows = [{"s": label, "x": v, "y": scale * v ** -0.5 + 0.1} for label, scale in (("A", 1.0), ("NA", 2.0)) for v in x]
    both, only_na = tmp_path / "both.csv", tmp_path / "only_na.csv"
    pd.DataFrame(rows).to_csv(both, index=False)
    pd.DataFrame(rows[6:]).to_csv(only_na, index=False)
    for path in (both, only_na):
        proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--where", "s=NA", "--json")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["n_points"] == 6 and out["params"]["a"] == pytest.approx(2.0, rel=1e-6)
    proc = cli("fit", "--law", "power", "--data", str(both), "--x", "x", "--y", "y", "--where", "s=nan")
    assert proc.returncode == 2 and "its values are 'A', 'NA'" in proc.stderr


def test_where_finds_a_label_read_as_missing_in_a_column_of_numbers(cli, tmp_path):
    # before: labels 1 and NA made pandas read a numeric column, and --where s=NA was refused ("column 's' is
    # numeric; got 'NA', not a number") while --by s kept the NA curve apart
    x = np.geomspace(10, 1e4, 6)
    rows = [{"s": label, "x": v, "y": scale * v ** -0.5 + 0.1} for label, scale in (("1", 1.0), ("NA", 2.0)) for v in x]
    path = tmp_path / "numbers.csv"
    rows += [{"s": "NaN", "x": v, "y": 4.0 * v ** -0.5 + 0.1} for v in x]  # also read as missing ("NaN" equals nothing)
    pd.DataFrame(rows).to_csv(path, index=False)
    for label, scale in (("NA", 2.0), ("NaN", 4.0), ("1", 1.0), ("1.0", 1.0)):
        proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--where", f"s={label}",
                   "--json")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["n_points"] == 6 and out["params"]["a"] == pytest.approx(scale, rel=1e-6), label


def test_by_names_a_column_with_a_comma_whole_and_aligns_wide_labels(cli, tmp_path):
    # before: "--by 'Model, size'" was split into 'Model' and 'size' (not found), and a label of wide characters
    # shifted its row's cells left of the header's
    x = np.geomspace(10, 1e4, 8)
    rows = [{"Model, size": label, "x": v, "y": scale * v ** -0.4 + 0.05} for label, scale in (("大模型", 2.0),
                                                                                               ("small", 3.0))
            for v in x]
    path = tmp_path / "wide.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x", "--y", "y", "--by", "Model, size")
    assert proc.returncode == 0, proc.stderr
    import unicodedata

    def cells(line):  # terminal columns: a wide character takes two
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)

    header, wide, narrow = proc.stdout.splitlines()[1:4]
    assert wide.lstrip().startswith("大模型") and narrow.lstrip().startswith("small")
    assert cells(header) == cells(wide) == cells(narrow)
    # with another column beside it, and an input column whose name holds a comma (both were split apart)
    frame = pd.DataFrame(rows).rename(columns={"x": "x, tokens"})
    frame["dom"] = ["a", "b"] * 8
    frame.to_csv(path, index=False)
    proc = cli("fit", "--law", "power", "--data", str(path), "--x", "x, tokens", "--y", "y", "--by", "Model, size,dom",
               "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["data"]["x"] == ["x, tokens"] and out["data"]["by"] == ["Model, size", "dom"]
    assert [(g["group"]["Model, size"], g["group"]["dom"]) for g in out["groups"]] == [
        ("大模型", "a"), ("大模型", "b"), ("small", "a"), ("small", "b")]


def test_split_columns_takes_the_longest_run_of_pieces_naming_a_column():
    from workbench.commands.fit import split_columns

    assert split_columns("Model, size,dom", ["Model, size", "dom"]) == ["Model, size", "dom"]
    assert split_columns("Model, size,dom", ["Model", "size", "dom"]) == ["Model", "size", "dom"]
    assert split_columns("a,b", ["a", "b", "a,b"]) == ["a,b"]  # the whole name first
    assert split_columns(" N , D ,", ["N", "D"]) == ["N", "D"]
    assert split_columns("x,unknown", ["x"]) == ["x", "unknown"]  # the caller names what is not found
    assert split_columns("a,b,c", ["a", "a,b", "b,c"]) == ["a", "b,c"]  # not 'a,b' then 'c', which is none
    assert split_columns("", ["a"]) == [] and split_columns("N,,D", ["N", "D"]) == ["N", "D"]


def test_pooled_divergence_is_the_std_of_every_held_out_point_of_the_groups_at_once():
    from workbench.commands.fit import _pooled_divergence
    from workbench.objectives import fit_metrics

    rng = np.random.default_rng(3)
    parts = [rng.normal(loc, scale, n) for loc, scale, n in ((0.02, 0.01, 7), (-0.05, 0.03, 2), (0.1, 0.0, 1))]
    groups = [{"n_holdout": len(d), "holdout_metrics": fit_metrics(np.ones(len(d)), 1 + d)} for d in parts]
    pooled = _pooled_divergence(groups)
    every = np.concatenate(parts)
    assert pooled == {"n": 10, "mean_rel_divergence": pytest.approx(every.mean()),
                      "std_rel_divergence": pytest.approx(every.std())}


def _stderr_on_a_terminal(*args: str) -> str:
    """``python -m workbench ARGS`` with stderr on a pseudo-terminal (as in a shell), stdout piped: stderr's text."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()
    # a terminal's size: a pty starts at 0 x 0, and tqdm fits its bar to 0 columns (writes nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdout=subprocess.PIPE, stderr=follower,
                            cwd=ROOT, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode(errors="replace")


def test_bars_over_the_groups_and_the_bootstrap_refits_show_on_a_terminal_only(tmp_path):
    # before: a bootstrap of one M4 curve ran ~30 s (five curves with --by, over four minutes) with no word between
    # the groups' bar steps; the refits, polished one by one, now have their own bar on a terminal
    data = tmp_path / "runs.csv"
    planted("chinchilla").rename(columns={"y": "loss"}).to_csv(data, index=False)
    args = ["fit", "--law", "chinchilla", "--data", str(data), "--x", "N,D", "--y", "loss", "--bootstrap", "30", "--json"]
    assert "bootstrap refits" in _stderr_on_a_terminal(*args)
    assert "bootstrap refits" not in _stderr_on_a_terminal(*args, "--no-progress")
    piped = run_cli(*args)  # a log file gets no bar
    assert piped.returncode == 0 and "bootstrap refits" not in piped.stderr
    by = ["fit", "--law", "power", "--data", "data/revisiting_scaling_laws_nmt.csv", "--x", "Seen Examples", "--y", "Loss",
          "--by", "Model", "--json"]
    assert "fits:" in _stderr_on_a_terminal(*by) and "fits:" not in _stderr_on_a_terminal(*by, "--no-progress")
