import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A suite started as a background job of a non-interactive shell (`make test &`, a CI runner's `cmd &`) inherits
# SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the tests that press Ctrl-C in this
# process (pruning, sweeps, report builds) would see nothing happen. Such a suite ran them for minutes and failed
# four; they test the code's answer to Ctrl-C, so they get the handler a terminal's job has.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m workbench ARGS`` as a user would; returns the completed process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


@pytest.fixture
def cli():
    return run_cli


def finished_files(watch: Path, pattern: str) -> list[Path]:
    """Files under ``watch`` matching ``pattern``, but not the temporary files of atomic writes (``.tmp-*``):
    pathlib's ``*`` matches names that start with a dot, so ``*.json`` also counted a row still being written,
    and an interrupt sent then (the write undone) could leave one row fewer than the count asked for."""
    return sorted(p for p in Path(watch).glob(pattern) if not p.name.startswith("."))


def interrupt_cli(*args: str, watch: Path | None = None, pattern: str = "", count: int = 0, env: dict | None = None,
                  timeout: float = 120, group: bool = False, children: list | None = None,
                  until=None, signum: int = 2) -> subprocess.CompletedProcess:
    """Run ``python -m workbench ARGS`` and send it SIGINT (Ctrl-C) once ``count`` finished files matching
    ``pattern`` exist under ``watch`` (:func:`finished_files`), or, given ``until`` instead, once
    ``until(psutil.Process)`` of the run is true; the completed process (its return code is what the verb
    exited with). ``group``: start it in a process group of its own and signal the whole group, as a
    terminal's Ctrl-C does (its worker processes get SIGINT too). ``children``: a list that gets ``{"pid",
    "cmdline"}`` of every descendant alive just before the signal. ``signum``: another signal (SIGTERM)."""
    import time

    import psutil

    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell's background job (&) would hand it down ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # as a terminal's job starts
        if group:
            os.setpgrp()

    env = dict(os.environ if env is None else env, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, preexec_fn=child_setup)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            ready = until(psutil.Process(proc.pid)) if until else len(finished_files(watch, pattern)) >= count
        except psutil.Error:  # a process of the run ended while `until` looked at it
            ready = False
        if ready:
            if children is not None:
                for p in psutil.Process(proc.pid).children(recursive=True):
                    try:
                        children.append({"pid": p.pid, "cmdline": " ".join(p.cmdline())})
                    except psutil.Error:  # ended meanwhile
                        pass
            states = [_signal_state(proc.pid)]
            if group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
            time.sleep(0.1)
            states.append(_signal_state(proc.pid))
            break
        time.sleep(0.02)
    else:
        proc.kill()
        out, err = proc.communicate()
        what = "`until` held" if until else f"{count} {pattern} files appeared"
        raise AssertionError(f"the run ended (or timed out) before {what}: {err[-2000:]}")
    out, err = proc.communicate(timeout=timeout)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    done.signal_state = f"main thread just before the signal: {states[0]}; 0.1 s after: {states[1]}"
    return done


def _signal_state(pid: int) -> str:
    """The signal masks (hex) of a process's main thread from /proc (SigPnd/ShdPnd: pending; SigBlk: blocked;
    SigIgn: ignored; SigCgt: caught), for a message when a signal sent to it seemed to do nothing."""
    try:
        lines = Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return " ".join(" ".join(line.split()) for line in lines if line.startswith(("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")))


def interrupted_badly(proc: subprocess.CompletedProcess) -> str:
    """The assertion message of a test whose interrupted run did not end as expected: its exit status, the end of its
    stderr and the signal masks seen around the signal (a run that ignored its Ctrl-C once in CI, not reproduced)."""
    return f"exit {proc.returncode}; {getattr(proc, 'signal_state', '')}; stderr ends: {proc.stderr[-1500:]!r}"


# ----------------------------------------------------------------------------------------------
# shared by tests/test_report.py and tests/test_browser_*.py

ARTIFACTS = ROOT / "test-artifacts"  # screenshots and logs of the browser tests (gitignored)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync",
                 "--no-first-run", "--metrics-recording-only", "--disable-features=Translate,MediaRouter"]


def chromium_executable() -> str | None:
    """Debian's Chromium (``make test`` installs it with apt when missing); ``WORKBENCH_CHROMIUM`` overrides."""
    import shutil

    for candidate in (os.environ.get("WORKBENCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def smoke_reports(tmp_path_factory, isolated_cache):
    """One smoke build of every real notebook's report (pages, thumbnails, index), two notebooks at a time as
    `make report` builds them, shared by the session. Its
    own empty cache: the reports then train what they show, so their progress lines are full bars (in the
    session's cache, warmed by tests/test_notebooks.py first, 04's and 07's bars would be empty)."""
    from workbench import report

    out = tmp_path_factory.mktemp("reports")
    old = os.environ["WORKBENCH_CACHE"]  # isolated_cache's folder
    os.environ["WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("reports-cache"))
    try:
        return report.build_reports(smoke=True, out_dir=out, jobs=2), out  # as `make report` runs them
    finally:
        os.environ["WORKBENCH_CACHE"] = old


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium driven by Playwright (no Playwright browser download: Debian's chromium)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                   "(it is in the 'test' extra: pip install -e '.[test]')")
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium at /usr/bin/chromium: `make test` installs it with "
                    "`apt-get install -y chromium` when run as root; install it or set WORKBENCH_CHROMIUM")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Runs cached by the tests (sweeps, outcome tables, notebook smoke runs) go to a temporary
    folder, never into the user's data/cache; subprocesses and notebook kernels inherit it."""
    old = os.environ.get("WORKBENCH_CACHE")
    os.environ["WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("workbench-cache"))
    yield Path(os.environ["WORKBENCH_CACHE"])
    if old is None:
        os.environ.pop("WORKBENCH_CACHE", None)
    else:
        os.environ["WORKBENCH_CACHE"] = old


@pytest.fixture(scope="session", autouse=True)
def torch_one_thread():
    """Tiny models: one torch thread is faster than two fighting over a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_outcome_config(n_inputs: int):
    """A small MLP family's outcome-table config for cost-tuning tests (seconds to build)."""
    from workbench.costtune.outcomes import OutcomeConfig
    from workbench.testtime import TestTimeConfig

    return OutcomeConfig(task="teacher-classification", family="mlp", widths=(4, 8, 32), steps=300,
                         finetune_steps=50, densities=(1.0, 0.5), n_inputs=n_inputs, probe_width_index=0,
                         testtime=TestTimeConfig(max_k=4, ks=(2, 4), refine_steps=(1, 2), train_steps=100,
                                                 train_inputs=512))


def informative_probe(table):
    """``table`` (an outcome table), after asserting that its probe is informative: more distinct probe confidences
    on the train inputs than the difficulty bins :func:`workbench.costtune.policies.probe_bins` cuts them into. A dead
    probe (the width-4 student answering every input with one confidence: 3 of 24 table seeds of
    :func:`tiny_outcome_config`) puts every input in one bin, and the tests that route by the probe or read rung 0's
    confidence then failed deep inside, far from the cause; a table fixture calling this fails where it is built."""
    import inspect

    import numpy as np

    from workbench.costtune.policies import probe_bins

    n_bins = inspect.signature(probe_bins).parameters["n_bins"].default
    values = np.unique(table.probe[table.inputs("train"), 0])
    assert len(values) > n_bins, (f"the outcome table's probe is not informative: {len(values)} distinct confidence "
                                  f"value(s) on the train inputs for {n_bins} difficulty bins (seed {table.config.seed}"
                                  f", task_seed {table.config.task_seed}); use another seed")
    return table
