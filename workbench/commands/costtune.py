"""``python -m workbench costtune``: an RL cascade (per input: answer now or escalate along a ladder of
inference settings) at a FLOPs budget, compared with static settings, a heuristic confidence
cascade, oracle bins and the per-input oracle on held-out inputs.

The outcome table (every input × setting) is built once per configuration and cached under
``data/cache/costtune`` (or ``$WORKBENCH_CACHE``); a rerun only re-trains the agents.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.commands.paths import check_cache_dir
from workbench.commands.sweep import check_device, int_list, named_as_flags, set_up_torch
from workbench.errors import InputError, Interrupted, stopped_by
from workbench.limits import MAX_DIM, MAX_ROWS, MIN_INPUTS, max_test_rows

TASKS = ("teacher-classification", "mnist1d")
FAMILIES = ("mlp", "cnn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--family", default="mlp", help="student family: mlp or cnn (default mlp)")
    p.add_argument("--budget", type=float, default=None,
                   help="mean FLOPs per input for the RL policy (default: half the cost of the static setting "
                        "with the lowest error on the train inputs); one below the cheapest setting's cost exits 2, before the "
                        "outcome table is built when the settings' shapes show it (always for the MLP family)")
    p.add_argument("--steps", type=int, default=1_000_000,
                   help="real environment steps (cascade rung runs and stops) per agent of RL's curve; training "
                        "ends with the update (256 episodes) that reaches it, so a tiny value is overshot "
                        "(the guidance comparison's agents take min(steps, 300,000); default 1,000,000)")
    p.add_argument("--seed", type=int, default=0, help="agent seed (default 0)")
    p.add_argument("--n-budgets", type=int, default=10,
                   help="log-spaced budgets tracing RL's cost-error curve; the cost of every ladder rung above the "
                        "cheapest and the requested budget are added, so more agents are trained (default 10)")
    p.add_argument("--widths", default=None, help="family widths, comma-separated (default per family)")
    p.add_argument("--train-steps", type=int, default=2000, help="Adam steps per dense student (default 2000)")
    p.add_argument("--n-inputs", type=int, default=20000,
                   help="test inputs in the outcome table (half held out; at least 100; default 20000)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default=None,
                   help="cpu or cuda: where the outcome table's students train (default: cuda when present). "
                        "Numbers differ slightly between devices (float summation order); a cached table is "
                        "reused whichever device asks, and the JSON's table_device says where it was built")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars on stderr")


def run(args) -> dict:
    if args.task not in TASKS:
        raise InputError(f"--task must be one of {', '.join(TASKS)}; got {args.task!r}")
    if args.family not in FAMILIES:
        raise InputError(f"--family must be one of {', '.join(FAMILIES)}; got {args.family!r}")
    check_device(args.device)
    if args.budget is not None and not 0 < args.budget < float("inf"):
        raise InputError(f"--budget must be a positive, finite number of FLOPs per input; got {args.budget!r}")
    for flag, value, least, most in (("--steps", args.steps, 1, 10 ** 9),
                                     ("--train-steps", args.train_steps, 1, 10 ** 9),
                                     ("--n-inputs", args.n_inputs, MIN_INPUTS, MAX_ROWS), ("--seed", args.seed, 0, 2 ** 32 - 1),
                                     ("--n-budgets", args.n_budgets, 2, 1000), ("--threads", args.threads, 1, 1024)):
        if not least <= value <= most:
            raise InputError(f"{flag} must be an integer in [{least}, {most}]; got {value!r}")
    most, why = max_test_rows(args.task)  # the task's test split: mnist1d's is smaller than any split's limit
    if args.n_inputs > most:
        raise InputError(f"--n-inputs must be <= {most} for --task {args.task} ({why}); got {args.n_inputs!r}")
    widths = int_list("widths", args.widths) if args.widths is not None else ()
    if any(w > MAX_DIM for w in widths):
        raise InputError(f"--widths must be <= {MAX_DIM}; got {max(widths)}")
    check_cache_dir(None, sub="costtune")  # $WORKBENCH_CACHE or data/cache takes the outcome table: checked before it is built

    from tqdm import tqdm

    from workbench.costtune.outcomes import OutcomeConfig, table_path
    from workbench.costtune.study import StudyConfig, run_study

    set_up_torch(args)  # threads, and a clear error when CUDA is asked for but absent
    outcome = OutcomeConfig(task=args.task, family=args.family, widths=widths, steps=args.train_steps,
                            n_inputs=args.n_inputs).resolved()
    bars = []

    def progress(it, **kw):
        bars.append(tqdm(it, disable=args.no_progress, **kw))
        return bars[-1]

    try:
        with named_as_flags({"budget": "--budget"}):  # the CLI checked --steps and --n-budgets itself
            result = run_study(StudyConfig(outcome, budget=args.budget, steps=args.steps, n_budgets=args.n_budgets,
                                           seed=args.seed), device=args.device, progress=progress)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated)
        for bar in bars:  # end the bar's line before the one-line message
            bar.close()
        raise Interrupted(_interrupted_message(table_path(outcome), stopped_by(exc)), exc) from None
    return result.summary


def _interrupted_message(table: Path, by: str) -> str:
    """What an interruption (``by``: Ctrl-C or SIGTERM) leaves: the outcome table is cached once built; the RL
    agents are not."""
    if table.exists():
        return (f"costtune interrupted ({by}): the outcome table is kept in {table}; rerun the same command to "
                "resume (it reads the table and trains only the RL agents, which start over)")
    return (f"costtune interrupted ({by}) while building the outcome table, which is kept only once complete; "
            "rerun the same command to start it again")
