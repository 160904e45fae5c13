"""`postwright lab up|down|status|inventory|shell`."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from postwright.errors import UsageError
from postwright.lab import HostRequest, HostStatus, Lab, require_root
from postwright.lab.dns_server import DEFAULT_ZONES
from postwright.lab.machine import NSENTER
from postwright.lab.plan import DEFAULT_SUITE, SUITES, Addresses, HostKind

DEFAULT_HOSTS = ("mx1",)


def register(sub: Any) -> None:
    lab = sub.add_parser("lab", help="real mail hosts on this machine (systemd-nspawn)")
    verbs = lab.add_subparsers(dest="verb", required=True, metavar="VERB")

    up = verbs.add_parser("up", help="boot lab hosts (and the lab DNS host)")
    up.add_argument("names", nargs="*", metavar="NAME",
                    help=f"host names (default: {' '.join(DEFAULT_HOSTS)})")
    up.add_argument("--ipv4", help="IPv4 address for the single NAME (default: next free)")
    up.add_argument("--ipv6", help="IPv6 address for the single NAME (default: next free)")
    up.add_argument("--suite", default=DEFAULT_SUITE, choices=list(SUITES),
                    help="Debian release of the NAMEs: "
                         + ", ".join(f"{name} ({release})" for name, release in SUITES.items())
                         + f" (default: {DEFAULT_SUITE}); the DNS host always runs "
                         + DEFAULT_SUITE)
    up.add_argument("--dns-zone", action="append", dest="dns_zones", metavar="ZONE",
                    help="forward zone the lab DNS host serves (repeatable; default: "
                         f"{' '.join(DEFAULT_ZONES)})")
    up.set_defaults(handler=_up)

    reboot = verbs.add_parser("reboot", help="reboot lab hosts, keeping their disks")
    reboot.add_argument("names", nargs="+", metavar="NAME")
    reboot.set_defaults(handler=_reboot)

    down = verbs.add_parser("down", help="stop lab hosts and remove everything the lab made")
    down.add_argument("names", nargs="*", metavar="NAME", help="only these hosts")
    down.set_defaults(handler=_down)

    status = verbs.add_parser("status", help="list lab hosts and their state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    inventory = verbs.add_parser("inventory", help="print the Ansible inventory of the lab")
    inventory.add_argument("--path", action="store_true", help="print only its file path")
    inventory.set_defaults(handler=_inventory)

    shell = verbs.add_parser("shell", help="open a shell (or run a command) inside a host")
    shell.add_argument("name", metavar="NAME")
    shell.add_argument("command", nargs=argparse.REMAINDER, help="command to run instead")
    shell.set_defaults(handler=_shell)


def _requests(args: argparse.Namespace) -> list[HostRequest]:
    names = args.names or list(DEFAULT_HOSTS)
    if (args.ipv4 or args.ipv6) and len(names) != 1:
        raise UsageError("--ipv4/--ipv6 need exactly one host NAME")
    if bool(args.ipv4) != bool(args.ipv6):
        raise UsageError("give both --ipv4 and --ipv6 (every lab host is dual-stack)")
    addresses = None
    if args.ipv4:
        try:
            addresses = Addresses(ipaddress.IPv4Address(args.ipv4),
                                  ipaddress.IPv6Address(args.ipv6))
        except ValueError as exc:
            raise UsageError(f"invalid address: {exc}") from exc
    return [HostRequest(name, HostKind.MAIL, addresses, args.suite) for name in names]


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    lab = Lab()
    hosts = lab.up(_requests(args), args.dns_zones or DEFAULT_ZONES)
    _print_table(hosts)
    print(f"\nlab up in {time.monotonic() - started:.1f} s; inventory: {lab.paths.inventory}")
    return 0


def _reboot(args: argparse.Namespace) -> int:
    _print_table(Lab().reboot(args.names))
    return 0


def _down(args: argparse.Namespace) -> int:
    Lab().down(args.names)
    return 0


def _status(args: argparse.Namespace) -> int:
    hosts = Lab().status()
    if args.json:
        print(json.dumps([asdict(h) for h in hosts], indent=2))
    elif hosts:
        _print_table(hosts)
    else:
        print("the lab is down")
    return 0


def _inventory(args: argparse.Namespace) -> int:
    path = Lab().paths.inventory
    if not path.exists():
        raise UsageError("the lab is down: no inventory (run `postwright lab up`)")
    print(path if args.path else path.read_text(), end="\n" if args.path else "")
    return 0


def _shell(args: argparse.Namespace) -> int:
    require_root()
    machine = Lab().machine(args.name)
    leader = machine.leader_pid()
    if leader is None:
        raise UsageError(f"lab host {args.name} is not running")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = [*NSENTER, f"--target={leader}", "--", *(command or ["/bin/bash", "-l"])]
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process by the shell


def _print_table(hosts: list[HostStatus]) -> None:
    print(f"{'NAME':<12} {'KIND':<5} {'SUITE':<9} {'STATE':<12} {'IPV4':<15} IPV6")
    for h in hosts:
        print(f"{h.name:<12} {h.kind.value:<5} {h.suite:<9} {h.state:<12} {h.ipv4:<15} {h.ipv6}")
