"""``report``: run notebooks headlessly (papermill, interactive=False) and write offline HTML pages.

Examples::

    python -m workbench report                       # every notebooks/NN_*.ipynb, default parameters
    python -m workbench report 02 --smoke --out /tmp/r
    python -m workbench report compute_planner -p compute 1e22
    python -m workbench report --no-thumbnails        # no kaleido / Chromium needed
    python -m workbench report --jobs 2               # two notebooks at a time (one core each)

Exit status 1 when a notebook fails (the others are still built and listed in index.html).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="notebooks to run (01, 01_scaling_laws or scaling_laws); all if none")
    parser.add_argument("--smoke", action="store_true",
                        help="use each notebook's small parameters (metadata.workbench.smoke)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (repeatable); the value is read as the declared type")
    parser.add_argument("--out", default="reports", help="output folder (default: reports)")
    parser.add_argument("--timeout", type=float, default=None,  # None: workbench.report.CELL_TIMEOUT
                        help="per-cell timeout in seconds (default 1800: it catches a hung cell; 03's longest cell, its "
                             "sweep, took 7 minutes with two workers and 17 in one process on a 2-core machine)")
    parser.add_argument("--notebook-dir", default=None,
                        help="folder of NN_*.ipynb notebooks (default: the source checkout's notebooks/)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="notebooks run at a time, each in its own kernel (default 1; `make report` uses 2: "
                             "the notebooks train on one core each)")
    parser.add_argument("--no-thumbnails", action="store_true",
                        help="skip the index's PNG thumbnails (kaleido starts a headless Chromium for them)")


def run(args: argparse.Namespace) -> dict:
    from workbench.commands.paths import check_folder
    from workbench.errors import InputError
    from workbench.report import CELL_TIMEOUT, MAX_JOBS, NOTEBOOK_DIR, build_reports

    overrides = {}
    for name, value in args.parameter:
        if name in overrides:
            raise InputError(f"-p {name} must be given once; got {overrides[name]!r} and {value!r}")
        overrides[name] = value
    timeout = CELL_TIMEOUT if args.timeout is None else args.timeout
    if not 0 < timeout < math.inf:
        raise InputError(f"--timeout must be a finite number of seconds > 0; got {args.timeout!r}")
    if not 1 <= args.jobs <= MAX_JOBS:
        raise InputError(f"--jobs must be an integer in [1, {MAX_JOBS}] (notebooks run at a time); got {args.jobs!r}")
    check_folder(args.out, "--out")  # before any notebook runs: not a file, and writable
    source = Path(args.notebook_dir) if args.notebook_dir is not None else NOTEBOOK_DIR
    if args.notebook_dir is not None and not source.is_dir():
        raise InputError(f"--notebook-dir must name an existing folder of NN_*.ipynb notebooks; got {args.notebook_dir!r}")
    if not source.is_dir():  # installed from a wheel: the notebooks stay in the source repository
        raise InputError(f"no notebooks beside the installed package ({str(source)!r} does not exist): they ship with "
                         "the source repository, not the wheel; pass --notebook-dir FOLDER (the repository's notebooks/)")
    if Path(args.out).resolve() == source.resolve():  # the executed copies would overwrite the notebooks
        raise InputError(f"--out must not be the source notebook folder {str(source)!r} (the executed notebooks "
                         f"would overwrite the originals); got {args.out!r}")
    return build_reports(args.names, smoke=args.smoke, parameters=overrides, out_dir=args.out,
                         notebook_dir=args.notebook_dir, timeout=timeout, thumbnails=not args.no_thumbnails,
                         jobs=args.jobs)
