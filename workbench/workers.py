"""Independent CPU jobs (stacks of students) in worker processes, each result handed back as it finishes.

    for i, rows in each_result(train_group, [(stack, "cpu") for stack in stacks], workers=2):
        ...  # write stack i's rows

Workers are joblib's loky processes: fresh interpreters (no copy of the caller's threads, OpenMP pool or
kernel sockets, so it is safe inside a Jupyter kernel; unlike multiprocessing's ``spawn``, a script without an
``if __name__ == "__main__"`` guard is not run again in them). Each job runs ``torch`` with the caller's thread
count, so a stack's numbers are bit-identical to training it in the caller. With one worker, or one job,
everything runs in the calling process, in order. Workers never act on Ctrl-C or SIGTERM: a terminal (or
JupyterLab's interrupt, or a batch scheduler) signals the whole process group, and the caller, which gets it
too, ends them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

from workbench.cache import deferred_interrupts
from workbench.errors import InputError, WorkersWarning, is_whole_number

MAX_WORKERS = 1024


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_model() -> str:
    """This machine's CPU, as benchmarks record it: the model name from /proc/cpuinfo (Linux; else
    ``platform.processor()``) and torch's kernel level (e.g. ``AMD EPYC, AVX512``). The engine's speed-up and the
    numbers of conv / GRU students depend on it (RESULTS_sweep §2b and §6, session 27)."""
    import platform

    import torch

    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{name or platform.processor() or 'unknown CPU'}, {torch.backends.cpu.get_cpu_capability()}"


def check_workers(workers: Any, name: str = "workers") -> int:
    """``workers`` as an int: a whole number 0 (one per CPU core) … MAX_WORKERS; InputError naming ``name``."""
    if not is_whole_number(workers) or not 0 <= workers <= MAX_WORKERS:
        raise InputError(f"{name} must be a whole number from 0 (one per CPU core) to {MAX_WORKERS}; got {workers!r}")
    return int(workers)


def worker_count(workers: Any, jobs: int, threads: int | None = None) -> int:
    """Processes to start for ``jobs`` jobs, each running torch on ``threads`` threads (default: this process's
    ``torch.get_num_threads()``): ``workers``, at most one per job and at most ``cpu_cores() // threads``
    (workers x threads above the cores made training 60-100x slower: OpenMP threads spin-wait on a core another
    one holds), at least 1. ``workers`` 0 means as many as fit; a larger count asked for is cut to what fits,
    with a warning."""
    workers = check_workers(workers)
    if workers == 1 or jobs <= 1:
        return 1
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    fit = max(1, cpu_cores() // max(1, threads))
    if workers > fit and jobs > fit:
        hint = " (torch.set_num_threads(1), or --threads 1, runs one worker per core)" if threads > 1 else ""
        warnings.warn(f"workers={workers} with {threads} torch thread(s) each would need {workers * threads} CPU cores; "
                      f"this process may use {cpu_cores()}: using {fit} worker(s){hint}", WorkersWarning, stacklevel=3)
    return max(1, min(fit if workers == 0 else min(workers, fit), jobs))


_WATCHING = False


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:  # reparented once the caller is gone (kill -9, the OOM killer)
        time.sleep(1.0)
    os._exit(1)


def _call(i: int, fn: Callable, args: tuple, threads: int, parent: int) -> tuple[int, Any]:
    global _WATCHING
    if os.getppid() != parent:  # the caller died (kill -9) after sending the job: nobody wants its result
        os._exit(1)
    if not _WATCHING:  # a worker ends with its caller, not minutes after it
        threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="workbench-parent-watch").start()
        _WATCHING = True
    import torch

    torch.set_num_threads(threads)  # the caller's count, so the numbers are those of a run in the caller
    return i, fn(*args)


@contextlib.contextmanager
def _children_ignore_stop_signals() -> Iterator[None]:
    """Processes started in this block never act on SIGINT or SIGTERM: this thread blocks both while they start,
    and fork and exec hand the mask down to them and to every thread they make. A terminal's Ctrl-C (or a batch
    scheduler's SIGTERM) goes to the whole process group; the caller, which gets it too, ends the workers (loky
    kills them with SIGKILL). Before, a worker still importing torch printed a KeyboardInterrupt traceback under
    the caller's one-line message (4 of 4 tries 1-1.5 s into the workers' start). (Ignoring the signals, SIG_IGN,
    would survive exec as well, but for the caller too: its other threads would take a signal meant for it and
    drop it.) A signal for the caller in these milliseconds is held back until the block ends
    (``cache.deferred_interrupts``), so it never lands inside the pool's start-up."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups, no terminal SIGINT to the workers
        yield
        return
    from multiprocessing import resource_tracker

    # started now, not inside the block: Python's resource tracker unblocks SIGINT and SIGTERM after starting its
    # process (SIG_UNBLOCK, not the mask it found), which left the workers that joblib started next unprotected
    resource_tracker.ensure_running()
    with deferred_interrupts():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def each_result(fn: Callable, args: Sequence[tuple], workers: Any = 1,
                order: Sequence[int] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(*args[i]))`` for every job ``i`` as it finishes; ``order`` is the order jobs are started
    in (default: as given; the longest first balances the workers). With ``worker_count(workers, len(args))``
    of 1 the jobs run here, in order; otherwise in that many joblib (loky) worker processes, each with this
    process's ``torch.get_num_threads()``. ``fn``'s arguments and result must be picklable. An exception in
    a job is raised here; closing the generator (a ``break``, Ctrl-C, an exception in the loop body) stops
    the jobs not yet started and ends the workers."""
    order = list(range(len(args))) if order is None else list(order)
    n = worker_count(workers, len(order))
    if n == 1:
        for i in order:
            yield i, fn(*args[i])
        return
    import torch
    from joblib import Parallel, delayed

    threads = torch.get_num_threads()
    jobs = Parallel(n_jobs=n, backend="loky", return_as="generator_unordered", pre_dispatch="n_jobs")
    results = None
    try:
        with _children_ignore_stop_signals():  # the workers start in this call; a Ctrl-C in it lands as the block ends
            results = jobs(delayed(_call)(i, fn, args[i], threads, os.getpid()) for i in order)
        for result in results:  # not `yield from`: that would close `results` outside the filter below
            yield result
    finally:
        if results is not None:
            with warnings.catch_warnings():  # closed early on purpose (Ctrl-C, an error): joblib's advice is noise
                warnings.filterwarnings("ignore", r"\d+ tasks which were still being processed", UserWarning)
                results.close()  # cancels the jobs not started, ends the workers running the others
