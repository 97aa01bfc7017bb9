"""Known-answer tests for what no other test pinned down in the CLI (its exit codes, one-line messages, the
checks each verb makes before any work, strict JSON), the error helpers, and the report's small helpers: session
29's mutation review (104 hand-made changes, 51 let through by the rest of the suite). Every expectation is worked
out by hand in its comment; nothing trains and no notebook runs (run_study, run_sweep, run_prune, build_reports
and papermill are replaced where a verb would call them)."""

from __future__ import annotations  # the dataclass below declares its field types as text, as the library's configs do

import dataclasses
import json
import signal
import warnings

import numpy as np
import pandas as pd
import pytest

from workbench import cli
from workbench.errors import (DATA_ROW, CacheWarning, InputError, Terminated, canonical_numbers, check_seed,
                              describe_non_real, is_real_number, no_missing, non_real, row_name)


# ----------------------------------------------------------------------------------------------
# workbench/errors.py


def test_a_0d_unsigned_array_is_a_real_number():
    # np.array(3, dtype=uint8) has dtype kind 'u': the docstring's "0-d numeric array" covers it, as it covers 'i'
    # and 'f'; a bool 0-d array (kind 'b') is no number
    assert is_real_number(np.array(3, dtype=np.uint8)) and is_real_number(np.array(3, dtype=np.int16))
    assert not is_real_number(np.array(True))


def test_check_seed_takes_zero_and_refuses_negatives_bools_and_floats():
    # "an int >= 0": 0 is the smallest seed numpy's default_rng takes
    assert check_seed(0) == 0 and check_seed(np.int64(7)) == 7 and type(check_seed(np.int64(7))) is int
    for bad in (-1, True, 2.0, "3", None):
        with pytest.raises(InputError, match=r"^seed must be an int >= 0 \(it seeds numpy's default_rng\); got "):
            check_seed(bad)


def test_no_missing_counts_the_nans_and_names_the_first_rows_label():
    # rows 0, 1, 2, 3 with NaN at 1 and 3: 2 missing, the first in row 1 (not row 0, the table's first row)
    df = pd.DataFrame({"loss": [1.0, np.nan, 2.0, np.nan]})
    with pytest.raises(InputError, match=r"column 'loss' must have no missing \(NaN\) values; got 2 \(first in row 1\)"):
        no_missing(df, ["loss"])
    no_missing(df.dropna(), ["loss", "loss"])  # none missing: no error (a repeated column is checked once)
    # an int64 index (not a RangeIndex: a filtered or set_index table) is named as a plain number (helper-90: the
    # message said "row np.int64(11)"), and a CLI table's row as a data row of its file
    with pytest.raises(InputError, match=r"got 1 \(first in row 11\): drop"):
        no_missing(pd.DataFrame({"err": [0.1, np.nan]}, index=np.array([10, 11])), ["err"])
    with pytest.raises(InputError, match=r"got 1 \(first in data row 2 of the file\): drop"):
        no_missing(pd.DataFrame({"err": [0.1, np.nan]}, index=pd.RangeIndex(1, 3, name=DATA_ROW)), ["err"])


def test_row_name_counts_a_cli_csv_row_as_a_data_row_of_the_file():
    assert row_name(pd.RangeIndex(1, 4, name=DATA_ROW), 3) == "data row 3 of the file"
    assert row_name(pd.RangeIndex(0, 3), 2) == "row 2"



def test_column_not_found_gives_the_spaces_hint_only_when_the_name_has_spaces():
    from workbench.errors import column_not_found

    # the int 0 is not the column '0', but it has no spaces around it: no hint about spaces
    assert str(column_not_found(0, ["0", "y"])) == "column 0 not found; available columns: 0, y"

@dataclasses.dataclass(frozen=True)
class _Config:
    n: int = 1
    rate: float = 0.5
    flag: bool = False
    widths: tuple[int, ...] = (1,)


def test_canonical_numbers_gives_each_field_its_declared_plain_type():
    cfg = _Config(n=np.int64(8), rate=1, flag=np.bool_(True), widths=np.array([4, 8]))
    canonical_numbers(cfg)
    # by hand: 8 (int), 1.0 (float), True (bool), (4, 8) (tuple of ints)
    assert (type(cfg.n), type(cfg.rate), type(cfg.flag)) == (int, float, bool)
    assert cfg.widths == (4, 8) and all(type(w) is int for w in cfg.widths)
    # not whole: left as given for validate to name (int(2.5) would be a silent 2)
    odd = _Config(n=2.5, widths=[3.0, 2.5])
    canonical_numbers(odd)
    assert odd.n == 2.5 and type(odd.n) is float and odd.widths == (3, 2.5) and type(odd.widths[0]) is int


