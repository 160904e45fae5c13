"""TLS client contexts and what one handshake tells: protocol, cipher, certificate facts."""

from __future__ import annotations

import _ssl
import datetime as dt
import hashlib
import ipaddress
import ssl
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from postwright.contract import load_contract

EXPIRY_WARN_DAYS = 14  # tls.cert.expiry warns below this many days left (certbot renews at 30)
# X509_V_FLAG_NO_CHECK_TIME: chain trust is judged without the clock, so an expired but
# otherwise trusted certificate is reported by tls.cert.expiry alone, not twice.
_NO_CHECK_TIME = 0x200000
_PROTOCOLS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def min_version() -> ssl.TLSVersion:
    return _PROTOCOLS.get(load_contract().min_protocol, ssl.TLSVersion.TLSv1_2)


def verifying_context(ca_file: str | None) -> ssl.SSLContext:
    """Chain must lead to the system store (or only to `ca_file`); the name is checked apart."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags = ssl.VerifyFlags(int(ctx.verify_flags) | _NO_CHECK_TIME)
    ctx.minimum_version = min_version()
    return ctx


def inspecting_context() -> ssl.SSLContext:
    """Accept any certificate: used to read the certificate once trust has already failed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = min_version()
    return ctx


def legacy_context() -> ssl.SSLContext | None:
    """TLS 1.0/1.1 only. OpenSSL 3 offers them only at @SECLEVEL=0; None when it cannot."""
    if not (ssl.HAS_TLSv1 or ssl.HAS_TLSv1_1):
        return None
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():  # deprecated on purpose: we test that it is refused
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ssl.SSLError, ValueError):
        return None
    return ctx


@dataclass
class CertFacts:
    subject: str
    serial: str  # hex, whole bytes, as openssl shows it
    issuer: str
    names: list[str]
    not_before: str
    not_after: str
    days_left: int
    self_signed: bool
    sha256: str

    @classmethod
    def from_der(cls, der: bytes, now: dt.datetime | None = None) -> CertFacts:
        cert = x509.load_der_x509_certificate(der)
        now = now or dt.datetime.now(dt.UTC)
        not_after = cert.not_valid_after_utc
        serial = f"{cert.serial_number:X}"
        return cls(
            subject=cert.subject.rfc4514_string(),
            serial=serial.zfill(len(serial) + len(serial) % 2),
            issuer=cert.issuer.rfc4514_string(),
            names=cert_names(cert),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=not_after.isoformat(),
            days_left=(not_after.date() - now.date()).days,  # calendar days, both UTC
            self_signed=cert.issuer == cert.subject,
            sha256=hashlib.sha256(der).hexdigest(),
        )


def cert_names(cert: x509.Certificate) -> list[str]:
    """DNS and IP subjectAltNames; the CN only when there is no SAN at all (legacy)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(cn.value) for cn in cns]
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def name_matches(name: str, patterns: list[str]) -> bool:
    """RFC 6125: exact match, or a wildcard as the whole leftmost label; IPs match exactly."""
    try:
        wanted_ip = ipaddress.ip_address(name)
    except ValueError:
        wanted_ip = None
    host = name.rstrip(".").lower()
    for raw in patterns:
        pattern = raw.rstrip(".").lower()
        if wanted_ip is not None:
            try:
                if ipaddress.ip_address(pattern) == wanted_ip:
                    return True
            except ValueError:
                continue
            continue
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if rest == pattern[2:] and first and rest.count(".") >= 1:
                return True
    return False


@dataclass
class TlsInfo:
    """What the probe reports under "tls" (JSON) and the evidence of the tls.* checks."""

    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    trusted: bool | None = None
    verify_error: str | None = None
    hostname: str | None = None
    hostname_match: bool | None = None
    cert: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The leaf as received, for tls.cert.current's byte comparison; `cert` holds its facts.
    der: bytes | None = field(default=None, repr=False)
    # Every certificate the server sent, leaf first (DANE-TA needs the issuers); empty when
    # this Python cannot tell (the API is public from 3.13 on, private before).
    chain: list[bytes] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["der"], data["chain"]
        extra = data.pop("extra")
        data.update(extra)
        return data

    def take_session(self, obj: ssl.SSLObject, hostname: str | None) -> None:
        self.version = obj.version()
        cipher = obj.cipher()
        if cipher:
            self.cipher, self.bits = cipher[0], cipher[2]
        der = obj.getpeercert(binary_form=True)
        if der:
            self.der = der
            self.chain = sent_chain(obj)
            facts = CertFacts.from_der(der)
            self.cert = asdict(facts)
            if hostname:
                self.hostname = hostname
                self.hostname_match = name_matches(hostname, facts.names)


def sent_chain(obj: ssl.SSLObject) -> list[bytes]:
    """The certificates the peer sent (DER, leaf first), as far as this Python exposes them."""
    getter = getattr(obj, "get_unverified_chain", None) \
        or getattr(getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        return []
    certs = getter() or []
    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER)
            for c in certs]

