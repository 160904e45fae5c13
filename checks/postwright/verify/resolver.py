"""DNS lookups with dnspython: a given resolver (IP[:port]) or the system's, bounded in time."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.rdatatype
import dns.resolver
import dns.reversename

from postwright.errors import UsageError


@dataclass
class Lookup:
    name: str
    rdtype: str
    status: str  # ok | nxdomain | nodata | error
    records: list[Any] = field(default_factory=list)  # dnspython rdata
    ttl: int | None = None  # as the answering server gave it (a cache counts it down)
    error: str = ""
    aa: bool = False  # the answering server is authoritative for the name (AA flag)
    server: str = ""  # the IP address that answered
    ad: bool = False  # the resolver says it validated the answer with DNSSEC (AD flag)

    @property
    def texts(self) -> list[str]:
        return [r.to_text() for r in self.records]

    def evidence(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "status": self.status,
                "records": self.texts, "ttl": self.ttl, **({"error": self.error}
                                                           if self.error else {})}


def parse_resolver(spec: str) -> tuple[str, int]:
    """`IP`, `IP:port`, `[v6]:port` or a bare IPv6 address."""
    host, port_text = spec, "53"
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"--resolver wants IP[:port] or [IPv6]:port, got {spec!r}")
            port_text = rest[1:]
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--resolver wants IP[:port] (an address, not a name), got "
                         f"{spec!r}") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--resolver {spec!r}: the port must be a number from 1 to 65535, "
                         f"not {port_text!r}")
    return host, int(port_text)


class Resolver:
    def __init__(self, spec: str | None, timeout: float = 3.0) -> None:
        if spec:
            host, port = parse_resolver(spec)
            self._r = dns.asyncresolver.Resolver(configure=False)
            self._r.nameservers = [host]
            self._r.port = port
        else:
            self._r = dns.asyncresolver.Resolver()
        self._r.timeout = timeout
        # AD in the query asks a validating resolver to say whether it validated (RFC 6840 5.7)
        self._r.flags = dns.flags.RD | dns.flags.AD
        self._r.lifetime = timeout
        self.description = spec or "system resolver (" + ", ".join(
            str(n) for n in self._r.nameservers) + ")"
        self.queries = 0

    async def query(self, name: str, rdtype: str) -> Lookup:
        self.queries += 1
        try:
            answer = await self._r.resolve(name, rdtype, search=False,
                                           raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, "nxdomain")
        except (dns.exception.DNSException, OSError) as exc:
            return Lookup(name, rdtype, "error", error=str(exc) or exc.__class__.__name__)
        if answer.rrset is None:
            return Lookup(name, rdtype, "nodata")
        return Lookup(name, rdtype, "ok", list(answer.rrset), answer.rrset.ttl,
                      aa=bool(answer.response.flags & dns.flags.AA),
                      server=str(answer.nameserver or ""),
                      ad=bool(answer.response.flags & dns.flags.AD))

    @property
    def nameservers(self) -> list[str]:
        """The addresses queries go to (the given resolver, or the system's)."""
        return [str(n) for n in self._r.nameservers]

    async def addresses(self, name: str) -> list[str]:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            lookup = await self.query(name, rdtype)
            found += [r.address for r in lookup.records]
        return found

    async def ptr(self, ip: str) -> Lookup:
        return await self.query(dns.reversename.from_address(ip).to_text(), "PTR")

    async def txt(self, name: str) -> Lookup:
        return await self.query(name, "TXT")


def txt_strings(lookup: Lookup) -> list[str]:
    """TXT records with their character-strings joined (RFC 7208 3.3)."""
    return [b"".join(r.strings).decode("utf-8", "replace") for r in lookup.records]
