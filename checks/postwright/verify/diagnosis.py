"""Plain-word consequences of what a port speaks, measured against the contract."""

from __future__ import annotations

from dataclasses import dataclass

from postwright.contract import Service, TlsMode
from postwright.verify.model import Status
from postwright.verify.probe import Mode, Probe

EXPECTED = {TlsMode.IMPLICIT: Mode.IMPLICIT, TlsMode.STARTTLS: Mode.STARTTLS}
_NAMES = {"smtp": "SMTP", "imap": "IMAP", "pop3": "POP3", "sieve": "ManageSieve", "http": "HTTP",
          "ssh": "SSH", "tls": "TLS"}

# What a client configured for each mode sees on a port speaking the other one.
_STARTTLS_CLIENT_ON_IMPLICIT = (
    "a client configured for STARTTLS (e.g. Go net/smtp SendMail, swaks -tls, "
    "Thunderbird 'STARTTLS') will wait for a banner and time out")
_IMPLICIT_CLIENT_ON_PLAINTEXT = (
    "a client configured for implicit TLS (SMTPS/IMAPS, Thunderbird 'SSL/TLS') fails at once "
    "with 'wrong version number' (Go: 'tls: first record does not look like a TLS handshake')")


@dataclass
class Diagnosis:
    status: Status
    summary: str
    remedy: str


def expected_mode(service: Service | None) -> Mode | None:
    return EXPECTED[service.tls] if service else None


def _where(probe: Probe) -> str:
    ep = probe.endpoint
    return f"port {ep.port}" + (f" on {ep.ip}" if ep.ip else "")


def _service_label(service: Service | None) -> str:
    return f" ({service.name}: {service.summary})" if service else ""


def diagnose(probe: Probe, service: Service | None) -> Diagnosis:
    where = _where(probe)
    want = expected_mode(service)
    proto = _NAMES.get(probe.endpoint.protocol, probe.endpoint.protocol.upper())
    mode = probe.mode
    label = _service_label(service)
    if mode is Mode.IMPLICIT:
        base = (f"{where} speaks implicit TLS: {_STARTTLS_CLIENT_ON_IMPLICIT}; "
                "clients must use implicit TLS (SMTPS/IMAPS, 'SSL/TLS')")
        if probe.protocol and probe.protocol not in (probe.endpoint.protocol, "unknown"):
            return Diagnosis(Status.FAIL,
                             f"{where} speaks implicit TLS, but {probe.protocol.upper()} inside, "
                             f"not {proto}{label}",
                             "point this port at the right daemon (check the listener's "
                             "service in Postfix master.cf / Dovecot)")
        if want is Mode.STARTTLS:
            return Diagnosis(Status.FAIL,
                             f"{where} speaks implicit TLS but the contract expects STARTTLS"
                             f"{label}: {_STARTTLS_CLIENT_ON_IMPLICIT}",
                             "serve a plaintext greeting with STARTTLS on this port (Postfix: "
                             "no smtpd_tls_wrappermode here); implicit TLS belongs on 465/993")
        return Diagnosis(Status.PASS, base + label, "")
    if mode in (Mode.STARTTLS, Mode.PLAIN):
        starttls = mode is Mode.STARTTLS
        what = (f"{where} greets in plaintext {proto} and offers STARTTLS" if starttls
                else f"{where} greets in plaintext {proto} and does NOT offer STARTTLS")
        if want is Mode.IMPLICIT:
            return Diagnosis(Status.FAIL,
                             f"{what}, but the contract expects implicit TLS{label}: "
                             f"{_IMPLICIT_CLIENT_ON_PLAINTEXT}",
                             "enable TLS from the first byte on this port (Postfix: "
                             "-o smtpd_tls_wrappermode=yes on the submissions service; Dovecot: "
                             "ssl = yes on the imaps listener)")
        if not starttls:
            return Diagnosis(Status.FAIL,
                             f"{what}: mail and passwords would cross the network unencrypted; "
                             "a client set to STARTTLS refuses to go on" + label,
                             "configure a certificate and offer STARTTLS (Postfix: "
                             "smtpd_tls_security_level = may on 25, encrypt on 587; "
                             "Dovecot: ssl = yes)")
        status = Status.PASS if want is Mode.STARTTLS or want is None else Status.FAIL
        return Diagnosis(status, f"{what}: {_IMPLICIT_CLIENT_ON_PLAINTEXT}; clients must use "
                         f"STARTTLS here{label}", "")
    if mode is Mode.CLOSED:
        return Diagnosis(Status.FAIL,
                         f"nothing listens on {where} ({probe.detail}): clients get "
                         f"'connection refused'{label}",
                         "start the service on this port and address (check the listener "
                         "in Postfix master.cf / Dovecot, and `ss -ltn`)")
    if mode is Mode.FILTERED:
        return Diagnosis(Status.FAIL,
                         f"{where} does not answer the TCP connect ({probe.detail}): a firewall "
                         f"drops the packets; clients hang until their connect timeout{label}",
                         "open the port in the host firewall and in the VPS provider's "
                         "network firewall / security group")
    if mode is Mode.SILENT:
        return Diagnosis(Status.FAIL,
                         f"{where} is a tarpit: {probe.detail}; every client times out{label}",
                         "check that the daemon behind the port is healthy (not overloaded, "
                         "not a proxy without backend) and that no tarpit is in front of it")
    if mode is Mode.REJECTED:
        return Diagnosis(Status.FAIL,
                         f"{where} refuses the session in its greeting: "
                         f"{probe.banner or probe.detail}{label}",
                         "a 421/554 greeting means the server is overloaded, shutting down or "
                         "blocking this client (postscreen, rate limit, DNSBL); check its log")
    spoke = probe.protocol or "unknown"
    what = (f"does not speak {proto}" if spoke in ("unknown", probe.endpoint.protocol)
            else f"answers {_NAMES.get(spoke, spoke.upper())}, not {proto}")
    return Diagnosis(Status.FAIL,
                     f"{where} {what}: "
                     f"{(probe.banner or probe.detail)[:120]!r}{label}",
                     f"put the {proto} daemon on this port, or move the other service away")
