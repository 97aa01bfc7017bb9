"""Worker processes for stacks of students: the same numbers as one process, every stack once, Ctrl-C ends them."""

import json
import os
import signal
import time

import pandas as pd
import psutil
import pytest

from conftest import finished_files, interrupt_cli, interrupted_badly, run_cli
from workbench import sweep as sweep_mod
from workbench.errors import InputError
from workbench.prune import PruneConfig, run_prune
from workbench.sweep import SweepConfig, run_grids, run_sweep
from workbench.tasks import TaskConfig
from workbench.workers import check_workers, cpu_cores, each_result, worker_count

REG = TaskConfig(name="teacher-regression", pool_size=1024, val_size=128, test_size=512)
CLS = TaskConfig(name="teacher-classification", pool_size=1024, val_size=128, test_size=512)


def measured(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="seconds")  # wall time is the one column that may differ


def test_each_result_yields_every_job_once_from_worker_processes():
    got = dict(each_result(pow, [(2, k) for k in range(7)], workers=2))
    assert got == {k: 2 ** k for k in range(7)}
    here = list(each_result(pow, [(3, k) for k in range(4)], workers=1, order=[2, 0, 3, 1]))
    assert here == [(2, 9), (0, 1), (3, 27), (1, 3)]  # one worker: in this process, in the order given


def test_an_error_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="invalid literal for int"):
        list(each_result(int, [("1",), ("x",), ("3",)], workers=2))


def test_closing_early_ends_the_workers_without_a_warning(recwarn):
    me = psutil.Process()
    gen = each_result(time.sleep, [(0,), (60,), (60,), (60,)], workers=2)
    assert next(gen) == (0, None)
    busy = [p for p in me.children(recursive=True) if "loky" in " ".join(p.cmdline()) and "tracker" not in " ".join(p.cmdline())]
    assert busy, "no loky worker was running"
    gen.close()
    _, alive = psutil.wait_procs(busy, timeout=10)
    assert not alive, f"workers still running after close: {[p.pid for p in alive]}"
    assert not [w for w in recwarn if "cancelled" in str(w.message)]


def _sigint_to_myself(seconds: float) -> bool:
    try:
        os.kill(os.getpid(), signal.SIGINT)  # what a terminal's Ctrl-C does to every process of its group
        time.sleep(seconds)
    except KeyboardInterrupt:  # a worker that acts on it (a failure here, not the end of the test session)
        return False
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_workers_never_act_on_sigint_and_the_caller_keeps_its_handler_and_mask():
    # before: a worker still importing torch when a terminal's Ctrl-C reached the process group printed a
    # KeyboardInterrupt traceback under the sweep's one-line message; now only the caller acts on it
    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, set())
    got = dict(each_result(_sigint_to_myself, [(0.2,) for _ in range(4)], workers=2))
    assert got == {k: True for k in range(4)}  # each job finished after its SIGINT, which stayed blocked
    assert signal.getsignal(signal.SIGINT) is handler
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == mask


@pytest.mark.parametrize("value", [-1, 2.5, "2", True, None, 10 ** 6])
def test_a_bad_worker_count_is_refused_by_name(value):
    with pytest.raises(InputError, match=rf"workers must be a whole number from 0 \(one per CPU core\) to 1024; "
                                         rf"got {value!r}"):
        check_workers(value)
    with pytest.raises(InputError, match="workers must be"):
        run_sweep(SweepConfig(REG, widths=(4,), sizes=(64,), steps=2), progress=False, workers=value)


def test_worker_count_is_one_per_core_for_0_and_never_more_than_the_jobs():
    assert worker_count(0, 10 ** 6, threads=1) == cpu_cores() >= 1
    with pytest.warns(UserWarning, match=f"this process may use {cpu_cores()}: using {cpu_cores()} worker"):
        assert worker_count(cpu_cores() + 5, 3 + cpu_cores(), threads=1) == cpu_cores()
    assert worker_count(2, 0) == 1 and worker_count(1, 50) == 1


