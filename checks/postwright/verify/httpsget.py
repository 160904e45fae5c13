"""One bounded HTTPS GET, the way an MTA-STS sender fetches a policy (RFC 8461 3.3).

The name is resolved through the project resolver (so --resolver applies, and tests can map
it to loopback), the certificate must be valid for the name and chain to the system store or
--ca-file, redirects are not followed, and the body is capped: a sender would do no more, and
a policy host that needs more is broken for senders too. One deadline covers everything.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

from postwright.verify.explain import plain
from postwright.verify.resolver import Resolver

MAX_BODY = 64 * 1024  # RFC 8461 sets none; real policies are a few hundred bytes
_MAX_HEAD = 16 * 1024


@dataclass
class HttpsResult:
    url: str
    address: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""  # why there is no response (DNS, connect, TLS, timeout, size, syntax)


def _context(ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8461 3.3: TLS 1.2 or later
    return ctx


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise ValueError("truncated chunked body")
        size = int(size_line.split(b";")[0].strip() or b"x", 16)
        if size == 0:
            return bytes(out)
        if len(data) < size + 2:
            raise ValueError("truncated chunked body")
        out += data[:size]
        data = data[size + 2:]


async def _until_eof(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while len(body) <= MAX_BODY:
        more = await reader.read(MAX_BODY + 1 - len(body))
        if not more:
            return body
        body += more
    raise ValueError(f"body larger than {MAX_BODY} bytes")


async def https_get(resolver: Resolver, host: str, path: str, *, ca_file: str | None,
                    timeout: float, port: int = 443) -> HttpsResult:
    """GET https://host{path}; never raises for network trouble (see .error)."""
    result = HttpsResult(f"https://{host}{path}")
    deadline = time.monotonic() + timeout
    addresses = await resolver.addresses(host)
    if not addresses:
        result.error = f"{host} has no A/AAAA record (via {resolver.description})"
        return result
    for address in addresses:  # the next address only when this one cannot be reached
        result.address, result.error = address, ""
        try:
            await asyncio.wait_for(_exchange(result, host, path, ca_file, port),
                                   max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            result.error = f"no complete answer from {address} within {timeout:.0f} s"
        except ssl.SSLError as exc:
            result.error = f"TLS with {host} failed: {plain(exc, during='the handshake')}"
        except OSError as exc:
            result.error = f"cannot connect to {address} port {port}: {exc.strerror or exc}"
            if time.monotonic() < deadline:
                continue
        except ValueError as exc:
            result.error = f"bad HTTP response: {exc}"
        break
    return result


async def _exchange(result: HttpsResult, host: str, path: str, ca_file: str | None,
                    port: int) -> None:
    assert result.address is not None  # noqa: S101 - https_get set it
    reader, writer = await asyncio.open_connection(result.address, port, ssl=_context(ca_file),
                                                   server_hostname=host, limit=_MAX_HEAD)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: postwright-verify\r\n"
                     "Accept: text/plain\r\nConnection: close\r\n\r\n".encode("ascii"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
        result.status = int(parts[1])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                result.headers[name.strip().lower()] = value.strip()
        length = result.headers.get("content-length", "")
        if length.isdigit() and int(length) <= MAX_BODY:
            body = await reader.readexactly(int(length))  # the server may keep the connection
        else:
            body = await _until_eof(reader)
        if "chunked" in result.headers.get("transfer-encoding", "").lower():
            body = _dechunk(body)
        result.body = body
    except asyncio.IncompleteReadError:
        raise ValueError("the connection closed before the response was complete") from None
    except asyncio.LimitOverrunError:
        raise ValueError(f"headers larger than {_MAX_HEAD} bytes") from None
    finally:
        writer.close()
