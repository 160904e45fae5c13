"""The tls.* checks of one port: handshake, certificate (trust, name, expiry, current) and
the legacy-protocol test, judged on what the session's handshake already showed."""

from __future__ import annotations

import datetime as dt
import ssl
import time

from postwright.contract import load_contract
from postwright.verify import dialects
from postwright.verify.certcheck import CHECK_ID as CERT_CURRENT
from postwright.verify.certcheck import check_cert_current
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.probe import Mode, handshake
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.tlsinfo import EXPIRY_WARN_DAYS, TlsInfo, legacy_context
from postwright.verify.wire import Conn, ReadTimeout

CERT_IDS = ("tls.cert.trusted", "tls.cert.hostname", "tls.cert.expiry")


def _protocols() -> str:
    return "/".join(load_contract().protocols)


def skip_cert_checks(s: PortSession, why: str) -> None:
    for check in (*CERT_IDS, CERT_CURRENT):
        if s.wants(check):
            s.col.add(check, Status.SKIP, why)


def no_tls(s: PortSession, lines: list[str]) -> None:
    """A plaintext port without STARTTLS: there is no TLS to judge."""
    s.col.add("tls.handshake", Status.FAIL,
              f"port {s.ep.port} does not offer STARTTLS: no TLS at all",
              evidence={"capabilities": lines},
              remedy="configure a certificate and enable STARTTLS")
    skip_cert_checks(s, "no TLS session (see tls.handshake)")


def results(s: PortSession, info: TlsInfo) -> None:
    col, port = s.col, s.ep.port
    session = {"version": info.version, "cipher": info.cipher, "bits": info.bits}
    if info.version is None:
        col.add("tls.handshake", Status.FAIL,
                f"TLS on port {port} failed: {info.error or info.verify_error}",
                evidence={"error": info.error, "verify_error": info.verify_error},
                remedy="check the certificate/key files and the TLS settings of the daemon "
                f"(its log names the cause); the contract needs TLS {_protocols()}")
        if info.trusted is False:
            col.add("tls.cert.trusted", Status.FAIL,
                    f"certificate not trusted: {info.verify_error}",
                    evidence={"verify_error": info.verify_error})
        skip_cert_checks(s, "no TLS session (see tls.handshake)")
        return
    col.add("tls.handshake", Status.PASS, f"{info.version} with {info.cipher}",
            evidence=session)
    cert = info.cert or {}
    evidence = {**session, "certificate": cert}
    if info.trusted:
        col.add("tls.cert.trusted", Status.PASS,
                f"chain verified ({'--ca-file' if s.ep.ca_file else 'system store'}): "
                f"issued by {cert.get('issuer')}", evidence=evidence)
    else:
        hint = ("it is self-signed; " if cert.get("self_signed") else "")
        col.add("tls.cert.trusted", Status.FAIL,
                f"certificate not trusted: {info.verify_error}", evidence=evidence,
                remedy=hint + "use a certificate from a public CA (ACME: certbot) and serve "
                "the full chain (fullchain.pem); for a private CA pass --ca-file")
    s.facts.cert_names = list(cert.get("names", []))
    s.facts.tls = info
    _hostname(s, info, cert.get("names"))
    _expiry(s, cert)
    if s.expected_cert is not None:  # the leaf of this very session: no new connection
        check_cert_current(col, port, s.service.protocol, info.der, s.expected_cert)


