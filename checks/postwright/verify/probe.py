"""What one port actually speaks, in bounded time and with at most three connections.

Connection A waits for a greeting and never talks first (postscreen punishes pre-greeting
talk). If A stays silent for `race_after` seconds, connection B sends a TLS ClientHello: a
silent port that answers it with a ServerHello speaks implicit TLS, so the mismatch is named
at once instead of after a banner timeout. A port silent on A until the timeout that does not
answer a ClientHello either is a tarpit (`silent`); a slow but legitimate greeting wins on A.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from postwright.verify import dialects
from postwright.verify.dialects import Caps, DialogueError, Greeting
from postwright.verify.tlsinfo import (
    TlsInfo,
    describe_ssl_error,
    inspecting_context,
    verifying_context,
)
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

RACE_AFTER = 0.25
MAX_CONNECTIONS = 3
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
                    "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "UNEXPECTED_EOF",
                    "RECORD_TOO_LARGE", "BAD_RECORD_TYPE")


class Mode(StrEnum):
    """The probe vocabulary (also evidence.mode of port.mode)."""

    STARTTLS = "starttls"  # plaintext greeting, STARTTLS/STLS offered
    PLAIN = "plain"  # plaintext greeting, no STARTTLS
    IMPLICIT = "implicit-tls"  # TLS from the first byte
    CLOSED = "closed"  # connection refused (RST)
    FILTERED = "filtered"  # no answer to connect (dropped, unreachable)
    SILENT = "silent"  # accepts TCP, never greets, no TLS either: a tarpit
    REJECTED = "rejected"  # greets with a refusal (SMTP 421/554, IMAP BYE, POP3 -ERR)
    NOT_SMTP = "not-smtp"  # something else answered on an SMTP port
    NOT_IMAP = "not-imap"
    NOT_POP3 = "not-pop3"
    NOT_SIEVE = "not-sieve"

    @classmethod
    def not_(cls, protocol: str) -> Mode:
        return cls(f"not-{protocol}") if f"not-{protocol}" in cls._value2member_map_ \
            else cls.NOT_SMTP


@dataclass
class Endpoint:
    ip: str
    port: int
    protocol: str  # the protocol expected on the port (contract), smtp when unknown
    servername: str | None = None  # SNI, and the name the certificate must carry
    ca_file: str | None = None
    ehlo_name: str = ""

    @property
    def sni(self) -> str | None:
        return self.servername

    @property
    def cert_name(self) -> str:
        return self.servername or self.ip


@dataclass
class Probe:
    endpoint: Endpoint
    mode: Mode
    elapsed: float = 0.0
    connections: int = 0
    protocol: str | None = None  # what actually answered (smtp, imap, ssh, ...)
    greeting: Greeting | None = None
    caps: Caps | None = None  # capabilities before TLS (plaintext modes)
    tls: TlsInfo | None = None
    detail: str = ""  # the error or observation behind the mode
    conn: Conn | None = None  # live session: after the greeting (plain) or the handshake
    transcript: list[str] = field(default_factory=list)

    @property
    def banner(self) -> str | None:
        return self.greeting.text if self.greeting else None


class _Tls:
    """Outcome of one TLS attempt from the first byte."""

    def __init__(self, conn: Conn | None, spoke_tls: bool, info: TlsInfo) -> None:
        self.conn = conn
        self.spoke_tls = spoke_tls
        self.info = info


def spoke_tls(exc: BaseException) -> bool:
    """Did the peer answer in TLS (alert, certificate) even though the handshake failed?"""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason} {exc}".upper()
        return not any(r in text for r in _NOT_TLS_REASONS) and not isinstance(
            exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    return False


async def handshake(conn: Conn, endpoint: Endpoint, timeout: float, info: TlsInfo,
                    context: ssl.SSLContext | None = None) -> bool:
    """Handshake on `conn` with the verifying context; False (and conn aborted) on a cert error.

    Other TLS failures raise. On success `info` holds protocol, cipher and certificate facts.
    """
    ctx = context or verifying_context(endpoint.ca_file)
    try:
        obj = await conn.starttls(ctx, endpoint.sni, timeout)
    except ssl.SSLCertVerificationError as exc:
        info.trusted = False
        info.verify_error = str(exc.verify_message)
        conn.abort()
        return False
    info.trusted = True if context is None else info.trusted
    info.take_session(obj, endpoint.cert_name)
    return True


async def tls_from_first_byte(endpoint: Endpoint, timeout: float) -> _Tls:
    info = TlsInfo()
    try:
        conn = await Conn.open(endpoint.ip, endpoint.port, timeout)
    except (OSError, TimeoutError) as exc:
        info.error = f"connect: {exc or exc.__class__.__name__}"
        return _Tls(None, False, info)
    try:
        if await handshake(conn, endpoint, timeout, info):
            return _Tls(conn, True, info)
        return _Tls(None, True, info)
    except (ssl.SSLError, OSError, ReadTimeout) as exc:
        conn.abort()
        info.error = describe_ssl_error(exc)
        return _Tls(None, spoke_tls(exc), info)


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        result = await task
        if isinstance(result, _Tls) and result.conn:
            result.conn.abort()


async def classify(endpoint: Endpoint, timeout: float, *,
                   race_after: float = RACE_AFTER) -> Probe:
    """Classify the port; on starttls/plain/implicit-tls the live session is in `conn`."""
    started = time.monotonic()
    deadline = started + timeout
    probe = await _classify(endpoint, deadline, race_after)
    probe.elapsed = round(time.monotonic() - started, 3)
    return probe


async def _classify(endpoint: Endpoint, deadline: float, race_after: float) -> Probe:
    try:
        conn = await Conn.open(endpoint.ip, endpoint.port, _remaining(deadline))
    except ConnectionRefusedError:
        return Probe(endpoint, Mode.CLOSED, connections=1, detail="connection refused (RST)")
    except TimeoutError:
        return Probe(endpoint, Mode.FILTERED, connections=1,
                     detail="no answer to the TCP connect (packets dropped)")
    except OSError as exc:
        unreachable = exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL)
        mode = Mode.FILTERED if unreachable else Mode.CLOSED
        return Probe(endpoint, mode, connections=1, detail=f"connect: {exc.strerror or exc}")
    probe = Probe(endpoint, Mode.SILENT, connections=1)
    first: asyncio.Task[Any] = asyncio.create_task(conn.readline(_remaining(deadline)))
    race: asyncio.Task[Any] | None = None
    try:
        done, _ = await asyncio.wait({first}, timeout=min(race_after, _remaining(deadline)))
        if not done:
            race = asyncio.create_task(tls_from_first_byte(endpoint, _remaining(deadline)))
            probe.connections += 1
            done, _ = await asyncio.wait({first, race}, timeout=_remaining(deadline),
                                         return_when=asyncio.FIRST_COMPLETED)
            if race in done and first not in done:
                outcome: _Tls = race.result()
                if outcome.spoke_tls:
                    await _cancel(first)
                    conn.abort()
                    return await _implicit(probe, outcome, deadline)
                probe.detail = f"no TLS from the first byte ({outcome.info.error})"
                await asyncio.wait({first}, timeout=_remaining(deadline))
        if not first.done():
            await _cancel(first)
            conn.abort()
            return _silent(probe, deadline)
        failure = first.exception()
        if failure is not None:
            conn.abort()
            return await _no_greeting(probe, failure, race, deadline)
        await _cancel(race)
        return await _greeted(probe, conn, first.result(), deadline)
    except BaseException:
        await _cancel(first)
        await _cancel(race)
        conn.abort()
        raise


def _silent(probe: Probe, deadline: float) -> Probe:
    waited = probe.endpoint
    probe.mode = Mode.SILENT
    probe.detail = (f"accepted TCP on {waited.ip} port {waited.port} but sent no greeting "
                    "within the timeout, and did not answer a TLS ClientHello either"
                    + (f" ({probe.detail})" if probe.detail else ""))
    return probe


async def _no_greeting(probe: Probe, exc: BaseException, race: asyncio.Task[Any] | None,
                       deadline: float) -> Probe:
    """A closed the connection (or reset it) without a word: TLS, or a refusal."""
    if race is None:
        race = asyncio.create_task(tls_from_first_byte(probe.endpoint, _remaining(deadline)))
        probe.connections += 1
    outcome: _Tls = await race
    if outcome.spoke_tls:
        return await _implicit(probe, outcome, deadline)
    if isinstance(exc, ReadTimeout):
        return _silent(probe, deadline)
    probe.mode = Mode.not_(probe.endpoint.protocol)
    probe.detail = (f"accepted TCP, then closed the connection without a greeting ({exc}); "
                    "no TLS from the first byte either")
    return probe


async def _implicit(probe: Probe, outcome: _Tls, deadline: float) -> Probe:
    probe.mode = Mode.IMPLICIT
    probe.tls = outcome.info
    conn = outcome.conn
    if conn is None and outcome.info.trusted is False and probe.connections < MAX_CONNECTIONS:
        # The certificate failed verification: read it on one more connection.
        probe.connections += 1
        try:
            conn = await Conn.open(probe.endpoint.ip, probe.endpoint.port, _remaining(deadline))
            await handshake(conn, probe.endpoint, _remaining(deadline), outcome.info,
                            inspecting_context())
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            outcome.info.error = describe_ssl_error(exc)
            if conn:
                conn.abort()
            conn = None
    if conn is None:
        return probe
    probe.conn = conn
    try:  # the greeting inside TLS says which protocol is behind it
        line = await conn.readline(min(_remaining(deadline), 3.0))
        probe.greeting = await dialects.read_greeting(conn, line, _remaining(deadline))
        probe.protocol = probe.greeting.protocol
    except (ReadTimeout, ConnectionClosed, DialogueError, OSError) as exc:
        probe.detail = f"no greeting inside TLS: {exc}"
    return probe


async def _greeted(probe: Probe, conn: Conn, first: str, deadline: float) -> Probe:
    ep = probe.endpoint
    probe.conn = conn
    try:
        greeting = await dialects.read_greeting(conn, first, _remaining(deadline))
    except (ReadTimeout, ConnectionClosed, DialogueError) as exc:
        greeting = Greeting(dialects.detect_protocol(first), False, [first])
        probe.detail = str(exc)
    probe.greeting = greeting
    probe.protocol = greeting.protocol
    if greeting.protocol != ep.protocol:
        probe.mode = Mode.not_(ep.protocol)
        probe.detail = probe.detail or f"the greeting is {greeting.protocol}, not {ep.protocol}"
        return _drop(probe)
    if not greeting.ok:
        probe.mode = Mode.REJECTED
        probe.detail = f"the server refused the session in its greeting: {greeting.text}"
        return _drop(probe)
    try:
        probe.caps = await dialects.capabilities(conn, greeting, ep.ehlo_name,
                                                 _remaining(deadline))
    except (ReadTimeout, ConnectionClosed, DialogueError, OSError) as exc:
        probe.mode = Mode.PLAIN
        probe.detail = f"greeted, but the capability request failed: {exc}"
        return probe
    offered = dialects.starttls_offered(greeting.protocol, probe.caps)
    probe.mode = Mode.STARTTLS if offered else Mode.PLAIN
    return probe


def _drop(probe: Probe) -> Probe:
    if probe.conn:
        probe.conn.abort()
        probe.conn = None
    return probe


async def upgrade(probe: Probe, timeout: float, *, budget: int = MAX_CONNECTIONS) -> Conn | None:
    """STARTTLS on the probe's live session (verifying first); fills probe.tls.

    When the certificate fails verification, the handshake is redone on a fresh connection
    with an accepting context (if the connection budget allows) so that the session goes on.
    """
    ep = probe.endpoint
    info = probe.tls = TlsInfo()
    conn = probe.conn
    if conn is None or probe.greeting is None:
        info.error = "no live session"
        return None
    deadline = time.monotonic() + timeout
    try:
        await dialects.request_starttls(conn, probe.greeting.protocol, _remaining(deadline))
        if await handshake(conn, ep, _remaining(deadline), info):
            probe.conn = conn
            return conn
    except (ssl.SSLError, OSError, ReadTimeout, DialogueError) as exc:
        conn.abort()
        probe.conn = None
        info.error = describe_ssl_error(exc)
        return None
    probe.conn = None
    if probe.connections >= budget:
        return None
    probe.connections += 1
    retry: Conn | None = None
    try:
        retry = await Conn.open(ep.ip, ep.port, _remaining(deadline))
        greeting = await dialects.read_greeting(retry, await retry.readline(_remaining(deadline)),
                                                _remaining(deadline))
        await dialects.capabilities(retry, greeting, ep.ehlo_name, _remaining(deadline))
        await dialects.request_starttls(retry, greeting.protocol, _remaining(deadline))
        await handshake(retry, ep, _remaining(deadline), info, inspecting_context())
    except (ssl.SSLError, OSError, ReadTimeout, DialogueError, TimeoutError) as exc:
        if retry:
            retry.abort()
        info.error = describe_ssl_error(exc)
        return None
    probe.conn = retry
    return retry
