"""The plaintext phase of SMTP, IMAP, POP3 and ManageSieve: greeting, capabilities, STARTTLS.

Only what the probe and the policy checks need; nothing here ever sends a credential.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from postwright.verify.wire import Conn

SMTP_LINE = re.compile(r"^(\d{3})([ -])?(.*)$")
TAG = "pw"


class DialogueError(Exception):
    """The server answered, but not as the protocol says (or refused a step)."""


@dataclass
class Reply:
    """An SMTP reply: code and text lines (without the code)."""

    code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return " / ".join(self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass
class Greeting:
    protocol: str  # smtp | imap | pop3 | sieve | ssh | http | tls | unknown
    ok: bool  # the greeting accepts us (220, * OK, +OK, sieve OK)
    lines: list[str]
    caps: dict[str, str] = field(default_factory=dict)  # when the greeting carries them
    code: int | None = None  # SMTP reply code

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def name(self) -> str | None:
        """The host name an SMTP server announces in its banner."""
        if self.protocol != "smtp" or not self.lines:
            return None
        match = SMTP_LINE.match(self.lines[0])
        words = match.group(3).split() if match else []
        return words[0] if words else None


def detect_protocol(first: str) -> str:
    if SMTP_LINE.match(first):
        return "smtp"
    upper = first.upper()
    if upper.startswith(("* OK", "* PREAUTH", "* BYE")):
        return "imap"
    if upper.startswith(("+OK", "-ERR")):
        return "pop3"
    if first.startswith('"') or upper.startswith(("OK", "NO ", "BYE")):
        return "sieve"
    if first.startswith("SSH-"):
        return "ssh"
    if upper.startswith("HTTP/"):
        return "http"
    if first[:1] in ("\x15", "\x16"):
        return "tls"
    return "unknown"


async def read_smtp_reply(conn: Conn, timeout: float, first: str | None = None) -> Reply:
    lines: list[str] = []
    code = 0
    line = first if first is not None else await conn.readline(timeout)
    for _ in range(200):
        match = SMTP_LINE.match(line)
        if not match:
            raise DialogueError(f"not an SMTP reply: {line[:80]!r}")
        code = int(match.group(1))
        lines.append(match.group(3))
        if match.group(2) != "-":
            return Reply(code, lines)
        line = await conn.readline(timeout)
    raise DialogueError("SMTP reply longer than 200 lines")


async def smtp(conn: Conn, command: str, timeout: float, *, secret: bool = False) -> Reply:
    await conn.send(command, secret=secret)
    return await read_smtp_reply(conn, timeout)


def _imap_caps(text: str) -> dict[str, str]:
    match = re.search(r"\[CAPABILITY ([^\]]*)\]", text, re.IGNORECASE)
    words = match.group(1).split() if match else []
    return {w.upper(): "" for w in words}


def _sieve_cap(line: str) -> tuple[str, str]:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    key = parts[0].upper() if parts else line.strip().upper()
    return key, parts[1] if len(parts) > 1 else ""


def _sieve_status(line: str) -> str | None:
    """OK / NO / BYE when `line` is a ManageSieve response line (RFC 5804 4), else None."""
    word = re.split(r"[\s(]", line.strip(), maxsplit=1)[0].upper()
    return word if word in ("OK", "NO", "BYE") else None


async def _read_sieve_caps(conn: Conn, first: str, timeout: float) -> tuple[bool, list[str]]:
    lines, line = [], first
    for _ in range(100):
        lines.append(line)
        status = _sieve_status(line)
        if status is not None:
            return status == "OK", lines
        line = await conn.readline(timeout)
    raise DialogueError("ManageSieve greeting longer than 100 lines")


@dataclass
class Tagged:
    """An IMAP command's completion (RFC 9051 7.1): status, text, and the untagged lines
    (`* ...`) and continuations that came before it."""

    status: str  # OK | NO | BAD (upper case)
    text: str
    untagged: list[str]

    @property
    def line(self) -> str:
        return f"{self.status} {self.text}".strip()


async def imap_tagged(conn: Conn, tag: str, timeout: float, *, limit: int = 200) -> Tagged:
    """Read up to the completion of the command tagged `tag`; untagged lines are collected.

    Tags are compared exactly (RFC 9051 2.2.1), status words case-insensitively; a server
    may send any number of untagged responses (capabilities, alerts) first.
    """
    untagged: list[str] = []
    for _ in range(limit):
        line = await conn.readline(timeout)
        head, _, rest = line.partition(" ")
        if head == tag:
            status, _, text = rest.partition(" ")
            return Tagged(status.upper(), text, untagged)
        untagged.append(line)
    raise DialogueError(f"no completion of IMAP command {tag} within {limit} lines")


async def read_greeting(conn: Conn, first: str, timeout: float) -> Greeting:
    """Finish reading a greeting whose first line is `first`."""
    protocol = detect_protocol(first)
    if protocol == "smtp":
        reply = await read_smtp_reply(conn, timeout, first)
        lines = [f"{reply.code} {t}".strip() for t in reply.lines]
        return Greeting("smtp", reply.code == 220, lines, code=reply.code)
    if protocol == "imap":
        upper = first.upper()
        return Greeting("imap", not upper.startswith("* BYE"), [first], _imap_caps(first))
    if protocol == "pop3":
        return Greeting("pop3", first.upper().startswith("+OK"), [first])
    if protocol == "sieve":
        ok, lines = await _read_sieve_caps(conn, first, timeout)
        caps = dict(_sieve_cap(line) for line in lines[:-1])
        return Greeting("sieve", ok, lines, caps)
    return Greeting(protocol, False, [first])


@dataclass
class Caps:
    """Capabilities at one stage; `name` is the host name in an SMTP EHLO reply."""

    words: dict[str, str]
    lines: list[str]
    name: str | None = None


async def capabilities(conn: Conn, greeting: Greeting, ehlo_name: str, timeout: float,
                       *, after_tls: bool = False) -> Caps:
    proto = greeting.protocol
    if proto == "smtp":
        reply = await smtp(conn, f"EHLO {ehlo_name}", timeout)
        if reply.code != 250:
            raise DialogueError(f"EHLO refused: {reply}")
        words: dict[str, str] = {}
        for line in reply.lines[1:]:
            key, _, params = line.partition(" ")
            words[key.upper()] = params
            if key.upper().startswith("AUTH="):  # obsolete `AUTH=PLAIN` form
                words.setdefault("AUTH", key[5:])
        first = reply.lines[0].split() if reply.lines else []
        return Caps(words, reply.lines, first[0] if first else None)
    if proto == "imap":
        if greeting.caps and not after_tls:
            return Caps(greeting.caps, greeting.lines)
        await conn.send(f"{TAG}1 CAPABILITY")
        done = await imap_tagged(conn, f"{TAG}1", timeout)
        words = {}
        for line in done.untagged:
            if line.upper().startswith("* CAPABILITY"):
                words.update({w.upper(): "" for w in line.split()[2:]})
        if not words:  # some servers put them in the completion's response code only
            words = _imap_caps(done.text)
        return Caps(words, [*done.untagged, f"{TAG}1 {done.line}"])
    if proto == "pop3":
        await conn.send("CAPA")
        line = await conn.readline(timeout)
        if not line.upper().startswith("+OK"):
            return Caps({}, [line])
        words, lines = {}, list[str]()
        for _ in range(100):
            line = await conn.readline(timeout)
            if line == ".":
                return Caps(words, lines)
            lines.append(line)
            key, _, params = line.partition(" ")
            words[key.upper()] = params
        raise DialogueError("POP3 CAPA reply too long")
    if proto == "sieve":
        if not after_tls:
            return Caps(greeting.caps, greeting.lines)
        # RFC 5804 2.2: after TLS the server sends its capabilities again, unasked.
        _ok, lines = await _read_sieve_caps(conn, await conn.readline(timeout), timeout)
        return Caps(dict(_sieve_cap(line) for line in lines[:-1]), lines)
    raise DialogueError(f"no capability dialogue for {proto}")


def starttls_offered(protocol: str, caps: Caps) -> bool:
    key = "STLS" if protocol == "pop3" else "STARTTLS"
    return key in caps.words


def auth_before_tls(protocol: str, caps: Caps) -> list[str]:
    """What a client could use to log in over this (plaintext) stage; empty when nothing."""
    words = caps.words
    if protocol == "smtp":
        return [f"AUTH {words['AUTH']}".strip()] if "AUTH" in words else []
    if protocol == "imap":
        found = [w for w in words if w.startswith("AUTH=")]
        if "LOGINDISABLED" not in words:
            found.append("LOGIN (no LOGINDISABLED)")
        return found
    if protocol == "pop3":  # RFC 2449 6.8: USER means USER/PASS, a cleartext password
        found = ["USER"] if "USER" in words else []
        return found + ([f"SASL {words['SASL']}"] if words.get("SASL", "").strip() else [])
    if protocol == "sieve":
        return [f"SASL {words['SASL']}"] if words.get("SASL", "").strip() else []
    return []


def smtp_auth(caps: Caps) -> str | None:
    return caps.words.get("AUTH") if "AUTH" in caps.words else None


STARTTLS_TAG = f"{TAG}2"


def starttls_command(protocol: str) -> str:
    return {"imap": f"{STARTTLS_TAG} STARTTLS", "pop3": "STLS"}.get(protocol, "STARTTLS")


async def request_starttls(conn: Conn, protocol: str, timeout: float) -> str:
    """Send STARTTLS/STLS; returns the server's go-ahead or raises DialogueError."""
    await conn.send(starttls_command(protocol))
    return await starttls_reply(conn, protocol, timeout)


