"""Errors raised on bad user input; the CLI turns them into one line on stderr and exit code 2."""


class InputError(ValueError):
    """Bad user input: the message names the parameter, the rule and the bad value."""
