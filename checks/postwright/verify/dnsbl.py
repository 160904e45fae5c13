"""dns.dnsbl: is an address of the host on a DNS blocklist (RFC 5782)?

A listed address has its mail refused by most receivers, whatever the rest of the setup, and
a fresh VPS address often comes listed from its previous tenant. The lookup is a DNS query
(`4.3.2.1.zen.spamhaus.org A`; IPv6 nibble-reversed), so it goes through the project resolver
and obeys --resolver. A 127.0.0.x answer is a listing; Spamhaus answers 127.255.255.x when it
refuses the *query* (public resolver, no access, rate limit): that says nothing about the
address and is reported as an error, as is any answer outside 127/8 (a resolver rewriting
NXDOMAIN). Spamhaus refuses the big public resolvers, which is worth a warning up front.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import Any

import dns.reversename

from postwright.errors import UsageError
from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver, txt_strings

CHECK_ID = "dns.dnsbl"
RESOLVER_ID = "dns.dnsbl.resolver"
DEFAULT_ZONES = ("zen.spamhaus.org",)
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

# Google, Cloudflare, Quad9, OpenDNS: Spamhaus answers them 127.255.255.254 (no free use).
PUBLIC_RESOLVERS = frozenset(ipaddress.ip_address(a) for a in (
    "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",
    "1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001",
    "9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9",
    "208.67.222.222", "208.67.220.220", "2620:119:35::35", "2620:119:53::53",
))

# Return codes of the Spamhaus zones (zen combines sbl, xbl, pbl).
SPAMHAUS_LISTINGS = {
    2: "SBL: a known spam source or spam operation",
    3: "SBL CSS: a snowshoe/low-reputation sender",
    4: "XBL: a hijacked or infected host (exploits, botnet)",
    5: "XBL: a hijacked or infected host",
    6: "XBL: a hijacked or infected host",
    7: "XBL: a hijacked or infected host",
    9: "SBL DROP: a hijacked network",
    10: "PBL (ISP): an end-user range that should not send mail directly",
    11: "PBL (Spamhaus): an end-user range that should not send mail directly",
}
SPAMHAUS_ERRORS = {
    252: "the blocklist name is mistyped (Spamhaus: 'typing error in DNSBL name')",
    254: "Spamhaus refuses queries that come through a public/open resolver; ask through "
         "your own resolver (--resolver) or use a Spamhaus DQS key zone",
    255: "Spamhaus rate-limits this resolver (excessive number of queries); use a "
         "resolver of your own or a Spamhaus DQS key zone",
}


def parse_zones(text: str) -> list[str]:
    """`--dnsbl a.example,b.example`; the empty string disables the check."""
    zones = []
    for raw in text.split(","):
        zone = raw.strip().rstrip(".").lower()
        if not zone:
            continue
        if "." not in zone or len(zone) > 200 or not all(_LABEL.fullmatch(label)
                                                         for label in zone.split(".")):
            raise UsageError(f"--dnsbl: {raw.strip()!r} is not a DNS zone name")
        zones.append(zone)
    return zones


def query_name(ip: str, zone: str) -> str:
    """1.2.3.4 -> 4.3.2.1.ZONE; IPv6: its 32 nibbles reversed, as in ip6.arpa."""
    reverse = dns.reversename.from_address(ip).to_text()
    suffix = ".in-addr.arpa." if ":" not in ip else ".ip6.arpa."
    return f"{reverse.removesuffix(suffix)}.{zone}"


def _public_resolver(server: str) -> bool:
    try:
        return ipaddress.ip_address(server) in PUBLIC_RESOLVERS
    except ValueError:  # a DoH/DoT URL: not one of the plain addresses above
        return False


def _spamhaus(zone: str) -> bool:
    return zone.endswith("spamhaus.org") or zone.endswith("spamhaus.net")


def _meaning(zone: str, code: ipaddress.IPv4Address) -> str:
    last = int(code) & 0xFF
    known = SPAMHAUS_LISTINGS.get(last) if _spamhaus(zone) else None
    return f"{code}" + (f" = {known}" if known else "")


class DnsblChecks:
    def __init__(self, resolver: Resolver, col: Collector, *, addresses: list[str],
                 zones: list[str]) -> None:
        self.dns = resolver
        self.col = col
        self.addresses = addresses
        self.zones = zones

    async def run(self) -> None:
        if not self.zones:
            return  # --dnsbl '': the operator turned it off; nothing to report
        self.col.expect(CHECK_ID)
        self.resolver_warning()
        steps = []
        for ip in self.addresses:
            if not ipaddress.ip_address(ip).is_global:
                self.col.add(CHECK_ID, Status.INFO, f"{ip} is not a public address: "
                             "blocklists do not list it", ip=ip)
                continue
            steps += [self._one(ip, zone) for zone in self.zones]
        await asyncio.gather(*steps)
        if not self.addresses:
            self.col.add(CHECK_ID, Status.SKIP, "no address of the host to look up")

    def resolver_warning(self) -> None:
        """Warn up front when Spamhaus zones are asked through a resolver it refuses."""
        public = [n for n in self.dns.nameservers if _public_resolver(n)]
        spamhaus = [z for z in self.zones if _spamhaus(z)]
        if public and spamhaus:
            self.col.add(RESOLVER_ID, Status.WARN,
                         f"the resolver {', '.join(public)} is a public one: Spamhaus refuses "
                         f"its queries ({', '.join(spamhaus)} answer 127.255.255.254), so "
                         "those lookups cannot tell whether the host is listed",
                         evidence={"resolver": self.dns.description},
                         remedy="run verify with --resolver pointing at a resolver of your "
                         "own (e.g. unbound on this machine), or --dnsbl with other zones")
        else:
            self.col.add(RESOLVER_ID, Status.PASS,
                         "no Spamhaus zone is asked through a public resolver Spamhaus refuses",
                         evidence={"resolver": self.dns.description, "zones": self.zones})

    async def _one(self, ip: str, zone: str) -> None:
        name = query_name(ip, zone)
        lookup = await self.dns.query(name, "A")
        ev: dict[str, Any] = {"zone": zone, "resolver": self.dns.description,
                              **lookup.evidence()}
        if lookup.status == "error":
            self.col.add(CHECK_ID, Status.ERROR, f"{zone}: lookup of {ip} failed "
                         f"({lookup.error})", ip=ip, evidence=ev)
            return
        if not lookup.records:  # NXDOMAIN (or an empty name): not listed
            self.col.add(CHECK_ID, Status.PASS, f"{ip} is not listed on {zone}", ip=ip,
                         evidence=ev)
            return
        codes = [ipaddress.IPv4Address(r.address) for r in lookup.records]
        errors = [c for c in codes if c in ipaddress.IPv4Network("127.255.255.0/24")]
        strange = [c for c in codes if not c.is_loopback]
        if errors or strange:
            why = "; ".join(
                [f"{c}: " + SPAMHAUS_ERRORS.get(int(c) & 0xFF, "the blocklist refused the query")
                 for c in errors]
                + [f"{c} is not a blocklist answer (a resolver that rewrites NXDOMAIN?)"
                   for c in strange])
            self.col.add(CHECK_ID, Status.ERROR, f"{zone} did not answer for {ip}: {why}",
                         ip=ip, evidence=ev,
                         remedy="ask through a resolver of your own (--resolver)")
            return
        reasons = txt_strings(await self.dns.txt(name))
        ev["reason"] = reasons
        meaning = ", ".join(_meaning(zone, c) for c in codes)
        self.col.add(CHECK_ID, Status.FAIL, f"{ip} is listed on {zone} ({meaning})"
                     + (f": {reasons[0]}" if reasons else ""), ip=ip, evidence=ev,
                     remedy=f"find out why at the blocklist's lookup page (the reason text "
                     f"names it), fix the cause, then request delisting of {ip}; a PBL "
                     "listing of a server address is lifted by the provider or on request")