def _hostname(s: PortSession, info: TlsInfo, names: object) -> None:
    if s.ep.servername is None:
        s.col.add("tls.cert.hostname", Status.SKIP,
                  "HOST is an IP address and no --servername was given: no name to check",
                  evidence={"names": names})
    elif info.hostname_match:
        s.col.add("tls.cert.hostname", Status.PASS, f"certificate covers {info.hostname}",
                  evidence={"names": names})
    else:
        s.col.add("tls.cert.hostname", Status.FAIL,
                  f"certificate names {names} do not cover {info.hostname}: "
                  "verifying clients refuse the connection",
                  evidence={"names": names, "wanted": info.hostname},
                  remedy=f"issue a certificate that includes {info.hostname} "
                  f"(certbot -d {info.hostname}) and reload the daemon")


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _expiry(s: PortSession, cert: dict[str, object]) -> None:
    """Days are calendar days in UTC (CertFacts.days_left): a certificate that ran out three
    days ago says 3, whatever the hour; `expired` itself compares the exact instant."""
    days = int(str(cert.get("days_left", 0)))
    expiry = {"not_after": cert.get("not_after"), "days_left": days}
    not_after = dt.datetime.fromisoformat(str(cert.get("not_after")))
    when = not_after.strftime("%Y-%m-%d %H:%M UTC")
    renew = ("renew it (certbot renew) and reload Postfix and Dovecot so that they serve the "
             "new file")
    if not_after <= dt.datetime.now(dt.UTC):
        ago = "today" if days >= 0 else f"{_days(-days)} ago"
        s.col.add("tls.cert.expiry", Status.FAIL, f"certificate EXPIRED {ago} (not after "
                  f"{when}): clients that verify refuse it", evidence=expiry, remedy=renew)
    elif days == 0:
        s.col.add("tls.cert.expiry", Status.WARN, f"certificate expires today ({when})",
                  evidence=expiry, remedy=renew)
    elif days < EXPIRY_WARN_DAYS:
        s.col.add("tls.cert.expiry", Status.WARN,
                  f"certificate expires in {_days(days)} (not after {when})",
                  evidence=expiry, remedy="check that automatic renewal (certbot timer) works")
    else:
        s.col.add("tls.cert.expiry", Status.PASS, f"{_days(days)} left (not after {when})",
                  evidence=expiry)


async def legacy(s: PortSession, mode: Mode) -> None:
    """tls.protocol.legacy_refused, on a connection of its own (TLS 1.0/1.1 only)."""
    ctx = legacy_context()
    if ctx is None:
        s.col.add("tls.protocol.legacy_refused", Status.ERROR,
                  "this machine's OpenSSL cannot offer TLS 1.0/1.1: not tested")
        return
    started = time.monotonic()
    conn: Conn | None = None
    info = TlsInfo()
    try:
        if mode is Mode.STARTTLS:
            conn, greeting = await s.spare()
            await dialects.capabilities(conn, greeting, s.ep.ehlo_name, s.step)
            await dialects.request_starttls(conn, greeting.protocol, s.step)
        else:
            conn = await Conn.open(s.ep.ip, s.ep.port, s.step)
    except NETWORK_ERRORS as exc:
        if conn:
            conn.abort()
        s.col.add("tls.protocol.legacy_refused", Status.ERROR,
                  f"could not reach the TLS handshake: {plain(exc)}")
        return
    try:
        await handshake(conn, s.ep, s.step, info, ctx)
    except ReadTimeout as exc:
        s.col.add("tls.protocol.legacy_refused", Status.ERROR,
                  f"the legacy handshake neither completed nor failed: {exc}")
        return
    except (ssl.SSLError, OSError) as exc:
        reason = plain(exc, during="the TLS 1.0/1.1 handshake")
        if isinstance(exc, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" in str(exc).upper():
            s.col.add("tls.protocol.legacy_refused", Status.ERROR,
                      f"this machine's OpenSSL refused to offer TLS 1.0/1.1: {reason}")
        else:
            s.col.add("tls.protocol.legacy_refused", Status.PASS,
                      "TLS 1.0 and 1.1 handshakes refused (offered at OpenSSL @SECLEVEL=0)",
                      evidence={"error": reason})
        return
    finally:
        conn.abort()
    s.col.add("tls.protocol.legacy_refused", Status.FAIL,
              f"the server accepted a {info.version} handshake ({info.cipher}); the "
              f"contract allows only {_protocols()}",
              evidence={"version": info.version, "cipher": info.cipher,
                        "elapsed_s": round(time.monotonic() - started, 3)},
              remedy="Postfix: smtpd_tls_protocols = >=TLSv1.2 (and smtpd_tls_mandatory_"
              "protocols); Dovecot: ssl_min_protocol = TLSv1.2")
