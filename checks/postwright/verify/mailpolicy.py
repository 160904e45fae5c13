"""The DNS-published mail policies, each in its own task beside the dns.* checks.

DNSBL listings, DANE, MTA-STS and TLS-RPT are separate concerns (one module each); this only
starts them under the run's deadline, so the runner needs one call. DANE and MTA-STS wait for
the port 25 check of each address (its certificate), the rest start at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from postwright.verify.dane import DaneCheck
from postwright.verify.dnsbl import DEFAULT_ZONES, DnsblChecks
from postwright.verify.model import Collector
from postwright.verify.mtasts import MtaStsCheck
from postwright.verify.resolver import Resolver
from postwright.verify.served import PortTasks
from postwright.verify.tlsrpt import check_tlsrpt


@dataclass
class PolicyTarget:
    mx_name: str | None  # the host's name (HOST, or --servername when HOST is an IP)
    domain: str | None
    addresses: list[str]
    ca_file: str | None
    dnsbl: list[str] | None  # None: DEFAULT_ZONES; []: off
    timeout: float  # per lookup/fetch
    https_port: int = 443  # MTA-STS policy host port (a test hook)


def start_policy_checks(resolver: Resolver, target: PolicyTarget, port_tasks: PortTasks
                        ) -> list[tuple[Collector, asyncio.Task[None]]]:
    """One task per concern, each with its own Collector (the runner reports them)."""
    zones = list(DEFAULT_ZONES) if target.dnsbl is None else target.dnsbl
    steps: list[tuple[Collector, Coroutine[Any, Any, None]]] = []
    col = Collector()
    steps.append((col, DnsblChecks(resolver, col, addresses=target.addresses,
                                   zones=zones).run()))
    col = Collector()
    steps.append((col, DaneCheck(resolver, col, mx_name=target.mx_name,
                                 addresses=target.addresses, port_tasks=port_tasks).run()))
    col = Collector()
    steps.append((col, MtaStsCheck(resolver, col, domain=target.domain,
                                   mx_name=target.mx_name, addresses=target.addresses,
                                   port_tasks=port_tasks, ca_file=target.ca_file,
                                   timeout=target.timeout, https_port=target.https_port).run()))
    col = Collector()
    steps.append((col, check_tlsrpt(resolver, col, target.domain)))
    return [(c, asyncio.create_task(step)) for c, step in steps]
