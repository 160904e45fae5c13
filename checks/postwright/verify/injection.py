"""tls.starttls.injection: are commands pipelined behind STARTTLS executed inside TLS?

CVE-2011-0411 (Postfix before 2.8.4, and many others since): the server reads
`STARTTLS\\r\\nNOOP\\r\\n` into one buffer, starts TLS, and then runs the buffered NOOP as if it
had come through the encrypted channel. A man in the middle can use that to inject commands
into a session the client believes protected. As testssl does, we send STARTTLS and a
harmless command in one packet, complete the handshake, and listen: an answer to the injected
command inside TLS means the server is vulnerable. This runs on a connection of its own,
because a correct server may drop a session that pipelines after STARTTLS.
"""

from __future__ import annotations

import ssl
import time

from postwright.verify import dialects
from postwright.verify.dialects import DialogueError
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.probe import Mode, Probe, handshake
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.tlsinfo import TlsInfo, inspecting_context
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

CHECK_ID = "tls.starttls.injection"
SIEVE_MARK = "postwright-injected"
# The harmless command each protocol pipelines behind STARTTLS (IMAP and ManageSieve tag
# theirs, so that its answer cannot be mistaken for anything else).
INJECTED = {"smtp": "NOOP", "imap": f"{dialects.TAG}3 NOOP", "pop3": "NOOP",
            "sieve": f'NOOP "{SIEVE_MARK}"'}
MIN_LISTEN = 0.5  # seconds to listen inside TLS, at least; more on a slow path (4 round trips)
MIN_EARLY = 0.2  # seconds to wait for bytes the server sends before our ClientHello
MIN_HANDSHAKE = 1.0  # seconds the pipelined session's handshake gets, at least
TLS_ALERT = 0x15  # the first byte of a TLS alert record


def _answers_injected(protocol: str, line: str) -> bool:
    """Is `line`, read inside TLS before we said anything, the answer to the injected command?"""
    if protocol == "imap":
        return line.startswith(f"{dialects.TAG}3 ")
    if protocol == "sieve":  # RFC 5804 2.2: capabilities come unasked after TLS; skip them
        return SIEVE_MARK in line
    return True  # SMTP and POP3 say nothing unasked after the handshake


async def injection(s: PortSession, probe: Probe) -> None:
    if not s.wants(CHECK_ID) or probe.mode is not Mode.STARTTLS or not probe.greeting:
        return
    protocol = probe.greeting.protocol
    injected = INJECTED[protocol]
    conn: Conn | None = None
    try:
        conn, greeting = await s.spare()
        await dialects.capabilities(conn, greeting, s.ep.ehlo_name, s.step)
        sent = time.monotonic()
        await conn.send_raw(f"{dialects.starttls_command(protocol)}\r\n{injected}\r\n".encode())
        try:
            go = await dialects.starttls_reply(conn, protocol, s.step)
        except (DialogueError, ConnectionClosed) as exc:  # refusing or hanging up is safe
            s.col.add(CHECK_ID, Status.PASS, f"the server refused STARTTLS with a command "
                      f"pipelined behind it ({plain(exc)}): nothing can be injected",
                      evidence={"sent": ["STARTTLS", injected], "reply": plain(exc)})
            return
        round_trip = time.monotonic() - sent
        listen = min(s.step, max(MIN_LISTEN, 4 * round_trip))
        # A correct server now waits for our ClientHello. One that speaks first has taken the
        # pipelined command as the start of the handshake (Dovecot 2.4 answers it with a TLS
        # alert) or answered it in plaintext: either way nothing runs inside TLS.
        reaction = await _spoke_first(conn, min(s.step, max(MIN_EARLY, 2 * round_trip)))
        if reaction:
            s.col.add(CHECK_ID, Status.PASS, f"the server read the command pipelined behind "
                      f"STARTTLS ({injected}) before TLS and {reaction}: nothing can be injected",
                      evidence={"sent": ["STARTTLS", injected], "go_ahead": go,
                                "before_tls": reaction})
            return
        try:
            # the session's own handshake already worked: this one gets ten round trips
            await handshake(conn, s.ep, min(s.step, max(MIN_HANDSHAKE, 10 * round_trip)),
                            TlsInfo(), inspecting_context())
        except (ssl.SSLError, ConnectionError, ReadTimeout) as exc:
            if probe.tls is None or probe.tls.version is None:
                raise  # TLS fails here anyway: tls.handshake says why
            # TLS works without pipelining (the session's handshake did): this server broke
            # off, or never finished, because it read the pipelined command as part of the TLS
            # stream (Dovecot 2.4 does), which is safe
            s.col.add(CHECK_ID, Status.PASS, "the server did not complete the TLS handshake "
                      f"that had a command pipelined before it ({plain(exc)}): nothing can be "
                      "injected", evidence={"sent": ["STARTTLS", injected], "go_ahead": go})
            return
        answer = await _listen(conn, protocol, listen)
    except NETWORK_ERRORS as exc:
        s.col.add(CHECK_ID, Status.ERROR,
                  f"could not test STARTTLS command injection: {plain(exc)}",
                  evidence={"transcript": conn.transcript if conn else []})
        return
    finally:
        if conn:
            conn.abort()
    evidence = {"sent": [dialects.starttls_command(protocol), injected], "go_ahead": go,
                "listened_s": round(listen, 2), "answer_inside_tls": answer}
    if answer is None:
        s.col.add(CHECK_ID, Status.PASS, f"the command pipelined behind STARTTLS ({injected}) "
                  "was discarded, not run inside TLS", evidence=evidence)
        return
    s.col.add(CHECK_ID, Status.FAIL,
              f"STARTTLS command injection (CVE-2011-0411): port {s.ep.port} ran {injected}, "
              f"sent in plaintext together with STARTTLS, inside the TLS session (it answered "
              f"{answer!r}); a man in the middle can inject commands into protected sessions",
              evidence=evidence,
              remedy="update the server software: it must discard input buffered before the "
              "TLS handshake (Postfix >= 2.8.4 / 2.7.3, current Dovecot, Exim and Sendmail do)")


async def _spoke_first(conn: Conn, wait: float) -> str | None:
    """How the server reacted before our ClientHello, or None when it waited for it."""
    try:
        early = await conn.unasked(wait)
    except ConnectionClosed:
        return "hung up before our handshake began"
    if not early:
        return None
    if early[0] == TLS_ALERT:
        return "broke off with a TLS alert before our handshake began"
    line = early.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")[:80]
    return f"answered it in plaintext ({line!r})"


async def _listen(conn: Conn, protocol: str, seconds: float) -> str | None:
    """The first line inside TLS that answers the injected command, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = await conn.readline(left)
        except (ReadTimeout, ConnectionClosed):
            return None
        if _answers_injected(protocol, line):
            return line
    return None
