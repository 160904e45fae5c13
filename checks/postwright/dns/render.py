"""Output formats: BIND zone files (forward and reverse), a JSON list, a human table.

Zone files are rendered here in Python, not from a Jinja template in templates/: the records
are computed in Python (SPF checks, DKIM key parsing, TXT splitting, reverse names, ports from
the contract), and a second Jinja implementation in an Ansible role would drift from it. The
Ansible side gets zone files by calling `write_zone_files()` (or `postwright dns records
--format zone --out DIR`) on the controller and copying the result.

SOA serial: YYYYMMDDnn (UTC date and a two-digit change counter, RFC 1912 2.2). When a zone
file already exists in the output directory with the same content apart from the serial, its
serial is kept, so regenerating unchanged zones changes no file (Ansible stays idempotent);
when the content changed, the serial becomes max(today's YYYYMMDD00, old serial + 1).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.reversename

from postwright.dns import names
from postwright.dns.inventory import MailHostPlan
from postwright.dns.records import Record, compute_records, zones_of
from postwright.errors import UsageError

SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 3600, 900, 1209600
SERIAL_PLACEHOLDER = "SERIAL"
_SERIAL_LINE = re.compile(r"^(\s+)(\S+)( ; serial)", re.MULTILINE)


@dataclass(frozen=True)
class ZoneFile:
    origin: str  # absolute zone name
    filename: str  # <zone>.zone, no trailing dot
    text: str
    reverse: bool


def date_serial(today: dt.date, previous: int | None = None) -> int:
    """YYYYMMDD00 for `today`, or previous + 1 when that is not already higher."""
    base = int(today.strftime("%Y%m%d")) * 100
    return base if previous is None or previous < base else previous + 1


def _infrastructure(plan: MailHostPlan, zone: str, records: Sequence[Record]) -> list[Record]:
    """NS record and, when the name server is inside this zone, its address (glue)."""
    ns = names.absolute(plan.primary_ns)
    out = [Record(zone, "NS", plan.ttl_for("NS"), ns, zone, "dns", "authoritative name server")]
    if not names.is_within(ns, zone) or zone.endswith(".arpa."):
        return out
    have = {r.type for r in records if r.name == ns}
    for ip in (plan.primary_ns_ipv4, plan.primary_ns_ipv6):
        rtype = "A" if ip is not None and ip.version == 4 else "AAAA"
        if ip is not None and rtype not in have:
            out.append(Record(ns, rtype, plan.ttl_for(rtype), str(ip), zone, "dns",
                              "address of the name server"))
            have.add(rtype)
    if not have & {"A", "AAAA"}:
        raise UsageError(
            f"dns_primary_ns: {plan.primary_ns} is inside zone {zone.rstrip('.')}, so the zone "
            "must hold its address: set dns_primary_ns_ipv4 and/or dns_primary_ns_ipv6 (or "
            "point dns_primary_ns at a name server outside your domains)"
        )
    return out


def render_zone(plan: MailHostPlan, zone: str, records: Sequence[Record],
                serial: int | str) -> str:
    """One zone file: $ORIGIN, $TTL, SOA, NS (+ glue), then `records` that belong to `zone`."""
    mine = [r for r in records if r.zone == zone]
    lines = [
        f"; Zone {zone.rstrip('.')} for mail host {plan.hostname}",
        "; Written by `postwright dns records`; change the inventory and regenerate instead of",
        "; editing. SOA serial format: YYYYMMDDnn.",
        f"$ORIGIN {zone}",
        f"$TTL {plan.ttl}",
        f"{zone} {plan.ttl_for('SOA')} IN SOA {names.absolute(plan.primary_ns)} "
        f"{names.absolute(plan.hostmaster)} (",
        f"    {serial} ; serial",
        f"    {SOA_REFRESH} ; refresh",
        f"    {SOA_RETRY} ; retry",
        f"    {SOA_EXPIRE} ; expire",
        f"    {plan.ttl} ) ; negative-answer TTL",
    ]
    for record in [*_infrastructure(plan, zone, mine), *mine]:
        lines += [f"; {record.purpose}", record.zone_line()]
    return "\n".join(lines) + "\n"


def render_zones(plan: MailHostPlan, records: Sequence[Record] | None = None,
                 serial: int | str = SERIAL_PLACEHOLDER) -> list[ZoneFile]:
    """Forward zones (mail_domains order), then reverse zones, with `serial` in each SOA."""
    recs = list(records) if records is not None else compute_records(plan)
    forward = [names.absolute(z) for z in plan.zones()]
    zones = forward + [z for z in zones_of(recs) if z not in forward]
    return [
        ZoneFile(zone, zone.rstrip(".") + ".zone", render_zone(plan, zone, recs, serial),
                 zone.endswith(".arpa."))
        for zone in zones
    ]


def _existing_serial(path: Path, new_text: str) -> tuple[int | None, bool]:
    """(serial of the file at `path`, whether its content equals `new_text` but the serial)."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return None, False
    match = _SERIAL_LINE.search(old)
    if match is None or not match[2].isdigit():
        return None, False
    unchanged = _SERIAL_LINE.sub(rf"\g<1>{SERIAL_PLACEHOLDER}\g<3>", old, count=1) == new_text
    return int(match[2]), unchanged


