"""Which TCP ports of one address accept a connection: a plain connect() scan.

A port is open when connect() completes; refused, unreachable or not answered within the
timeout all count as not open (the scan does not tell closed from filtered, it only lists
what answers). Nothing is sent: each connection is closed as soon as it is established.
Every attempt is bounded by `timeout` and at most `concurrency` run at once, so a scan of
N ports takes at most about ceil(N / concurrency) * timeout, whatever the target does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Iterator

from postwright.errors import UsageError

DEFAULT_TIMEOUT = 1.0
DEFAULT_CONCURRENCY = 256  # well below the usual 1024 open-file limit

COMMON_PORTS: tuple[int, ...] = tuple(sorted({
    *range(1, 1025),  # well-known ports: smtp, submission(s), imap(s), pop3(s), http(s), ssh ...
    2525,  # alternative submission port (providers that block 587)
    4190,  # ManageSieve (Dovecot Pigeonhole)
    8080, 8443,  # web mail, admin panels and proxies
    # milters, conventional TCP ports: OpenDKIM, OpenDMARC
    8891, 8892,
    # amavisd-new content filter and the Postfix smtpd that takes its mail back
    10024, 10025,
    # rspamd: proxy/milter worker, normal worker, controller (web UI and learning)
    11332, 11333, 11334,
    # Dovecot: auth inet listener of many SASL guides, old stats (v2.1), OpenMetrics stats
    12345, 24242, 9900,
    # databases behind the mail stack: MySQL/MariaDB (+ X protocol), PostgreSQL, Redis
    # (rspamd's store), ClamAV clamd
    3306, 33060, 5432, 6379, 3310,
}))


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # Only literal addresses: a host name would mean a DNS lookup per connection, and the
    # caller should decide which of a name's addresses it scans.
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        raise UsageError(f"port scan: {ip!r} is not an IP address") from None


def _ports(ports: Iterable[int]) -> list[int]:
    checked: set[int] = set()
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise UsageError(f"port scan: {port!r} is not a TCP port (1-65535)")
        checked.add(port)
    return sorted(checked)


async def _answers(family: socket.AddressFamily, ip: str, port: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    # Raised here (e.g. EMFILE: too many open files) is a local failure, not a closed port:
    # it propagates instead of being reported as "not open".
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (ip, port))
        return True
    except (OSError, TimeoutError):  # refused, unreachable, reset, no answer in time
        return False
    finally:
        sock.close()


async def open_ports(ip: str, ports: Iterable[int], *, timeout: float = DEFAULT_TIMEOUT,
                     concurrency: int = DEFAULT_CONCURRENCY) -> set[int]:
    """The ports of `ip` (an IPv4 or IPv6 literal) that accept a TCP connection.

    Bad input (not an address, a port outside 1-65535, timeout or concurrency not positive)
    raises UsageError before anything is sent.
    """
    address = _address(ip)
    wanted = _ports(ports)
    if not timeout > 0:
        raise UsageError(f"port scan: timeout must be positive, got {timeout!r}")
    if concurrency < 1:
        raise UsageError(f"port scan: concurrency must be at least 1, got {concurrency!r}")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    found: set[int] = set()
    queue: Iterator[int] = iter(wanted)

    # A fixed pool of workers sharing one iterator, rather than one task per port: the
    # number of sockets open at once never exceeds `concurrency`, even for 65535 ports.
    async def worker() -> None:
        for port in queue:
            if await _answers(family, ip, port, timeout):
                found.add(port)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(wanted)))]
    try:
        await asyncio.gather(*workers)
    finally:  # one worker failed (e.g. out of file descriptors): stop the others too
        for task in workers:
            task.cancel()
    return found


def scan(ip: str, ports: Iterable[int], *, timeout: float = DEFAULT_TIMEOUT,
         concurrency: int = DEFAULT_CONCURRENCY) -> set[int]:
    """open_ports() for callers without an event loop (it must not run inside one)."""
    return asyncio.run(open_ports(ip, ports, timeout=timeout, concurrency=concurrency))
