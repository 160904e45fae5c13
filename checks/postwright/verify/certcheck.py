"""tls.cert.current: the leaf a port serves is the certificate on disk (--expect-cert).

Postfix and Dovecot read their certificate file at start and on reload only. A renewal that
rewrites the file without reloading them leaves every port serving the old certificate, which
then expires although the file on disk looks fine: only a byte comparison catches it early.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from postwright.errors import UsageError
from postwright.verify.model import Collector, Status
from postwright.verify.tlsinfo import CertFacts

CHECK_ID = "tls.cert.current"
# Who serves a protocol (SMTP: Postfix, the rest: Dovecot), how to reload it and the setting
# that names its certificate file: what the roles configure.
_POSTFIX = ("Postfix", "systemctl reload postfix", "smtpd_tls_cert_file / smtpd_tls_chain_files")
_DOVECOT = ("Dovecot", "systemctl reload dovecot",
            "ssl_cert (Dovecot 2.3) / ssl_server_cert_file (2.4)")


@dataclass(frozen=True)
class ExpectedCert:
    """The certificate the daemons should serve: the first one of a PEM file (the leaf)."""

    path: str
    der: bytes

    @classmethod
    def load(cls, path: str) -> ExpectedCert:
        """Read and parse `path` up front: a bad file is a usage error before any traffic."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"--expect-cert {path}: cannot read it "
                             f"({exc.strerror or exc})") from None
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise UsageError(f"--expect-cert {path}: no PEM certificate in it; give the file "
                             "the daemons serve (e.g. fullchain.pem, whose first certificate "
                             "is the server's own)") from None
        return cls(path, certs[0].public_bytes(serialization.Encoding.DER))


def _day(iso: str) -> str:
    return iso.replace("T", " ")[:16] + " UTC"  # the facts are UTC; minutes are enough


def check_cert_current(col: Collector, port: int, protocol: str, served: bytes | None,
                       expected: ExpectedCert) -> None:
    """Judge the leaf the TLS session already received; opens no connection of its own."""
    if served is None:
        col.add(CHECK_ID, Status.SKIP, f"the TLS session on port {port} showed no certificate: "
                "nothing to compare with --expect-cert", evidence={"expected_file": expected.path})
        return
    have, want = asdict(CertFacts.from_der(served)), asdict(CertFacts.from_der(expected.der))
    evidence = {"served": have, "expected": {**want, "file": expected.path}}
    if served == expected.der:
        col.add(CHECK_ID, Status.PASS, f"port {port} serves the expected certificate (serial "
                f"{have['serial']}, not after {_day(have['not_after'])})", evidence=evidence)
        return
    name, reload, setting = _POSTFIX if protocol == "smtp" else _DOVECOT
    if dt.datetime.fromisoformat(have["not_before"]) < dt.datetime.fromisoformat(
            want["not_before"]):
        why = ("the server is still serving an older certificate than the one on disk; "
               f"{name} was not reloaded after the certificate changed (check the renewal "
               "deploy hook)")
    else:
        why = (f"the server serves a different certificate than the one on disk; {name} was "
               "not reloaded after the certificate changed (check the renewal deploy hook), "
               f"or it reads another file than {expected.path}")
    col.add(CHECK_ID, Status.FAIL,
            f"port {port} serves serial {have['serial']} (not before {_day(have['not_before'])}, "
            f"not after {_day(have['not_after'])}) but the expected certificate is serial "
            f"{want['serial']} (not before {_day(want['not_before'])}): {why}",
            evidence=evidence,
            remedy=f"reload {name} ({reload}) so that it reads the file again, and make the "
            "renewal's deploy hook reload it every time (certbot: --deploy-hook 'systemctl "
            f"reload postfix dovecot'); check that {setting} names {expected.path}")
