"""SPF check_host() (RFC 7208) on our own resolver, so it runs against any DNS server.

Implemented: ip4, ip6, a, mx, include, exists, ptr, all, redirect; macros in domain-specs;
the 10-lookup and 2-void-lookup limits. exp= is parsed but its text not fetched. Records are
read with the grammar `postwright dns` publishes with (postwright.records.spf); a record
that breaks it anywhere is a permerror (RFC 7208 4.6), whatever term would have matched.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from postwright.records import spf as grammar
from postwright.records.spf import MAX_LOOKUPS
from postwright.records.spf import MECHANISMS as MECHANISMS
from postwright.verify.resolver import Lookup, Resolver, txt_strings

MAX_VOID = 2

IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


class PermError(Exception):
    pass


class TempError(Exception):
    pass


@dataclass
class SpfResult:
    result: str  # pass fail softfail neutral none permerror temperror
    mechanism: str = ""
    detail: str = ""
    lookups: int = 0
    records: dict[str, str] = field(default_factory=dict)  # domain -> record seen


def find_record(strings: list[str]) -> list[str]:
    return [s for s in strings if s.lower() == "v=spf1" or s.lower().startswith("v=spf1 ")]


@dataclass
class _State:
    ip: IpAddr
    sender: str
    helo: str
    lookups: int = 0
    void: int = 0
    records: dict[str, str] = field(default_factory=dict)


class Evaluator:
    def __init__(self, resolver: Resolver) -> None:
        self.dns = resolver

    async def check_host(self, ip: str, domain: str, sender: str,
                         helo: str = "") -> SpfResult:
        state = _State(ipaddress.ip_address(ip), sender, helo or domain)
        try:
            result, mech = await self._check(domain, state, depth=0)
        except PermError as exc:
            return SpfResult("permerror", detail=str(exc), lookups=state.lookups,
                             records=state.records)
        except TempError as exc:
            return SpfResult("temperror", detail=str(exc), lookups=state.lookups,
                             records=state.records)
        return SpfResult(result, mech, lookups=state.lookups, records=state.records)

    async def record(self, domain: str) -> tuple[Lookup, list[str]]:
        lookup = await self.dns.txt(domain)
        return lookup, find_record(txt_strings(lookup))

    async def _check(self, domain: str, st: _State, depth: int) -> tuple[str, str]:
        if depth > 10:
            raise PermError("include/redirect nesting too deep (loop?)")
        lookup, records = await self.record(domain)
        if lookup.status == "error":
            raise TempError(f"TXT {domain}: {lookup.error}")
        if not records:
            return "none", ""
        if len(records) > 1:
            raise PermError(f"{domain} publishes {len(records)} SPF records")
        st.records[domain] = records[0]
        try:
            terms = grammar.parse(records[0])
        except grammar.SpfSyntaxError as exc:
            raise PermError(str(exc)) from None
        redirect = None
        for term in terms:
            if term.modifier:  # exp= is not fetched; unknown modifiers are ignored
                if term.name == "redirect":
                    redirect = term.domain_spec
                continue
            if await self._matches(term, domain, st, depth):
                return term.result, term.text
        if redirect is not None:
            self._count(st)
            target = self._expand(redirect, domain, st)
            result, mech = await self._check(target, st, depth + 1)
            if result == "none":
                raise PermError(f"redirect={target} has no SPF record")
            return result, mech
        return "neutral", "(no match, no all)"

    def _count(self, st: _State) -> None:
        st.lookups += 1
        if st.lookups > MAX_LOOKUPS:
            raise PermError(f"more than {MAX_LOOKUPS} DNS-querying terms (RFC 7208 4.6.4)")

    def _void(self, lookup: Lookup, st: _State) -> None:
        if lookup.status == "error":
            raise TempError(f"{lookup.rdtype} {lookup.name}: {lookup.error}")
        if lookup.status in ("nxdomain", "nodata"):
            st.void += 1
            if st.void > MAX_VOID:
                raise PermError(f"more than {MAX_VOID} void lookups (RFC 7208 4.6.4)")

    def _in(self, ip: IpAddr, addr: str, cidr4: int, cidr6: int) -> bool:
        other = ipaddress.ip_address(addr)
        if other.version != ip.version:
            return False
        prefix = cidr4 if ip.version == 4 else cidr6
        return ip in ipaddress.ip_network(f"{addr}/{prefix}", strict=False)

    async def _addresses(self, name: str, st: _State) -> list[str]:
        lookup = await self.dns.query(name, "A" if st.ip.version == 4 else "AAAA")
        self._void(lookup, st)
        return [r.address for r in lookup.records]

    async def _matches(self, term: grammar.Term, domain: str, st: _State,
                       depth: int) -> bool:
        mech = term.name
        if mech == "all":
            return True
        if term.network is not None:  # ip4, ip6
            net = term.network
            return net.version == st.ip.version and st.ip in net
        self._count(st)
        target = domain if term.domain_spec is None else \
            self._expand(term.domain_spec, domain, st)
        if mech == "include":
            result, _ = await self._check(target, st, depth + 1)
            if result == "none":
                raise PermError(f"include:{target} has no SPF record")
            return result == "pass"
        if mech == "exists":
            lookup = await self.dns.query(target, "A")
            self._void(lookup, st)
            return bool(lookup.records)
        cidr4 = 32 if term.cidr4 is None else term.cidr4  # a, mx: the grammar fills these in
        cidr6 = 128 if term.cidr6 is None else term.cidr6
        if mech == "a":
            addrs = await self._addresses(target, st)
            return any(self._in(st.ip, a, cidr4, cidr6) for a in addrs)
        if mech == "mx":
            lookup = await self.dns.query(target, "MX")
            self._void(lookup, st)
            if len(lookup.records) > 10:
                raise PermError(f"mx:{target} has more than 10 MX records")
            for mx in lookup.records:
                for addr in await self._addresses(mx.exchange.to_text(), st):
                    if self._in(st.ip, addr, cidr4, cidr6):
                        return True
            return False
        # ptr (deprecated, RFC 7208 5.5)
        ptr = await self.dns.ptr(str(st.ip))
        for name in [r.target.to_text().rstrip(".") for r in ptr.records][:10]:
            if str(st.ip) in await self._addresses(name, st) and (
                    name.lower() == target.lower() or name.lower().endswith("." + target.lower())):
                return True
        return False

    def _expand(self, spec: str, domain: str, st: _State) -> str:
        local, _, sender_domain = st.sender.rpartition("@")
        ip = st.ip
        dotted = str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", ""))
        values = {"s": st.sender, "l": local or "postmaster", "o": sender_domain or domain,
                  "d": domain, "i": dotted, "p": "unknown", "v": "in-addr" if ip.version == 4
                  else "ip6", "h": st.helo, "c": str(ip), "r": "unknown", "t": "0"}

        def one(m: re.Match[str]) -> str:
            parts = re.split("[" + re.escape(m.group(4) or ".") + "]",
                             values[m.group(1).lower()])
            if m.group(3):
                parts.reverse()
            if m.group(2):
                parts = parts[-int(m.group(2)):]
            return ".".join(parts)

        out = grammar.MACRO.sub(one, spec)
        out = out.replace("%%", "%").replace("%_", " ").replace("%-", "%20")
        if "%" in out:
            raise PermError(f"bad macro in {spec!r}")
        return out.rstrip(".")
