"""What one port actually speaks, in bounded time and with at most three connections.

Connection A waits for a greeting and never talks first (postscreen punishes pre-greeting
talk). If A stays silent for `race_after` seconds, connection B sends a TLS ClientHello: a
silent port that answers it with a ServerHello speaks implicit TLS, so the mismatch is named
at once instead of after a banner timeout; a port that answers it in another protocol
(`HTTP/1.1 400 Bad Request`) is named by that answer. Otherwise A goes on waiting: RFC 5321
4.5.3.2 gives the 220 greeting five minutes, and postscreen (greet wait) and Sendmail
(greet_pause) really do pause, so the greeting may take as long as the caller's budget allows
(`greeting`), separate from the connect timeout and the per-reply `timeout`. Only a port
silent on A for that whole budget is a tarpit (`silent`).
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
from postwright.verify.explain import plain
from postwright.verify.tlsinfo import TlsInfo, inspecting_context, verifying_context
from postwright.verify.wire import Conn, ConnectionClosed, NotTls, ReadTimeout

RACE_AFTER = 0.25
# An unanswered ClientHello gets a bare CRLF after this long: line-based servers (HTTP) then
# answer, and name themselves, where they would otherwise wait for the rest of a request.
NUDGE = (1.0, b"\r\n")
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

    def __init__(self, conn: Conn | None, spoke_tls: bool, info: TlsInfo,
                 answer: str | None = None) -> None:
        self.conn = conn
        self.spoke_tls = spoke_tls
        self.info = info
        self.answer = answer  # first line of a non-TLS answer to the ClientHello


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
                    context: ssl.SSLContext | None = None, *, first_byte: bool = False,
                    nudge: tuple[float, bytes] | None = None) -> bool:
    """Handshake on `conn` with the verifying context; False (and conn aborted) on a cert error.

    Other TLS failures raise (NotTls when `first_byte` and the answer is not TLS). On
    success `info` holds protocol, cipher and certificate facts.
    """
    ctx = context or verifying_context(endpoint.ca_file)
    try:
        obj = await (conn.tls_from_first_byte(ctx, endpoint.sni, timeout, nudge=nudge)
                     if first_byte else conn.starttls(ctx, endpoint.sni, timeout))
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
        info.error = f"connect: {plain(exc)}"
        return _Tls(None, False, info)
    try:
        if await handshake(conn, endpoint, timeout, info, first_byte=True, nudge=NUDGE):
            return _Tls(conn, True, info)
        return _Tls(None, True, info)
    except NotTls as exc:
        conn.abort()
        info.error = f"the server answered the TLS ClientHello with {exc.first_line[:80]!r}"
        return _Tls(None, False, info, exc.first_line)
    except (ssl.SSLError, OSError, ReadTimeout) as exc:
        conn.abort()
        info.error = plain(exc, during="the TLS handshake")
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


@dataclass
class _Budget:
    """The waits of a probe once connected: one reply, and the greeting."""

    step: float  # one reply (and the ClientHello race)
    greeting_deadline: float  # monotonic time until which A waits for its greeting
    greeting: float  # the same, in seconds from the connect

    def step_left(self) -> float:
        return min(self.step, _remaining(self.greeting_deadline))


async def classify(endpoint: Endpoint, timeout: float, *, greeting: float | None = None,
                   connect: float | None = None, race_after: float = RACE_AFTER) -> Probe:
    """Classify the port; on starttls/plain/implicit-tls the live session is in `conn`.

    `timeout` bounds each reply; `greeting` (default: `timeout`) how long the greeting may
    take after the connect; `connect` (default: `timeout`) the TCP connect.
    """
    started = time.monotonic()
    probe = await _classify(endpoint, timeout, max(timeout, greeting or 0.0),
                            connect or timeout, race_after)
    probe.elapsed = round(time.monotonic() - started, 3)
    return probe


def _other_protocol(endpoint: Endpoint, answer: str | None) -> str | None:
    """The protocol that answered our ClientHello, when it is neither TLS nor the expected one
    (a mail server that merely dislikes early talk, like Sendmail's greet_pause, is not)."""
    if not answer:
        return None
    spoke = dialects.detect_protocol(answer)
    return None if spoke in (endpoint.protocol, "unknown", "tls") else spoke


async def _classify(endpoint: Endpoint, step: float, greeting: float, connect: float,
                    race_after: float) -> Probe:
    try:
        conn = await Conn.open(endpoint.ip, endpoint.port, connect)
    except ConnectionRefusedError:
        return Probe(endpoint, Mode.CLOSED, connections=1, detail="connection refused (RST)")
    except TimeoutError:
        return Probe(endpoint, Mode.FILTERED, connections=1,
                     detail=f"no answer to the TCP connect within {connect:g} s "
                     "(packets dropped)")
    except OSError as exc:
        unreachable = exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL)
        mode = Mode.FILTERED if unreachable else Mode.CLOSED
        return Probe(endpoint, mode, connections=1, detail=f"connect: {plain(exc)}")
    budget = _Budget(step, time.monotonic() + greeting, greeting)
    deadline = budget.greeting_deadline
    probe = Probe(endpoint, Mode.SILENT, connections=1)
    first: asyncio.Task[Any] = asyncio.create_task(conn.readline(_remaining(deadline)))
    race: asyncio.Task[Any] | None = None
    try:
        done, _ = await asyncio.wait({first}, timeout=min(race_after, _remaining(deadline)))
        if not done:
            race = asyncio.create_task(tls_from_first_byte(endpoint, budget.step_left()))
            probe.connections += 1
            done, _ = await asyncio.wait({first, race}, timeout=_remaining(deadline),
                                         return_when=asyncio.FIRST_COMPLETED)
            if race in done and first not in done:
                outcome: _Tls = race.result()
                other = _other_protocol(endpoint, outcome.answer)
                if outcome.spoke_tls or other:
                    await _cancel(first)
                    conn.abort()
                    if other:
                        return _answered_as(probe, other, outcome.answer or "")
                    return await _implicit(probe, outcome, budget)
                probe.detail = f"no TLS from the first byte ({outcome.info.error})"
                await asyncio.wait({first}, timeout=_remaining(deadline))
        if not first.done():
            await _cancel(first)
            conn.abort()
            return _silent(probe, greeting)
        failure = first.exception()
        if failure is not None:
            conn.abort()
            return await _no_greeting(probe, failure, race, budget, greeting)
        await _cancel(race)
        return await _greeted(probe, conn, first.result(), budget)
    except BaseException:
        await _cancel(first)
        await _cancel(race)
        conn.abort()
        raise


