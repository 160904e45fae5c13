"""The connect() port scan, against loopback only (127.0.0.1 and ::1)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from postwright.errors import UsageError
from postwright.verify.portscan import COMMON_PORTS, open_ports, scan


def _listening(host: str = "127.0.0.1", backlog: int = 8) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(backlog)
    return sock


def _bound(host: str = "127.0.0.1") -> socket.socket:
    """A port that refuses for sure while this socket lives: bound, but not listening (no
    other program can take it meanwhile, as it could after a bind-then-close)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


def _port(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def _silent(sockets: list[socket.socket]) -> int:
    """A loopback port whose connect() neither completes nor fails: a listener with a full
    accept queue. Linux drops further SYNs then (the client retransmits until it gives up),
    which is what a firewall that drops packets looks like from the scanner."""
    listener = _listening(backlog=0)
    sockets.append(listener)
    filler = socket.create_connection(("127.0.0.1", _port(listener)), timeout=2)
    sockets.append(filler)
    probe = socket.socket()
    sockets.append(probe)
    probe.settimeout(0.1)  # on loopback a completing connect takes microseconds
    # Linux drops SYNs beyond a full accept queue; the test needs exactly that behaviour.
    with pytest.raises(TimeoutError):
        probe.connect(("127.0.0.1", _port(listener)))
    return _port(listener)


def test_exact_set_of_open_ports(sockets: list[socket.socket]) -> None:
    sockets += [_listening(), _listening(), _bound()]
    first, second, closed = (_port(s) for s in sockets)
    assert scan("127.0.0.1", [first, closed, second]) == {first, second}
    assert scan("127.0.0.1", [closed]) == set()
    assert scan("127.0.0.1", []) == set()


def test_ipv6_loopback(sockets: list[socket.socket]) -> None:
    sockets += [_listening("::1"), _bound("::1")]
    listening, closed = (_port(s) for s in sockets)
    assert scan("::1", (listening, closed, listening)) == {listening}


def test_open_ports_inside_a_running_loop(sockets: list[socket.socket]) -> None:
    sockets.append(_listening())
    port = _port(sockets[0])

    async def main() -> list[set[int]]:
        return list(await asyncio.gather(open_ports("127.0.0.1", [port]),
                                         open_ports("127.0.0.1", {port}, concurrency=1)))

    assert asyncio.run(main()) == [{port}, {port}]


def test_hundreds_of_closed_ports_finish_and_are_empty(sockets: list[socket.socket]) -> None:
    sockets += [_bound() for _ in range(300)]
    started = time.monotonic()
    assert scan("127.0.0.1", [_port(s) for s in sockets], timeout=1.0, concurrency=64) == set()
    assert time.monotonic() - started < 5.0  # ceil(300 / 64) rounds of at most 1 s


def test_unanswered_connect_is_cut_off_at_the_timeout(sockets: list[socket.socket]) -> None:
    silent = _silent(sockets)
    sockets.append(_listening())
    answering = _port(sockets[-1])
    started = time.monotonic()
    assert scan("127.0.0.1", [silent, answering], timeout=0.3, concurrency=1) == {answering}
    assert 0.25 < time.monotonic() - started < 1.5


def test_concurrency_bounds_the_parallel_attempts(sockets: list[socket.socket]) -> None:
    silent = [_silent(sockets) for _ in range(6)]
    started = time.monotonic()
    assert scan("127.0.0.1", silent, timeout=0.3, concurrency=3) == set()
    elapsed = time.monotonic() - started
    assert 0.55 < elapsed < 2.0, elapsed  # two rounds of three, not one round of six


@pytest.mark.parametrize(
    ("ip", "ports", "kwargs", "why"),
    [
        ("localhost", [25], {}, "'localhost' is not an IP address"),
        ("127.0.0.1", [0], {}, "0 is not a TCP port"),
        ("127.0.0.1", [65536], {}, "65536 is not a TCP port"),
        ("127.0.0.1", [True], {}, "True is not a TCP port"),
        ("127.0.0.1", ["25"], {}, "'25' is not a TCP port"),
        ("127.0.0.1", [25], {"timeout": 0}, "timeout must be positive"),
        ("127.0.0.1", [25], {"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
def test_bad_input_is_a_usage_error(ip: str, ports: list[object], kwargs: dict[str, float],
                                    why: str) -> None:
    with pytest.raises(UsageError, match=why):
        scan(ip, ports, **kwargs)  # type: ignore[arg-type]


def test_common_ports() -> None:
    assert list(COMMON_PORTS) == sorted(set(COMMON_PORTS))
    assert set(range(1, 1025)) <= set(COMMON_PORTS)
    assert {2525, 3306, 4190, 5432, 6379, 8080, 8443, 8891, 8892, 10024, 10025, 11332, 11333,
            11334, 12345, 24242, 33060} <= set(COMMON_PORTS)
    assert all(1 <= p <= 65535 for p in COMMON_PORTS)