def test_workers_times_threads_never_exceed_the_cores(monkeypatch, recwarn):
    # before: --workers 2 --threads 2 on 2 cores trained 60-100x slower than either alone (OpenMP threads of
    # two processes spin-waiting on each other's cores: 237 s against 2.5-3.8 s), without a word
    import warnings

    from workbench import workers as workers_mod

    monkeypatch.setattr(workers_mod, "cpu_cores", lambda: 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        assert worker_count(0, 10, threads=1) == 4 and worker_count(0, 10, threads=2) == 2
        assert worker_count(0, 10, threads=3) == 1 and worker_count(0, 10, threads=8) == 1
        assert worker_count(2, 10, threads=2) == 2 and worker_count(8, 2, threads=2) == 2
    with pytest.warns(UserWarning, match=r"workers=4 with 2 torch thread\(s\) each would need 8 CPU cores; this "
                                         r"process may use 4: using 2 worker\(s\) \(torch.set_num_threads\(1\)"):
        assert worker_count(4, 10, threads=2) == 2
    with pytest.warns(UserWarning, match=r"workers=6 with 1 torch thread\(s\) each would need 6 CPU cores; this "
                                         r"process may use 4: using 4 worker\(s\)$"):
        assert worker_count(6, 10, threads=1) == 4


def test_grids_trained_by_two_workers_equal_one_process_bit_for_bit(tmp_path):
    grids = [SweepConfig(CLS, widths=(4, 16), depths=(1, 2), sizes=(128, 512), seeds=(0, 1), steps=40, batch_size=32),
             SweepConfig(REG, widths=(8,), sizes=(256,), seeds=(0, 1, 2), steps=40, lr_schedule="wsd")]
    assert worker_count(2, 10) == 2  # this process's thread count leaves room for two workers (conftest: 1)
    one = run_grids(grids, tmp_path / "a", device="cpu", progress=False)
    two = run_grids(grids, tmp_path / "b", device="cpu", progress=False, workers=2)
    for a, b in zip(one, two):
        assert len(a) == len(b) > 0
        pd.testing.assert_frame_equal(measured(a), measured(b), check_exact=True)


@pytest.mark.parametrize("second_sizes", [(256, 512), (256, 512, 1024)])
def test_grids_with_a_shared_student_train_the_stacks_they_would_train_one_after_another(tmp_path, monkeypatch,
                                                                                           second_sizes):
    first = SweepConfig(REG, widths=(8,), sizes=(128, 256), seeds=(0, 1), steps=30)
    second = SweepConfig(REG, widths=(8,), sizes=second_sizes, seeds=(0, 1), steps=30)  # shares n = 256
    trained = []
    real = sweep_mod.train_group
    monkeypatch.setattr(sweep_mod, "train_group", lambda stack, device: trained.append(len(stack)) or real(stack, device))
    seq = [run_sweep(c, cache_dir=tmp_path / "seq", device="cpu", progress=False) for c in (first, second)]
    stacks_seq, trained[:] = list(trained), []
    both = run_grids([first, second], tmp_path / "both", device="cpu", progress=False)
    # the second grid's stack of four holds two students cached from a stack of four: it is trained whole, as a
    # stack killed between its writes is (sweep.stack_to_train); its stack of six: only its four new students
    assert trained == stacks_seq == [4, 4]
    for a, b in zip(seq, both):
        pd.testing.assert_frame_equal(measured(a), measured(b), check_exact=True)


def test_a_sweep_interrupted_in_one_process_and_resumed_with_workers_equals_an_uninterrupted_one(tmp_path):
    cfg = SweepConfig(CLS, widths=(4, 8, 16), sizes=(128, 512), seeds=(0, 1), steps=40, batch_size=32)
    full = run_sweep(cfg, cache_dir=tmp_path / "a", device="cpu", progress=False)
    part = run_sweep(cfg, cache_dir=tmp_path / "b", device="cpu", progress=False, max_new_groups=1)
    assert 0 < len(part) < len(full)
    resumed = run_sweep(cfg, cache_dir=tmp_path / "b", device="cpu", progress=False, workers=2)
    pd.testing.assert_frame_equal(measured(resumed), measured(full), check_exact=True)


def test_a_pruning_study_with_workers_equals_one_process(tmp_path):
    cfg = PruneConfig(SweepConfig(CLS, widths=(8, 16), depths=(1, 2), sizes=(128,), seeds=(0, 1), steps=40,
                                  batch_size=32), rounds=2, rewind_step=5)
    one = run_prune(cfg, device="cpu", progress=False, cache_dir=tmp_path / "a")
    two = run_prune(cfg, device="cpu", progress=False, cache_dir=tmp_path / "b", workers=2)
    assert len(one) == 4 * 2 * 3
    pd.testing.assert_frame_equal(measured(one), measured(two), check_exact=True)


def test_the_sweep_cli_takes_workers_and_refuses_a_bad_count(tmp_path):
    args = ["sweep", "--task", "digits", "--widths", "4,8", "--sizes", "200", "--steps", "20", "--no-progress",
            "--out", str(tmp_path / "s.csv"), "--cache-dir", str(tmp_path / "c"), "--json"]
    ok = run_cli(*args, "--workers", "2")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == 2
    args[-2] = str(tmp_path / "c2")  # an empty cache: two stacks to train
    cut = run_cli(*args, "--workers", "2", "--threads", str(cpu_cores()))  # two workers would oversubscribe
    assert cut.returncode == 0, cut.stderr
    assert cut.stderr.strip() == (f"warning: workers=2 with {cpu_cores()} torch thread(s) each would need "
                                  f"{2 * cpu_cores()} CPU cores; this process may use {cpu_cores()}: using 1 worker(s)"
                                  + (" (torch.set_num_threads(1), or --threads 1, runs one worker per core)"
                                     if cpu_cores() > 1 else ""))
    bad = run_cli(*args, "--workers", "-1")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --workers must be a whole number from 0 (one per CPU core) to 1024; got -1"


def test_ctrl_c_with_workers_exits_130_keeps_finished_stacks_and_leaves_no_worker(tmp_path):
    cache = tmp_path / "c"
    args = ["sweep", "--task", "teacher-classification", "--widths", "4,8,16,32", "--sizes", "256", "--seeds", "2",
            "--steps", "4000", "--workers", "2", "--out", str(tmp_path / "s.csv"), "--cache-dir", str(cache),
            "--no-progress"]
    seen = []
    proc = interrupt_cli(*args, watch=cache / "sweep", pattern="*.json", count=2, group=True, children=seen)
    assert proc.returncode == 130, interrupted_badly(proc)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    kept = finished_files(cache / "sweep", "*.json")
    assert proc.stderr.strip().splitlines()[-1].startswith(f"sweep interrupted (Ctrl-C): {len(kept)} of 8 rows")
    assert len(kept) % 2 == 0 and 2 <= len(kept) < 8  # whole stacks of two seeds
    workers = [p for p in seen if "loky" in p["cmdline"] and "tracker" not in p["cmdline"]]
    assert workers, "the sweep ran no worker process"
    time.sleep(1)
    alive = [p["pid"] for p in workers if psutil.pid_exists(p["pid"])
             and psutil.Process(p["pid"]).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"worker processes outlived the interrupted sweep: {alive}"


@pytest.mark.parametrize("group", [False, True])
def test_sigterm_with_workers_stops_as_ctrl_c_does_exit_143(tmp_path, group):
    # before: exit -15 with loky's warnings about leaked semaphores and folders, and no word of what was kept;
    # `kill PID` signals the sweep alone, a batch scheduler's time limit the whole group
    cache = tmp_path / "c"
    args = ["sweep", "--task", "teacher-classification", "--widths", "4,8,16,32", "--sizes", "256", "--seeds", "2",
            "--steps", "4000", "--workers", "2", "--out", str(tmp_path / "s.csv"), "--cache-dir", str(cache),
            "--no-progress"]
    seen = []
    proc = interrupt_cli(*args, watch=cache / "sweep", pattern="*.json", count=2, group=group, children=seen,
                         signum=signal.SIGTERM)
    assert proc.returncode == 143, interrupted_badly(proc)
    kept = finished_files(cache / "sweep", "*.json")
    assert proc.stderr.strip() == (f"sweep interrupted (SIGTERM): {len(kept)} of 8 rows are kept in {cache / 'sweep'}; "
                                   "rerun the same command to resume (it trains only the missing rows)")
    assert len(kept) % 2 == 0 and 2 <= len(kept) < 8 and proc.stdout == ""
    workers = [p["pid"] for p in seen if "LokyProcess" in p["cmdline"]]
    assert workers, "the sweep ran no worker process"
    _, alive = psutil.wait_procs([psutil.Process(p) for p in workers if psutil.pid_exists(p)], timeout=5)
    assert not alive, f"worker processes outlived the stopped sweep: {[p.pid for p in alive]}"


def test_ctrl_c_while_the_workers_start_prints_one_line_and_no_traceback(tmp_path):
    # the signal lands while the workers import joblib, numpy and torch (their first seconds): before, a worker's
    # KeyboardInterrupt traceback (30-50 lines) came under the message in 4 of 4 tries 1-1.5 s in (2.0 s: 0 of 2)
    def workers_importing(proc: psutil.Process) -> bool:  # started a second ago: importing joblib, numpy, torch
        started = [c.create_time() for c in proc.children(recursive=True) if "LokyProcess" in " ".join(c.cmdline())]
        return bool(started) and time.time() - min(started) > 1.0

    args = ["sweep", "--task", "teacher-classification", "--widths", "4,8,16,32", "--sizes", "256", "--seeds", "2",
            "--steps", "4000", "--workers", "2", "--out", str(tmp_path / "s.csv"), "--cache-dir", str(tmp_path / "c"),
            "--no-progress"]
    proc = interrupt_cli(*args, until=workers_importing, group=True)
    assert proc.returncode == 130, interrupted_badly(proc)
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("sweep interrupted (Ctrl-C)"), proc.stderr


def test_workers_end_soon_after_their_caller_is_killed(tmp_path):
    # before: after a kill -9 of the sweep, its two workers trained on for minutes, holding its stdout and stderr
    import subprocess
    import sys

    from conftest import ROOT

    cmd = [sys.executable, "-m", "workbench", "sweep", "--task", "teacher-classification", "--widths", "8,16,32,64",
           "--sizes", "256", "--steps", "200000", "--workers", "2", "--no-progress", "--out", str(tmp_path / "s.csv"),
           "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:  # both training: their parent-watch thread started
        time.sleep(0.2)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "LokyProcess" in " ".join(p.cmdline()) and p.num_threads() >= 2]
    assert len(workers) == 2, "the sweep's two workers did not start training"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers still running 15 s after their caller was killed: {[p.pid for p in alive]}"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this OS")
def test_cpu_cores_follows_the_affinity_mask():
    assert cpu_cores() == len(os.sched_getaffinity(0))


def test_cpu_model_names_the_processor_and_torchs_kernel_level(monkeypatch):
    import builtins

    import torch

    from workbench.workers import cpu_model

    level = torch.backends.cpu.get_cpu_capability()
    got = cpu_model()
    assert got.endswith(f", {level}") and len(got) > len(level) + 2
    if os.path.exists("/proc/cpuinfo"):  # Linux: the model name line, as written there
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
        if name:
            assert got == f"{name}, {level}"
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: (_ for _ in ()).throw(OSError("no")) if p == "/proc/cpuinfo"
                        else real_open(p, *a, **k))
    assert cpu_model().endswith(f", {level}")  # no /proc/cpuinfo: platform's name or 'unknown CPU', no error
