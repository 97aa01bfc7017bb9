"""``python -m workbench VERB ...``: one module per verb under ``workbench.commands``.

Each verb module defines ``add_arguments(parser)`` and ``run(args) -> dict | None``; with
``--json`` the returned dict is printed as exactly one JSON object on stdout, without it as the verb's
``render(result)`` text when it has one (``fit``, ``allocate``), else as indented JSON. Verb modules are
imported lazily so that ``fit`` never pays for torch. Ctrl-C prints one line (the training verbs say
what they kept and that a rerun resumes) and exits 130, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import signal
import sys
import warnings

from workbench.errors import CacheWarning, InputError, Interrupted, Terminated, WorkersWarning, exit_code_of, stopped_by

DESCRIPTION = ("scaling-workbench: fit scaling laws, plan compute, train teacher-student sweeps, prune, tune "
               "inference cost and build the notebooks' reports. With --json a verb prints one JSON object on "
               "stdout; bad input is one line on stderr and exit code 2.")

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "fit": ("workbench.commands.fit", "fit a registered scaling law to a CSV table"),
    "allocate": ("workbench.commands.allocate", "compute-optimal model and data size for a budget"),
    "report": ("workbench.commands.report", "run notebooks headlessly and write offline HTML reports"),
    "sweep": ("workbench.commands.sweep", "train a grid of teacher-student students (batched)"),
    "prune": ("workbench.commands.prune", "iterative magnitude pruning with rewinding"),
    "costtune": ("workbench.commands.costtune", "RL choice of inference settings at a cost budget"),
}


class _StoreOnce(argparse._StoreAction):
    """``store``, but an option given twice is a usage error (argparse would keep the last value)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = parser.__dict__.setdefault("_given", {})
        if self.dest in given:
            parser.error(f"{option_string} is given more than once; got {given[self.dest]!r} and {values!r}")
        given[self.dest] = values
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit code 2, an option that stores one value
    may be given once (``append``/``extend`` options stay repeatable), and a value such as ``-1e22``,
    ``-4,8``, ``-Infinity`` or ``-nan`` is read as a value, so the verb can name it, not as an unknown option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse's own pattern knows only -12 and -1.5 (no exponent, no list, no inf or nan); no option of
        # the workbench starts with '-' and a digit, so anything that does is a value
        self._negative_number_matcher = re.compile(r"^-(\.?\d|inf(inity)?$|nan$)", re.IGNORECASE)

    def add_argument(self, *args, **kwargs):
        if args and args[0].startswith("-") and kwargs.get("action", "store") == "store":
            kwargs["action"] = _StoreOnce
        return super().add_argument(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        self._given = {}  # options seen in this parse (``_StoreOnce``)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):  # noqa: D401 (argparse API)
        if re.match(r"argument -[-\w]+: expected one argument$", message):
            message += f" (a value that starts with '-' is given as {message.split()[1][:-1]}=VALUE)"
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def _jsonable(obj):
    """Replace non-finite floats by None so the output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def _one_line_cache_warnings(show):
    """``warnings.showwarning``, but a :class:`CacheWarning` (a cache file ignored and computed again) or a
    :class:`WorkersWarning` (fewer workers than asked for) is one line on stderr, ``warning: ...``, as the
    verbs' other warnings are."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (CacheWarning, WorkersWarning)):
            sys.stderr.write(f"warning: {' '.join(str(message).split())}\n")
        else:
            show(message, category, filename, lineno, file, line)
    return showwarning


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m workbench", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name, (module, help_) in VERBS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if verb == name:  # import only the verb being run (or asked for --help)
            importlib.import_module(module).add_arguments(p)
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb is not None and verb not in VERBS:
        sys.stderr.write(f"error: unknown verb {verb!r}; expected one of {', '.join(VERBS)}\n")
        return 2
    try:
        args, unknown = build_parser(verb).parse_known_args(argv)
    except SystemExit as exc:  # a usage error (one line on stderr) or --help: its status, not an exception
        return exc.code
    if unknown:  # argparse would name only the top-level program, not the verb whose options were meant
        prog = "python -m workbench" + (f" {verb}" if verb else "")
        sys.stderr.write(f"error: {prog}: unrecognized arguments: {' '.join(unknown)} ({prog} --help lists the options)\n")
        return 2
    if args.verb is None:
        sys.stderr.write(f"error: no verb given; expected one of {', '.join(VERBS)} (python -m workbench --help)\n")
        return 2
    try:
        module = importlib.import_module(VERBS[args.verb][0])
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_cache_warnings(warnings.showwarning)
            result = module.run(args)
    except Interrupted as exc:  # a training verb says what it kept and how to resume
        sys.stderr.write(f"{' '.join(str(exc).strip().splitlines())}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated, raised by entry's handler)
        sys.stderr.write(f"{args.verb} interrupted ({stopped_by(exc)})\n")
        return exit_code_of(exc)
    except InputError as exc:
        sys.stderr.write(f"error: {' '.join(str(exc).strip().splitlines())}\n")  # one line, whatever it quotes
        return 2
    except FileNotFoundError as exc:
        sys.stderr.write(f"error: file not found: {exc.filename or exc}\n")
        return 2
    except (OverflowError, MemoryError) as exc:  # a last resort: the verb's checks should have named the value
        sys.stderr.write(f"error: {args.verb}: a value is too large for this machine "
                         f"({type(exc).__name__}: {exc or 'out of memory'}); use smaller numbers\n")
        return 2
    if getattr(args, "json", False) and result is not None:
        sys.stdout.write(json.dumps(_jsonable(result)) + "\n")
    elif result is not None and hasattr(module, "render"):  # a verb's own text for a person
        sys.stdout.write(module.render(result) + "\n")
    elif result is not None:
        sys.stdout.write(json.dumps(_jsonable(result), indent=2) + "\n")
    if not (isinstance(result, dict) and result.get("failed")):
        return 0
    return 2 if result.get("bad_input") else 1  # report: 2 when every failed notebook refused a value


def entry() -> None:
    """``python -m workbench`` and the ``workbench`` console script: exit with :func:`main`'s status.

    Once the verb is done, Ctrl-C is ignored: the interpreter's shutdown after a run that imported torch takes
    0.1 s or more, and a SIGINT landing then ended the process by SIGINT (Popen's -2, no message) or printed an
    "Exception ignored" traceback with status 0, after the verb had printed its result (measured by sending
    SIGINT 0-100 ms after a sweep's JSON line: -2 or a traceback in 20 of 20 tries). A Ctrl-C in the instant
    between the verb's output and that point is the verb's Ctrl-C: one line, 130. (A Python handler that leaves
    with ``os._exit`` instead would not do: the interpreter's finalisation puts SIGINT back to its default
    before the slow part, and tests/test_cli_sweep.py's test of this saw -2 again, 3 of 3; SIG_IGN stays.
    Ctrl-\\ or SIGTERM still end a shutdown that hangs.) A handled Ctrl-C (130: the verb has said what it
    kept) leaves at once with ``os._exit`` after flushing; there is nothing left to clean
    up (caches are written atomically, progress bars closed).

    While the verb runs, SIGTERM stops it as Ctrl-C does (:class:`~workbench.errors.Terminated`: the same one
    line, naming SIGTERM, and exit 143), unless it was ignored when the process started (``nohup``-style
    launchers); afterwards it is back to its default."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = main()
        _quiet_shutdown()
    except KeyboardInterrupt as exc:
        _quiet_shutdown()
        code = exit_code_of(exc)
        sys.stderr.write(f"interrupted ({stopped_by(exc)})\n")
    if code in (130, 143):
        # os._exit skips the interpreter's exit, whose first step runs multiprocessing's finalizers of priority >= 0:
        # the named semaphores of loky's workers' queues unregister themselves there. Skipped, loky's resource
        # tracker found them still registered as it closed and printed "There appear to be 3 leaked semlock
        # objects" under the one-line message, when the interrupted pool's queues were not yet freed (test_workers'
        # SIGTERM test, session 30: 12 of 40 runs with another run beside it, 1 of 24 alone; with this step 2 of 70
        # beside another). That step alone is quick: it joins no process.
        from multiprocessing import util

        util._run_finalizers(0)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _raise_terminated(signum, frame) -> None:
    """SIGTERM's handler while a verb runs: stop it as Ctrl-C does (``errors.Terminated``), so a sweep's
    finished rows are kept and its worker processes ended (before: exit -15 and loky's warnings about leaked
    semaphores and folders; a batch scheduler's time limit sends SIGTERM)."""
    raise Terminated()


def _quiet_shutdown() -> None:
    """Once the verb is done: Ctrl-C ignored, SIGTERM back to its default (it ends the process at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
