"""A throw-away PKI for the fixture servers: a test CA, good/expired/wrong-name leaves and a
self-signed certificate, all for mail.example.test (and 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NAME = "mail.example.test"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, cert: x509.Certificate, key: object) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@dataclass
class Pki:
    root: Path

    @property
    def ca(self) -> str:
        return str(self.root / "ca.pem")

    def server_context(self, which: str = "good", *, legacy: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        stem = self.root / which
        if legacy:  # TLS 1.0 and up; OpenSSL 3 serves 1.0/1.1 only at @SECLEVEL=0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            stem = self.root / "rsa"
        ctx.load_cert_chain(stem.with_suffix(".pem"), stem.with_suffix(".key"))
        return ctx


def make_pki(root: Path) -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(_name("Postwright Test CA"))
          .issuer_name(_name("Postwright Test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, names: list[str], *, days: tuple[int, int] = (-1, 90),
             self_signed: bool = False, key: object = None) -> None:
        k = key or _key()
        subject = _name(names[0])
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(subject if self_signed else ca.subject)
                   .public_key(k.public_key())  # type: ignore[attr-defined]
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now + dt.timedelta(days=days[0]))
                   .not_valid_after(now + dt.timedelta(days=days[1]))
                   .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True))
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False)
        cert = builder.sign(k if self_signed else ca_key, hashes.SHA256())  # type: ignore[arg-type]
        _write(root / stem, cert, k)

    leaf("good", [NAME])
    leaf("expired", [NAME], days=(-60, -3))
    leaf("wrongname", ["other.example.test"])
    leaf("selfsigned", [NAME], self_signed=True)
    leaf("soon", [NAME], days=(-1, 5))
    leaf("mtasts", [f"mta-sts.{NAME.split('.', 1)[1]}"])  # the MTA-STS policy host
    leaf("rsa", [NAME], key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return Pki(root)


def leaf_der(not_after: dt.datetime) -> bytes:
    """A self-signed leaf for mail.example.test that ends at exactly `not_after` (DER)."""
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name(NAME)).issuer_name(_name(NAME))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=90)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)
