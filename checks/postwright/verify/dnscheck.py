"""dns.* checks: MX, A/AAAA, SPF (and that it authorises each server address), DMARC, DKIM,
PTR and forward-confirmed reverse DNS for every IPv4 and IPv6 address."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from postwright.verify.authority import Authority, TtlFact
from postwright.verify.model import Collector, Status
from postwright.verify.mxtargets import inspect_mx
from postwright.verify.registry import dns_check_ids
from postwright.verify.resolver import Lookup, Resolver, txt_strings
from postwright.verify.spfeval import Evaluator
from postwright.verify.ttlcheck import check_ttls

PTR_REMEDY = ("set the reverse DNS (PTR) of {ip} to {name} in your VPS provider's control panel "
              "(usually 'Reverse DNS' / 'rDNS' next to the IP address; for IPv6 often a "
              "separate field per address); the PTR zone belongs to the provider, not to you")


@dataclass
class DnsFacts:
    ptr: dict[str, list[str]] = field(default_factory=dict)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def default_domain(host: str) -> str | None:
    """HOST minus its first label (mx1.example.org -> example.org); None for an IP."""
    if is_ip(host) or "." not in host.strip("."):
        return None
    return host.strip(".").split(".", 1)[1]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


class DnsChecks:
    def __init__(self, resolver: Resolver, col: Collector, *, host: str, domain: str | None,
                 addresses: list[str], dkim_selector: str | None,
                 authority: Authority | None = None) -> None:
        self.dns = resolver
        self.authority = authority or Authority(resolver)
        self.ttls: list[TtlFact] = []
        self.col = col
        self.host = host
        self.domain = domain
        self.addresses = addresses
        self.selector = dkim_selector
        self.facts = DnsFacts()

    async def run(self) -> DnsFacts:
        ids = dns_check_ids()  # the registry's order is the report's
        self.col.expect(*ids)
        steps = [self._host_addresses(), *(self._ptr(ip) for ip in self.addresses)]
        if self.domain is None:
            why = "HOST is an IP address and no --domain was given: no mail domain to check"
            for check in ("dns.mx", "dns.spf", "dns.spf.authorizes", "dns.dmarc", "dns.dkim"):
                self.col.add(check, Status.SKIP, why)
        else:
            steps += [self._mx(), self._spf(), self._dmarc(), self._dkim()]
        try:
            await asyncio.gather(*steps)  # independent lookups, each bounded in time
        finally:
            self.authority.close()
        check_ttls(self.col, self.domain or self.host, self.ttls)
        order = {check: n for n, check in enumerate(ids)}
        ips = {ip: n for n, ip in enumerate(self.addresses)}
        self.col.results.sort(key=lambda r: (order.get(r.id, 99), ips.get(r.ip or "", -1)))
        return self.facts

    def _ev(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"resolver": self.dns.description, **(extra or {})}

    async def _lookup_ev(self, lookup: Lookup, extra: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        """Evidence of a lookup, its TTL the authoritative one (with where it came from)."""
        fact = await self.authority.ttl(lookup)
        if fact is not None:
            self.ttls.append(fact)
        return self._ev({**lookup.evidence(), **(extra or {}),
                         **(fact.evidence() if fact else {})})

    async def _host_addresses(self) -> None:
        if is_ip(self.host):
            for check in ("dns.a", "dns.aaaa"):
                self.col.add(check, Status.SKIP, f"HOST {self.host} is an IP address")
            return
        # A is required; a missing AAAA only warns (the host is then IPv4-only)
        for rtype, check, missing, consequence in (
            ("A", "dns.a", Status.FAIL, ""),
            ("AAAA", "dns.aaaa", Status.WARN, ": not reachable over IPv6"),
        ):
            found = await self.dns.query(self.host, rtype)
            evidence = await self._lookup_ev(found)
            if found.records:
                self.col.add(check, Status.PASS, f"{self.host} {rtype} {', '.join(found.texts)}",
                             evidence=evidence)
                continue
            self.col.add(check, missing if found.status != "error" else Status.ERROR,
                         f"{self.host} has no {rtype} record ({found.status}){consequence}",
                         evidence=evidence,
                         remedy=f"publish an {rtype} record for {self.host}"
                         + (" if it has IPv6" if rtype == "AAAA" else ""))

    async def _mx(self) -> None:
        assert self.domain is not None  # noqa: S101 - run() guarantees it
        mx = await self.dns.query(self.domain, "MX")
        ev = await self._lookup_ev(mx)
        if mx.status == "error":
            self.col.add("dns.mx", Status.ERROR, f"MX lookup failed: {mx.error}", evidence=ev)
            return
        targets = [(r.preference, r.exchange.to_text().rstrip(".")) for r in mx.records]
        if not targets:
            self.col.add("dns.mx", Status.FAIL, f"{self.domain} has no MX record ({mx.status})",
                         evidence=ev, remedy=f"publish `{self.domain}. MX 10 {self.host}.`")
            return
        found = await inspect_mx(self.dns, targets)
        ev["targets"] = [t.evidence() for t in found.targets]
        if found.null_alone:
            self.col.add("dns.mx", Status.WARN, f"{self.domain} publishes a null MX (RFC 7505): "
                         "this domain receives no mail; senders deliver nothing to any host, so "
                         "the port 25 results only say what this host would do if they did",
                         evidence=ev, remedy=f"if {self.domain} should receive mail, replace "
                         f"the null MX by `MX 10 {self.host}.`")
            return
        names = ", ".join(f"{t.preference} {t.name or '.'}" for t in found.targets)
        if problems := found.problems():
            self.col.add("dns.mx", Status.FAIL, "; ".join(problems), evidence=ev,
                         remedy="point every MX at a host name with its own A/AAAA records "
                         "(not a CNAME, not an IP address), and drop a null MX beside others")
        elif not is_ip(self.host) and self.host.rstrip(".").lower() not in \
                [t.lower() for t in found.names()]:
            self.col.add("dns.mx", Status.WARN, f"MX of {self.domain} is {names}, which does "
                         f"not include {self.host}", evidence=ev,
                         remedy=f"if {self.host} receives mail for {self.domain}, add "
                         f"`MX 10 {self.host}.`")
        else:
            self.col.add("dns.mx", Status.PASS, f"MX of {self.domain}: {names}", evidence=ev)

    async def _spf(self) -> None:
        assert self.domain is not None  # noqa: S101
        evaluator = Evaluator(self.dns)
        lookup, records = await evaluator.record(self.domain)
        ev = await self._lookup_ev(lookup, {"spf": records})
        remedy = (f'publish one TXT record at {self.domain}: "v=spf1 mx -all" (or list the '
                  "server addresses with ip4:/ip6:)")
        if lookup.status == "error":
            self.col.add("dns.spf", Status.ERROR, f"TXT lookup failed: {lookup.error}",
                         evidence=ev)
            self.col.add("dns.spf.authorizes", Status.ERROR, "no SPF record could be read")
            return
        if len(records) != 1:
            what = "no SPF record" if not records else f"{len(records)} SPF records"
            self.col.add("dns.spf", Status.FAIL, f"{self.domain} has {what} (RFC 7208 needs "
                         "exactly one)", evidence=ev, remedy=remedy)
            self.col.add("dns.spf.authorizes", Status.FAIL,
                         f"no usable SPF record at {self.domain}", remedy=remedy)
            return
        record = records[0]
        terms = record.lower().split()
        alls = [t for t in terms if t.lstrip("+-~?") == "all"]
        # An address no record lists (240/4 is reserved) walks every term: the full count.
        syntax = await evaluator.check_host("240.0.0.1", self.domain, f"postmaster@{self.domain}")
        ev["lookups"] = syntax.lookups
        if syntax.result == "permerror":
            self.col.add("dns.spf", Status.FAIL, f"SPF record is broken: {syntax.detail}",
                         evidence=ev, remedy=remedy)
        elif alls and alls[-1] in ("all", "+all"):
            self.col.add("dns.spf", Status.FAIL, f"SPF ends in {alls[-1]}: anyone may send as "
                         f"{self.domain}", evidence=ev, remedy="end the record with -all or ~all")
        elif (not alls and not any(t.startswith("redirect=") for t in terms)) \
                or (alls and alls[-1] == "?all"):
            self.col.add("dns.spf", Status.WARN, f"SPF record {record!r} has no -all/~all: "
                         "forged mail is judged neutral", evidence=ev,
                         remedy="end the record with -all (or ~all)")
        else:
            self.col.add("dns.spf", Status.PASS, f"{record}", evidence=ev)
        for ip in self.addresses:
            res = await evaluator.check_host(ip, self.domain, f"postmaster@{self.domain}")
            evidence = {"result": res.result, "mechanism": res.mechanism, "detail": res.detail,
                        "lookups": res.lookups, "records": res.records}
            family = "ip4" if ":" not in ip else "ip6"
            if res.result == "pass":
                self.col.add("dns.spf.authorizes", Status.PASS, f"SPF of {self.domain} "
                             f"authorises {ip} (matched {res.mechanism})", ip=ip,
                             evidence=evidence)
            elif res.result == "temperror":
                self.col.add("dns.spf.authorizes", Status.ERROR, f"SPF evaluation for {ip} "
                             f"failed temporarily: {res.detail}", ip=ip, evidence=evidence)
            else:
                self.col.add("dns.spf.authorizes", Status.FAIL, f"SPF of {self.domain} gives "
                             f"{res.result} for {ip}: mail sent from this address fails SPF",
                             ip=ip, evidence=evidence,
                             remedy=f"add {family}:{ip} (or `mx` when {ip} is an MX address) "
                             "to the SPF record before -all")

    async def _dmarc(self) -> None:
        name = f"_dmarc.{self.domain}"
        lookup = await self.dns.txt(name)
        records = [t for t in txt_strings(lookup) if t.lower().startswith("v=dmarc1")]
        ev = await self._lookup_ev(lookup, {"dmarc": records})
        remedy = f'publish TXT {name} "v=DMARC1; p=quarantine; rua=mailto:postmaster@' \
                 f'{self.domain}"'
        if lookup.status == "error":
            self.col.add("dns.dmarc", Status.ERROR, f"lookup failed: {lookup.error}", evidence=ev)
        elif len(records) != 1:
            self.col.add("dns.dmarc", Status.FAIL, f"{name} has {len(records)} DMARC records "
                         "(exactly one needed)", evidence=ev, remedy=remedy)
        else:
            policy = _tags(records[0]).get("p", "").lower()
            if policy in ("quarantine", "reject"):
                self.col.add("dns.dmarc", Status.PASS, f"p={policy}: {records[0]}", evidence=ev)
            elif policy == "none":
                self.col.add("dns.dmarc", Status.WARN, "p=none: receivers only report, "
                             "forged mail is delivered", evidence=ev,
                             remedy="move to p=quarantine once reports look clean")
            else:
                self.col.add("dns.dmarc", Status.FAIL, f"DMARC record without a valid p= tag: "
                             f"{records[0]!r}", evidence=ev, remedy=remedy)

    async def _dkim(self) -> None:
        if not self.selector:
            self.col.add("dns.dkim", Status.SKIP, "no --dkim-selector given: the DKIM key "
                         "cannot be looked up without its selector")
            return
        name = f"{self.selector}._domainkey.{self.domain}"
        lookup = await self.dns.txt(name)
        records = [t for t in txt_strings(lookup) if "p=" in t]
        ev = await self._lookup_ev(lookup)
        remedy = f"publish the DKIM public key as TXT {name} (postwright dns prints it)"
        if lookup.status == "error":
            self.col.add("dns.dkim", Status.ERROR, f"lookup failed: {lookup.error}", evidence=ev)
            return
        if len(records) != 1:
            self.col.add("dns.dkim", Status.FAIL, f"{name} has {len(records)} DKIM key "
                         "records (exactly one needed)", evidence=ev, remedy=remedy)
            return
        key = _tags(records[0]).get("p", "").replace(" ", "")
        if not key:
            self.col.add("dns.dkim", Status.FAIL, f"{name} has an empty p= (key revoked)",
                         evidence=ev, remedy=remedy)
            return
        try:
            public = load_der_public_key(base64.b64decode(key, validate=True))
        except ValueError as exc:
            self.col.add("dns.dkim", Status.FAIL, f"{name}: p= is not a public key ({exc})",
                         evidence=ev, remedy=remedy)
            return
        if isinstance(public, rsa.RSAPublicKey):
            bits = public.key_size
            ev["key"] = f"rsa {bits}"
            if bits < 1024:
                self.col.add("dns.dkim", Status.FAIL, f"RSA key of {bits} bits: receivers "
                             "ignore it", evidence=ev, remedy="use a 2048-bit key")
                return
            if bits < 2048:
                self.col.add("dns.dkim", Status.WARN, f"RSA key of {bits} bits (2048 advised)",
                             evidence=ev, remedy="rotate to a 2048-bit key")
                return
        else:
            ev["key"] = type(public).__name__
        self.col.add("dns.dkim", Status.PASS, f"DKIM key at {name} ({ev['key']})", evidence=ev)

    async def _ptr(self, ip: str) -> None:
        lookup = await self.dns.ptr(ip)
        names = [r.target.to_text().rstrip(".") for r in lookup.records]
        self.facts.ptr[ip] = names
        ev = await self._lookup_ev(lookup)
        wanted = self.host if not is_ip(self.host) else "the mail host name"
        if not names:
            status = Status.ERROR if lookup.status == "error" else Status.FAIL
            family = "IPv6" if ":" in ip else "IPv4"
            self.col.add("dns.ptr", status, f"{family} address {ip} has no PTR record "
                         f"({lookup.status}): many receivers reject or spam-folder its mail",
                         ip=ip, evidence=ev, remedy=PTR_REMEDY.format(ip=ip, name=wanted))
            self.col.add("dns.fcrdns", status, f"no PTR for {ip}, so no forward confirmation",
                         ip=ip, remedy=PTR_REMEDY.format(ip=ip, name=wanted))
            return
        self.col.add("dns.ptr", Status.PASS, f"{ip} -> {', '.join(names)}", ip=ip, evidence=ev)
        confirmed = []
        forward: dict[str, list[str]] = {}
        for name in names:
            lookup = await self.dns.query(name, "AAAA" if ":" in ip else "A")
            forward[name] = lookup.texts
            if any(ipaddress.ip_address(a) == ipaddress.ip_address(ip) for a in lookup.texts):
                confirmed.append(name)
        if confirmed:
            self.col.add("dns.fcrdns", Status.PASS, f"{confirmed[0]} resolves back to {ip}",
                         ip=ip, evidence=self._ev({"forward": forward}))
        else:
            self.col.add("dns.fcrdns", Status.FAIL, f"PTR name(s) {', '.join(names)} do not "
                         f"resolve back to {ip}", ip=ip, evidence=self._ev({"forward": forward}),
                         remedy=f"publish {'AAAA' if ':' in ip else 'A'} {ip} for {names[0]}, "
                         "or change the PTR to a name that resolves to this address")
