"""A minimal IMAP4rev1 client over an existing (TLS) connection: enough to find, read and
delete the round-trip test messages. Literals ({n}) in responses are handled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from postwright.verify.wire import Conn

_LITERAL = re.compile(r"\{(\d+)\}$")


class ImapError(Exception):
    pass


@dataclass
class Response:
    status: str  # OK NO BAD
    text: str
    untagged: list[tuple[str, list[bytes]]] = field(default_factory=list)


def quote(text: str) -> str:
    if any(c in text for c in "\r\n\0"):
        raise ImapError("IMAP quoted strings cannot carry CR, LF or NUL")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Imap:
    def __init__(self, conn: Conn, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self._n = 0
        self.caps: set[str] = set()

    async def greeting(self) -> str:
        line = await self.conn.readline(self.timeout)
        if not line.upper().startswith("* OK"):
            raise ImapError(f"IMAP greeting refused: {line}")
        return line

    async def command(self, text: str, *, secret: bool = False) -> Response:
        self._n += 1
        tag = f"pw{self._n}"
        await self.conn.send(f"{tag} {text}", secret=secret)
        untagged: list[tuple[str, list[bytes]]] = []
        for _ in range(10000):
            line = await self.conn.readline(self.timeout)
            literals: list[bytes] = []
            while (match := _LITERAL.search(line)) is not None:
                literals.append(await self.conn.read_exactly(int(match.group(1)), self.timeout))
                line = line + " " + await self.conn.readline(self.timeout)
            if line.startswith(tag + " "):
                status, _, rest = line[len(tag) + 1:].partition(" ")
                return Response(status.upper(), rest, untagged)
            if line.upper().startswith("* CAPABILITY"):
                self.caps = {w.upper() for w in line.split()[2:]}
            untagged.append((line, literals))
        raise ImapError("IMAP response too long")

    async def ok(self, text: str, *, secret: bool = False) -> Response:
        response = await self.command(text, secret=secret)
        if response.status != "OK":
            shown = text.split(" ", 1)[0] if secret else text
            raise ImapError(f"{shown}: {response.status} {response.text}")
        return response

    async def login(self, user: str, password: str) -> None:
        await self.ok(f"LOGIN {quote(user)} {quote(password)}", secret=True)
        if not self.caps:
            await self.ok("CAPABILITY")

    async def search_header(self, header: str, value: str) -> list[int]:
        response = await self.ok(f"UID SEARCH HEADER {header} {quote(value)}")
        uids: list[int] = []
        for line, _ in response.untagged:
            if line.upper().startswith("* SEARCH"):
                uids += [int(w) for w in line.split()[2:] if w.isdigit()]
        return uids

    async def fetch_header(self, uid: int) -> bytes:
        response = await self.ok(f"UID FETCH {uid} (BODY.PEEK[HEADER])")
        for _, literals in response.untagged:
            if literals:
                return literals[0]
        raise ImapError(f"UID FETCH {uid} returned no header")

    async def delete(self, uids: list[int]) -> str:
        if not uids:
            return "nothing to delete"
        seq = ",".join(str(u) for u in uids)
        await self.ok(f"UID STORE {seq} +FLAGS.SILENT (\\Deleted)")
        if "UIDPLUS" in self.caps:
            await self.ok(f"UID EXPUNGE {seq}")
            return "UID EXPUNGE"
        await self.ok("EXPUNGE")
        return "EXPUNGE (server lacks UIDPLUS)"
