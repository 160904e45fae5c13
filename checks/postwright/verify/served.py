"""The TLS session port 25 served, as its port check saw it.

DANE and MTA-STS judge the certificate a sender would get on port 25. The port check already
holds that session, so they wait for its facts instead of opening connections of their own.
"""

from __future__ import annotations

import asyncio

from postwright.verify.portcheck import PortFacts
from postwright.verify.tlsinfo import TlsInfo

SMTP_PORT = 25  # DANE's _25._tcp and MTA-STS are about port 25, whatever port the test uses

PortTasks = dict[str, "asyncio.Task[PortFacts]"]  # address -> its port 25 check


async def served_tls(tasks: PortTasks, ip: str) -> tuple[TlsInfo | None, str]:
    """The port-25 TLS facts of `ip`, or None and why there are none."""
    task = tasks.get(ip)
    if task is None:
        return None, f"port {SMTP_PORT} of {ip} was not checked (see --service)"
    try:
        facts = await asyncio.shield(task)  # our cancellation must not cancel the port check
    except Exception as exc:  # the port check reports its own failure
        return None, f"the port {SMTP_PORT} check of {ip} failed ({exc!r})"
    if facts.tls is None or facts.tls.der is None:
        return None, f"port {SMTP_PORT} of {ip} gave no TLS certificate (see tls.handshake)"
    return facts.tls, ""
