"""Running one report notebook: papermill in a kernel the build can kill, its executed copy written whole.

The kernels of a build are tracked (``_LIVE_KERNELS``) so that Ctrl-C with notebooks in threads kills them at
once; ``_STOPPING`` tells threads and kernel starts that the build is ending.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import nbformat

from workbench.cache import atomic_write

KERNEL_NAME = "python3"

_LIVE_KERNELS: set = set()  # the kernel managers of the notebooks running now (build_reports' jobs > 1)
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set when a build of jobs > 1 stops (Ctrl-C, an error in a thread): no kernel starts
# after it; cleared when its threads have ended, and by each build


def _kill_kernel(km) -> bool:
    """Kill ``km``'s kernel and what it started; True if the kernel was still running. jupyter_client starts a
    kernel in its own session and records its process group at launch: that group is killed (a notebook's
    subprocesses too, even once the kernel itself has ended); the process alone where there is no group of
    its own (Windows, or a kernel sharing ours)."""
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    running = process is not None and process.poll() is None
    group = getattr(provisioner, "pgid", None)
    try:
        if group and hasattr(os, "killpg") and group != os.getpgid(0):
            os.killpg(group, signal.SIGKILL)
            return running
    except OSError:  # the group is gone already
        pass
    if running:
        with contextlib.suppress(OSError):
            process.kill()
    return running


def kill_live_kernels() -> int:
    """Kill every report notebook's kernel still running (and its process group); returns how many. Ctrl-C with
    ``jobs > 1`` reaches the main thread only: the notebooks' threads then end on a dead kernel at once,
    instead of the build waiting for their cells (or, after a hard exit, kernels outliving the build)."""
    with _LIVE_LOCK:
        managers = list(_LIVE_KERNELS)
    return sum(_kill_kernel(km) for km in managers)


def report_kernel_manager(cell_running: Callable[[], bool] | None = None) -> type:
    """jupyter_client's ``AsyncKernelManager`` (nbclient's default), except that shutting a kernel down does
    not first interrupt it. jupyter_client sends SIGINT before its shutdown request; when the signal lands
    while ipykernel is still in a message handler (a race, more likely on a loaded machine), the kernel logs
    "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." on stderr after a notebook that ran fine.
    The report's cells have all finished by then; a kernel that does not exit on the shutdown request is
    still terminated, then killed, as before. Interrupts asked for otherwise (``interrupt_kernel``) are sent.

    When ``cell_running()`` says a cell is still running at shutdown (it ran past the cell timeout), the kernel is
    killed at once: asked to shut down, it closed its sockets under the running cell, whose reply then failed
    with a 20-line "ZMQError: Socket operation on non-socket" traceback on stderr."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # only ``_async_shutdown_kernel`` calls it then
                return
            await super()._async_interrupt_kernel()

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            if cell_running is not None and cell_running():
                now = True
            await super()._async_shutdown_kernel(now=now, restart=restart)

        # the public names: AsyncKernelManager binds them to the _async_ functions when its class is made
        async def start_kernel(self, **kw) -> None:
            with _LIVE_LOCK:
                if _STOPPING.is_set():
                    raise RuntimeError("the report was interrupted: the kernel was not started")
                _LIVE_KERNELS.add(self)
            try:
                await super().start_kernel(**kw)
                if _STOPPING.is_set():  # Ctrl-C while it started: kill_live_kernels found no process yet
                    raise RuntimeError("the report was interrupted: the kernel was killed as it started")
            except BaseException:
                _kill_kernel(self)
                with contextlib.suppress(Exception):  # its connection file; nbclient cleans up only after a start
                    await self.cleanup_resources()
                with _LIVE_LOCK:
                    _LIVE_KERNELS.discard(self)
                raise

        async def cleanup_resources(self, restart: bool = False) -> None:
            with _LIVE_LOCK:
                _LIVE_KERNELS.discard(self)
            await super().cleanup_resources(restart=restart)

    return ReportKernelManager


def kernel_config(cell_running: Callable[[], bool] | None = None):
    """nbclient/jupyter_client settings of the report's kernels: CurveZMQ-encrypted transport where every
    part supports it (jupyter_client's ``transport_encryption``, pyzmq built with CURVE, a kernelspec that
    declares ``supported_encryption``, as ipykernel >= 7 writes it). ipykernel 7 otherwise logs
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption ..." on stderr for every
    notebook; "auto" leaves an older stack unencrypted and unchanged, as before. Kernels are managed by
    :func:`report_kernel_manager`'s class, which shuts them down without a SIGINT first."""
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    config = Config()
    config.NotebookClient.kernel_manager_class = report_kernel_manager(cell_running)
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


