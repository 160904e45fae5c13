"""Errors the command line turns into a clear message and an exit code."""


class PostwrightError(Exception):
    """A failure the user can act on; the message says what happened and what to do."""

    exit_code = 1


class UsageError(PostwrightError):
    """Bad input: nothing was changed."""

    exit_code = 2
