"""CLI verbs ``sweep`` and ``prune``: smoke runs, resume, and bad input -> exit 2 (the default-cache check also\nfor ``costtune``)."""

import json
import os
import subprocess
import sys

from pathlib import Path

import pandas as pd
import pytest
from conftest import finished_files, interrupt_cli, interrupted_badly, run_cli

from workbench.cli import main

TINY = ["--task", "teacher-regression", "--widths", "4,8", "--sizes", "32,64", "--steps", "20",
        "--batch-size", "16", "--pool-size", "128", "--val-size", "32", "--test-size", "64", "--no-progress"]
HUGE = "99999999999999999999"


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with flag set to value (replaced if present, appended otherwise)."""
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return argv + [flag, value]


def test_sweep_json_csv_and_resume(tmp_path, capsys):
    out = tmp_path / "s.csv"
    args = ["sweep", *TINY, "--seeds", "2", "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["rows"] == 8 and first["out"] == str(out) and first["seconds"] > 0
    assert (first["trained"], first["from_cache"]) == (8, 0)
    table = pd.read_csv(out)
    for col in ("task", "width", "depth", "n", "seed", "params", "flops_train", "flops_infer",
                "test_error", "test_loss", "seconds"):
        assert col in table.columns
    assert sorted(table["seed"].unique()) == [0, 1]
    assert main(args) == 0  # resume: everything cached
    again = json.loads(capsys.readouterr().out)
    assert (again["rows"], again["trained"], again["from_cache"]) == (8, 0, 8)
    pd.testing.assert_frame_equal(pd.read_csv(out), table)


@pytest.mark.parametrize("bad, word", [
    (["--widths", ""], "--widths"),
    (["--widths", "4,8,4"], "more than once"),
    (["--widths", "4,,8"], "--widths has an empty item; got '4,,8'"),  # before: ran widths 4 and 8
    (["--sizes", "256,"], "--sizes has an empty item"),
    (["--task-seed", "-1"], "seed"),
    (["--label-noise", "inf"], "--label-noise must be"),
    (["--lr", "inf"], "lr"),
    (["--sizes", "-5"], "sizes"),
    (["--sizes", "100000"], "pool_size"),
    (["--task", "imagenet"], "--task"),
    (["--seeds", "0"], "--seeds"),
    (["--family", "rnn"], "--family"),
    (["--steps", "0"], "steps"),
    # a value that starts with '-' reaches the verb's own check, which names it
    (["--widths", "-4,8"], "widths must be integers >= 1; got -4"),
    (["--sizes", "-64,128"], "sizes must be integers >= 1; got -64"),
    (["--lr", "-Infinity"], "lr must be finite and > 0; got -inf"),
    (["--label-noise", "-nan"], "--label-noise must be finite and >= 0 (a fraction <= 1 for classification); got nan"),
    # huge numbers: a limit, not a traceback or an 88 TB allocation
    (["--widths", HUGE], f"widths must be <= 65536; got {HUGE}"),
    (["--widths", "1099511627776"], "widths must be <= 65536; got 1099511627776"),
    (["--steps", HUGE], "steps must be <= 1000000000"),
    (["--batch-size", HUGE], "--batch-size must be <= 1048576"),
    (["--pool-size", HUGE], "--pool-size must be <= 16777216"),
    (["--teacher-width", HUGE], "--teacher-width must be <= 65536"),
    (["--seeds", HUGE], "--seeds must be a positive number of seeds <= 10000"),
])
def test_sweep_bad_input_exits_2_naming_the_parameter(tmp_path, capsys, bad, word):
    args = ["sweep", *TINY, "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(with_flag(args, *bad)) == 2
    err = capsys.readouterr().err
    assert word in err and err.startswith("error:")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("verb", ["sweep", "prune"])
@pytest.mark.parametrize("flag", ["--intrinsic-dim", "--teacher-width", "--teacher-depth"])
def test_teacher_options_on_a_real_benchmark_exit_2(tmp_path, capsys, verb, flag):
    """digits and mnist1d have no teacher: --intrinsic-dim 8 (or a teacher width or depth) was ignored without a word."""
    grid = ["--widths", "4", "--sizes", "64"] if verb == "sweep" else ["--width", "4", "--size", "64"]
    args = [verb, "--task", "digits", *grid, "--steps", "20", "--batch-size", "16", "--test-size", "64",
            "--no-progress", "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(args + [flag, "8"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {flag} 8: only the teacher tasks have a teacher and an intrinsic dimension; got --task digits\n"
    assert not (tmp_path / "c").exists() and not (tmp_path / "x.csv").exists()
    assert main(args + ["--json"]) == 0  # without it: trains
    assert json.loads(capsys.readouterr().out)["rows"] >= 1


def test_a_student_too_large_exits_2_before_training(tmp_path, capsys):
    args = with_flag(with_flag(TINY, "--widths", "65536"), "--depths", "2")
    assert main(["sweep", *args, "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "width 65536 and depth 2 has 4.3e+09 parameters; at most 1073741824 (2**30)" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("verb, again, flag", [
    ("sweep", ["--widths", "8"], "--widths"), ("sweep", ["--steps=30"], "--steps"),
    ("sweep", ["--width", "8"], "--widths"),  # an abbreviation
    ("prune", ["--size", "32"], "--size"),
])
def test_an_option_given_twice_exits_2_naming_it(tmp_path, capsys, verb, again, flag):
    grid = ["--widths", "4", "--sizes", "64"] if verb == "sweep" else ["--width", "4", "--size", "64"]
    args = [verb, *TINY[:2], *grid, *TINY[6:], "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(args + again) == 2
    err = capsys.readouterr().err
    assert f"{flag} is given more than once" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("verb", ["sweep", "prune"])
def test_seed_is_not_read_as_seeds(tmp_path, capsys, verb):
    """fit and costtune take --seed (one seed); sweep and prune have --seeds K and --task-seed, and argparse's
    prefix matching read `--seed 3` as `--seeds 3`: three seeds trained, no word said."""
    grid = ["--widths", "4", "--sizes", "64"] if verb == "sweep" else ["--width", "4", "--size", "64"]
    args = [verb, *TINY[:2], *grid, *TINY[6:], "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
    assert main(args + ["--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --seed is not an option here; got --seed 3: --seeds K") and err.count("\n") == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / "x.csv").exists()
    assert main(args + ["--seeds", "2", "--json"]) == 0  # the real option is untouched
    assert json.loads(capsys.readouterr().out)["rows"] == 2 * (1 if verb == "sweep" else 6)


def test_no_verb_is_one_line_on_stderr_listing_the_verbs(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: no verb given; expected one of fit, allocate, report, sweep, prune, costtune")


def test_an_unknown_option_names_the_verb_and_help_describes_the_tool(tmp_path, capsys):
    """An unknown option was 'error: python -m workbench: unrecognized arguments', without the verb, and the
    top-level --help showed the module's internal docstring line as the tool's description."""
    assert main(["sweep", *TINY, "--out", str(tmp_path / "x.csv"), "--bogus", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("error: python -m workbench sweep: unrecognized arguments: --bogus 1 "
                                 "(python -m workbench sweep --help lists the options)\n")
    assert not (tmp_path / "x.csv").exists()
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "scaling-workbench: fit scaling laws" in text and "workbench.commands" not in text


def test_an_option_without_its_value_says_how_to_give_a_dash_value(tmp_path, capsys):
    assert main(["sweep", *TINY, "--out", str(tmp_path / "x.csv"), "--max-group", "-x"]) == 2
    err = capsys.readouterr().err
    assert "--max-group: expected one argument (a value that starts with '-' is given as --max-group=VALUE)" in err


@pytest.mark.parametrize("where", ["folder", "under_a_file", "empty", "unwritable"])
def test_a_bad_out_path_exits_2_before_training(tmp_path, capsys, where):
    if where == "unwritable" and not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc, where no file can be created (even by root, for whom os.access says yes)")
    (tmp_path / "a.csv").write_text("x")
    out = {"folder": str(tmp_path), "under_a_file": str(tmp_path / "a.csv" / "b.csv"), "empty": "",
           "unwritable": "/proc/x.csv"}[where]
    args = ["sweep", *TINY, "--out", out, "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--out" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()  # nothing trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # no stray temporary file


@pytest.mark.parametrize("verb", ["sweep", "prune"])
@pytest.mark.parametrize("where", ["file", "under_a_file", "empty"])
def test_a_bad_cache_dir_exits_2_before_training(tmp_path, capsys, monkeypatch, verb, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("x")
    cache = {"file": "a.csv", "under_a_file": "a.csv/c", "empty": ""}[where]
    grid = ["--widths", "4", "--sizes", "64"] if verb == "sweep" else ["--width", "4", "--size", "64"]
    assert main([verb, *TINY[:2], *grid, *TINY[6:], "--out", "x.csv", "--cache-dir", cache]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --cache-dir") and repr(cache) in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # nothing trained, nothing written


@pytest.mark.parametrize("verb", ["sweep", "prune"])
def test_a_cache_whose_verb_folder_cannot_be_written_exits_2_before_training(tmp_path, capsys, monkeypatch, verb):
    # before: only the cache folder was probed, so a cache whose sweep/ (or prune/) could not take a file (here a
    # file of that name; read-only in a shared cache) trained every student, then failed with a traceback
    import workbench.commands.paths as paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / verb).write_text("x")
    grid = ["--widths", "4", "--sizes", "64"] if verb == "sweep" else ["--width", "4", "--size", "64"]
    assert main([verb, *TINY[:2], *grid, *TINY[6:], "--out", "x.csv", "--cache-dir", "c"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --cache-dir: 'c/{verb}' is a file, so the {verb} cache cannot be written; got 'c'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # nothing trained, nothing written
    real = paths._check_writable_under  # read-only (as root, only a read-only mount refuses; simulated here)

    def read_only(path, flag, given):
        if path.parent.name == verb:
            raise paths.InputError(f"{flag}: cannot write under {str(path.parent)!r} (Read-only file system); got {given!r}")
        real(path, flag, given)

    monkeypatch.setattr(paths, "_check_writable_under", read_only)
    (tmp_path / "c" / verb).unlink()
    (tmp_path / "c" / verb).mkdir()
    assert main([verb, *TINY[:2], *grid, *TINY[6:], "--out", "x.csv", "--cache-dir", "c"]) == 2
    assert "(Read-only file system); got 'c'" in capsys.readouterr().err
    assert not list((tmp_path / "c" / verb).iterdir())


@pytest.mark.parametrize("verb", ["sweep", "prune"])
def test_a_full_disk_while_caching_exits_2_in_one_line_saying_what_is_kept(tmp_path, capsys, monkeypatch, verb):
    # before: OSError [Errno 28] No space left on device, with a traceback and exit 1
    import errno

    import workbench.cache as cache_mod

    real, writes = cache_mod.atomic_write, []

    def disk_full_after_one(path):
        writes.append(path)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path)

    monkeypatch.setattr(cache_mod, "atomic_write", disk_full_after_one)
    grid = ["--widths", "4,8", "--sizes", "64"] if verb == "sweep" else ["--width", "4,8", "--size", "64"]
    cache = tmp_path / "c"
    args = [verb, *TINY[:2], *grid, *TINY[6:], "--out", str(tmp_path / "x.csv"), "--cache-dir", str(cache)]
    assert main(args) == 2
    err = capsys.readouterr().err
    kept = "1 of 2 rows are kept" if verb == "sweep" else "the rows of 1 of 2 students are kept"
    assert err.startswith(f"error: cannot write the cache file {writes[1]} (No space left on device): {kept} in "
                          f"{cache / verb}; make room there, then rerun the same command to resume")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()
    monkeypatch.setattr(cache_mod, "atomic_write", real)
    assert main(args) == 0  # room again: the rerun resumes


UNWRITABLE_CACHE_ARGV = {
    "sweep": ["sweep", *TINY, "--out", "x.csv"],
    "prune": ["prune", *TINY[:2], "--width", "4", "--size", "64", *TINY[6:], "--out", "x.csv"],
    "costtune": ["costtune", "--task", "teacher-classification", "--widths", "4", "--train-steps", "5",
                 "--n-inputs", "100", "--steps", "10", "--n-budgets", "2"],
}


@pytest.mark.parametrize("verb", ["sweep", "prune", "costtune"])
@pytest.mark.parametrize("source", ["env_under_a_file", "env_a_file", "env_under_proc", "default"])
def test_an_unwritable_default_cache_exits_2_before_training(tmp_path, capsys, monkeypatch, verb, source):
    """No --cache-dir: the folder the run would write to ($WORKBENCH_CACHE or data/cache) is checked up front."""
    import workbench.data

    if source == "env_under_proc" and not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc, where no file can be created (even by root)")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("x")
    if source == "default":
        monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
        monkeypatch.setattr(workbench.data, "DATA_DIR", tmp_path / "a.csv")  # data/cache under a file
        cache = str(tmp_path / "a.csv" / "cache")
    else:
        cache = {"env_under_a_file": str(tmp_path / "a.csv" / "c"), "env_a_file": str(tmp_path / "a.csv"),
                 "env_under_proc": "/proc/c"}[source]
        monkeypatch.setenv("WORKBENCH_CACHE", cache)
    assert main(UNWRITABLE_CACHE_ARGV[verb]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "WORKBENCH_CACHE" in err and repr(cache) in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # nothing trained, nothing written


def test_installed_package_caches_in_the_user_cache_not_in_site_packages(tmp_path, capsys, monkeypatch):
    """Installed from a wheel (no data/ beside the package), the default cache was <site-packages>/data/cache:
    a sweep made a top-level 'data' folder inside site-packages. It now goes to $XDG_CACHE_HOME/scaling-workbench."""
    import workbench.data

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(workbench.data, "DATA_DIR", site / "data")  # where an installed package looks
    assert workbench.data.cache_dir() == tmp_path / "xdg" / "scaling-workbench"
    assert main(["sweep", *TINY, "--out", str(tmp_path / "s.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 4
    assert list(site.iterdir()) == []
    assert len(list((tmp_path / "xdg" / "scaling-workbench" / "sweep").glob("*.json"))) == 4
    monkeypatch.setattr(workbench.data, "DATA_DIR", tmp_path)  # a source checkout: its data/cache, as before
    assert workbench.data.cache_dir() == tmp_path / "cache"


def test_sweep_subprocess_smoke(tmp_path):
    env = {**os.environ, "WORKBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "workbench", "sweep", *TINY, "--out", str(tmp_path / "s.csv"),
                           "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 4
    assert len(list((tmp_path / "cache" / "sweep").glob("*.json"))) == 4


def test_prune_cli_json_and_csv(tmp_path, capsys):
    out = tmp_path / "p.csv"
    args = ["prune", "--task", "teacher-classification", "--width", "8", "--depth", "1", "--size", "64",
            "--rounds", "3", "--steps", "40", "--batch-size", "16", "--pool-size", "128", "--val-size", "32",
            "--test-size", "64", "--no-progress", "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["rows"] == 4 and res["final_density"] == pytest.approx(0.512, abs=0.01)
    assert (res["students_trained"], res["students_from_cache"]) == (1, 0)
    table = pd.read_csv(out)
    # the means are over the networks, which are listed one by one with their last round
    assert res["networks"] == 1 and res["final"] == [{"width": 8, "depth": 1, "n": 64, "seed": 0,
                                                      "density": res["final_density"],
                                                      "test_error": res["final_test_error"]}]
    assert res["final_test_error"] == pytest.approx(table["test_error"].iloc[-1])
    assert table["round"].tolist() == [0, 1, 2, 3]
    assert {"density", "test_error", "test_loss", "width", "depth", "n"} <= set(table.columns)
    assert len(list((tmp_path / "c" / "prune").glob("student-*.json"))) == 1
    assert main(args) == 0  # rerun: read from the cache, the same table
    again = json.loads(capsys.readouterr().out)
    assert (again["students_trained"], again["students_from_cache"]) == (0, 1)
    pd.testing.assert_frame_equal(pd.read_csv(out), table)


@pytest.mark.parametrize("flag, value, word", [
    ("--size", "-3", "--size must be integers >= 1; got -3"), ("--rounds", "-1", "--rounds"),
    ("--task", "nope", "--task"), ("--width", "-4,8", "--width must be integers >= 1; got -4"),
    # the library's checks name config fields (method, rewind_step, sizes, seed); the CLI names the flag
    ("--method", "x", "error: --method must be one of imp, oneshot; got 'x'"),
    ("--rewind-step", "-1", "error: --rewind-step must be in [0, steps=1000); got -1"),
    ("--size", "100000", "error: --size must be <= the task's pool_size=16384; got 100000"),
    ("--task-seed", "-1", "error: --task-seed (the task seed) must be in"),
    ("--lr", "0", "error: --lr must be finite and > 0; got 0.0"),
])
def test_prune_cli_bad_input_exits_2(tmp_path, capsys, flag, value, word):
    args = ["prune", "--task", "teacher-regression", "--width", "8", "--size", "64", "--rounds", "2",
            "--out", str(tmp_path / "p.csv")]
    assert main(with_flag(args, flag, value)) == 2
    assert word in capsys.readouterr().err


def test_the_interrupt_helper_counts_finished_files_not_atomic_writes_in_progress(tmp_path):
    # the helper once counted '.tmp-*.json' (a row being written) as a row: Ctrl-C then undid that write and
    # the test's "at least 2 rows kept" could fail on a loaded machine
    for name in ("a.json", ".tmp-x1y2.json", "b.csv"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in finished_files(tmp_path, "*.json")] == ["a.json"]
    assert len(list(tmp_path.glob("*.json"))) == 2  # why: pathlib's * matches a leading dot


def test_ctrl_c_during_a_sweep_exits_130_saying_what_is_kept_and_a_rerun_resumes(tmp_path):
    cache = tmp_path / "c"
    args = ["sweep", "--task", "teacher-classification", "--widths", "4,8", "--sizes", "256,1024", "--seeds", "2",
            "--steps", "3000", "--max-group", "1", "--out", str(tmp_path / "s.csv"), "--cache-dir", str(cache), "--json"]
    proc = interrupt_cli(*args, watch=cache / "sweep", pattern="*.json", count=2)
    kept = finished_files(cache / "sweep", "*.json")
    assert proc.returncode == 130, interrupted_badly(proc)
    assert proc.stdout == "" and "Traceback" not in proc.stderr and not (tmp_path / "s.csv").exists()
    assert proc.stderr.strip().splitlines()[-1] == (
        f"sweep interrupted (Ctrl-C): {len(kept)} of 8 rows are kept in {cache / 'sweep'}; rerun the same "
        "command to resume (it trains only the missing rows)")
    assert 2 <= len(kept) < 8 and not list((cache / "sweep").glob(".tmp-*"))
    before = {p.name: p.read_text() for p in kept}
    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["rows"], summary["from_cache"], summary["trained"]) == (8, len(kept), 8 - len(kept))
    assert all((cache / "sweep" / name).read_text() == text for name, text in before.items())  # kept, not retrained


def test_ctrl_c_after_the_result_is_printed_does_not_end_the_process_by_sigint(tmp_path):
    # before: a SIGINT 50 ms after the JSON line landed in the interpreter's shutdown (0.1 s or more once torch
    # is imported): the process died by SIGINT (returncode -2) after a run that had finished and printed
    import signal
    import time

    args = ["sweep", *TINY, "--out", str(tmp_path / "s.csv"), "--cache-dir", str(tmp_path / "c"), "--json"]
    assert run_cli(*args).returncode == 0  # cached: the rerun below only reads and prints
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parent.parent,
                            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert json.loads(proc.stdout.readline())["rows"] == 4
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err and "Exception ignored" not in err, (proc.returncode, err)


def test_ctrl_c_during_prune_exits_130_naming_the_students_kept(tmp_path):
    cache = tmp_path / "c"
    args = ["prune", "--task", "teacher-classification", "--width", "8,16,32", "--size", "1024", "--rounds", "3",
            "--steps", "3000", "--no-progress", "--out", str(tmp_path / "p.csv"), "--cache-dir", str(cache)]
    proc = interrupt_cli(*args, watch=cache / "prune", pattern="student-*.json", count=1)
    kept = len(list((cache / "prune").glob("student-*.json")))
    assert proc.returncode == 130 and "Traceback" not in proc.stderr and proc.stdout == "", interrupted_badly(proc)
    assert proc.stderr.strip() == (
        f"prune interrupted (Ctrl-C): the rows of {kept} of 3 students ({4 * kept} of 12 rows) are kept in "
        f"{cache / 'prune'}; rerun the same command to resume (it trains only the missing students)")