def _silent(probe: Probe, waited: float) -> Probe:
    ep = probe.endpoint
    probe.mode = Mode.SILENT
    probe.detail = (f"accepted TCP on {ep.ip} port {ep.port} but sent no greeting in "
                    f"{waited:.3g} s, and did not answer a TLS ClientHello either"
                    + (f" ({probe.detail})" if probe.detail else ""))
    return probe


def _answered_as(probe: Probe, protocol: str, answer: str) -> Probe:
    probe.mode = Mode.not_(probe.endpoint.protocol)
    probe.protocol = protocol
    probe.detail = (f"sent no greeting, and answered a TLS ClientHello with "
                    f"{answer[:100]!r}")
    return probe


async def _no_greeting(probe: Probe, exc: BaseException, race: asyncio.Task[Any] | None,
                       budget: _Budget, waited: float) -> Probe:
    """A closed the connection (or reset it) without a word: TLS, or a refusal."""
    if race is None:
        race = asyncio.create_task(tls_from_first_byte(probe.endpoint, budget.step))
        probe.connections += 1
    outcome: _Tls = await race
    if outcome.spoke_tls:
        return await _implicit(probe, outcome, budget)
    other = _other_protocol(probe.endpoint, outcome.answer)
    if other:
        return _answered_as(probe, other, outcome.answer or "")
    if isinstance(exc, ReadTimeout):
        return _silent(probe, waited)
    probe.mode = Mode.not_(probe.endpoint.protocol)
    probe.detail = (f"accepted TCP, then {plain(exc)} without a greeting; "
                    "no TLS from the first byte either")
    return probe


