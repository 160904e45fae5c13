"""`postwright dns records|diff|push`: the DNS records of a mail host from its inventory."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from postwright.dns.diff import DEFAULT_TIMEOUT, DiffResult, diff_server, parse_server, udp_query
from postwright.dns.inventory import MailHostPlan, with_dkim_public_keys
from postwright.dns.loader import plan_from_inventory, plan_from_vars_file
from postwright.dns.records import compute_records
from postwright.dns.render import (
    date_serial,
    render_json,
    render_table,
    render_zones,
    write_zone_files,
)
from postwright.dns.tsig import load_key
from postwright.dns.update import build_updates, push, tcp_sender, update_sections
from postwright.errors import UsageError


def _source(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-i", "--inventory", action="append", metavar="INVENTORY",
                       help="Ansible inventory (repeat to merge several, as ansible does)")
    where.add_argument("-v", "--vars", type=Path, metavar="FILE",
                       help="plain YAML/JSON file with the host's variables instead")
    parser.add_argument("--host", metavar="NAME",
                        help="inventory host (default: the only host with mail_hostname)")
    # For keys generated on the host and fetched afterwards: the inventory cannot name them.
    parser.add_argument("--dkim-public-key", action="append", default=[],
                        metavar="DOMAIN=FILE",
                        help="DKIM public key (PEM or DKIM TXT value, e.g. opendkim's "
                             "mail.txt) of DOMAIN; adds to or replaces dns_dkim_public_keys "
                             "(repeat for several domains)")


def _server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, metavar="IP[:PORT]",
                        help="authoritative server to ask directly ([IPv6]:port for a port)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per query (default {DEFAULT_TIMEOUT:.0f})")


def register(sub: Any) -> None:
    dns_parser = sub.add_parser("dns", help="DNS records of a mail host: show, compare, push")
    verbs = dns_parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    records = verbs.add_parser("records", help="compute the records (table, JSON, zone files)")
    _source(records)
    records.add_argument("--format", choices=("table", "json", "zone"), default="table")
    records.add_argument("--out", type=Path, metavar="DIR",
                         help="write <zone>.zone files (forward and reverse) into DIR")
    records.set_defaults(handler=_records)

    diff = verbs.add_parser("diff", help="compare with what a server publishes (exit 1: differ)")
    _source(diff)
    _server(diff)
    diff.set_defaults(handler=_diff)

    push_parser = verbs.add_parser("push", help="RFC 2136 update (TSIG) of what differs")
    _source(push_parser)
    _server(push_parser)
    push_parser.add_argument("--tsig-key-file", type=Path, required=True, metavar="FILE",
                             help='BIND key file: key "name" { algorithm ...; secret "..."; };')
    push_parser.add_argument("--tsig-key-name", metavar="NAME",
                             help="which key, when the file holds several")
    push_parser.add_argument("--dry-run", action="store_true",
                             help="print the update instead of sending it")
    push_parser.set_defaults(handler=_push)


def _dkim_key_options(specs: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        domain, sep, path = spec.partition("=")
        if not sep or not domain.strip() or not path:
            raise UsageError(f"--dkim-public-key: expected DOMAIN=FILE, got {spec!r}")
        pairs.append((domain, path))
    return pairs


def _plan(args: argparse.Namespace) -> MailHostPlan:
    keys = _dkim_key_options(args.dkim_public_key)  # bad syntax fails before ansible runs
    if args.vars is not None:
        plan = plan_from_vars_file(args.vars)
    else:
        plan = plan_from_inventory(args.inventory, args.host)
    return with_dkim_public_keys(plan, keys)


def _records(args: argparse.Namespace) -> int:
    plan = _plan(args)
    records = compute_records(plan)
    if args.out is not None:
        before = {p.name: p.read_bytes() for p in args.out.glob("*")} if args.out.is_dir() else {}
        paths = write_zone_files(plan, args.out, records=records)
        changed = [p.name for p in paths if before.get(p.name) != p.read_bytes()]
        # the dns_records role reads this line to report `changed` truthfully
        print(f"zone files in {args.out}: {len(changed)} changed "
              f"({', '.join(changed) or 'none'}), {len(paths) - len(changed)} unchanged",
              file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(render_json(records))
    elif args.format == "zone":
        if args.out is None:
            serial = date_serial(dt.datetime.now(dt.UTC).date())
            for zone in render_zones(plan, records, serial):
                sys.stdout.write(f"; ---- {zone.filename}\n{zone.text}\n")
    else:
        sys.stdout.write(render_table(plan, records))
    return 0


def _print_diff(result: DiffResult) -> None:
    for zone in result.skipped_zones:
        print(f"skipped   {zone} (not served by this server; set PTR records at your provider)")
    for difference in result.differences:
        print(difference.describe())


def _diff(args: argparse.Namespace) -> int:
    plan = _plan(args)
    host, port = parse_server(args.server)
    result = diff_server(compute_records(plan), udp_query(host, port, args.timeout))
    _print_diff(result)
    if result.equal:
        print(f"{args.server}: all records match (values and TTLs)")
        return 0
    print(f"{args.server}: {len(result.differences)} RRset(s) differ")
    return 1


def _push(args: argparse.Namespace) -> int:
    plan = _plan(args)
    key = load_key(args.tsig_key_file, args.tsig_key_name)
    host, port = parse_server(args.server)
    records = compute_records(plan)
    ask = udp_query(host, port, args.timeout)
    result = diff_server(records, ask)
    _print_diff(result)
    if result.equal:
        print(f"{args.server}: already up to date, nothing pushed")
        return 0
    if args.dry_run:
        for zone, message in build_updates(result, key).items():
            print(f"; update for zone {zone} (signed with {key.name})")
            for line in update_sections(message):
                print(f"  {line}")
        return 0
    done = push(result, tcp_sender(host, port, args.timeout), key)
    after = diff_server(records, ask)
    if not after.equal:
        _print_diff(after)
        print(f"{args.server}: pushed, but {len(after.differences)} RRset(s) still differ")
        return 1
    print(f"{args.server}: pushed {done.changes} RRset change(s) to "
          f"{', '.join(z.rstrip('.') for z in done.zones)}; the server now matches")
    return 0