CELL_TIMEOUT = 1800.0
"""Default seconds one cell may run before the report calls it hung. Notebook 03's main sweep cell took 7 minutes
with two workers and 17 in one process on a 2-core machine, on the defaults and an empty cache; beside `make test`
it once ran past the old 600 s and failed the report."""


def run_notebook(path: Path, out_dir: Path, parameters: Mapping[str, Any], *,
                 timeout: float | None = CELL_TIMEOUT, progress_bar: bool | None = None) -> dict:
    """Execute one notebook with papermill; returns {name, status, seconds, executed, error}.

    On a terminal, papermill's per-cell progress bar runs on stderr (long runs show where they are) unless
    ``progress_bar=False`` (notebooks run side by side: their bars would overwrite each other).

    papermill saves the notebook after every cell: it runs into a temp file that replaces ``out_dir/<name>.ipynb``
    when the run ends (ok or failed in a cell: a failed one shows its traceback) and is removed when the build is
    interrupted or the kernel never started (then ``executed`` is None and no page is written), so the folder keeps
    the last run's notebook that got as far as running, never half of this one.
    """
    executed = out_dir / f"{path.stem}.ipynb"
    start = time.perf_counter()
    running = [False]  # a cell has started and not finished (nbclient's hooks): at shutdown, one past the timeout
    hooks = {"on_cell_start": lambda **_: running.__setitem__(0, True),
             "on_cell_executed": lambda **_: running.__setitem__(0, False)}
    kept = False
    try:
        with atomic_write(executed) as partial:
            error, refused = _execute(path, partial, parameters, timeout, progress_bar, running, hooks)
            # a build of jobs > 1 was interrupted (this thread ended on its killed kernel), or papermill wrote nothing
            # (a kernel that never started leaves papermill's copy with no outputs: not a run to keep either)
            if _STOPPING.is_set() or not partial.stat().st_size or (error or "").startswith(NO_KERNEL):
                raise _Discard
            nb = nbformat.read(partial, as_version=4)
            nb.metadata.setdefault("papermill", {})["output_path"] = str(executed.resolve())  # not the temp's
            nbformat.write(nb, partial)
            kept = True
    except _Discard:
        pass
    return {"name": path.stem, "status": "ok" if error is None else "failed",
            "seconds": round(time.perf_counter() - start, 2),
            "executed": str(executed) if kept else None, "error": error, "input_error": refused}


def _not_said_again(record: logging.LogRecord) -> bool:
    """Drops nbclient's log lines about a cell past the timeout or a dead kernel (logged through papermill's
    logger): the build's own line for that notebook says the same, with its name."""
    return not str(record.msg).startswith(("Timeout waiting for execute reply", "Kernel died while waiting",
                                           "Interrupting kernel", "Error occurred while starting new kernel client"))


NO_KERNEL = "the kernel did not start"
"""How a notebook's error line begins when its kernel never started (no cell ran)."""


class _Discard(Exception):
    """Leaves :func:`run_notebook`'s ``atomic_write`` without keeping the file (caught at once)."""


def _execute(path: Path, output: Path, parameters, timeout, progress_bar, running, hooks) -> tuple[str | None, bool]:
    """papermill on ``path`` into ``output``; returns (error line or None, whether an InputError stopped it)."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    logging.getLogger("papermill").addFilter(_not_said_again)  # once: a filter already there is not added again
    error, refused = None, False
    try:
        # the kernel starts in the notebook's folder through nbclient's resources, not papermill's ``cwd``:
        # that one chdirs this whole process while the notebook runs, and with notebooks in threads a relative
        # output path then named another folder ("output folder reports doesn't exist") or the build ended
        # in the notebooks' folder; absolute paths in and out, whatever the working directory is
        pm.execute_notebook(str(path.resolve()), str(output.resolve()), parameters=dict(parameters),
                            kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(path.parent.resolve())}},
                            # nbclient takes whole seconds: a fraction rounds up
                            execution_timeout=None if timeout is None else math.ceil(timeout),
                            progress_bar=sys.stderr.isatty() if progress_bar is None else progress_bar,
                            store_widget_state=False, coalesce_streams=True,
                            config=kernel_config(lambda: running[0]), **hooks)
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index}: {exc.ename}: {exc.evalue}"
        refused = exc.ename == "InputError"  # the notebook's checks or the library refused a value
    except CellTimeoutError as exc:
        error = f"CellTimeoutError: {str(exc).splitlines()[0] if str(exc) else 'a cell ran past the timeout'}"
    except DeadKernelError as exc:
        error = f"DeadKernelError: {exc} while a cell ran (it ended the process, or the system killed it: out of memory?)"
    except RuntimeError as exc:  # the kernel died or hung while starting (jupyter_client): this notebook fails
        if "kernel" not in str(exc).lower():
            raise
        error = f"{NO_KERNEL}: {exc}"
    return error, refused
