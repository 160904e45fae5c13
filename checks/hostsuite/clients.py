"""Small, strict mail clients for the host suite: connect to an IP, verify TLS for a name.

Every call has a timeout; certificates are always verified (chain and host name).
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
from email.message import EmailMessage

TIMEOUT = 15.0


def tls_socket(ip: str, port: int, name: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection((ip, port), TIMEOUT)
    try:
        return context.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise


class SMTP(smtplib.SMTP):
    """Plain SMTP to an IP whose STARTTLS certificate is checked against `name`."""

    def __init__(self, ip: str, port: int, name: str) -> None:
        self.tls_name = name
        super().__init__(ip, port, local_hostname="client.postwright.test", timeout=TIMEOUT)

    def starttls(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        self._host = self.tls_name  # smtplib uses _host for SNI and the hostname check
        return super().starttls(*args, **kwargs)  # type: ignore[arg-type]


class SMTPS(smtplib.SMTP_SSL):
    """SMTP over implicit TLS to an IP, certificate checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, context: ssl.SSLContext) -> None:
        self.tls_name = name
        super().__init__(ip, port, local_hostname="client.postwright.test", timeout=TIMEOUT,
                         context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        assert self.context is not None
        return tls_socket(host, port, self.tls_name, self.context)


class IMAPS(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS to an IP, certificate checked against `name`."""

    def __init__(self, ip: str, port: int, name: str, context: ssl.SSLContext) -> None:
        self.tls_name = name
        super().__init__(ip, port, ssl_context=context, timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return tls_socket(self.host, self.port, self.tls_name, self.ssl_context)


def message(sender: str, recipient: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg.set_content(f"{subject}\n")
    return msg


def tls_handshake(ip: str, port: int, name: str, context: ssl.SSLContext,
                  starttls: bool) -> str:
    """Handshake on an implicit-TLS port, or after SMTP STARTTLS; return the TLS version."""
    if not starttls:
        with tls_socket(ip, port, name, context) as sock:
            return str(sock.version())
    with SMTP(ip, port, name) as smtp:
        smtp.starttls(context=context)
        assert smtp.sock is not None
        return str(smtp.sock.version())  # type: ignore[attr-defined]
