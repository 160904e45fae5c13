"""The `postwright` command: one sub-command per concern, each registered by its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from postwright import __version__
from postwright.audit import cli as audit_cli
from postwright.dns import cli as dns_cli
from postwright.errors import PostwrightError
from postwright.lab import cli as lab_cli
from postwright.verify import cli as verify_cli

# Each concern adds its sub-command here; a module's `register` wires parser -> handler.
COMMANDS = (lab_cli, dns_cli, verify_cli, audit_cli)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is our usage-error code too."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="postwright", description=__doc__)
    parser.add_argument("--version", action="version", version=f"postwright {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except PostwrightError as exc:
        print(f"postwright: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("postwright: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