def test_non_real_finds_complex_and_numpy_bools_and_names_nested_positions():
    # a complex array: its first entry, at index 0
    assert non_real(np.array([1 + 2j, 3.0])) == (0, 1 + 2j)
    # numpy reads [1.0, np.True_] as floats [1.0, 1.0]: the np.bool_ at index 1 must still be found
    i, v = non_real([1.0, np.bool_(True)])
    assert i == 1 and v is np.True_
    # nested: row 1, column 1 of a 2 x 2 table (flat position 3)
    assert non_real([[1.0, 2.0], [3.0, True]]) == ((1, 1), True)
    assert non_real([1.0, 2.0]) is None and non_real(["1e9"], text=False) is None
    assert describe_non_real(np.bool_(False)) == "the boolean False (it would be read as 1.0 or 0.0)"


# ----------------------------------------------------------------------------------------------
# workbench/cli.py: exit codes and one-line messages (a verb's run replaced, so nothing is computed)

ALLOCATE = ["allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "1e22"]


def _with_run(monkeypatch, run):
    from workbench.commands import allocate

    monkeypatch.setattr(allocate, "run", run)


def test_an_unknown_verb_is_one_line_and_exit_2(capsys):
    assert cli.main(["bogus", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("error: unknown verb 'bogus'; expected one of fit, allocate, report, sweep, prune, "
                                 "costtune\n")


def test_a_value_starting_with_a_dot_after_the_minus_reaches_the_verb(capsys):
    # '-.5' is a number (Python's float('-.5') == -0.5): the verb's own check names it, not argparse's
    # "expected one argument"
    assert cli.main(["allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "-.5", "--json"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --compute must be a finite number > 0; got '-.5'\n"


def test_json_output_is_strict_json_with_numpy_scalars_as_numbers(monkeypatch, capsys):
    # inf and -inf are not JSON: both become null, as NaN does; numpy scalars become plain numbers
    _with_run(monkeypatch, lambda args: {"a": float("inf"), "b": [float("-inf"), np.float32(0.5)], "n": np.int64(3),
                                         "c": float("nan")})
    assert cli.main([*ALLOCATE, "--json"]) == 0
    out = capsys.readouterr().out

    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")

    assert json.loads(out, parse_constant=refuse) == {"a": None, "b": [None, 0.5], "n": 3, "c": None}
    assert out.count("\n") == 1


@pytest.mark.parametrize("raised, code, line", [
    (Terminated(), 143, "allocate interrupted (SIGTERM)\n"),  # 128 + SIGTERM (15)
    (KeyboardInterrupt(), 130, "allocate interrupted (Ctrl-C)\n"),  # 128 + SIGINT (2)
    (FileNotFoundError(2, "No such file or directory", "/nowhere/x.csv"), 2, "error: file not found: /nowhere/x.csv\n"),
    (OverflowError("int too large to convert to float"), 2,
     "error: allocate: a value is too large for this machine (OverflowError: int too large to convert to float); "
     "use smaller numbers\n"),
    (InputError("--x must be\npositive"), 2, "error: --x must be positive\n"),
])
def test_what_a_verb_raises_is_one_line_and_its_exit_code(monkeypatch, capsys, raised, code, line):
    def run(args):
        raise raised

    _with_run(monkeypatch, run)
    assert cli.main([*ALLOCATE, "--json"]) == code
    out, err = capsys.readouterr()
    assert out == "" and err == line


@pytest.mark.parametrize("result, code", [
    ({"failed": False}, 0), ({"failed": True}, 1), ({"failed": True, "bad_input": True}, 2), (None, 0),
])
def test_a_result_that_failed_exits_1_or_2_when_only_bad_input_failed(monkeypatch, capsys, result, code):
    _with_run(monkeypatch, lambda args: result)
    assert cli.main([*ALLOCATE, "--json"]) == code


def test_a_cache_warning_is_one_line_on_stderr(monkeypatch, capsys):
    def run(args):
        warnings.warn("ignoring the cache file x.json\n   (unreadable);  computing it again", CacheWarning)
        return None

    _with_run(monkeypatch, run)
    assert cli.main(ALLOCATE) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == "warning: ignoring the cache file x.json (unreadable); computing it again\n"


def test_entry_leaves_an_ignored_sigterm_ignored_and_exits_143_at_once(monkeypatch):
    """A nohup-style launcher starts the process with SIGTERM ignored: entry() keeps it so. A run stopped by
    SIGTERM (143) or Ctrl-C (130) leaves with os._exit, as the docstring says."""
    seen = {}
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    class Exited(Exception):
        pass

    def fake_exit(code):
        seen["os._exit"] = code
        raise Exited

    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        monkeypatch.setattr(cli, "main", lambda: seen.setdefault("during", signal.getsignal(signal.SIGTERM)) and 0)
        with pytest.raises(SystemExit) as done:
            cli.entry()
        assert done.value.code == 0 and seen["during"] == signal.SIG_IGN
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        seen.clear()
        monkeypatch.setattr(cli, "main", lambda: (seen.setdefault("during", signal.getsignal(signal.SIGTERM)), 143)[1])
        with pytest.raises(Exited):
            cli.entry()
        assert seen == {"during": cli._raise_terminated, "os._exit": 143}
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # back to its default once the verb is done
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


# ----------------------------------------------------------------------------------------------
# workbench/commands: the checks made before any work


def test_int_list_names_an_empty_item_and_lists_repeats_in_ascending_order():
    from workbench.commands.sweep import int_list

    assert int_list("widths", " 4, 8 ,16") == (4, 8, 16)
    with pytest.raises(InputError, match=r"^--widths has an empty item; got '4,,16'$"):
        int_list("widths", "4,,16")
    # 8 and 4 both repeat; the message lists them sorted: "4, 8"
    with pytest.raises(InputError, match=r"^--sizes lists 4, 8 more than once; got '8,4,8,4'$"):
        int_list("sizes", "8,4,8,4")


SWEEP = ["sweep", "--task", "teacher-regression", "--widths", "4", "--sizes", "32", "--steps", "5", "--no-progress"]


@pytest.mark.parametrize("flag, value, line", [
    ("--threads", "0", "error: --threads must be in [1, 1024]; got 0\n"),
    ("--seeds", "10000", None),  # the largest count allowed: refused only for another reason below
    ("--max-group", "0", "error: --max-group must be >= 1; got 0\n"),
    ("--lr-schedule", "linear", "error: --lr-schedule must be constant, cosine or wsd; got 'linear'\n"),
    ("--device", "gpu", "error: --device must be cpu or cuda; got 'gpu'\n"),
])
def test_sweep_options_refused_before_any_work(tmp_path, capsys, flag, value, line):
    argv = [*SWEEP, "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c"), flag, value]
    if line is None:  # --seeds 10000 passes --seeds' check; --max-group 0 then names the next check
        argv += ["--max-group", "0"]
        line = "error: --max-group must be >= 1; got 0\n"
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == line
    assert not (tmp_path / "c").exists() and not (tmp_path / "x.csv").exists()


def _prune_table(widths=(4, 8), rounds=2, final_errors=(0.2, 0.4)):
    """A hand-made prune table: per width, rounds 0..R at density 0.8**r, the last round's test error given."""
    rows = []
    for w, last in zip(widths, final_errors):
        for r in range(rounds + 1):
            rows.append({"width": w, "depth": 1, "n": 32, "seed": 0, "round": r, "density": 0.8 ** r,
                         "test_error": last if r == rounds else 0.9})
    return pd.DataFrame(rows)


def test_prune_rewinds_to_5_percent_of_the_steps_by_default_and_sums_up_the_last_round(tmp_path, capsys, monkeypatch):
    import workbench.prune as prune

    seen = {}

    def fake_run_prune(cfg, **kw):
        seen["cfg"] = cfg
        return _prune_table()

    monkeypatch.setattr(prune, "run_prune", fake_run_prune)
    monkeypatch.setattr(prune, "cached_students", lambda cfg, cache: 0)
    argv = ["prune", "--task", "teacher-regression", "--width", "4,8", "--size", "32", "--steps", "100", "--rounds",
            "2", "--no-progress", "--out", str(tmp_path / "p.csv"), "--cache-dir", str(tmp_path / "c"), "--json"]
    assert cli.main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert seen["cfg"].rewind_step == 5  # 5% of --steps 100
    # the last round (2) of both networks: density 0.8**2 = 0.64 each, test error mean (0.2 + 0.4) / 2 = 0.3
    assert res["networks"] == 2 and res["rows"] == 6
    assert res["final_density"] == pytest.approx(0.64, rel=1e-9) and res["final_test_error"] == pytest.approx(0.3, rel=1e-9)
    assert [f["width"] for f in res["final"]] == [4, 8] and [f["test_error"] for f in res["final"]] == [0.2, 0.4]
    assert (res["students_trained"], res["students_from_cache"]) == (2, 0)
    # --rounds 0 (no pruning: the dense network alone) is allowed
    capsys.readouterr()
    argv[argv.index("--rounds") + 1] = "0"
    monkeypatch.setattr(prune, "run_prune", lambda cfg, **kw: _prune_table(rounds=0))
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["final_density"] == 1.0


def test_sweep_counts_the_rows_it_trained_apart_from_those_read_from_the_cache(tmp_path, capsys, monkeypatch):
    import workbench.sweep as sweep

    table = pd.DataFrame({"width": [4, 4, 8, 8], "n": [32, 64, 32, 64], "test_error": [0.1, 0.2, 0.3, 0.6]})
    monkeypatch.setattr(sweep, "run_sweep", lambda cfg, **kw: table)
    monkeypatch.setattr(sweep, "cached_count", lambda runs, cache: 1)
    argv = ["sweep", "--task", "teacher-regression", "--widths", "4,8", "--sizes", "32,64", "--steps", "5",
            "--no-progress", "--out", str(tmp_path / "s.csv"), "--cache-dir", str(tmp_path / "c"), "--json"]
    assert cli.main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    # 4 rows, 1 of them cached: 3 trained; the mean test error (0.1 + 0.2 + 0.3 + 0.6) / 4 = 0.3
    assert (res["rows"], res["trained"], res["from_cache"]) == (4, 3, 1)
    assert res["mean_test_error"] == pytest.approx(0.3, rel=1e-9) and res["out"] == str(tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv").equals(table)


# ----------------------------------------------------------------------------------------------
# workbench/report.py: the page's and the index's small parts (no kernel)


def test_value_text_keeps_six_significant_digits_and_writes_tuples_as_python_does():
    from workbench.report import value_text

    assert value_text(0.123456789) == "0.123457"  # 6 significant digits, rounded
    assert value_text(1234567.0) == "1.23457e+06"
    assert value_text(()) == "()" and value_text((1.5,)) == "(1.5,)" and value_text((1, 2)) == "(1, 2)"
    assert value_text([]) == "[]" and value_text([0.5, "a"]) == "[0.5, 'a']"


def test_summary_cells_go_first_when_the_notebook_has_no_title():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from workbench.report import summary_first

    summary = new_code_cell("table")
    summary.metadata["tags"] = ["summary"]
    code = new_code_cell("x = 1")
    nb = new_notebook(cells=[code, summary])  # no markdown title: the summary opens the page
    assert summary_first(nb) == 1 and nb.cells == [summary, code]
    title = new_markdown_cell("# t")
    nb = new_notebook(cells=[title, code, summary])
    assert summary_first(nb) == 1 and nb.cells == [title, summary, code]
    assert summary_first(new_notebook(cells=[code])) == 0
    assert isinstance(nb, nbformat.NotebookNode)


def test_plain_mathml_drops_every_namespace_prefix_and_declaration():
    from workbench.report import plain_mathml

    page = ('<h2><ns12:math xmlns:ns12="http://www.w3.org/1998/Math/MathML"><ns12:mi>x</ns12:mi></ns12:math>'
            '<ns0:math xmlns:ns0="http://www.w3.org/1998/Math/MathML"><ns0:mn>2</ns0:mn></ns0:math></h2>')
    assert plain_mathml(page) == "<h2><math><mi>x</mi></math><math><mn>2</mn></math></h2>"


def test_the_run_line_and_the_defaults_note():
    from nbformat.v4 import new_code_cell, new_notebook

    from workbench.report import _run_line, note_overridden_defaults

    assert _run_line({}, None) == "*Report run with parameters* the notebook's defaults"
    line = _run_line({"k": 5, "lr": 0.001}, {"revision": "abc1234", "status": "ok", "seconds": 3.14159,
                                             "built": "2026-01-01T00:00:00"})
    assert line == ("*Report run with parameters* `k = 5`, `lr = 0.001` · revision `abc1234` · ok in 3.1 s · "
                    "2026-01-01T00:00:00")
    params = new_code_cell("k = 3")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_code_cell("import x"), params])
    note_overridden_defaults(nb, {})  # the defaults as run: no note
    assert len(nb.cells) == 2
    note_overridden_defaults(nb, {"k": 5})
    assert nb.cells[2] is params and nb.cells[1].metadata["tags"] == ["parameters-note"]
    assert nb.cells[1].source == "*The notebook's parameters with their default values. This run set* `k = 5`."


def test_first_figure_skips_a_figure_without_data():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from workbench.report import PLOTLY_MIME, first_figure

    empty, full = new_code_cell("a"), new_code_cell("b")
    empty.outputs = [new_output("display_data", data={PLOTLY_MIME: {"data": [], "layout": {"title": "empty"}}})]
    full.outputs = [new_output("display_data", data={PLOTLY_MIME: {"data": [{"y": [1, 2]}]}})]
    nb = new_notebook(cells=[new_markdown_cell("# t"), empty, full])
    assert first_figure(nb) == {"data": [{"y": [1, 2]}], "layout": {}}
    assert first_figure(new_notebook(cells=[empty])) is None


def test_the_index_keeps_earlier_rows_whose_page_is_still_there_and_counts_only_this_builds_failures(tmp_path):
    from workbench.report import INDEX_RECORDS, _RECORD_KEYS, _changed, write_index

    def record(name, status, page):
        return {**dict.fromkeys(_RECORD_KEYS), "name": name, "status": status, "seconds": 1.0, "page": page,
                "has_summary": False, "all_parameters": [], "built": "earlier", "smoke": False, "revision": "r0"}

    (tmp_path / "01_a.html").write_text("page")
    (tmp_path / INDEX_RECORDS).write_text(json.dumps([record("01_a", "failed", "01_a.html"),
                                                      record("03_c", "ok", "03_c.html")]))  # 03's page is gone
    now = {"name": "02_b", "title": "B", "status": "ok", "seconds": 2.0, "html": str(tmp_path / "02_b.html"),
           "thumbnail": None, "error": None, "has_summary": False, "all_parameters": [], "revision": "r1"}
    # the notebook's own revision (r1) is kept, not the build's label (r1, then r2)
    index = write_index(tmp_path, [now], smoke=True, revision="r1, then r2").read_text()
    rows = json.loads((tmp_path / INDEX_RECORDS).read_text())
    assert [r["name"] for r in rows] == ["01_a", "02_b"] and rows[1]["page"] == "02_b.html"
    assert rows[0]["revision"] == "r0" and rows[1]["revision"] == "r1" and rows[1]["smoke"] is True
    # 2 notebooks listed; 01_a failed in an earlier build, so this build's count of failures is 0
    assert "2 notebooks" in index and "failed</strong>" not in index and "1 of them not rebuilt" in index
    assert _changed("r1", "r1") == "r1" and _changed("r1", "r2") == "r1, then r2 (the code changed during the run)"


# ----------------------------------------------------------------------------------------------
# costtune's ranges: each bound in the message is the value's edge (the first value refused, the last taken)

COSTTUNE = ["costtune", "--task", "mnist1d", "--widths", "4", "--json"]


@pytest.mark.parametrize("flag, value, line", [
    ("--n-budgets", "1", "error: --n-budgets must be an integer in [2, 1000]; got 1\n"),  # a curve needs 2 budgets
    ("--threads", "0", "error: --threads must be an integer in [1, 1024]; got 0\n"),
    ("--seed", str(2 ** 32), f"error: --seed must be an integer in [0, 4294967295]; got {2 ** 32}\n"),
    ("--budget", "0", "error: --budget must be a positive, finite number of FLOPs per input; got 0.0\n"),
    ("--widths", "4,65537", "error: --widths must be <= 65536; got 65537\n"),
])
def test_costtune_refuses_the_first_value_past_each_bound(capsys, monkeypatch, tmp_path, flag, value, line):
    import workbench.costtune.study as study

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(study, "run_study", lambda *a, **kw: pytest.fail("the study ran"))  # never train here
    argv = list(COSTTUNE)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == line


def test_costtune_takes_the_last_value_within_each_bound(capsys, monkeypatch, tmp_path):
    import workbench.costtune.study as study
    from workbench.limits import max_test_rows

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    seen = []

    class Result:
        summary = {"ok": True}

    def fake_run_study(cfg, **kw):
        seen.append(cfg)
        return Result()

    monkeypatch.setattr(study, "run_study", fake_run_study)
    most, _ = max_test_rows("mnist1d")
    argv = [*COSTTUNE[:-3], "--widths", "4,65536", "--n-inputs", str(most), "--n-budgets", "2", "--seed",
            str(2 ** 32 - 1), "--json"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == {"ok": True}
    assert seen[0].seed == 2 ** 32 - 1 and seen[0].n_budgets == 2 and seen[0].outcome.n_inputs == most


# ----------------------------------------------------------------------------------------------
# report verb: what reaches build_reports, and what is refused before it


def test_report_passes_each_option_to_build_reports(tmp_path, capsys, monkeypatch):
    import workbench.report as report

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    seen = {}
    monkeypatch.setattr(report, "build_reports", lambda names, **kw: seen.update(kw, names=names) or {"failed": False})
    argv = ["report", "01", "02", "--smoke", "-p", "n", "5", "-p", "lr", "-1e-3", "--out", str(tmp_path / "out"),
            "--timeout", "2.5", "--jobs", "64", "--notebook-dir", str(nbs), "--no-thumbnails", "--json"]
    assert cli.main(argv) == 0
    assert seen == {"names": ["01", "02"], "smoke": True, "parameters": {"n": "5", "lr": "-1e-3"},
                    "out_dir": str(tmp_path / "out"), "notebook_dir": str(nbs), "timeout": 2.5, "thumbnails": False,
                    "jobs": 64}  # 64 = MAX_JOBS, the most allowed


@pytest.mark.parametrize("extra, line", [
    (["--timeout", "0"], "error: --timeout must be a finite number of seconds > 0; got 0.0\n"),
    (["--jobs", "65"], "error: --jobs must be an integer in [1, 64] (notebooks run at a time); got 65\n"),
    (["--jobs", "0"], "error: --jobs must be an integer in [1, 64] (notebooks run at a time); got 0\n"),
    (["-p", "n", "1", "-p", "n", "2"], "error: -p n must be given once; got '1' and '2'\n"),
])
def test_report_refuses_before_building(tmp_path, capsys, monkeypatch, extra, line):
    import workbench.report as report

    monkeypatch.setattr(report, "build_reports", lambda *a, **kw: pytest.fail("build_reports was called"))
    assert cli.main(["report", "--out", str(tmp_path / "out"), *extra]) == 2
    assert capsys.readouterr().err == line and not (tmp_path / "out").exists()


def test_check_folder_names_a_file_given_for_a_folder(tmp_path):
    from workbench.commands.paths import check_folder

    (tmp_path / "taken").write_text("x")
    with pytest.raises(InputError, match=r"^--out must name a folder, not a file; got '.*taken'$"):
        check_folder(str(tmp_path / "taken"), "--out")
    with pytest.raises(InputError, match=r"^--out must name a folder; got '  '$"):
        check_folder("  ", "--out")
    assert check_folder(str(tmp_path / "new" / "deeper"), "--out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not made


def test_check_out_refuses_a_blank_name_and_a_folder(tmp_path):
    from workbench.commands.paths import check_out

    with pytest.raises(InputError, match=r"^--draws must name a file; got '   '$"):
        check_out("   ", "--draws")  # a name of spaces would write a file named '   '
    with pytest.raises(InputError, match=r"^--out must name a file, not a folder; got "):
        check_out(str(tmp_path))
    assert check_out(str(tmp_path / "a" / "b.csv")) == tmp_path / "a" / "b.csv"


def test_allocate_savings_are_against_the_compute_optimal_model_of_equal_loss_served_at_2_flops_per_token(capsys):
    """Chinchilla's compute-optimal model at loss L (min 6ND subject to E + A/N^a + B/D^b = L), by Lagrange:
    a A N^-a = b B D^-b = k with k (1/a + 1/b) = L - E, so k = (L - E) a b / (a + b), N = (a A / k)^(1/a),
    D = (b B / k)^(1/b). Serving T tokens costs it 2 N T more; the savings are 1 - (inference-aware total) / that."""
    E, A, B, a, b = 1.82, 482.0, 2085.0, 0.348, 0.366  # epoch2024
    L, T = 2.2, 1e13
    k = (L - E) * a * b / (a + b)
    N, D = (a * A / k) ** (1 / a), (b * B / k) ** (1 / b)
    assert cli.main(["allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "1e22", "--target-loss",
                     str(L), "--inference-tokens", str(T), "--json"]) == 0
    ia = json.loads(capsys.readouterr().out)["inference_aware"]
    assert ia["inference_tokens"] == T and ia["loss"] == pytest.approx(L, rel=1e-6)
    expected = 1 - ia["total_flops"] / (6 * N * D + 2 * N * T)
    assert ia["savings_vs_compute_optimal"] == pytest.approx(expected, rel=1e-3)
    # serving no tokens (0 is allowed): the inference-aware model is that compute-optimal model, 6 N D FLOPs, saving 0
    assert cli.main(["allocate", "--law", "chinchilla", "--params", "epoch2024", "--compute", "1e22", "--target-loss",
                     str(L), "--inference-tokens", "0", "--json"]) == 0
    ia = json.loads(capsys.readouterr().out)["inference_aware"]
    assert ia["total_flops"] == pytest.approx(6 * N * D, rel=1e-3)
    assert ia["savings_vs_compute_optimal"] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# fit verb: its option parsers and row selection, on hand-made tables (no fit)


def test_fix_and_where_parse_name_value_pairs():
    from workbench.commands.fit import _parse_fix, _parse_where

    assert _parse_fix([" E =1.5", "alpha=0.3"]) == {"E": 1.5, "alpha": 0.3}
    with pytest.raises(InputError, match=r"^--fix E is given more than once; got 1\.0 and '2'$"):
        _parse_fix(["E=1", "E=2"])
    with pytest.raises(InputError, match=r"^--fix E: the value must be a finite number; got '-inf'$"):
        _parse_fix(["E=-inf"])
    # the value is everything after the first '=' (a label may hold one)
    assert _parse_where(["Model=a=b", " Task =x"]) == {"Model": "a=b", "Task": "x"}


def test_where_value_nan_is_a_label_not_a_number():
    from workbench.commands.fit import _reads_as_number

    assert _reads_as_number("1e3") and _reads_as_number(" 2 ") and not _reads_as_number("NaN")
    assert not _reads_as_number("nan") and not _reads_as_number("NA") and not _reads_as_number("x")


def test_select_rows_reads_1_and_0_as_true_and_false_in_a_boolean_column_and_lists_at_most_10_values():
    from workbench.commands.fit import select_rows

    df = pd.DataFrame({"flag": [True, False, True], "k": [1, 2, 3]})
    assert select_rows(df, {"flag": "1"}, "d.csv")["k"].tolist() == [1, 3]
    assert select_rows(df, {"flag": " FALSE "}, "d.csv")["k"].tolist() == [2]
    many = pd.DataFrame({"k": range(12)})
    # 12 values: the first 10 shown (0 ... 9) and "and 2 more"
    with pytest.raises(InputError, match=r"its values are 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more$"):
        select_rows(many, {"k": "20"}, "d.csv")


def test_fit_takes_100000_bootstrap_resamples_and_refuses_100001(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("N,D,loss\n1,1,1\n")
    argv = ["fit", "--law", "chinchilla", "--data", str(data), "--x", "N,D", "--y", "loss", "--draws", str(tmp_path)]
    # 100000 passes --bootstrap's check: the next check (--draws is a folder) is the one named
    assert cli.main([*argv, "--bootstrap", "100000"]) == 2
    assert capsys.readouterr().err.startswith("error: --draws must name a file, not a folder")
    assert cli.main([*argv, "--bootstrap", "100001"]) == 2
    assert capsys.readouterr().err == "error: --bootstrap must be <= 100000 resamples; got 100001\n"


def test_fit_render_of_a_hand_made_result():
    from workbench.commands.fit import render

    out = {"law": "power", "data": {"file": "d.csv", "x": ["N"], "y": "loss", "holdout": None}, "where": {"Model": "a"},
           "objective": "huber", "delta": 0.001, "n_points": 12, "n_starts": 1000, "seconds": 0.34, "ci_method": None,
           "params": {"a": 2.0, "b": 0.5}, "fixed": {"b": 0.5}, "at_bounds": [], "poorly_determined": [],
           "stderr": {"a": 0.1}, "ci": {}, "holdout_metrics": None,
           "metrics": {"mean_abs_rel_divergence": 0.0123, "mean_rel_divergence": -0.005, "std_rel_divergence": None,
                       "rmse_log": 0.01}}
    lines = render(out).splitlines()
    assert lines[0] == "power fitted to d.csv (x: N; y: loss; rows where Model = 'a')"
    assert lines[1] == "12 points, objective huber (δ = 0.001), best of 1,000 starts, 0.3 s"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    assert rows["a"] == ["2", "0.1"] and rows["b"] == ["0.5", "fixed"]  # a fixed value has no 1-σ
    # percentages with two decimals; a missing value is a dash
    assert lines[-1] == "fit: mean |δ| 1.23%, mean δ -0.50%, std δ —, RMSE(log) 0.01"


def test_a_number_column_of_up_to_50_values_differing_at_equal_inputs_gets_the_note(capsys):
    from workbench.commands.fit import _note_mixed_curves

    # 6 widths at the same N: 6 values, the first 4 shown, sorted
    df = pd.DataFrame({"N": [1.0] * 6, "width": [6, 5, 4, 3, 2, 1], "loss": [1.0] * 6})
    _note_mixed_curves(df, ["N", "loss", ""], x_cols=["N"])
    assert capsys.readouterr().err == (
        "note: rows of equal N differ in column 'width' (6 values: 1, 2, 3, 4, ...), fitted together as one curve; "
        "if they label different curves, --by width fits each on its own (repeated measurements, such as seeds, are "
        "pooled as meant)\n")
    many = pd.DataFrame({"N": [1.0] * 51, "run": range(51), "loss": [1.0] * 51})  # 51 values: an id, no note
    _note_mixed_curves(many, ["N", "loss", ""], x_cols=["N"])
    assert capsys.readouterr().err == ""
    fifty = pd.DataFrame({"N": [1.0] * 50, "run": range(50), "loss": [1.0] * 50})  # 50: still a label
    _note_mixed_curves(fifty, ["N", "loss", ""], x_cols=["N"])
    assert "differ in column 'run' (50 values: 0, 1, 2, 3, ...)" in capsys.readouterr().err


def test_notebook_info_lists_every_parameter_marking_those_the_run_set(tmp_path):
    import nbformat
    from test_report import _write_nb

    from workbench.report import _notebook_info

    path = _write_nb(tmp_path / "01_x.ipynb", "n: int = 5  # points\nlr: float = 0.001  # step", ["print(n)"])
    info = _notebook_info(path, {"n": 3})
    assert info["title"] == "01_x" and info["has_summary"] is False
    assert info["all_parameters"] == [{"name": "n", "value": "3", "set": True},
                                      {"name": "lr", "value": "0.001", "set": False}]
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].metadata["tags"] = ["summary"]
    nb.metadata["title"] = "Points"
    nbformat.write(nb, path)
    info = _notebook_info(path, {})
    assert info["title"] == "Points" and info["has_summary"] is True


def test_run_notebook_rounds_a_fractional_cell_timeout_up_to_whole_seconds(tmp_path, monkeypatch):
    """nbclient takes whole seconds: 1.5 s must become 2 (rounded up), never 1 (a cell of 1.2 s then timed out)."""
    import shutil

    import papermill

    from workbench.report import run_notebook

    seen = {}

    def fake_execute(source, output, **kw):  # papermill's job without a kernel: the notebook copied as run
        seen.update(kw)
        shutil.copy(source, output)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    from test_report import _write_nb

    path = _write_nb(tmp_path / "01_x.ipynb", "n: int = 5  # points", ["print(n)"])
    out = tmp_path / "out"
    out.mkdir()
    r = run_notebook(path, out, {"n": 2}, timeout=1.5, progress_bar=False)
    assert seen["execution_timeout"] == 2 and seen["parameters"] == {"n": 2} and seen["progress_bar"] is False
    assert r["status"] == "ok" and r["executed"] == str(out / "01_x.ipynb") and r["error"] is None
    run_notebook(path, out, {}, timeout=None)
    assert seen["execution_timeout"] is None


def test_git_revision_marks_a_checkout_with_changed_tracked_files(tmp_path):
    import subprocess

    from workbench.report import git_revision

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    short = git("rev-parse", "--short", "HEAD")
    (tmp_path / "new.txt").write_text("untracked")  # untracked files do not count
    assert git_revision(tmp_path) == short
    (tmp_path / "a.txt").write_text("2")
    assert git_revision(tmp_path) == short + "+modified"