def write_zone_files(plan: MailHostPlan, out_dir: Path, *, records: Sequence[Record] | None = None,
                     today: dt.date | None = None) -> list[Path]:
    """Write <zone>.zone for every forward and reverse zone into `out_dir` (created) and
    mta-sts.txt when MTA-STS is on. Unchanged zones keep their file and serial."""
    day = today or dt.datetime.now(dt.UTC).date()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for zone in render_zones(plan, records):
        path = out_dir / zone.filename
        previous, unchanged = _existing_serial(path, zone.text)
        if not unchanged:
            serial = date_serial(day, previous)
            path.write_text(zone.text.replace(f"    {SERIAL_PLACEHOLDER} ; serial",
                                              f"    {serial} ; serial", 1), encoding="utf-8")
        written.append(path)
    policy = plan.mta_sts_policy()
    if policy is not None:
        path = out_dir / "mta-sts.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != policy:
            path.write_text(policy, encoding="utf-8")
        written.append(path)
    return written


def render_json(records: Sequence[Record]) -> str:
    """A JSON list; `value` is the joined TXT text (what receivers see), `rdata` the zone form."""
    return json.dumps(
        [
            {
                "name": r.name,
                "type": r.type,
                "ttl": r.ttl,
                "rdata": r.rdata,
                "value": r.text(),
                "zone": r.zone,
                "publisher": r.publisher,
                "purpose": r.purpose,
            }
            for r in records
        ],
        indent=2,
    ) + "\n"


_WHERE = {
    "dns": "your DNS host (zone {zone})",
    "ptr": "your VPS provider's reverse-DNS panel (or the owner of zone {zone})",
}


def render_table(plan: MailHostPlan, records: Sequence[Record]) -> str:
    """Records grouped by who must publish them, full values (ready to paste)."""
    out: list[str] = []
    for zone in zones_of(list(records)):
        mine = [r for r in records if r.zone == zone]
        out.append(f"Publish at {_WHERE[mine[0].publisher].format(zone=zone.rstrip('.'))}:")
        if mine[0].publisher == "ptr":
            for r in mine:
                ip = _ptr_address(r.name)
                out.append(f"  {ip} -> {r.rdata}   (PTR {r.name}, TTL {r.ttl})")
            out.append("")
            continue
        width_name = max(len(r.name) for r in mine)
        width_type = max(len(r.type) for r in mine)
        for r in mine:
            out.append(f"  {r.name:<{width_name}}  {r.ttl:>6}  {r.type:<{width_type}}  {r.text()}")
            out.append(f"  {'':<{width_name}}  {'':>6}  {'':<{width_type}}  ({r.purpose})")
        out.append("")
    policy = plan.mta_sts_policy()
    if policy is not None:
        out.append("Serve at https://mta-sts.<domain>/.well-known/mta-sts.txt for every domain:")
        out += [f"  {line}" for line in policy.splitlines()]
        out.append("")
    return "\n".join(out)


def _ptr_address(name: str) -> str:
    return str(dns.reversename.to_address(dns.name.from_text(name)))
