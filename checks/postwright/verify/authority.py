"""TTLs from the authoritative servers: a recursive cache shows them counted down.

The zone of a name is found by walking up from it with SOA queries through the configured
resolver; its NS hosts are resolved through the same resolver; then one of their addresses is
asked directly (no recursion, UDP with TCP fallback on truncation, bounded in time). An answer
the resolver already marked authoritative (AA) is used as it is, without extra queries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from postwright.verify.resolver import Lookup, Resolver

MAX_SERVERS = 3  # addresses tried per record before falling back to the resolver's TTL
T = TypeVar("T")


@dataclass
class TtlFact:
    name: str
    rdtype: str  # the type whose TTL this is (CNAME when the name is an alias)
    ttl: int
    source: str  # the authoritative server's IP address, or "resolver"
    note: str = ""

    def evidence(self) -> dict[str, Any]:
        return {"ttl": self.ttl, "ttl_source": self.source,
                **({"ttl_note": self.note} if self.note else {})}

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "ttl": self.ttl, "source": self.source}


class Unreached(Exception):
    """No authoritative server gave an answer; the message says why."""


class NoRecord(Unreached):
    """The authoritative server answered, but not with the records the resolver gave."""


class Authority:
    def __init__(self, resolver: Resolver, *, port: int = 53, timeout: float = 2.0,
                 deadline: float | None = None) -> None:
        self.dns = resolver
        self.port = port  # 53; tests point it at a fixture on 127.0.0.1
        self.timeout = timeout
        self.deadline = deadline  # time.monotonic() after which no authoritative query starts
        self._zones: dict[str, asyncio.Task[str]] = {}
        self._servers: dict[str, asyncio.Task[list[str]]] = {}
        self._good: dict[str, str] = {}  # zone -> the address that last answered
        self._dead: dict[str, str] = {}  # zone -> why none of its servers answered

    async def ttl(self, lookup: Lookup) -> TtlFact | None:
        """The authoritative TTL of a lookup's records; None when it found none."""
        if lookup.status != "ok" or lookup.ttl is None:
            return None
        if lookup.aa:
            return TtlFact(lookup.name, lookup.rdtype, lookup.ttl, lookup.server or "resolver")
        left = None if self.deadline is None else self.deadline - time.monotonic()
        try:
            if left is not None and left <= 0:
                raise Unreached("no time left before the deadline")
            return await asyncio.wait_for(self._ask_zone(lookup), left)
        except (Unreached, TimeoutError) as exc:
            why = str(exc) if isinstance(exc, Unreached) else "the deadline came first"
            return TtlFact(lookup.name, lookup.rdtype, lookup.ttl, "resolver",
                           f"no authoritative server could be asked ({why}): this TTL is the "
                           "resolver's, which a cache counts down")

    def close(self) -> None:
        for task in [*self._zones.values(), *self._servers.values()]:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: an Unreached nobody awaited is no warning

    async def _ask_zone(self, lookup: Lookup) -> TtlFact:
        zone = await self._once(self._zones, lookup.name.rstrip(".").lower() + ".",
                                self._zone_of)
        if zone in self._dead:  # asked before in vain: do not wait for it again
            raise Unreached(self._dead[zone])
        servers = await self._once(self._servers, zone, self._servers_of)
        good = self._good.get(zone)
        order = sorted(servers, key=lambda ip: ip != good)[:MAX_SERVERS]
        problems, answered = [], False
        for ip in order:
            try:
                fact = await self._ask(ip, lookup)
            except Unreached as exc:
                problems.append(f"{ip}: {exc}")
                answered = answered or isinstance(exc, NoRecord)
                continue
            self._good[zone] = ip
            return fact
        why = "; ".join(problems) or f"no address for the name servers of {zone}"
        if not answered:
            self._dead[zone] = why
        raise Unreached(why)

    async def _once(self, cache: dict[str, asyncio.Task[T]], key: str,
                    work: Callable[[str], Awaitable[T]]) -> T:
        """One shared lookup per key; shielded, so one caller's timeout spares the others."""
        if key not in cache:
            cache[key] = asyncio.ensure_future(work(key))
        return await asyncio.shield(cache[key])

    async def _zone_of(self, name: str) -> str:
        candidate = dns.name.from_text(name)
        while candidate != dns.name.root:
            soa = await self.dns.query(candidate.to_text(), "SOA")
            if soa.status == "ok":
                return str(candidate.to_text())
            if soa.status == "error":
                raise Unreached(f"SOA lookup of {candidate} failed: {soa.error}")
            candidate = candidate.parent()
        raise Unreached(f"no zone found above {name}")

    async def _servers_of(self, zone: str) -> list[str]:
        ns = await self.dns.query(zone, "NS")
        if not ns.records:
            raise Unreached(f"{zone} has no NS records ({ns.status})")
        hosts = sorted(r.target.to_text() for r in ns.records)
        found = await asyncio.gather(*(self.dns.addresses(h) for h in hosts))
        return list(dict.fromkeys(ip for ips in found for ip in ips))

    async def _ask(self, ip: str, lookup: Lookup) -> TtlFact:
        query = dns.message.make_query(lookup.name, lookup.rdtype, use_edns=0, payload=1232)
        query.flags &= ~dns.flags.RD
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, ip, timeout=self.timeout, port=self.port)
        except (dns.exception.DNSException, OSError) as exc:
            raise Unreached(str(exc) or exc.__class__.__name__) from None
        rcode = dns.rcode.to_text(response.rcode())
        if not response.flags & dns.flags.AA:
            raise Unreached(f"not authoritative (answered {rcode} without the AA flag)")
        if response.rcode() != dns.rcode.NOERROR:
            raise NoRecord(f"answered {rcode}")
        qname = dns.name.from_text(lookup.name)
        for rdtype in (lookup.rdtype, "CNAME"):
            rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN,
                                       dns.rdatatype.from_text(rdtype))
            if rrset is not None:
                return TtlFact(lookup.name, rdtype, rrset.ttl, ip)
        raise NoRecord(f"it has no {lookup.rdtype} record at {lookup.name} (the resolver's "
                        "answer may be stale)")
