"""dns.dane: the TLSA records at _25._tcp.<mx> match the certificate port 25 serves.

A DANE-validating sender (Postfix with smtp_tls_security_level = dane, Exim, mailbox.org,
GMX, ...) defers every message when no usable TLSA record matches: a certificate renewal with
a new key and no new TLSA record silently stops that mail. RFC 7672 3.1: only DANE-TA(2) and
DANE-EE(3) are usable for SMTP; DANE-EE pins the leaf (names and dates do not matter),
DANE-TA pins an issuer the server must send in its chain, and then the leaf must chain to it
and carry the MX name. TLSA records only count when DNSSEC-signed: the resolver's AD flag
says whether it validated them, which this check reports but cannot prove on its own.
Not checked here: the leaf's dates under DANE-TA (tls.cert.expiry reports them), and DANE-TA
on a Python that does not expose the chain the server sent (the result then says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver
from postwright.verify.served import SMTP_PORT, PortTasks, served_tls
from postwright.verify.tlsinfo import TlsInfo, cert_names, name_matches

CHECK_ID = "dns.dane"
USAGES = {2: "DANE-TA", 3: "DANE-EE"}
_MATCHING: dict[int, Callable[[bytes], bytes]] = {
    0: lambda data: data,
    1: lambda data: hashlib.sha256(data).digest(),
    2: lambda data: hashlib.sha512(data).digest(),
}


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        return self.usage in USAGES and self.selector in (0, 1) and self.mtype in _MATCHING

    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    def matches(self, cert: x509.Certificate) -> bool:
        if self.selector == 0:
            selected = cert.public_bytes(serialization.Encoding.DER)
        else:
            selected = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return _MATCHING[self.mtype](selected) == self.data


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def judge(record: Tlsa, chain: list[x509.Certificate], name: str) -> str | None:
    """None when `record` authenticates the chain (leaf first) for `name`; else why not."""
    leaf = chain[0]
    if record.usage == 3:
        return None if record.matches(leaf) else "does not match the leaf"
    if len(chain) == 1:
        return "needs the issuer the server sends, and it sent (or this Python exposes) " \
            "only the leaf"
    # DANE-TA: some issuer the server sent matches, and the leaf chains up to it.
    for depth in range(1, len(chain)):
        if not _issued_by(chain[depth - 1], chain[depth]):
            return f"certificate {depth} of the chain did not issue certificate {depth - 1}"
        if record.matches(chain[depth]):
            if not name_matches(name, cert_names(leaf)):
                return f"matches an issuer, but the leaf does not cover {name}"
            return None
    return "matches no issuer certificate the server sent"


class DaneCheck:
    def __init__(self, resolver: Resolver, col: Collector, *, mx_name: str | None,
                 addresses: list[str], port_tasks: PortTasks) -> None:
        self.dns = resolver
        self.col = col
        self.name = mx_name
        self.addresses = addresses
        self.tasks = port_tasks

    async def run(self) -> None:
        self.col.expect(CHECK_ID)
        if not self.name:
            self.col.add(CHECK_ID, Status.SKIP, "HOST is an IP address and no --servername "
                         "was given: no MX name to look up TLSA records for")
            return
        qname = f"_{SMTP_PORT}._tcp.{self.name}"
        lookup = await self.dns.query(qname, "TLSA")
        ev: dict[str, Any] = {**lookup.evidence(), "ad": lookup.ad,
                              "resolver": self.dns.description}
        if lookup.status == "error":
            self.col.add(CHECK_ID, Status.ERROR, f"TLSA lookup of {qname} failed: "
                         f"{lookup.error}", evidence=ev)
            return
        if not lookup.records:
            self.col.add(CHECK_ID, Status.INFO, f"no DANE: no TLSA record at {qname} "
                         "(optional; senders fall back to opportunistic TLS or MTA-STS)",
                         evidence=ev)
            return
        records = [Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in lookup.records]
        usable = [r for r in records if r.usable]
        dnssec = ("the resolver validated the TLSA answer with DNSSEC (AD flag)" if lookup.ad
                  else "the resolver did not mark the TLSA answer DNSSEC-validated (no AD "
                  "flag): senders ignore unsigned TLSA records, so DANE is only in effect if "
                  "the zone is signed")
        if not usable:
            self.col.add(CHECK_ID, Status.WARN, f"{qname} has TLSA records but none usable for "
                         "SMTP (RFC 7672: usages 2 and 3, selectors 0/1, matching 0/1/2 "
                         f"only); senders treat them as absent; {dnssec}", evidence=ev,
                         remedy="publish `3 1 1 <sha256 of the server's public key>`")
            return
        for ip in self.addresses:
            await self._against(ip, usable, qname, dnssec, dict(ev))

    async def _against(self, ip: str, usable: list[Tlsa], qname: str, dnssec: str,
                       ev: dict[str, Any]) -> None:
        tls, why = await served_tls(self.tasks, ip)
        if tls is None:
            self.col.add(CHECK_ID, Status.ERROR if ip in self.tasks else Status.SKIP,
                         f"cannot compare {qname} with the certificate: "
                         f"{why}", ip=ip, evidence=ev)
            return
        chain = _chain(tls)
        assert self.name is not None  # noqa: S101 - run() returned early otherwise
        outcome = {r.text(): judge(r, chain, self.name) for r in usable}
        ev.update({"served": [hashlib.sha256(c.public_bytes(serialization.Encoding.DER))
                              .hexdigest() for c in chain],
                   "chain_sent": len(chain), "outcome": {k: v or "match"
                                                         for k, v in outcome.items()}})
        matched = [k for k, v in outcome.items() if v is None]
        if matched:
            usage = USAGES[int(matched[0].split()[0])]
            self.col.add(CHECK_ID, Status.PASS, f"the certificate on port {SMTP_PORT} of {ip} "
                         f"matches TLSA {matched[0][:24]}... ({usage}); {dnssec}", ip=ip,
                         evidence=ev)
            return
        details = "; ".join(f"{k[:16]}...: {v}" for k, v in outcome.items())
        self.col.add(CHECK_ID, Status.FAIL, f"no TLSA record at {qname} matches the certificate "
                     f"on port {SMTP_PORT} of {ip}: DANE senders defer all mail to it "
                     f"({details}); {dnssec}", ip=ip, evidence=ev,
                     remedy="publish a TLSA record for the certificate now served (3 1 1 "
                     "<sha256 of its public key>) and keep the old one until the DNS TTL has "
                     "passed; on renewals, reuse the key or publish the next key's record first")


def _chain(tls: TlsInfo) -> list[x509.Certificate]:
    """Leaf first; the leaf alone when the chain is unknown."""
    ders = tls.chain or ([tls.der] if tls.der else [])
    return [x509.load_der_x509_certificate(d) for d in ders]
