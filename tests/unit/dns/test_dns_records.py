"""Record computation for the address-family and multi-domain cases."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import dns.name
import dns.rdata
import dns.reversename
import pytest
from cryptography.hazmat.primitives import serialization

from postwright.contract import load_contract
from postwright.dns import names
from postwright.dns.records import Record, compute_records

from .conftest import make_plan


def _by(records: list[Record], rtype: str, name: str | None = None) -> list[Record]:
    return [r for r in records if r.type == rtype and (name is None or r.name == name)]


def test_dual_stack() -> None:
    records = compute_records(make_plan())
    assert [r.rdata for r in _by(records, "A", "mail.example.test.")] == ["198.51.100.10"]
    assert [r.rdata for r in _by(records, "AAAA", "mail.example.test.")] == ["2001:db8::10"]
    (mx,) = _by(records, "MX")
    assert (mx.name, mx.rdata, mx.zone, mx.ttl, mx.publisher) == (
        "example.test.", "10 mail.example.test.", "example.test.", 300, "dns")
    assert [r.text() for r in _by(records, "TXT", "example.test.")] == ["v=spf1 mx -all"]
    # the HELO name's own SPF: bounces (null sender) are checked against it
    assert [r.text() for r in _by(records, "TXT", "mail.example.test.")] == [
        "v=spf1 ip4:198.51.100.10 ip6:2001:db8::10 -all"]
    assert [r.text() for r in _by(records, "TXT", "_dmarc.example.test.")] == [
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test"]
    ptrs = _by(records, "PTR")
    assert [(r.name, r.rdata, r.zone, r.publisher) for r in ptrs] == [
        ("10.100.51.198.in-addr.arpa.", "mail.example.test.", "100.51.198.in-addr.arpa.", "ptr"),
        ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
         "mail.example.test.", "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "ptr"),
    ]
    assert all(r.publisher == "dns" for r in records if r.type != "PTR")
    assert all(r.name.endswith(".") and r.zone.endswith(".") for r in records)
    assert not _by(records, "CAA")  # no issuers given
    assert not [r for r in records if "_domainkey" in r.name]  # no DKIM key given


def test_ipv4_only_has_no_aaaa_and_one_ptr() -> None:
    records = compute_records(make_plan(mail_ipv6=None))
    assert not _by(records, "AAAA")
    assert [r.rdata for r in _by(records, "A")] == ["198.51.100.10"]
    assert [r.zone for r in _by(records, "PTR")] == ["100.51.198.in-addr.arpa."]
    assert [r.text() for r in _by(records, "TXT", "mail.example.test.")] == [
        "v=spf1 ip4:198.51.100.10 -all"]


def test_ipv6_only_has_no_a_and_one_ptr() -> None:
    records = compute_records(make_plan(mail_ipv4=None))
    assert not _by(records, "A")
    assert [r.rdata for r in _by(records, "AAAA")] == ["2001:db8::10"]
    (ptr,) = _by(records, "PTR")
    assert ptr.zone == "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."


def test_several_domains_each_get_mx_spf_dmarc_srv_in_their_own_zone() -> None:
    plan = make_plan(mail_domains=["example.test", "example.org", "lists.example.test"])
    assert plan.zones() == ("example.test", "example.org")  # the subdomain folds into parent
    records = compute_records(plan)
    for domain, zone in [("example.test", "example.test."), ("example.org", "example.org."),
                         ("lists.example.test", "example.test.")]:
        (mx,) = _by(records, "MX", domain + ".")
        assert (mx.rdata, mx.zone) == ("10 mail.example.test.", zone)
        assert [r.zone for r in _by(records, "TXT", f"_dmarc.{domain}.")] == [zone]
        assert len(_by(records, "SRV")) == 18
    # reports for example.org go to an address in example.test: RFC 7489 7.1 authorisation
    (auth,) = [r for r in records if "._report._dmarc." in r.name]
    assert (auth.name, auth.zone, auth.text()) == (
        "example.org._report._dmarc.example.test.", "example.test.", "v=DMARC1")
    # the mail host's addresses appear once, in the zone of the domain holding the hostname
    assert [r.zone for r in _by(records, "A")] == ["example.test."]


def test_ttl_overrides_per_type() -> None:
    records = compute_records(make_plan(dns_ttl=900, dns_ttls={"MX": 3600, "PTR": 86400}))
    assert {r.ttl for r in _by(records, "MX")} == {3600}
    assert {r.ttl for r in _by(records, "PTR")} == {86400}
    assert {r.ttl for r in _by(records, "TXT")} == {900}


@pytest.mark.parametrize(
    "ip",
    ["2001:db8::10", "2001:db8:1234:5678:9abc:def0:1:2", "2a01:4f8:c17:abcd::1", "fd00::1"],
)
def test_ipv6_reverse_names_match_dnspython(ip: str) -> None:
    address = ipaddress.IPv6Address(ip)
    expected = dns.reversename.from_address(ip)
    assert names.reverse_name(address) == str(expected)
    zone = names.reverse_zone(address)
    assert len(zone.split(".")) == 16 + 3  # 16 nibbles + ip6 + arpa + root
    assert expected.is_subdomain(dns.name.from_text(zone))
    network = ipaddress.IPv6Network(f"{ip}/64", strict=False)
    assert zone == str(dns.reversename.from_address(str(network.network_address))).split(
        ".", 16)[16]


def test_ipv4_reverse_zone_is_the_slash_24() -> None:
    address = ipaddress.IPv4Address("203.0.113.77")
    assert names.reverse_name(address) == "77.113.0.203.in-addr.arpa."
    assert names.reverse_zone(address) == "113.0.203.in-addr.arpa."


def test_srv_ports_come_from_the_contract() -> None:
    contract = load_contract()
    records = compute_records(make_plan(mail_optional_services=["imap"]))
    srv = {r.name.split(".")[0]: r.rdata for r in _by(records, "SRV")}
    for service in ("submissions", "submission", "imaps", "imap"):
        assert srv[f"_{service}"] == f"0 1 {contract.service(service).port} mail.example.test."
    assert srv["_pop3"] == srv["_pop3s"] == "0 0 0 ."
    default = {r.name.split(".")[0]: r.rdata for r in _by(compute_records(make_plan()), "SRV")}
    assert default["_imap"] == "0 0 0 ."
    assert not _by(compute_records(make_plan(dns_srv=False)), "SRV")


def test_mta_sts_tlsrpt_caa() -> None:
    plan = make_plan(dns_mta_sts_mode="testing", dns_mta_sts_id="20260101T1",
                     dns_tlsrpt_rua="mailto:tls@example.test",
                     dns_caa_issuers=["letsencrypt.org", "sectigo.com; validationmethods=dns-01"])
    records = compute_records(plan)
    assert [r.text() for r in _by(records, "TXT", "_mta-sts.example.test.")] == [
        "v=STSv1; id=20260101T1"]
    assert [r.rdata for r in _by(records, "A", "mta-sts.example.test.")] == ["198.51.100.10"]
    assert [r.rdata for r in _by(records, "AAAA", "mta-sts.example.test.")] == ["2001:db8::10"]
    assert [r.text() for r in _by(records, "TXT", "_smtp._tls.example.test.")] == [
        "v=TLSRPTv1; rua=mailto:tls@example.test"]
    assert [r.rdata for r in _by(records, "CAA")] == [
        '0 issue "letsencrypt.org"', '0 issue "sectigo.com; validationmethods=dns-01"']
    for record in _by(records, "CAA"):
        dns.rdata.from_text("IN", "CAA", record.rdata)  # valid presentation form
    assert "mode: testing" in (plan.mta_sts_policy() or "")


def test_dkim_record_from_rsa_2048_public_key(rsa_public_pem: Path) -> None:
    plan = make_plan(dkim_selector="s1", dns_dkim_public_keys={"example.test": str(rsa_public_pem)})
    (dkim,) = _by(compute_records(plan), "TXT", "s1._domainkey.example.test.")
    value = dkim.text()
    assert value.startswith("v=DKIM1; k=rsa; p=")
    der = base64.b64decode(value.split("p=", 1)[1])
    key = serialization.load_der_public_key(der)
    original = serialization.load_pem_public_key(rsa_public_pem.read_bytes())
    assert key.public_numbers() == original.public_numbers()  # type: ignore[union-attr]
    assert len(value) > 255  # so the rdata must be split ...
    parsed = dns.rdata.from_text("IN", "TXT", dkim.rdata)
    assert [len(s) for s in parsed.strings][:-1] == [255] * (len(parsed.strings) - 1)
    assert b"".join(parsed.strings).decode() == value  # ... and joins back to the same value
