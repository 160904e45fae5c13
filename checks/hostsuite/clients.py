"""Small, strict mail clients for the host suite: connect to an IP, verify TLS for a name.

Every call has a timeout; certificates are always verified (chain and host name).
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any, Literal

from postwright.contract import Service, TlsMode

TIMEOUT = 15.0


def _bind(source: str | None) -> tuple[str, int] | None:
    """Where a client connects from: `source` (another address of this machine, e.g. one of
    the lab's outside clients) or wherever the route says."""
    return None if source is None else (source, 0)


def tls_socket(ip: str, port: int, name: str, context: ssl.SSLContext,
               source: str | None = None) -> ssl.SSLSocket:
    raw = socket.create_connection((ip, port), TIMEOUT, _bind(source))
    try:
        return context.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise


class SMTP(smtplib.SMTP):
    """Plain SMTP to an IP whose STARTTLS certificate is checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, *, source: str | None = None) -> None:
        self.tls_name = name
        super().__init__(ip, port, local_hostname="client.postwright.test", timeout=TIMEOUT,
                         source_address=_bind(source))
        self._host = name  # connected to the IP; starttls() uses _host for SNI and the name check


class SMTPS(smtplib.SMTP_SSL):
    """SMTP over implicit TLS to an IP, certificate checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, context: ssl.SSLContext, *,
                 source: str | None = None) -> None:
        self.tls_name = name
        self.source = source
        super().__init__(ip, port, local_hostname="client.postwright.test", timeout=TIMEOUT,
                         context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        assert self.context is not None
        return tls_socket(host, port, self.tls_name, self.context, self.source)


class IMAPS(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS to an IP, certificate checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, context: ssl.SSLContext, *,
                 source: str | None = None) -> None:
        self.tls_name = name
        self.source = source
        super().__init__(ip, port, ssl_context=context, timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return tls_socket(self.host, self.port, self.tls_name, self.ssl_context, self.source)


def message(sender: str, recipient: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg.set_content(f"{subject}\n")
    return msg


class IMAP(imaplib.IMAP4):
    """Plain IMAP to an IP whose STARTTLS certificate is checked against `name`."""

    def __init__(self, ip: str, port: int, name: str) -> None:
        self.tls_name = name
        super().__init__(ip, port, timeout=TIMEOUT)

    def starttls(self, ssl_context: Any = None) -> tuple[Literal["OK"], list[None]]:
        self.host = self.tls_name  # imaplib uses host for SNI and the hostname check
        return super().starttls(ssl_context)


class POP3(poplib.POP3):
    """Plain POP3 to an IP whose STLS certificate is checked against `name`."""

    def __init__(self, ip: str, port: int, name: str) -> None:
        self.tls_name = name
        super().__init__(ip, port, timeout=TIMEOUT)

    def stls(self, context: ssl.SSLContext | None = None) -> bytes:
        self.host = self.tls_name
        return super().stls(context)


class POP3S(poplib.POP3_SSL):
    """POP3 over implicit TLS to an IP, certificate checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, context: ssl.SSLContext) -> None:
        self.tls_name = name
        self.tls_context = context
        super().__init__(ip, port, timeout=TIMEOUT, context=context)

    def _create_socket(self, timeout: float) -> socket.socket:
        return tls_socket(self.host, self.port, self.tls_name, self.tls_context)


def tls_handshake(ip: str, service: Service, name: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    """Reach TLS on `service` the way the contract says (implicit, or the protocol's STARTTLS)
    and return the TLS socket; the caller closes it."""
    if service.tls is TlsMode.IMPLICIT:
        return tls_socket(ip, service.port, name, context)
    if service.protocol == "smtp":
        smtp = SMTP(ip, service.port, name)
        smtp.starttls(context=context)
        return smtp.sock  # type: ignore[return-value]
    if service.protocol == "imap":
        imap = IMAP(ip, service.port, name)
        imap.starttls(context)
        return imap.sock  # type: ignore[return-value]
    if service.protocol == "pop3":
        pop = POP3(ip, service.port, name)
        pop.stls(context)
        return pop.sock  # type: ignore[return-value]
    raise NotImplementedError(f"no STARTTLS client for {service.protocol} ({service.name})")
