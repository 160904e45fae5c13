"""The state one port's checks share: where, which contract service, the collector, budgets.

The family modules (tlscheck, authcheck, relaycheck) each judge one concern on the same
session object, so that one connection's facts feed every check without being passed around.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from postwright.contract import Service
from postwright.verify import dialects
from postwright.verify.certcheck import ExpectedCert
from postwright.verify.dialects import DialogueError, Greeting
from postwright.verify.model import Collector
from postwright.verify.probe import Endpoint, Mode, Probe
from postwright.verify.probemail import ProbeMail
from postwright.verify.registry import port_check_ids
from postwright.verify.tlsinfo import TlsInfo
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

# What talking to a server can raise: every one of them is reported, never propagated.
NETWORK_ERRORS = (OSError, ReadTimeout, ConnectionClosed, DialogueError, ssl.SSLError,
                  TimeoutError)


@dataclass
class PortFacts:
    """What other checks (names consistency) need from one port session."""

    mode: Mode | None = None
    banner_name: str | None = None
    ehlo_name: str | None = None
    cert_names: list[str] = field(default_factory=list)
    tls: TlsInfo | None = None  # the session's TLS facts (DANE and MTA-STS judge its chain)


@dataclass
class PortSession:
    """Where (endpoint), what the contract says (service), where results go (col), and the
    three waits: `step` per reply, `connect_timeout` per TCP connect, `wait` per greeting."""

    ep: Endpoint
    service: Service
    col: Collector
    step: float  # one request/response exchange
    sender_domain: str | None = None
    expected_cert: ExpectedCert | None = None
    greeting_budget: float | None = None  # how long a greeting may take (default: step)
    connect_timeout: float | None = None  # TCP connect (default: step)
    facts: PortFacts = field(default_factory=PortFacts)
    probe: Probe | None = None
    spares: list[asyncio.Task[tuple[Conn, Greeting]]] = field(default_factory=list)
    probe_mail: ProbeMail | None = None  # where smtp.smuggling may send (None: nowhere)

    @property
    def sender(self) -> str:
        return f"postwright-probe@{self.sender_domain}" if self.sender_domain else ""

    @property
    def wait(self) -> float:
        """How long a greeting may take: RFC 5321 4.5.3.2 allows 5 minutes, the run less."""
        return max(self.step, self.greeting_budget or 0.0)

    @property
    def ids(self) -> list[str]:
        options = frozenset({"--expect-cert"} if self.expected_cert is not None else ())
        return port_check_ids(self.service, options=options)

    def wants(self, check_id: str) -> bool:
        """This port reports `check_id` and has not done so yet."""
        return check_id in self.ids and not self.col.has(check_id)

    async def greeted(self) -> tuple[Conn, Greeting]:
        """A new plaintext connection, greeted (the greeting may take `wait` seconds)."""
        conn = await Conn.open(self.ep.ip, self.ep.port, self.connect_timeout or self.step)
        try:
            line = await conn.readline(self.wait)
            return conn, await dialects.read_greeting(conn, line, self.wait)
        except BaseException:
            conn.abort()
            raise

    def open_spares(self, count: int) -> None:
        """Start greeted connections for the later tests now: a slow greeter (postscreen,
        greet_pause) then makes them wait once, in parallel, not once per test."""
        self.spares += [asyncio.create_task(self.greeted()) for _ in range(count)]

    async def spare(self) -> tuple[Conn, Greeting]:
        return await (self.spares.pop() if self.spares else self.greeted())

    async def drop_spares(self) -> None:
        for task in self.spares:
            task.cancel()
        for task in self.spares:
            with contextlib.suppress(BaseException):
                conn, _ = await task
                conn.abort()
        self.spares.clear()
