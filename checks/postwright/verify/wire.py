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


class NotTls(Exception):
    """The peer answered our ClientHello, but not in TLS: `answer` is what it said."""

    def __init__(self, answer: bytes) -> None:
        super().__init__("the server did not answer in TLS")
        self.answer = answer

    @property
    def first_line(self) -> str:
        return self.answer.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")


_TLS_RECORD_TYPES = (0x15, 0x16)  # alert, handshake: how a TLS server's first record starts


class Conn:
    """A client connection. Every read has a timeout; the transcript never holds secrets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ip: str, port: int) -> None:
        self.reader = reader
        self._raw_reader = reader  # the TCP stream, under TLS in memory once that starts
        self.writer = writer
        self.ip = ip
        self.port = port
        self.transcript: list[str] = []
        self.tls: ssl.SSLObject | None = None
        self._bio: tuple[ssl.SSLObject, ssl.MemoryBIO] | None = None  # TLS in memory
        self._pump: asyncio.Task[None] | None = None

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
            raise ConnectionClosed(f"a reply line longer than {MAX_LINE * 8} bytes") from exc
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

    async def unasked(self, wait: float) -> bytes:
        """What the peer sends within `wait` seconds without being asked (b"" for nothing),
        bytes it already sent first. Raises ConnectionClosed when it hangs up instead."""
        try:
            async with asyncio.timeout(wait):
                data = await self.reader.read(MAX_LINE)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionClosed("the server closed the connection")
        self._note("<", repr(data[:80]))
        return data

    async def send(self, line: str, *, secret: bool = False) -> None:
        self._note(">", line.split(" ", 1)[0] + " <redacted>" if secret else line)
        await self.send_raw(line.encode("utf-8") + b"\r\n")

    async def send_raw(self, data: bytes) -> None:
        if self._bio is not None:
            obj, outgoing = self._bio
            obj.write(data)
            data = outgoing.read()
        self.writer.write(data)
        await self.writer.drain()

    async def tls_from_first_byte(self, context: ssl.SSLContext, server_hostname: str | None,
                                  timeout: float, *,
                                  nudge: tuple[float, bytes] | None = None) -> ssl.SSLObject:
        """Handshake from the first byte, in memory (ssl.MemoryBIO), so that the server's
        first answer is seen raw: a peer that answers the ClientHello in another protocol
        (`HTTP/1.1 400 Bad Request`) raises NotTls with its words instead of an opaque
        'wrong version number'. `nudge` (after, data): when the ClientHello stays unanswered
        that long, send `data` once, for servers that answer only a complete line (HTTP).
        Also raises ssl.SSLError and ReadTimeout."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        first = True
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        obj.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        pass
                    finally:
                        if outgoing.pending:
                            self.writer.write(outgoing.read())
                    await self.writer.drain()
                    data = await self._first_read(nudge) if first else \
                        await self.reader.read(65536)
                    if first and data and data[0] not in _TLS_RECORD_TYPES:
                        raise NotTls(data[:512])
                    first = False
                    if data:
                        incoming.write(data)
                    else:
                        incoming.write_eof()
        except TimeoutError:
            raise ReadTimeout(f"TLS handshake did not finish within {timeout:.1f} s") from None
        plain = asyncio.StreamReader(limit=MAX_LINE * 8)
        self.reader, self._bio, self.tls = plain, (obj, outgoing), obj
        self._pump = asyncio.create_task(self._decrypt(obj, incoming, outgoing, plain))
        cipher = obj.cipher()
        self._note("=", f"TLS {obj.version()} {cipher[0] if cipher else ''}")
        return obj

    async def _first_read(self, nudge: tuple[float, bytes] | None) -> bytes:
        if nudge is not None:
            try:
                async with asyncio.timeout(nudge[0]):
                    return await self.reader.read(65536)
            except TimeoutError:
                self.writer.write(nudge[1])
                await self.writer.drain()
        return await self.reader.read(65536)

    async def _decrypt(self, obj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                       outgoing: ssl.MemoryBIO, plain: asyncio.StreamReader) -> None:
        """Feed what arrives, decrypted, to the line reader; EOF when either side ends."""
        source = self._raw_reader
        try:
            while True:
                while True:
                    try:
                        chunk = obj.read(65536)
                    except ssl.SSLWantReadError:
                        break
                    if not chunk:
                        return
                    plain.feed_data(chunk)
                if outgoing.pending:  # e.g. a TLS 1.3 key update answered
                    self.writer.write(outgoing.read())
                data = await source.read(65536)
                if not data:
                    return
                incoming.write(data)
        except (ssl.SSLError, OSError):
            return
        finally:
            plain.feed_eof()

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
        if self._pump is not None:
            self._pump.cancel()
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    def _note(self, direction: str, line: str) -> None:
        if len(self.transcript) < 200:
            self.transcript.append(f"{direction} {line[:300]}")