async def starttls_reply(conn: Conn, protocol: str, timeout: float) -> str:
    """The server's answer to STARTTLS/STLS: its go-ahead, or DialogueError with its words.

    SMTP: 220 (RFC 3207). IMAP: the tagged OK, after any untagged lines (RFC 9051 6.2.1).
    POP3: +OK (RFC 2595). ManageSieve: OK, possibly with a response code (RFC 5804 2.2).
    """
    command = starttls_command(protocol).split()[-1]
    if protocol == "smtp":
        reply = await read_smtp_reply(conn, timeout)
        if reply.code != 220:
            raise DialogueError(f"STARTTLS refused: {reply}")
        return str(reply)
    if protocol == "imap":
        done = await imap_tagged(conn, STARTTLS_TAG, timeout)
        if done.status != "OK":
            raise DialogueError(f"STARTTLS refused: {done.line}")
        return done.line
    line = await conn.readline(timeout)
    if protocol == "pop3":
        if not line.upper().startswith("+OK"):
            raise DialogueError(f"{command} refused: {line}")
        return line
    if _sieve_status(line) != "OK":
        raise DialogueError(f"{command} refused: {line}")
    return line


async def goodbye(conn: Conn, protocol: str, timeout: float = 0.5) -> None:
    """Say goodbye politely but briefly, then drop the connection."""
    command = {"smtp": "QUIT", "imap": f"{TAG}9 LOGOUT", "pop3": "QUIT",
               "sieve": "LOGOUT"}.get(protocol)
    with contextlib.suppress(Exception):
        if command:
            await conn.send(command)
            await conn.readline(timeout)
    conn.abort()