async def _implicit(probe: Probe, outcome: _Tls, budget: _Budget) -> Probe:
    probe.mode = Mode.IMPLICIT
    probe.tls = outcome.info
    conn = outcome.conn
    if conn is None and outcome.info.trusted is False and probe.connections < MAX_CONNECTIONS:
        # The certificate failed verification: read it on one more connection.
        probe.connections += 1
        try:
            conn = await Conn.open(probe.endpoint.ip, probe.endpoint.port, budget.step)
            await handshake(conn, probe.endpoint, budget.step, outcome.info,
                            inspecting_context(), first_byte=True)
        except (OSError, ssl.SSLError, TimeoutError, NotTls) as exc:
            outcome.info.error = plain(exc, during="the TLS handshake")
            if conn:
                conn.abort()
            conn = None
    if conn is None:
        return probe
    probe.conn = conn
    try:  # the greeting inside TLS says which protocol is behind it
        wait = _remaining(budget.greeting_deadline)
        line = await conn.readline(wait)
        probe.greeting = await dialects.read_greeting(conn, line, wait)
        probe.protocol = probe.greeting.protocol
    except (ReadTimeout, ConnectionClosed, DialogueError, OSError) as exc:
        probe.detail = f"no greeting inside TLS: {plain(exc)}"
    return probe


async def _greeted(probe: Probe, conn: Conn, first: str, budget: _Budget) -> Probe:
    ep = probe.endpoint
    probe.conn = conn
    try:  # a multi-line greeting (postscreen's 220-, then 220 later) may pause between lines
        greeting = await dialects.read_greeting(conn, first,
                                                _remaining(budget.greeting_deadline))
    except ReadTimeout:  # began (e.g. "220-"), never ended: stuck, not a refusal
        probe.mode = Mode.SILENT
        probe.protocol = dialects.detect_protocol(first)
        probe.detail = (f"the greeting began ({first[:60]!r}) but did not end within the "
                        f"{budget.greeting:.3g} s allowed")
        return _drop(probe)
    except (ConnectionClosed, DialogueError) as exc:
        greeting = Greeting(dialects.detect_protocol(first), False, [first])
        probe.detail = plain(exc)
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
        probe.caps = await dialects.capabilities(conn, greeting, ep.ehlo_name, budget.step)
    except (ReadTimeout, ConnectionClosed, DialogueError, OSError) as exc:
        probe.mode = Mode.PLAIN
        probe.detail = f"greeted, but the capability request failed: {plain(exc)}"
        return probe
    offered = dialects.starttls_offered(greeting.protocol, probe.caps)
    probe.mode = Mode.STARTTLS if offered else Mode.PLAIN
    return probe


def _drop(probe: Probe) -> Probe:
    if probe.conn:
        probe.conn.abort()
        probe.conn = None
    return probe


async def upgrade(probe: Probe, timeout: float, *, budget: int = MAX_CONNECTIONS,
                  greeting: float | None = None) -> Conn | None:
    """STARTTLS on the probe's live session (verifying first); fills probe.tls.

    When the certificate fails verification, the handshake is redone on a fresh connection
    with an accepting context (if the connection budget allows) so that the session goes on;
    its greeting may take `greeting` seconds (default: `timeout`), as on the first one.
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
        info.error = plain(exc, during="the TLS handshake")
        return None
    probe.conn = None
    if probe.connections >= budget:
        return None
    probe.connections += 1
    retry: Conn | None = None
    try:
        retry = await Conn.open(ep.ip, ep.port, _remaining(deadline))
        wait = max(_remaining(deadline), greeting or 0.0)
        hello = await dialects.read_greeting(retry, await retry.readline(wait), wait)
        await dialects.capabilities(retry, hello, ep.ehlo_name, timeout)
        await dialects.request_starttls(retry, hello.protocol, timeout)
        await handshake(retry, ep, _remaining(deadline), info, inspecting_context())
    except (ssl.SSLError, OSError, ReadTimeout, DialogueError, TimeoutError) as exc:
        if retry:
            retry.abort()
        info.error = plain(exc, during="the TLS handshake")
        return None
    probe.conn = retry
    return retry
