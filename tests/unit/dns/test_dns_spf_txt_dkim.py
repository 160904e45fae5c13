"""SPF syntax and lookup counting; TXT splitting; DKIM values from key files."""

from __future__ import annotations

import base64
from pathlib import Path

import dns.rdata
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from postwright.dns import dkim, spf, txt
from postwright.errors import UsageError

from .conftest import make_plan


@pytest.mark.parametrize(
    ("record", "lookups"),
    [
        ("v=spf1 mx -all", 1),
        ("v=spf1 -all", 0),
        ("v=spf1 ip4:198.51.100.10 ip6:2001:db8::/32 ~all", 0),
        ("v=spf1 a mx include:_spf.example.net exists:%{i}.rbl.example.net ?all", 4),
        ("v=spf1 a:mail.example.test/24//64 mx//48 ptr -all", 3),
        ("v=spf1 redirect=_spf.example.net", 1),
        ("V=SPF1 MX -ALL", 1),
        ("v=spf1 mx exp=explain.example.test -all", 1),
    ],
)
def test_valid_spf_and_lookup_count(record: str, lookups: int) -> None:
    assert spf.lookup_terms(record) == lookups
    assert spf.validate(record) == record


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("mx -all", "must start with 'v=spf1'"),
        ("v=spf2 mx -all", "must start with 'v=spf1'"),
        ("v=spf1 mx -al", "unknown mechanism '-al'"),
        ("v=spf1 inclde:example.net -all", "unknown mechanism"),
        ("v=spf1 include -all", "needs ':domain'"),
        ("v=spf1 include:bad_domain -all", "bad domain"),
        ("v=spf1 ip4:198.51.100.300 -all", "bad network"),
        ("v=spf1 ip4:2001:db8::1 -all", "IPv6 network"),
        ("v=spf1 a/33 -all", "IPv4 prefix"),
        ("v=spf1 mx//129 -all", "IPv6 prefix"),
        ("v=spf1 redirct=example.net", "unknown modifier"),
        ("v=spf1 redirect=a.example redirect=b.example", "given twice"),
        ("v=spf1 all=x", "unknown modifier"),
    ],
)
def test_invalid_spf_rejected(record: str, why: str) -> None:
    with pytest.raises(UsageError, match="dns_spf") as caught:
        spf.validate(record)
    assert why in str(caught.value)


def test_more_than_ten_lookups_rejected() -> None:
    ten = "v=spf1 " + " ".join(f"include:s{i}.example.net" for i in range(9)) + " mx -all"
    assert spf.validate(ten) == ten
    eleven = ten.replace(" mx ", " mx a ")
    with pytest.raises(UsageError, match=r"has 11 DNS-lookup terms .* at most 10"):
        spf.validate(eleven)
    with pytest.raises(UsageError, match="11 DNS-lookup terms"):
        make_plan(dns_spf=eleven)


@pytest.mark.parametrize("length", [0, 1, 254, 255, 256, 510, 511, 1000])
def test_txt_split_round_trips_through_dnspython(length: int) -> None:
    value = "".join(chr(0x21 + i % 90) for i in range(length))  # includes " and \
    pieces = txt.split(value)
    assert all(len(p) <= 255 for p in pieces)
    assert len(pieces) == max(1, -(-length // 255))
    parsed = dns.rdata.from_text("IN", "TXT", txt.rdata(value))
    assert parsed.strings == tuple(p.encode() for p in pieces)
    assert txt.join(parsed.strings) == value
    assert txt.join(txt.strings(txt.rdata(value))) == value


def test_txt_rejects_non_ascii() -> None:
    with pytest.raises(UsageError, match="printable ASCII"):
        txt.split("v=spf1 mx -all \u00e9")


def test_dkim_value_rsa_matches_key(rsa_public_pem: Path) -> None:
    value = dkim.record_value(rsa_public_pem)
    expected = serialization.load_pem_public_key(rsa_public_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert value == "v=DKIM1; k=rsa; p=" + base64.b64encode(expected).decode()
    assert 380 < len(value) < 420  # a 2048-bit key: about 400 characters


def test_dkim_pkcs1_and_ed25519(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = tmp_path / "pkcs1.pem"
    pkcs1.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.PKCS1))
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert dkim.record_value(pkcs1).endswith(base64.b64encode(spki).decode())
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_file = tmp_path / "ed.pem"
    ed_file.write_bytes(ed.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    raw = ed.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert dkim.record_value(ed_file) == f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def test_dkim_txt_value_files(tmp_path: Path) -> None:
    opendkim = tmp_path / "mail.txt"
    opendkim.write_text('mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n'
                        '\t  "p=MIIBIjANBgkq" "hkiG9w0BAQ==" )  ; ----- DKIM key mail\n')
    assert dkim.record_value(opendkim) == "v=DKIM1; h=sha256; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ=="
    bare = tmp_path / "bare.txt"
    bare.write_text("v=DKIM1;k=rsa;\n p=MIIBIjANBgkqhkiG9w0BAQ==\n")
    assert dkim.record_value(bare) == "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ=="


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "private key"),
        (b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "not a PEM"),
        (b"v=DKIM1; k=rsa", "needs v=DKIM1 and p="),
        (b"v=DKIM1; p=!!!", "not base64"),
        (b"\xff\xfe", "neither a PEM"),
    ],
)
def test_dkim_bad_files(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="dns_dkim_public_keys") as caught:
        dkim.record_value(path)
    assert why in str(caught.value)
    with pytest.raises(UsageError, match="cannot read"):
        dkim.record_value(tmp_path / "missing.pub")


def test_dkim_accepts_rsa_1024_and_rejects_ec_keys() -> None:
    # RFC 8301: 1024 bits is the floor verifiers accept (cryptography refuses to make smaller)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    assert dkim.value_from_public_key(small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).startswith(
        "v=DKIM1; k=rsa; p=")
    tiny = rsa.RSAPublicNumbers(65537, (1 << 511) | 1).public_key()
    with pytest.raises(UsageError, match="RSA key of 512 bits"):
        dkim.value_from_public_key(tiny.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(UsageError, match="RSA or Ed25519"):
        dkim.value_from_public_key(ec_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
