"""Network and TLS failures in plain words.

A report says what happened on the wire ("the server closed the connection during the TLS
handshake"), never a Python exception class: the reader is a mail admin, not a developer.
"""

from __future__ import annotations

import errno
import ssl

from postwright.verify.dialects import DialogueError
from postwright.verify.wire import ConnectionClosed, ReadTimeout

_ERRNO = {
    errno.ECONNREFUSED: "the connection was refused (nothing listens there)",
    errno.ECONNRESET: "the server closed the connection (TCP reset)",
    errno.EPIPE: "the server closed the connection while we were still sending",
    errno.ETIMEDOUT: "the connection timed out",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ECONNABORTED: "the connection was aborted",
}
# OpenSSL reason codes, in words (the code itself follows in parentheses).
_NOT_TLS = {
    "WRONG_VERSION_NUMBER": "the server did not answer in TLS",
    "UNKNOWN_PROTOCOL": "the server did not answer in TLS",
    "RECORD_LAYER_FAILURE": "the server did not answer in TLS",
    "PACKET_LENGTH_TOO_LONG": "the server did not answer in TLS",
    "HTTP_REQUEST": "the server answered in HTTP, not TLS",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common (the server offers none we accept)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the server refused the TLS version offered",
    "NO_PROTOCOLS_AVAILABLE": "no TLS version is enabled on this side",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake (no cipher or "
                                     "version in common)",
    "NO_SHARED_CIPHER": "no cipher in common",
    "TLSV1_ALERT_INTERNAL_ERROR": "the server failed inside the handshake (its log says why)",
    "TLSV1_UNRECOGNIZED_NAME": "the server does not know the name sent in SNI",
}


def plain(exc: BaseException, *, during: str = "") -> str:
    """`exc` as words; `during` (e.g. "the TLS handshake") says what was going on."""
    when = f" during {during}" if during else ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return f"the server closed the connection{when}"
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or "")
        text = f"{reason} {exc}".upper()
        for code, words in _NOT_TLS.items():  # these say what happened: no `during`
            if code in text:
                return f"{words} ({reason.lower().replace('_', ' ')})"
        return f"TLS error{when}: {(reason or str(exc)).lower().replace('_', ' ')}"
    if isinstance(exc, ConnectionClosed):
        return f"{exc}{when}"
    if isinstance(exc, ReadTimeout):
        return f"{exc}{when}"
    if isinstance(exc, TimeoutError):
        return f"no answer in time{when}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        words = _ERRNO.get(exc.errno or 0) or "the server closed the connection"
        return f"{words}{when}"
    if isinstance(exc, OSError):
        words = _ERRNO.get(exc.errno or 0) or exc.strerror or "a network error"
        return f"{words}{when}"
    if isinstance(exc, DialogueError):  # the server's own words; `during` adds nothing
        return str(exc)
    return f"{exc or 'an unexpected error'}{when}"
