"""Errors the CLI turns into one line on stderr: bad user input (exit 2) and an interruption (exit 130)."""

from __future__ import annotations

from typing import Any, Sequence


class InputError(ValueError):
    """Bad user input: the message names the parameter, the rule and the bad value."""


class Interrupted(Exception):
    """A verb stopped by Ctrl-C (SIGINT): the message says what is kept and how to resume. The CLI prints
    it as one line on stderr and exits 130 (128 + SIGINT), as a shell does for an interrupted command."""


def repeats(values: Sequence[Any]) -> list:
    """The values given more than once, each once, in the order of their second occurrence (compared with
    ``==``, so unhashable values such as lists work too); empty when every value is distinct."""
    values, out = list(values), []
    for i, v in enumerate(values):
        if v in values[:i] and v not in out:
            out.append(v)
    return out
