"""Where the test password comes from: a file, the environment, or a prompt. Never argv."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from postwright.errors import UsageError

ENV = "POSTWRIGHT_PASSWORD"


def read_password(password_file: str | None, *, interactive: bool | None = None) -> str:
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--password-file {password_file}: {exc.strerror}") from None
        password = text.splitlines()[0] if text.splitlines() else ""
        if not password:
            raise UsageError(f"--password-file {password_file} is empty")
        return password
    if os.environ.get(ENV):
        return os.environ[ENV]
    if interactive is None:
        interactive = sys.stdin.isatty()
    if interactive:
        return getpass.getpass("password for the test mailbox: ")
    raise UsageError(f"--user needs a password: --password-file FILE, {ENV}, or a terminal "
                     "to type it in (never on the command line)")
