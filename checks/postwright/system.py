"""Running host commands with bounded time and errors that say which command failed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from postwright.errors import PostwrightError


class CommandError(PostwrightError):
    """A host command exited non-zero or timed out."""


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv, capture its output, and raise CommandError (with stderr) when it fails."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input_text,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise CommandError(f"`{argv[0]}` is not installed") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        tail = detail[-1] if detail else "no output"
        raise CommandError(f"`{' '.join(argv)}` failed (exit {done.returncode}): {tail}")
    return done


def missing_tools(tools: Sequence[str]) -> list[str]:
    """Return the tools from `tools` that are not on PATH."""
    return [tool for tool in tools if shutil.which(tool) is None]
