"""Session fixtures: the background loop, the test PKI, the server zoo and the DNS server."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.verify.dnsfixture import DnsConfig, Zone, start_dns
from tests.unit.verify.pki import Pki, make_pki
from tests.unit.verify.servers import (
    FakeImap,
    Loop,
    Mailbox,
    Scripted,
    good_smtp,
    serve,
)


@pytest.fixture(scope="session")
def loop() -> Iterator[Loop]:
    bg = Loop()
    yield bg
    bg.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Good:
    """A correct mail host on loopback: 25, 465, 587 (aiosmtpd) and 993 (fake IMAPS)."""

    ports: dict[str, int]
    mailbox: Mailbox
    imap: FakeImap

    def args(self) -> list[str]:
        out: list[str] = []
        for service, port in self.ports.items():
            out += ["--port", f"{service}={port}", "--service", service]
        return out


@pytest.fixture(scope="session")
def good(loop: Loop, pki: Pki) -> Iterator[Good]:
    mailbox = Mailbox()
    ctls = {kind: good_smtp(kind, pki.server_context(), mailbox) for kind in ("25", "587", "465")}
    imap = FakeImap(mailbox)
    imap_port, server = serve(loop, imap, tls=pki.server_context())
    yield Good({"smtp": ctls["25"].port, "submission": ctls["587"].port,
                "submissions": ctls["465"].port, "imaps": imap_port}, mailbox, imap)
    for ctl in ctls.values():
        ctl.stop()
    server.close()


@pytest.fixture
def scripted(loop: Loop, pki: Pki) -> Any:
    """Start a Scripted server (STARTTLS with the good certificate unless told otherwise)."""
    servers: list[Any] = []

    def start(**kwargs: Any) -> tuple[int, Scripted]:
        implicit = kwargs.pop("implicit", None)
        kwargs.setdefault("starttls", pki.server_context())
        script = Scripted(**kwargs)
        port, server = serve(loop, script, tls=implicit)
        servers.append(server)
        return port, script

    yield start
    for server in servers:
        loop.loop.call_soon_threadsafe(server.close)


def dkim_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _chunks(text: str) -> str:
    """One TXT record as several <=255-byte character-strings (as real DKIM keys are)."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


SOA = "ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300"
# The zone's own TTLs (the rest have dnsfixture.TTL): what the evidence must show.
ZONE_TTLS = {
    ("example.test.", "MX"): 3600,
    ("example.test.", "TXT"): 900,
    ("mail.example.test.", "A"): 600,
    ("mail.example.test.", "AAAA"): 1200,
    ("_dmarc.example.test.", "TXT"): 1800,
    ("mail._domainkey.example.test.", "TXT"): 7200,
    ("1.0.0.127.in-addr.arpa.", "PTR"): 86400,
    ("slow.example.test.", "MX"): 172800,
}


@pytest.fixture(scope="session")
def zone() -> dict[tuple[str, str], list[str]]:
    """Zone of example.test: v4 fully right, v6 (::1) without PTR and outside SPF; its name
    server ns1 is 127.0.0.1 (the port is the test's business), and so is 127.in-addr.arpa's."""
    return {
        ("example.test.", "SOA"): [SOA],
        ("example.test.", "NS"): ["ns1.example.test."],
        ("ns1.example.test.", "A"): ["127.0.0.1"],
        ("example.test.", "MX"): ["10 mail.example.test."],
        ("example.test.", "TXT"): ['"v=spf1 ip4:127.0.0.0/8 include:_spf.example.test -all"',
                                   '"google-site-verification=abc"'],
        ("_spf.example.test.", "TXT"): ['"v=spf1 a:relay.example.test ~all"'],
        ("relay.example.test.", "A"): ["192.0.2.7"],
        ("mail.example.test.", "A"): ["127.0.0.1"],
        ("mail.example.test.", "AAAA"): ["::1"],
        ("_dmarc.example.test.", "TXT"): ['"v=DMARC1; p=quarantine; rua=mailto:d@example.test"'],
        ("mail._domainkey.example.test.", "TXT"): [_chunks(f"v=DKIM1; k=rsa; p={dkim_key()}")],
        ("127.in-addr.arpa.", "SOA"): [SOA],
        ("127.in-addr.arpa.", "NS"): ["ns1.example.test."],
        ("1.0.0.127.in-addr.arpa.", "PTR"): ["mail.example.test."],
        ("weak.example.test.", "TXT"): ['"v=spf1 +all"'],
        ("slow.example.test.", "MX"): ["10 mail.example.test."],
    }


def _serve_dns(loop: Loop, config: DnsConfig) -> Iterator[int]:
    port, handles = loop.run(start_dns(config))
    yield port
    for handle in handles:
        loop.loop.call_soon_threadsafe(handle.close)


@pytest.fixture(scope="session")
def dns_config(zone: dict[tuple[str, str], list[str]]) -> DnsConfig:
    return DnsConfig(zone, ZONE_TTLS)


@pytest.fixture(scope="session")
def dns_server(loop: Loop, dns_config: DnsConfig) -> Iterator[str]:
    """The zone's authoritative server (AA set), used as --resolver."""
    for port in _serve_dns(loop, dns_config):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def dns_cache(loop: Loop, zone: dict[tuple[str, str], list[str]]) -> Iterator[str]:
    """A recursive cache's view of the same zone: no AA, every TTL 17 s down."""
    for port in _serve_dns(loop, DnsConfig(zone, ZONE_TTLS, authoritative=False, age=17)):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def dns_authority(loop: Loop, zone: dict[tuple[str, str], list[str]]) -> Iterator[int]:
    """A second authoritative server of the zone, found via NS: its port (dns_port)."""
    yield from _serve_dns(loop, DnsConfig(zone, ZONE_TTLS))


@pytest.fixture
def serve_zone(loop: Loop) -> Iterator[Callable[[Zone | DnsConfig], str]]:
    """Start a DNS server for a test's own zone; returns its --resolver spec."""
    handles: list[Any] = []

    def start(zone: Zone | DnsConfig) -> str:
        port, started = loop.run(start_dns(zone))
        handles.extend(started)
        return f"127.0.0.1:{port}"

    yield start
    for handle in handles:
        loop.loop.call_soon_threadsafe(handle.close)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Sockets a test opens; closed after it."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()
