"""Compare the records we computed with what an authoritative server publishes.

The network part (`observe`) asks the server directly, without recursion, for every RRset we
manage; the comparison (`compare`) is pure and works on what was observed. Values and TTLs
are compared; TXT values are compared joined (how they are split does not matter).

What we manage: every (name, type) we compute, plus A/AAAA at names where we publish
addresses (so an AAAA left behind on a now IPv4-only host shows as extra). TXT RRsets can
be shared with records that are not ours (a site-verification token at the apex), so in TXT
we only look at values carrying the tag of a value we publish there (v=spf1, v=DMARC1, ...),
and leave the others alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from postwright.dns import txt
from postwright.dns.records import Record
from postwright.errors import PostwrightError, UsageError

RRKey = tuple[str, str]  # (absolute lower-case owner, type)
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ServerRRset:
    """What the server answered for one (name, type): TTL and rdata texts."""

    ttl: int
    rdatas: tuple[str, ...]


Observation = Mapping[RRKey, ServerRRset | None]


@dataclass(frozen=True)
class Difference:
    kind: Literal["missing", "extra", "different"]
    name: str
    type: str
    zone: str
    expected_ttl: int | None
    expected: tuple[str, ...]  # rdata texts we publish (empty for "extra")
    actual_ttl: int | None
    actual: tuple[str, ...]  # rdata texts of ours the server has (empty for "missing")

    def describe(self) -> str:
        head = f"{self.kind:<9} {self.name} {self.type}"
        if self.kind == "missing":
            return f"{head}: want TTL {self.expected_ttl} " + " | ".join(
                _show(self.type, v) for v in self.expected)
        if self.kind == "extra":
            return f"{head}: server has " + " | ".join(_show(self.type, v) for v in self.actual)
        parts = []
        if self.expected_ttl != self.actual_ttl:
            parts.append(f"TTL {self.actual_ttl} -> {self.expected_ttl}")
        want = {canonical(self.type, v) for v in self.expected}
        have = {canonical(self.type, v) for v in self.actual}
        parts += [f"+ {_show(self.type, v)}" for v in self.expected
                  if canonical(self.type, v) not in have]
        parts += [f"- {_show(self.type, v)}" for v in self.actual
                  if canonical(self.type, v) not in want]
        return f"{head}: " + "; ".join(parts)


@dataclass(frozen=True)
class DiffResult:
    differences: tuple[Difference, ...]
    skipped_zones: tuple[str, ...] = ()  # reverse zones the server does not serve

    @property
    def equal(self) -> bool:
        return not self.differences


def _parse(rtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=dns.name.root,
                               relativize=False)


def canonical(rtype: str, text: str) -> bytes:
    """Comparison key: the joined text for TXT, the canonical wire form otherwise."""
    if rtype == "TXT":
        return b"".join(txt.strings(text))
    return bytes(_parse(rtype, text).to_digestable(dns.name.root))


def _show(rtype: str, text: str) -> str:
    return repr(txt.join(txt.strings(text))) if rtype == "TXT" else text


def _tag(rtype: str, text: str) -> str:
    value = canonical(rtype, text).decode("ascii", "replace")
    return value.split(";", 1)[0].split(" ", 1)[0].strip().lower()


def managed_keys(records: Sequence[Record]) -> dict[RRKey, str]:
    """(name, type) -> zone for every RRset we compare and may change."""
    keys: dict[RRKey, str] = {}
    for record in records:
        keys.setdefault(record.key, record.zone)
        if record.type in ("A", "AAAA"):
            keys.setdefault((record.key[0], "AAAA" if record.type == "A" else "A"), record.zone)
    return keys


def _ours(rtype: str, expected: Sequence[str], actual: Sequence[str]) -> tuple[str, ...]:
    """The server values we manage: all of them, except in TXT only the matching tags."""
    if rtype != "TXT":
        return tuple(actual)
    tags = {_tag(rtype, v) for v in expected}
    return tuple(v for v in actual if _tag(rtype, v) in tags)


def compare(records: Sequence[Record], observed: Observation,
            skip_zones: Iterable[str] = ()) -> DiffResult:
    """Differences between `records` and what the server answered, RRset by RRset."""
    skipped = tuple(dict.fromkeys(skip_zones))
    out: list[Difference] = []
    for key, zone in managed_keys(records).items():
        if zone in skipped:
            continue
        name, rtype = key
        mine = [r for r in records if r.key == key]
        expected = tuple(r.rdata for r in mine)
        expected_ttl = mine[0].ttl if mine else None
        server = observed.get(key)
        actual = _ours(rtype, expected, server.rdatas) if server else ()
        actual_ttl = server.ttl if server and actual else None
        if not expected and not actual:
            continue
        kind: Literal["missing", "extra", "different"]
        if not actual:
            kind = "missing"
        elif not expected:
            kind = "extra"
        elif ({canonical(rtype, v) for v in expected} == {canonical(rtype, v) for v in actual}
              and expected_ttl == actual_ttl and len(expected) == len(actual)):
            continue
        else:
            kind = "different"
        out.append(Difference(kind, name, rtype, zone, expected_ttl, expected, actual_ttl,
                              actual))
    return DiffResult(tuple(out), skipped)


# --- network ----------------------------------------------------------------------------

Query = Callable[[dns.message.Message], dns.message.Message]


def parse_server(text: str) -> tuple[str, int]:
    """`IP`, `IPv4:port` or `[IPv6]:port` -> (address, port)."""
    host, port = text.strip(), 53
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        host = inner
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(f"--server: {text!r} is not IP, IP:port or [IPv6]:port")
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, _, raw = host.partition(":")
        if not raw.isdigit():
            raise UsageError(f"--server: {text!r} is not IP, IP:port or [IPv6]:port")
        port = int(raw)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--server: {text!r} is not an IP address (give the server's IP)") \
            from None
    if not 0 < port < 65536:
        raise UsageError(f"--server: port {port} is out of range")
    return host, port


def udp_query(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> Query:
    """A query function for `observe`: UDP, TCP when truncated, bounded time."""

    def ask(message: dns.message.Message) -> dns.message.Message:
        try:
            response, _ = dns.query.udp_with_fallback(message, host, port=port, timeout=timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise PostwrightError(
                f"no answer from {host} port {port} ({type(exc).__name__}: {exc}); is it the "
                "authoritative server, reachable from here?"
            ) from exc
        return response

    return ask


def _question(name: str, rtype: str) -> dns.message.Message:
    message = dns.message.make_query(name, rtype)
    message.flags &= ~dns.flags.RD  # ask the server about its own data only
    return message


def serves_zone(ask: Query, zone: str) -> bool:
    """True when the server answers authoritatively with the SOA of `zone`."""
    response = ask(_question(zone, "SOA"))
    if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
        return False
    return any(
        rrset.rdtype == dns.rdatatype.SOA and rrset.name == dns.name.from_text(zone)
        for rrset in response.answer
    )


def observe(ask: Query, keys: Iterable[RRKey]) -> dict[RRKey, ServerRRset | None]:
    """Ask for every RRset in `keys`; None where the server has no such RRset."""
    seen: dict[RRKey, ServerRRset | None] = {}
    for name, rtype in keys:
        response = ask(_question(name, rtype))
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise PostwrightError(
                f"the server answered {dns.rcode.to_text(rcode)} for {name} {rtype}"
            )
        if not response.flags & dns.flags.AA:
            raise PostwrightError(f"the server is not authoritative for {name} (no AA flag)")
        owner = dns.name.from_text(name)
        found: ServerRRset | None = None
        for rrset in response.answer:
            if rrset.name != owner:
                continue
            if rrset.rdtype == dns.rdatatype.from_text(rtype):
                found = ServerRRset(rrset.ttl, tuple(r.to_text() for r in rrset))
            elif rrset.rdtype == dns.rdatatype.CNAME and found is None:
                raise PostwrightError(
                    f"{name} is a CNAME on the server; remove it, a name with records of its "
                    "own cannot be an alias"
                )
        seen[(name, rtype)] = found
    return seen


def diff_server(records: Sequence[Record], ask: Query) -> DiffResult:
    """Check zones are served, observe every managed RRset, compare.

    A forward zone the server does not serve is an error; a reverse zone it does not serve
    is skipped (PTRs are usually published by the VPS provider, not your DNS host).
    """
    zones = list(dict.fromkeys(r.zone for r in records))
    skipped: list[str] = []
    for zone in zones:
        if serves_zone(ask, zone):
            continue
        if all(r.publisher == "ptr" for r in records if r.zone == zone):
            skipped.append(zone)
            continue
        raise PostwrightError(f"the server is not authoritative for zone {zone.rstrip('.')}")
    keys = [k for k, zone in managed_keys(records).items() if zone not in skipped]
    return compare(records, observe(ask, keys), skipped)
