"""One TCP connection with line I/O, per-read timeouts, STARTTLS and a redacted transcript."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

MAX_LINE = 8192


class ConnectionClosed(ConnectionError):
    """The peer closed the connection (EOF) while we waited for it to speak."""


class ReadTimeout(TimeoutError):
    """The peer said nothing (or not a full line) within the step's timeout."""


class Conn:
    """A client connection. Every read has a timeout; the transcript never holds secrets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ip: str, port: int) -> None:
        self.reader = reader
        self.writer = writer
        self.ip = ip
        self.port = port
        self.transcript: list[str] = []
        self.tls: ssl.SSLObject | None = None

    @classmethod
    async def open(cls, ip: str, port: int, timeout: float) -> Conn:
        """Connect; raises ConnectionRefusedError (closed), TimeoutError (filtered), OSError."""
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(ip, port, limit=MAX_LINE * 8)
        return cls(reader, writer, ip, port)

    async def readline(self, timeout: float) -> str:
        try:
            async with asyncio.timeout(timeout):
                raw = await self.reader.readline()
        except TimeoutError:
            raise ReadTimeout(f"no reply within {timeout:.1f} s") from None
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise ConnectionClosed(f"reply line too long: {exc}") from None
        if not raw:
            raise ConnectionClosed("the server closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        self._note("<", line)
        return line

    async def read_exactly(self, size: int, timeout: float) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.readexactly(size)
        except TimeoutError:
            raise ReadTimeout(f"no data within {timeout:.1f} s") from None
        except asyncio.IncompleteReadError:
            raise ConnectionClosed("the server closed the connection") from None

    async def send(self, line: str, *, secret: bool = False) -> None:
        self._note(">", line.split(" ", 1)[0] + " <redacted>" if secret else line)
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def starttls(self, context: ssl.SSLContext, server_hostname: str | None,
                       timeout: float) -> ssl.SSLObject:
        """Upgrade in place. Raises ssl.SSLError / SSLCertVerificationError / ReadTimeout."""
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(context, server_hostname=server_hostname,
                                            ssl_handshake_timeout=timeout)
        except TimeoutError:
            raise ReadTimeout(f"TLS handshake did not finish within {timeout:.1f} s") from None
        except ConnectionAbortedError as exc:  # asyncio's own handshake timeout
            raise ReadTimeout(str(exc)) from None
        obj = self.writer.get_extra_info("ssl_object")
        if not isinstance(obj, ssl.SSLObject):
            raise ssl.SSLError("TLS handshake gave no TLS session")
        self.tls = obj
        cipher = obj.cipher()
        self._note("=", f"TLS {obj.version()} {cipher[0] if cipher else ''}")
        return obj

    def abort(self) -> None:
        """Close at once (no TLS close_notify wait): a probe must never hang on close."""
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    def _note(self, direction: str, line: str) -> None:
        if len(self.transcript) < 200:
            self.transcript.append(f"{direction} {line[:300]}")
