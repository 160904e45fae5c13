"""Everything checked on one port of one address: mode, TLS, AUTH policy, relay.

Connections per address and port: the probe's greeting connection (its session goes on with
the policy checks), a ClientHello race connection only when the greeting is slow or absent,
one more only when the certificate fails verification, and one for the legacy-protocol test.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from postwright.contract import AuthRule, Service, TlsMode, load_contract
from postwright.verify import dialects
from postwright.verify.certcheck import CHECK_ID as CERT_CURRENT
from postwright.verify.certcheck import ExpectedCert, check_cert_current
from postwright.verify.diagnosis import diagnose, expected_mode
from postwright.verify.dialects import Caps, DialogueError, Greeting
from postwright.verify.model import Collector, Status
from postwright.verify.probe import Endpoint, Mode, Probe, classify, handshake, upgrade
from postwright.verify.tlsinfo import TlsInfo, describe_ssl_error, legacy_context
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

TLS_IDS = ("tls.handshake", "tls.cert.trusted", "tls.cert.hostname", "tls.cert.expiry",
           "tls.protocol.legacy_refused")
EXPIRY_WARN_DAYS = 14
RELAY_RCPT = "postwright-relay-probe@relay-test.invalid"
_NETWORK_ERRORS = (OSError, ReadTimeout, ConnectionClosed, DialogueError, ssl.SSLError,
                   TimeoutError)


@dataclass
class PortFacts:
    """What other checks (names consistency) need from one port session."""

    mode: Mode | None = None
    banner_name: str | None = None
    ehlo_name: str | None = None
    cert_names: list[str] = field(default_factory=list)
    tls: TlsInfo | None = None  # the session's TLS facts (DANE and MTA-STS judge its chain)


def expected_ids(service: Service, *, cert_current: bool = False) -> list[str]:
    ids = ["port.mode", *TLS_IDS]
    if cert_current:  # only with --expect-cert: without it the report is unchanged
        ids.append(CERT_CURRENT)
    if service.tls is TlsMode.STARTTLS:
        ids.append("auth.before_tls")
    if service.auth is AuthRule.NEVER:
        ids.append("auth.on_mx")
    if service.protocol == "smtp" and service.tls is TlsMode.STARTTLS and service.tls_required:
        ids.append("submission.requires_tls")
    if service.protocol == "smtp":
        ids.append("relay.open")
    return ids


class PortCheck:
    def __init__(self, endpoint: Endpoint, service: Service, col: Collector, *,
                 step_timeout: float, sender_domain: str | None,
                 expected_cert: ExpectedCert | None = None) -> None:
        self.ep = endpoint
        self.service = service
        self.col = col
        self.step = step_timeout
        self.sender = f"postwright-probe@{sender_domain}" if sender_domain else ""
        self.expected_cert = expected_cert
        self.facts = PortFacts()
        self.probe: Probe | None = None

    async def run(self) -> PortFacts:
        self.col.expect("port.mode")
        probe = self.probe = await classify(self.ep, self.step)
        self.facts.mode = probe.mode
        if self.service.optional and not self.service.enabled \
                and probe.mode in (Mode.CLOSED, Mode.FILTERED):
            self.col.close_pending("", Status.SKIP)
            self.col.results.clear()  # an optional service that is off: nothing to report
            return self.facts
        self.col.expect(*self._ids())
        self._mode_result(probe)
        try:
            await self._session(probe)
        finally:
            if probe.conn:
                await dialects.goodbye(probe.conn, probe.protocol or "smtp")
        if probe.mode in (Mode.STARTTLS, Mode.IMPLICIT):
            await self._legacy(probe.mode)
        self.col.close_pending(f"not checked: port {self.ep.port} speaks {probe.mode.value} "
                               "(see port.mode)", Status.SKIP)
        return self.facts

    # --- port.mode -------------------------------------------------------------------
    def _mode_result(self, probe: Probe) -> None:
        diag = diagnose(probe, self.service)
        want = expected_mode(self.service)
        self.col.add("port.mode", diag.status, diag.summary, remedy=diag.remedy, evidence={
            "mode": probe.mode.value,
            "expected": want.value if want else None,
            "service": self.service.name,
            "protocol": probe.protocol,
            "banner": probe.banner,
            "detail": probe.detail,
            "elapsed_s": probe.elapsed,
            "connections": probe.connections,
        })

    # --- the session -----------------------------------------------------------------
    async def _session(self, probe: Probe) -> None:
        greeting = probe.greeting
        if probe.mode in (Mode.STARTTLS, Mode.PLAIN) and greeting and probe.caps:
            self.facts.banner_name = greeting.name
            self.facts.ehlo_name = probe.caps.name
            await self._plaintext_phase(probe, greeting, probe.caps)
            if probe.mode is Mode.PLAIN:
                self.col.add("tls.handshake", Status.FAIL,
                             f"port {self.ep.port} does not offer STARTTLS: no TLS at all",
                             evidence={"capabilities": probe.caps.lines},
                             remedy="configure a certificate and enable STARTTLS")
                self._skip_cert_checks("no TLS session (see tls.handshake)")
                await self._after_tls(probe, greeting, probe.conn, tls=False)
                return
            conn = await upgrade(probe, self.step, budget=99)
            await self._tls_results(probe.tls or TlsInfo())
            if conn:
                await self._after_tls(probe, greeting, conn, tls=True)
        elif probe.mode is Mode.IMPLICIT:
            await self._tls_results(probe.tls or TlsInfo())
            if probe.conn and greeting and greeting.ok:
                self.facts.banner_name = greeting.name
                await self._after_tls(probe, greeting, probe.conn, tls=True)

    async def _plaintext_phase(self, probe: Probe, greeting: Greeting, caps: Caps) -> None:
        found = dialects.auth_before_tls(greeting.protocol, caps)
        if "auth.before_tls" in self._ids():
            if found:
                self.col.add("auth.before_tls", Status.FAIL,
                             f"port {self.ep.port} offers login before TLS: {', '.join(found)}; "
                             "a client may send the password in cleartext",
                             evidence={"capabilities": caps.lines},
                             remedy="offer AUTH only after STARTTLS (Postfix: "
                             "smtpd_tls_auth_only = yes; Dovecot: disable_plaintext_auth = yes"
                             " / auth_allow_cleartext = no)")
            else:
                self.col.add("auth.before_tls", Status.PASS,
                             f"no login offered before TLS on port {self.ep.port}",
                             evidence={"capabilities": caps.lines})
        if self.service.auth is AuthRule.NEVER and dialects.smtp_auth(caps) is not None:
            self._auth_on_mx(caps, "before STARTTLS")
        if "submission.requires_tls" in self._ids() and probe.conn:
            await self._requires_tls(probe.conn)

    def _ids(self) -> list[str]:
        return expected_ids(self.service, cert_current=self.expected_cert is not None)

    def _auth_on_mx(self, caps: Caps, stage: str) -> None:
        if self.col.has("auth.on_mx"):
            return
        self.col.add("auth.on_mx", Status.FAIL,
                     f"port {self.ep.port} ({self.service.name}) advertises AUTH {stage}: "
                     "the MX port must never offer login (password guessing target)",
                     evidence={"auth": dialects.smtp_auth(caps), "stage": stage},
                     remedy="remove smtpd_sasl_auth_enable from the smtp service (port 25) in "
                     "Postfix; enable it only on submission/submissions")

    async def _requires_tls(self, conn: Conn) -> None:
        sender = self.sender or "<>"
        try:
            reply = await dialects.smtp(conn, f"MAIL FROM:<{self.sender}>", self.step)
            if reply.code < 400:
                await dialects.smtp(conn, "RSET", self.step)
        except _NETWORK_ERRORS as exc:
            self.col.add("submission.requires_tls", Status.ERROR,
                         f"MAIL FROM before STARTTLS could not be tested: {exc}")
            return
        evidence = {"command": f"MAIL FROM:<{self.sender}>", "reply": str(reply)}
        if reply.code == 530:
            self.col.add("submission.requires_tls", Status.PASS,
                         f"MAIL FROM before STARTTLS refused with {reply}", evidence=evidence)
        elif reply.code >= 400:
            self.col.add("submission.requires_tls", Status.WARN,
                         f"MAIL FROM before STARTTLS refused, but with {reply.code} instead of "
                         "530 (RFC 3207: 530 5.7.0 Must issue a STARTTLS command first)",
                         evidence=evidence, remedy="Postfix: smtpd_tls_security_level = encrypt "
                         "on the submission service")
        else:
            self.col.add("submission.requires_tls", Status.FAIL,
                         f"port {self.ep.port} accepts MAIL FROM ({sender}) before STARTTLS "
                         f"({reply}): submission without encryption is possible",
                         evidence=evidence, remedy="Postfix: -o smtpd_tls_security_level=encrypt"
                         " on the submission service in master.cf")

    async def _after_tls(self, probe: Probe, greeting: Greeting, conn: Conn | None, *,
                         tls: bool) -> None:
        if conn is None:
            return
        try:
            caps = probe.caps if not tls else await dialects.capabilities(
                conn, greeting, self.ep.ehlo_name, self.step, after_tls=True)
        except _NETWORK_ERRORS as exc:
            for check in ("auth.on_mx", "relay.open"):
                if check in self._ids() and not self.col.has(check):
                    self.col.add(check, Status.ERROR, f"the session broke after TLS: {exc}",
                                 evidence={"transcript": conn.transcript[-6:]})
            return
        if caps is None:
            return
        if caps.name and not self.facts.ehlo_name:
            self.facts.ehlo_name = caps.name
        if "auth.on_mx" in self._ids() and not self.col.has("auth.on_mx"):
            if dialects.smtp_auth(caps) is not None:
                self._auth_on_mx(caps, "after STARTTLS" if tls else "in plaintext")
            else:
                self.col.add("auth.on_mx", Status.PASS,
                             f"no AUTH on port {self.ep.port}, before or after TLS",
                             evidence={"capabilities": caps.lines})
        if "relay.open" in self._ids():
            await self._relay(conn)

    async def _relay(self, conn: Conn) -> None:
        steps: list[str] = []
        try:
            mail = await dialects.smtp(conn, f"MAIL FROM:<{self.sender}>", self.step)
            steps.append(f"MAIL FROM:<{self.sender}> -> {mail}")
            rcpt = None
            if mail.code < 400:
                rcpt = await dialects.smtp(conn, f"RCPT TO:<{RELAY_RCPT}>", self.step)
                steps.append(f"RCPT TO:<{RELAY_RCPT}> -> {rcpt}")
            await dialects.smtp(conn, "RSET", self.step)  # never DATA: nothing is ever sent
        except _NETWORK_ERRORS as exc:
            self.col.add("relay.open", Status.ERROR, f"relay test broke off: {exc}",
                         evidence={"steps": steps, "transcript": conn.transcript[-6:]})
            return
        evidence: dict[str, Any] = {"steps": steps, "authenticated": False}
        final = rcpt or mail
        if final.code < 300:
            self.col.add("relay.open", Status.FAIL,
                         f"OPEN RELAY: port {self.ep.port} accepts mail for {RELAY_RCPT} "
                         "without authentication; spammers will use it within hours",
                         evidence=evidence, remedy="Postfix: smtpd_relay_restrictions = "
                         "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination;"
                         " keep mynetworks to localhost")
        elif final.code < 500:
            self.col.add("relay.open", Status.WARN,
                         f"relay not confirmed: temporary refusal {final} (inconclusive)",
                         evidence=evidence)
        else:
            stage = "RCPT TO" if rcpt else "MAIL FROM"
            self.col.add("relay.open", Status.PASS,
                         f"unauthenticated relay refused at {stage}: {final}", evidence=evidence)

    # --- TLS results -------------------------------------------------------------------
    def _skip_cert_checks(self, why: str) -> None:
        for check in ("tls.cert.trusted", "tls.cert.hostname", "tls.cert.expiry"):
            self.col.add(check, Status.SKIP, why)
        if self.expected_cert is not None:
            self.col.add(CERT_CURRENT, Status.SKIP, why)

    async def _tls_results(self, info: TlsInfo) -> None:
        col, port = self.col, self.ep.port
        session = {"version": info.version, "cipher": info.cipher, "bits": info.bits}
        if info.version is None:
            col.add("tls.handshake", Status.FAIL,
                    f"TLS handshake on port {port} failed: {info.error or info.verify_error}",
                    evidence={"error": info.error, "verify_error": info.verify_error},
                    remedy="check the certificate/key files and the TLS settings of the daemon "
                    "(its log names the cause); the contract needs TLS "
                    f"{'/'.join(self._protocols())}")
            if info.trusted is False:
                col.add("tls.cert.trusted", Status.FAIL,
                        f"certificate not trusted: {info.verify_error}",
                        evidence={"verify_error": info.verify_error})
            self._skip_cert_checks("no TLS session (see tls.handshake)")
            return
        col.add("tls.handshake", Status.PASS, f"{info.version} with {info.cipher}",
                evidence=session)
        cert = info.cert or {}
        evidence = {**session, "certificate": cert}
        if info.trusted:
            col.add("tls.cert.trusted", Status.PASS,
                    f"chain verified ({'--ca-file' if self.ep.ca_file else 'system store'}): "
                    f"issued by {cert.get('issuer')}", evidence=evidence)
        else:
            hint = ("it is self-signed; " if cert.get("self_signed") else "")
            col.add("tls.cert.trusted", Status.FAIL,
                    f"certificate not trusted: {info.verify_error}", evidence=evidence,
                    remedy=hint + "use a certificate from a public CA (ACME: certbot) and serve "
                    "the full chain (fullchain.pem); for a private CA pass --ca-file")
        self.facts.cert_names = list(cert.get("names", []))
        self.facts.tls = info
        if self.ep.servername is None:
            col.add("tls.cert.hostname", Status.SKIP,
                    "HOST is an IP address and no --servername was given: no name to check",
                    evidence={"names": cert.get("names")})
        elif info.hostname_match:
            col.add("tls.cert.hostname", Status.PASS,
                    f"certificate covers {info.hostname}", evidence={"names": cert.get("names")})
        else:
            col.add("tls.cert.hostname", Status.FAIL,
                    f"certificate names {cert.get('names')} do not cover {info.hostname}: "
                    "verifying clients refuse the connection",
                    evidence={"names": cert.get("names"), "wanted": info.hostname},
                    remedy=f"issue a certificate that includes {info.hostname} "
                    f"(certbot -d {info.hostname}) and reload the daemon")
        days = int(cert.get("days_left", 0))
        expiry = {"not_after": cert.get("not_after"), "days_left": days}
        if days < 0:
            col.add("tls.cert.expiry", Status.FAIL,
                    f"certificate EXPIRED {-days} days ago ({cert.get('not_after')})",
                    evidence=expiry, remedy="renew it (certbot renew) and reload Postfix and "
                    "Dovecot so that they serve the new file")
        elif days < EXPIRY_WARN_DAYS:
            col.add("tls.cert.expiry", Status.WARN, f"certificate expires in {days} days",
                    evidence=expiry, remedy="check that automatic renewal (certbot timer) works")
        else:
            col.add("tls.cert.expiry", Status.PASS, f"{days} days left", evidence=expiry)
        if self.expected_cert is not None:  # the leaf of this very session: no new connection
            check_cert_current(col, port, self.service.protocol, info.der, self.expected_cert)

    def _protocols(self) -> tuple[str, ...]:
        return load_contract().protocols

    async def _legacy(self, mode: Mode) -> None:
        ctx = legacy_context()
        if ctx is None:
            self.col.add("tls.protocol.legacy_refused", Status.ERROR,
                         "this machine's OpenSSL cannot offer TLS 1.0/1.1: not tested")
            return
        started = time.monotonic()
        conn: Conn | None = None
        info = TlsInfo()
        try:
            conn = await Conn.open(self.ep.ip, self.ep.port, self.step)
            if mode is Mode.STARTTLS:
                greeting = await dialects.read_greeting(conn, await conn.readline(self.step),
                                                        self.step)
                await dialects.capabilities(conn, greeting, self.ep.ehlo_name, self.step)
                await dialects.request_starttls(conn, greeting.protocol, self.step)
        except _NETWORK_ERRORS as exc:
            if conn:
                conn.abort()
            self.col.add("tls.protocol.legacy_refused", Status.ERROR,
                         f"could not reach the TLS handshake: {exc}")
            return
        try:
            await handshake(conn, self.ep, self.step, info, ctx)
        except ReadTimeout as exc:
            self.col.add("tls.protocol.legacy_refused", Status.ERROR,
                         f"the legacy handshake neither completed nor failed: {exc}")
            return
        except (ssl.SSLError, OSError) as exc:
            reason = describe_ssl_error(exc)
            if isinstance(exc, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" in str(exc).upper():
                self.col.add("tls.protocol.legacy_refused", Status.ERROR,
                             f"this machine's OpenSSL refused to offer TLS 1.0/1.1: {reason}")
            else:
                self.col.add("tls.protocol.legacy_refused", Status.PASS,
                             "TLS 1.0 and 1.1 handshakes refused (offered at OpenSSL "
                             "@SECLEVEL=0)", evidence={"error": reason})
            return
        finally:
            conn.abort()
        self.col.add("tls.protocol.legacy_refused", Status.FAIL,
                     f"the server accepted a {info.version} handshake ({info.cipher}); the "
                     f"contract allows only {'/'.join(self._protocols())}",
                     evidence={"version": info.version, "cipher": info.cipher,
                               "elapsed_s": round(time.monotonic() - started, 3)},
                     remedy="Postfix: smtpd_tls_protocols = >=TLSv1.2 (and smtpd_tls_mandatory_"
                     "protocols); Dovecot: ssl_min_protocol = TLSv1.2")


async def check_port(endpoint: Endpoint, service: Service, col: Collector, *,
                     step_timeout: float, sender_domain: str | None,
                     expected_cert: ExpectedCert | None = None) -> PortFacts:
    check = PortCheck(endpoint, service, col, step_timeout=step_timeout,
                      sender_domain=sender_domain, expected_cert=expected_cert)
    try:
        return await check.run()
    except asyncio.CancelledError:
        if check.probe and check.probe.conn:
            check.probe.conn.abort()
        raise
