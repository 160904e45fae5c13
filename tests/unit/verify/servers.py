"""The zoo: deliberately broken (and one correct) mail servers on 127.0.0.1.

`Scripted` is a raw asyncio SMTP server whose every misbehaviour is a flag; `good_*` use
aiosmtpd; `FakeImap` serves the messages the SMTP fixtures accepted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOCAL_DOMAIN = "example.test"
USER, PASSWORD = "alice@example.test", "s3cret pass"


class Loop:
    """One background event loop hosting the raw servers of the test session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def serve(loop: Loop, handler: Handler, *, tls: ssl.SSLContext | None = None,
          backlog: int = 100) -> tuple[int, asyncio.AbstractServer]:
    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls, backlog=backlog)

    server: asyncio.AbstractServer = loop.run(start())
    return server.sockets[0].getsockname()[1], server


@dataclass
class Mailbox:
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, data: bytes) -> None:
        with self.lock:
            self.messages.append(data)


@dataclass
class Scripted:
    """An SMTP server that misbehaves on request."""

    name: str = "mail.example.test"
    greet_delay: float = 0.0
    greeting: str | None = None  # e.g. "421 4.3.2 busy"
    # postscreen: "220-" at once, the final "220 " after this pause (postscreen_greet_wait)
    multiline_pause: float | None = None
    relay_reply: str = "554 5.7.1 Relay access denied"  # Debian: 454 4.7.1 (defer_unauth_...)
    injectable: bool = False  # CVE-2011-0411: runs commands buffered before the TLS handshake
    silent: bool = False  # tarpit: accept, never speak
    starttls: ssl.SSLContext | None = None
    broken_starttls: bool = False  # says 220 to STARTTLS, then sends garbage
    reset_in_handshake: bool = False  # says 220 to STARTTLS, then resets the connection (RST)
    auth_before_tls: bool = False
    auth_after_tls: bool = False
    mail_before_tls: int = 530
    open_relay: bool = False
    drop_in_data: bool = False
    # bare LF in DATA: "normalize" (Postfix's default: taken as a line end, but only
    # <CR><LF>.<CR><LF> ends DATA) or "reject" (550 5.5.2 and hang up, as Postfix's `reject`)
    bare_lf: str = "normalize"
    # SMTP smuggling: more sequences this server takes for the end of DATA (e.g. b"\n.\r\n")
    smuggle_ends: tuple[bytes, ...] = ()
    hang_after_data: bool = False  # reads the message, never answers it
    # answers commands written before its EHLO reply (else: 554 and hang up, as Postfix's
    # smtpd_forbid_unauth_pipelining = yes)
    lenient_pipelining: bool = False
    mailbox: Mailbox | None = None
    connections: int = 0
    commands: list[str] = field(default_factory=list)  # every command line received

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            await asyncio.sleep(30)
            return
        await asyncio.sleep(self.greet_delay)
        tls = writer.get_extra_info("ssl_object") is not None

        def say(text: str) -> None:
            writer.write(text.encode() + b"\r\n")

        if self.multiline_pause is not None:
            say(f"220-{self.name} ESMTP postscreen-like, please wait")
            await writer.drain()
            await asyncio.sleep(self.multiline_pause)
        say(self.greeting or f"220 {self.name} ESMTP scripted")
        if self.greeting and not self.greeting.startswith("220"):
            await writer.drain()
            return
        relay_to_ok = False
        authed = False
        while True:
            raw = await asyncio.wait_for(reader.readline(), 10)
            if not raw:
                return
            line = raw.decode(errors="replace").strip()
            verb = line.split(" ", 1)[0].upper()
            self.commands.append(line)
            if verb == "EHLO" and pending(reader) and not self.lenient_pipelining:
                say("554 5.5.0 Error: SMTP protocol synchronization")
                await writer.drain()
                return
            if verb == "EHLO":
                caps = [f"250-{self.name}", "250-PIPELINING", "250-SIZE 10240000"]
                if self.starttls and not tls:
                    caps.append("250-STARTTLS")
                if (self.auth_before_tls and not tls) or (self.auth_after_tls and tls):
                    caps.append("250-AUTH PLAIN LOGIN")
                caps.append("250 8BITMIME")
                say("\r\n".join(caps))
            elif verb == "STARTTLS" and self.starttls and not tls:
                say("220 2.0.0 Ready to start TLS")
                await writer.drain()
                if self.broken_starttls:
                    writer.write(b"\x15\x03\x03\x00\x02\x02\x28garbage\r\n")
                    await writer.drain()
                    return
                if self.reset_in_handshake:
                    await reader.read(1)  # the ClientHello has begun
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if not self.injectable:
                    discard_buffered(reader)
                await writer.start_tls(self.starttls)
                tls = True
            elif verb == "AUTH":
                parts = line.split()
                ok = len(parts) == 3 and base64.b64decode(parts[2]) == \
                    f"\0{USER}\0{PASSWORD}".encode()
                authed = ok
                say("235 2.7.0 Authentication successful" if ok else "535 5.7.8 failed")
            elif verb == "MAIL":
                if not tls and self.starttls and self.mail_before_tls != 250:
                    say(f"{self.mail_before_tls} 5.7.0 Must issue a STARTTLS command first")
                else:
                    say("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpt = re.search(r"<([^>]*)>", line)
                domain = rcpt.group(1).rsplit("@", 1)[-1].lower() if rcpt else ""
                if domain == LOCAL_DOMAIN or self.open_relay or authed:
                    relay_to_ok = True
                    say("250 2.1.5 Ok")
                else:
                    say(self.relay_reply)
            elif verb == "DATA" and relay_to_ok:
                say("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                if self.drop_in_data:
                    await reader.readline()
                    return
                data = await self._data(reader)
                if data is None:
                    return
                if self.hang_after_data:
                    await asyncio.sleep(10)
                    return
                if self.bare_lf == "reject" and re.search(rb"(?<!\r)\n", data):
                    say("550 5.5.2 Error: bare <LF> received")
                    await writer.drain()
                    return
                if self.mailbox:
                    self.mailbox.add(data)
                say("250 2.0.0 Ok: queued")
            elif verb == "NOOP":
                say("250 2.0.0 Ok")
            elif verb == "RSET":
                relay_to_ok = False
                say("250 2.0.0 Ok")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                await writer.drain()
                return
            else:
                say("502 5.5.2 Error: command not recognized")
            await writer.drain()


    async def _data(self, reader: asyncio.StreamReader) -> bytes | None:
        """The message up to the first end of DATA this server knows; what follows it is put
        back to be read as commands (which is what SMTP smuggling exploits)."""
        buf = b"\r\n"  # the DATA command's own line end
        ends = (b"\r\n.\r\n", *self.smuggle_ends)
        while not (hits := [(i, len(e)) for e in ends if (i := buf.find(e)) >= 0]):
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                return None
            buf += chunk
        at, size = min(hits)
        reader._buffer[0:0] = buf[at + size:]  # type: ignore[attr-defined]
        return buf[2:at] + b"\r\n"


def pending(reader: asyncio.StreamReader) -> bool:
    """Has the client written more than the command just read (pipelining)?"""
    return bool(reader._buffer)  # type: ignore[attr-defined]


def discard_buffered(reader: asyncio.StreamReader) -> None:
    """What a fixed server does at STARTTLS: forget plaintext that came with the command."""
    reader._buffer.clear()  # type: ignore[attr-defined]


async def http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A web server on a mail port: waits for a whole request line (up to CRLF, which a
    ClientHello hardly ever contains) and answers 400 to anything that is not HTTP."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
    writer.transport.abort()


@dataclass
class Dovecotish:
    """IMAP (143), POP3 (110) or ManageSieve (4190) with STARTTLS, in Dovecot's words.

    `caps_in_greeting`: IMAP capabilities in the greeting's response code (Dovecot's
    default); otherwise only from CAPABILITY. `untagged_first`: an untagged line before each
    tagged completion (allowed anywhere by RFC 9051). `injectable`: CVE-2011-0411.
    """

    protocol: str = "imap"
    starttls: ssl.SSLContext | None = None
    caps_in_greeting: bool = True
    untagged_first: bool = False
    injectable: bool = False
    plaintext_auth: bool = False  # login offered before TLS (disable_plaintext_auth = no)
    greet_delay: float = 0.0
    connections: int = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await asyncio.sleep(self.greet_delay)
            await {"imap": self._imap, "pop3": self._pop3, "sieve": self._sieve}[
                self.protocol](reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError,
                TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.drain()
        if not self.injectable:
            discard_buffered(reader)
        assert self.starttls is not None
        await writer.start_tls(self.starttls)

    async def _lines(self, reader: asyncio.StreamReader) -> Any:
        while raw := await asyncio.wait_for(reader.readline(), 10):
            yield raw.decode(errors="replace").strip()

    async def _imap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = False

        def caps() -> str:
            pre = ("STARTTLS AUTH=PLAIN" if self.plaintext_auth else "STARTTLS LOGINDISABLED") \
                if not tls else "AUTH=PLAIN"
            return f"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ {pre}"

        code = f"[CAPABILITY {caps()}] " if self.caps_in_greeting else ""
        writer.write(f"* OK {code}Dovecot (Debian) ready.\r\n".encode())
        async for line in self._lines(reader):
            tag, _, rest = line.partition(" ")
            verb = rest.split(" ", 1)[0].upper()
            if self.untagged_first:
                writer.write(b"* OK [ALERT] maintenance tonight\r\n")
            if verb == "CAPABILITY":
                writer.write(f"* CAPABILITY {caps()}\r\n{tag} OK Pre-login capabilities "
                             "listed, post-login capabilities have more.\r\n".encode())
            elif verb == "STARTTLS" and not tls:
                writer.write(f"{tag} OK Begin TLS negotiation now.\r\n".encode())
                await self._tls(reader, writer)
                tls = True
                continue
            elif verb == "NOOP":
                writer.write(f"{tag} OK NOOP completed.\r\n".encode())
            elif verb == "LOGOUT":
                writer.write(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n".encode())
                await writer.drain()
                return
            else:
                writer.write(f"{tag} BAD Error in IMAP command received by server.\r\n"
                             .encode())
            await writer.drain()

    async def _pop3(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK Dovecot (Debian) ready.\r\n")
        tls = False
        async for line in self._lines(reader):
            verb = line.split(" ", 1)[0].upper()
            if verb == "CAPA":
                extra = "STLS\r\n" if not tls else "USER\r\nSASL PLAIN\r\n"
                if self.plaintext_auth and not tls:
                    extra += "USER\r\nSASL PLAIN\r\n"
                writer.write(f"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n{extra}.\r\n"
                             .encode())
            elif verb == "STLS" and not tls:
                writer.write(b"+OK Begin TLS negotiation now.\r\n")
                await self._tls(reader, writer)
                tls = True
                continue
            elif verb == "NOOP":
                writer.write(b"+OK\r\n")
            elif verb == "QUIT":
                writer.write(b"+OK Logging out.\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"-ERR Unknown command.\r\n")
            await writer.drain()

    async def _sieve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def caps(tls: bool) -> bytes:
            sasl = '"SASL" "PLAIN"\r\n' if tls or self.plaintext_auth else '"SASL" ""\r\n'
            start = "" if tls else '"STARTTLS"\r\n'
            return (f'"IMPLEMENTATION" "Dovecot Pigeonhole"\r\n"SIEVE" "fileinto reject"\r\n'
                    f'{start}{sasl}"VERSION" "1.0"\r\nOK "Dovecot (Debian) ready."\r\n'
                    ).encode()

        writer.write(caps(False))
        tls = False
        async for line in self._lines(reader):
            verb = line.split(" ", 1)[0].upper()
            if verb == "STARTTLS" and not tls:
                writer.write(b'OK "Begin TLS negotiation now."\r\n')
                await self._tls(reader, writer)
                tls = True
                writer.write(caps(True))
            elif verb == "NOOP":
                mark = re.search(r'"([^"]*)"', line)
                code = f'(TAG "{mark.group(1)}") ' if mark else ""
                writer.write(f'OK {code}"Done"\r\n'.encode())
            elif verb == "LOGOUT":
                writer.write(b'OK "Logout completed."\r\n')
                await writer.drain()
                return
            else:
                writer.write(b'NO "Unknown command."\r\n')
            await writer.drain()


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.sleep(30)
    writer.transport.abort()


async def banner_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n")
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.transport.abort()


class RelayGuard:
    """aiosmtpd handler of a correct server: local recipients only, unless authenticated."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.rsplit("@", 1)[-1].lower() != LOCAL_DOMAIN and not session.authenticated:
            return "554 5.7.1 Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.mailbox.add(b"Authentication-Results: mail.example.test; spf=pass "
                         b"smtp.mailfrom=example.test; dkim=none; dmarc=pass\r\n" + content)
        return "250 2.0.0 Ok: queued"


class MxGuard(RelayGuard):
    """Port 25: aiosmtpd always lists AUTH after TLS; an MX must not."""

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [r for r in responses if not r[4:].startswith("AUTH")]


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SyncSmtp(SMTP):
    """aiosmtpd that hangs up on commands written before its EHLO reply, as Postfix does
    with smtpd_forbid_unauth_pipelining = yes."""

    async def smtp_EHLO(self, hostname: str) -> None:
        if pending(self._reader):
            await self.push("554 5.5.0 Error: SMTP protocol synchronization")
            assert self._handler_coroutine is not None
            self._handler_coroutine.cancel()
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_EHLO(hostname)


class SyncController(Controller):
    def factory(self) -> SMTP:
        return SyncSmtp(self.handler, **self.SMTP_kwargs)


def good_smtp(kind: str, tls: ssl.SSLContext, mailbox: Mailbox) -> Controller:
    """A correct 25 (STARTTLS, no AUTH), 587 (STARTTLS required, AUTH) or 465 (implicit)."""
    common: dict[str, Any] = {"hostname": "127.0.0.1", "port": free_port(),
                              "server_hostname": "mail.example.test"}
    handler = RelayGuard(mailbox)
    if kind == "25":
        ctl = SyncController(MxGuard(mailbox), tls_context=tls, **common)
    elif kind == "587":
        ctl = Controller(handler, tls_context=tls, require_starttls=True,
                         authenticator=_authenticator, auth_require_tls=True, **common)
    else:
        ctl = Controller(handler, ssl_context=tls, authenticator=_authenticator,
                         auth_require_tls=False, **common)
    ctl.start()
    return ctl


class FakeImap:
    """IMAPS with just what the round trip uses, over the shared mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.deleted: set[int] = set()
        self.expunged: set[int] = set()
        self.logins: list[str] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError, TimeoutError):
            pass
        finally:
            writer.transport.abort()

    def _visible(self) -> dict[int, bytes]:
        with self.mailbox.lock:
            return {i + 1: m for i, m in enumerate(self.mailbox.messages)
                    if i + 1 not in self.expunged}

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN] fake ready\r\n")
        while True:
            raw = await asyncio.wait_for(reader.readline(), 10)
            if not raw:
                return
            tag, _, rest = raw.decode().strip().partition(" ")
            verb, _, args = rest.partition(" ")
            verb = verb.upper()
            if verb == "UID":
                verb, _, args = args.partition(" ")
                verb = "UID " + verb.upper()
            out = b""
            status = "OK done"
            if verb == "CAPABILITY":
                out = b"* CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n"
            elif verb == "LOGIN":
                creds = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
                self.logins.append(creds[0] if creds else "")
                if creds != [USER, PASSWORD]:
                    status = "NO [AUTHENTICATIONFAILED] bad"
            elif verb == "SELECT":
                out = f"* {len(self._visible())} EXISTS\r\n".encode()
            elif verb == "UID SEARCH":
                token = args.split()[-1].strip('"')
                uids = [u for u, m in self._visible().items() if token.encode() in m]
                out = ("* SEARCH " + " ".join(map(str, uids))).strip().encode() + b"\r\n"
            elif verb == "UID FETCH":
                uid = int(args.split()[0])
                msg = self._visible().get(uid, b"")
                header = msg.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                out = (f"* {uid} FETCH (UID {uid} BODY[HEADER] {{{len(header)}}}\r\n".encode()
                       + header + b")\r\n")
            elif verb == "UID STORE":
                self.deleted |= {int(u) for u in args.split()[0].split(",")}
            elif verb == "UID EXPUNGE":
                self.expunged |= {int(u) for u in args.split()[0].split(",")} & self.deleted
            elif verb == "LOGOUT":
                writer.write(b"* BYE\r\n" + f"{tag} OK bye\r\n".encode())
                await writer.drain()
                return
            elif verb != "NOOP":
                status = "BAD unknown"
            writer.write(out + f"{tag} {status}\r\n".encode())
            await writer.drain()
