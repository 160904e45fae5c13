"""dns.dane: TLSA records at _25._tcp.<mx> against the certificate the port 25 probe got."""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from postwright.cli import main
from tests.unit.verify.dnsfixture import DnsConfig


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def tlsa(cert: x509.Certificate, usage: int, selector: int, mtype: int) -> str:
    data = cert.public_bytes(serialization.Encoding.DER) if selector == 0 else \
        cert.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}
    return f"{usage} {selector} {mtype} {digest[mtype].hex()}"


def zone(*records: str, ad: bool = False) -> DnsConfig:
    entries = {
        ("example.test.", "MX"): ["10 mail.example.test."],
        ("mail.example.test.", "A"): ["127.0.0.1"],
    }
    if records:
        entries[("_25._tcp.mail.example.test.", "TLSA")] = list(records)
    return DnsConfig(entries, ad=ad)


def dane(serve_zone, pki, port: int, config: DnsConfig, capsys) -> list[dict]:
    main(["verify", "mail.example.test", "--resolver", serve_zone(config), "--ca-file", pki.ca,
          "--service", "smtp", "--port", f"smtp={port}", "--dnsbl", "", "--json", "-",
          "--deadline", "10"])
    results = json.loads(capsys.readouterr().out)["results"]
    return [r for r in results if r["id"] == "dns.dane"]


@pytest.mark.parametrize(("selector", "mtype"), [(1, 1), (0, 0), (0, 1), (1, 2)])
def test_dane_ee_matching_the_served_leaf_passes(scripted, serve_zone, pki, capsys,
                                                 selector: int, mtype: int) -> None:
    port, _ = scripted()
    record = tlsa(_cert(pki.root / "good.pem"), 3, selector, mtype)
    [result] = dane(serve_zone, pki, port, zone(record), capsys)
    assert result["status"] == "pass", result
    assert result["ip"] == "127.0.0.1"
    assert "(DANE-EE)" in result["summary"]
    assert "did not mark the TLSA answer DNSSEC-validated (no AD flag)" in result["summary"]
    assert result["evidence"]["ad"] is False


def test_the_ad_flag_of_the_resolver_is_reported(scripted, serve_zone, pki, capsys) -> None:
    port, _ = scripted()
    record = tlsa(_cert(pki.root / "good.pem"), 3, 1, 1)
    [result] = dane(serve_zone, pki, port, zone(record, ad=True), capsys)
    assert result["status"] == "pass"
    assert "the resolver validated the TLSA answer with DNSSEC (AD flag)" in result["summary"]


def test_a_tlsa_record_of_another_key_fails(scripted, serve_zone, pki, capsys) -> None:
    port, _ = scripted()
    stale = tlsa(_cert(pki.root / "wrongname.pem"), 3, 1, 1)
    [result] = dane(serve_zone, pki, port, zone(stale), capsys)
    assert result["status"] == "fail"
    assert "no TLSA record at _25._tcp.mail.example.test matches the certificate" \
        in result["summary"]
    assert "DANE senders defer all mail" in result["summary"]
    assert result["evidence"]["outcome"] == {stale: "does not match the leaf"}


def test_dane_ta_matches_the_issuer_the_server_sends(scripted, serve_zone, pki, tmp_path,
                                                     capsys) -> None:
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes((pki.root / "good.pem").read_bytes() + Path(pki.ca).read_bytes())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, pki.root / "good.key")
    port, _ = scripted(starttls=ctx)
    record = tlsa(_cert(Path(pki.ca)), 2, 0, 1)
    [result] = dane(serve_zone, pki, port, zone(record), capsys)
    assert result["status"] == "pass", result
    assert "(DANE-TA)" in result["summary"]
    assert result["evidence"]["chain_sent"] == 2


def test_dane_ta_without_the_issuer_in_the_chain_fails(scripted, serve_zone, pki,
                                                       capsys) -> None:
    port, _ = scripted()  # serves the leaf alone
    record = tlsa(_cert(Path(pki.ca)), 2, 1, 1)
    [result] = dane(serve_zone, pki, port, zone(record), capsys)
    assert result["status"] == "fail"
    assert "only the leaf" in result["summary"]


def test_no_tlsa_record_means_no_dane(scripted, serve_zone, pki, capsys) -> None:
    port, _ = scripted()
    [result] = dane(serve_zone, pki, port, zone(), capsys)
    assert result["status"] == "info"
    assert result["summary"].startswith("no DANE: no TLSA record at _25._tcp.mail.example.test")


def test_pkix_usages_are_unusable_for_smtp(scripted, serve_zone, pki, capsys) -> None:
    port, _ = scripted()
    record = tlsa(_cert(pki.root / "good.pem"), 1, 1, 1)  # PKIX-EE: ignored by SMTP senders
    [result] = dane(serve_zone, pki, port, zone(record), capsys)
    assert result["status"] == "warn"
    assert "none usable for SMTP" in result["summary"]


def test_dane_ee_pins_a_self_signed_certificate(scripted, serve_zone, pki, capsys) -> None:
    """The usual DANE setup: no CA at all; names and trust do not matter for usage 3."""
    port, _ = scripted(starttls=pki.server_context("selfsigned"))
    record = tlsa(_cert(pki.root / "selfsigned.pem"), 3, 1, 1)
    [result] = dane(serve_zone, pki, port, zone(record), capsys)
    assert result["status"] == "pass", result
