"""`postwright audit HOST`: read a hand-built (or any) Postfix/Dovecot host's configuration
over SSH, read-only, and name the file, the setting and the change behind each deviation from
the port/TLS contract and our roles' security baseline."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from postwright.audit import collect as transports
from postwright.audit.facts import parse
from postwright.audit.link import link, load_verify, render_links
from postwright.audit.registry import listing
from postwright.audit.run import judge
from postwright.errors import UsageError
from postwright.verify.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK, CheckResult, Report
from postwright.verify.report import render_junit, render_text

DESCRIPTION = """Read a mail host's own configuration and say which line to change.

Runs one read-only shell script on the host (ssh HOST sudo -n sh -s; or through an Ansible
inventory host; or --local): postconf -n/-M/-x, doveconf -n, the listening sockets, the
certificate and key files the daemons name (mode, owner, expiry, fingerprints: never a key or
a password hash), what 127.0.0.1 serves on each contract port, /etc/mailname, resolv.conf,
the DKIM signer and the nftables view of the contract ports. Nothing on the host is changed.

Each finding names the file (and line), the setting as written (main.cf `name = value`, a
master.cf service's `-o name=value`, Dovecot `name = value` in the installed release's
syntax) and the change (a postconf command, or the line to write).

With --verify-report FILE (from `postwright verify HOST --json FILE`), each network finding
is printed with its cause in the configuration."""
AUDIT_EXIT = f"""exit codes:
  {EXIT_OK}  no rule failed (warnings and skips allowed)
  {EXIT_FAIL}  at least one rule failed
  {EXIT_ERROR}  the host could not be read (SSH, sudo, timeout), or a fact a rule needs was
     missing: nothing is proven
  2  usage error

examples:
  postwright audit mail.example.org
  postwright audit mail.example.org --user admin --ssh-port 2222 --json audit.json
  postwright verify mail.example.org --json verify.json
  postwright audit mail.example.org --verify-report verify.json
  postwright audit --ansible-inventory inventories/prod --ansible-host mx1
  postwright audit --list-rules"""


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="read a host's Postfix/Dovecot configuration (SSH, "
                           "read-only) and name the line behind each problem",
                           description=DESCRIPTION, epilog=AUDIT_EXIT,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("host", metavar="HOST", nargs="?", help="SSH host (name or address)")
    audit.add_argument("--list-rules", action="store_true",
                       help="list every rule (id and what passing means) and exit")
    audit.add_argument("--user", help="SSH user (default: ssh's own choice)")
    audit.add_argument("--ssh-port", type=int, help="SSH port (default: ssh's own choice)")
    audit.add_argument("--ansible-inventory", metavar="FILE", help="reach the host through "
                       "this Ansible inventory (with --ansible-host)")
    audit.add_argument("--ansible-host", metavar="NAME", help="the inventory host to audit "
                       "(its connection and become settings apply: ansible_become=true for a "
                       "non-root login)")
    audit.add_argument("--local", action="store_true", help="audit this machine")
    audit.add_argument("--deadline", type=float, default=60.0,
                       help="give up reading the host after this many seconds (default 60)")
    audit.add_argument("--save-output", metavar="FILE", help="also write what the host "
                       "printed (facts only: no key, no password hash) to FILE")
    audit.add_argument("--from-output", metavar="FILE", help="judge a file written by "
                       "--save-output instead of reading a host")
    audit.add_argument("--verify-report", metavar="FILE", help="link the findings of "
                       "`postwright verify --json FILE` to their causes")
    audit.add_argument("-v", "--verbose", action="store_true",
                       help="show every rule in full, with its evidence")
    audit.add_argument("--json", metavar="FILE|-", help="write the JSON report here")
    audit.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    audit.set_defaults(handler=_audit)


def transport_of(args: argparse.Namespace) -> transports.Transport:
    ansible = args.ansible_inventory or args.ansible_host
    chosen = sum(bool(x) for x in (args.host, ansible, args.local))
    if chosen != 1:
        raise UsageError("audit needs exactly one of HOST, --ansible-inventory with "
                         "--ansible-host, --local (or --from-output, --list-rules)")
    if ansible:
        if not (args.ansible_inventory and args.ansible_host):
            raise UsageError("--ansible-inventory and --ansible-host go together")
        return transports.ansible(args.ansible_inventory, args.ansible_host)
    if args.local:
        return transports.local()
    return transports.ssh(args.host, port=args.ssh_port, user=args.user,
                          connect_timeout=min(10.0, args.deadline / 2))


def family(result: CheckResult) -> str:
    """Terminal/JUnit group of an audit result: its family (audit.FAMILY.rule)."""
    return result.id.split(".")[1] if result.id.count(".") >= 2 else "other"


def _read(args: argparse.Namespace) -> tuple[str, str, str]:
    """(target, output, mark)."""
    if args.from_output:
        try:
            mark, _, output = Path(args.from_output).read_text(encoding="utf-8").partition("\n")
        except OSError as exc:
            raise UsageError(f"--from-output: {exc}") from None
        return args.host or args.from_output, output, mark.strip()
    if args.deadline <= 0:
        raise UsageError("--deadline must be positive")
    transport = transport_of(args)
    output, mark = transports.collect(transport, args.deadline)
    if args.save_output:
        Path(args.save_output).write_text(f"{mark}\n{output}", encoding="utf-8")
    target = args.host or args.ansible_host or "localhost"
    return target, output, mark


def _audit(args: argparse.Namespace) -> int:
    if args.list_rules:
        print(listing())
        return 0
    verify_results = load_verify(args.verify_report) if args.verify_report else None
    started = time.monotonic()
    target, output, mark = _read(args)
    facts = parse(output, mark)
    if facts.postfix is None and facts.dovecot is None:
        raise transports.CollectError(f"{target}: neither Postfix nor Dovecot was found "
                                      "(postconf and doveconf answered nothing)")
    report = judge(facts, target, started=started)
    links = link(verify_results, report) if verify_results is not None else None
    _write(args, report, links)
    return report.exit_code


def _write(args: argparse.Namespace, report: Report, links: list[Any] | None) -> None:
    if args.json:
        data = report.to_dict()
        if links is not None:
            data["links"] = [item.to_dict() for item in links]
        text = json.dumps(data, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(render_junit(report, command="audit", group=family) + "\n",
                                    encoding="utf-8")
    if args.json == "-":
        return
    render_text(report, sys.stdout, colour=sys.stdout.isatty(), verbose=args.verbose,
                command="audit", group=family)
    if links is not None:
        print("\nnetwork findings (postwright verify) and their causes")
        for line in render_links(links) or ["  none: verify found nothing wrong"]:
            print(f"  {line}")
