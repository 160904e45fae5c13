"""Fixtures for the `postwright dns` tests: host variables, keys, an in-memory DNS server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postwright.dns.inventory import MailHostPlan, plan_from_vars

DUAL: dict[str, Any] = {
    "mail_hostname": "mail.example.test",
    "mail_domains": ["example.test"],
    "mail_ipv4": "198.51.100.10",
    "mail_ipv6": "2001:db8::10",
    "dns_primary_ns_ipv4": "192.0.2.53",
    "dns_primary_ns_ipv6": "2001:db8:53::53",
}


def make_plan(**overrides: Any) -> MailHostPlan:
    """A plan from DUAL with `overrides`; a value of None removes the variable."""
    hv = {**DUAL, **overrides}
    return plan_from_vars({k: v for k, v in hv.items() if v is not None})


@pytest.fixture(scope="session")
def rsa_public_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "example.test.pub"
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


class FakeServer:
    """An authoritative server in memory: answers queries from dns.zone objects and applies
    TSIG-signed RFC 2136 updates. Messages go through wire format both ways, so TSIG signing
    and verification run for real; nothing touches the network."""

    def __init__(self, zone_texts: dict[str, str], key: dns.tsig.Key | None = None,
                 refuse: str | None = None) -> None:
        self.zones = {
            dns.name.from_text(origin): dns.zone.from_text(text, origin, relativize=False,
                                                           check_origin=True)
            for origin, text in zone_texts.items()
        }
        self.key = key
        self.refuse = refuse  # "REFUSED": the key is known but may not update
        self.updates_applied = 0
        self.messages: list[dns.message.Message] = []

    def _zone(self, name: dns.name.Name) -> dns.zone.Zone | None:
        holders = [z for origin, z in self.zones.items() if name.is_subdomain(origin)]
        return max(holders, key=lambda z: len(z.origin), default=None)

    def ask(self, query: dns.message.Message) -> dns.message.Message:
        question = query.question[0]
        response = dns.message.make_response(query)
        zone = self._zone(question.name)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        node = zone.get_node(question.name)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
        if rdataset is not None:
            response.answer.append(
                dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset)))
        return response

    def send(self, message: dns.message.Message) -> dns.message.Message:
        """Receive an UPDATE as the server would: verify TSIG from the wire, apply, answer."""
        wire = message.to_wire()
        keyring = {self.key.name: self.key} if self.key else None
        try:
            request = dns.message.from_wire(wire, keyring=keyring)
        except dns.message.UnknownTSIGKey:
            return self._tsig_error(message, "BADKEY")
        except dns.tsig.BadSignature:
            return self._tsig_error(message, "BADSIG")
        self.messages.append(request)
        assert request.opcode() == dns.opcode.UPDATE
        zone = self.zones[request.question[0].name]
        response = dns.message.make_response(request)
        if self.refuse == "REFUSED":
            response.set_rcode(dns.rcode.REFUSED)
            return self._reply(response, message)
        for prereq in request.answer:  # only "RRset exists (value independent)" is used
            node = zone.get_node(prereq.name)
            if node is None or node.get_rdataset(dns.rdataclass.IN, prereq.rdtype) is None:
                response.set_rcode(dns.rcode.NXRRSET)
                return self._reply(response, message)
        for rrset in request.authority:  # the update section, applied in order
            if rrset.deleting == dns.rdataclass.ANY:  # delete the RRset
                zone.delete_rdataset(rrset.name, rrset.rdtype)
            elif rrset.deleting == dns.rdataclass.NONE:  # delete these RRs
                existing = zone.get_rdataset(rrset.name, rrset.rdtype)
                for rdata in rrset:
                    if existing is not None:
                        existing.discard(dns.rdata.from_text(
                            dns.rdataclass.IN, rdata.rdtype, rdata.to_text()))
                if existing is not None and not existing:
                    zone.delete_rdataset(rrset.name, rrset.rdtype)
            else:  # add RRs; like BIND, the RRset takes the TTL of the last added RR
                target = zone.find_rdataset(rrset.name, rrset.rdtype, create=True)
                for rdata in rrset:
                    target.add(rdata)
                target.ttl = rrset.ttl
            self.updates_applied += 1
        return self._reply(response, message)

    def _tsig_error(self, message: dns.message.Message, error: str) -> dns.message.Message:
        """Answer like BIND: NOTAUTH, a TSIG record carrying the error and no valid MAC."""
        self.messages.append(dns.message.from_wire(message.to_wire(), keyring=False))
        response = dns.message.make_response(self.messages[-1])
        response.set_rcode(dns.rcode.NOTAUTH)
        response.use_tsig(dns.tsig.Key(message.keyname, b"\0" * 32, message.keyalgorithm),
                          tsig_error=dns.rcode.from_text(error))
        return self._reply(response, message)

    @staticmethod
    def _reply(response: dns.message.Message,
               request: dns.message.Message) -> dns.message.Message:
        """What the client's dnspython makes of the answer: parsed with its key, verified."""
        return dns.message.from_wire(response.to_wire(), keyring=request.keyring,
                                     request_mac=request.mac)


@pytest.fixture
def fake_server_factory() -> Callable[..., FakeServer]:
    return FakeServer
