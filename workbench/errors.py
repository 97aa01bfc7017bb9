"""Errors the CLI turns into one line on stderr: bad user input (exit 2) and an interruption (exit 130)."""


class InputError(ValueError):
    """Bad user input: the message names the parameter, the rule and the bad value."""


class Interrupted(Exception):
    """A verb stopped by Ctrl-C (SIGINT): the message says what is kept and how to resume. The CLI prints
    it as one line on stderr and exits 130 (128 + SIGINT), as a shell does for an interrupted command."""
