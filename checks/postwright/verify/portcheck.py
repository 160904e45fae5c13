"""Everything checked on one port of one address: mode, TLS, AUTH policy, relay.

This module runs the session in order and hands each stage to the family that judges it
(tlscheck, authcheck, relaycheck). Connections per address and port: the probe's greeting
connection (its session goes on with the policy checks), a ClientHello race connection only
when the greeting is slow or absent, one more only when the certificate fails verification,
one for the legacy-protocol test and, on STARTTLS ports, one for the injection test. On the
MX port: one for the pipelining test and, when a recipient is named, one per end-of-data
variant of the smuggling test (smuggling.VARIANTS).
"""

from __future__ import annotations

import asyncio

from postwright.contract import Service, TlsMode
from postwright.verify import authcheck, dialects, pipelining, relaycheck, smuggling, tlscheck
from postwright.verify.certcheck import ExpectedCert
from postwright.verify.diagnosis import diagnose, expected_mode
from postwright.verify.dialects import Greeting
from postwright.verify.explain import plain
from postwright.verify.injection import injection
from postwright.verify.model import Collector, Status
from postwright.verify.probe import Endpoint, Mode, Probe, classify, upgrade
from postwright.verify.probemail import ProbeMail
from postwright.verify.session import NETWORK_ERRORS, PortFacts, PortSession
from postwright.verify.tlsinfo import TlsInfo
from postwright.verify.wire import Conn

__all__ = ["PortFacts", "check_port"]


class PortCheck(PortSession):
    """One port's run: classify, then the session's stages, each judged by its family."""

    async def run(self) -> PortFacts:
        self.col.expect("port.mode")
        optional_off = self.service.optional and not self.service.enabled
        spares = 2 if self.service.tls is TlsMode.STARTTLS else 0  # legacy and injection
        spares += smuggling.connections(self) + pipelining.connections(self)
        if not optional_off:
            self.open_spares(spares)  # the later tests: greeted alongside the probe
        try:
            return await self._run(optional_off)
        finally:
            await self.drop_spares()
            if self.probe_mail is not None:
                self.probe_mail.sender_done()

    async def _run(self, optional_off: bool) -> PortFacts:
        probe = self.probe = await classify(self.ep, self.step, greeting=self.wait,
                                            connect=self.connect_timeout)
        self.facts.mode = probe.mode
        if optional_off and probe.mode in (Mode.CLOSED, Mode.FILTERED):
            self.col.close_pending("", Status.SKIP)
            self.col.results.clear()  # an optional service that is off: nothing to report
            return self.facts
        self.col.expect(*self.ids)
        self._mode_result(probe)
        try:
            await self._session(probe)
            later = [smuggling.smuggling(self, probe), pipelining.pipelining(self, probe)]
            if probe.mode in (Mode.STARTTLS, Mode.IMPLICIT):
                later += [tlscheck.legacy(self, probe.mode), injection(self, probe)]
            await asyncio.gather(*later)
        finally:
            if probe.conn:
                await dialects.goodbye(probe.conn, probe.protocol or "smtp")
        self.col.close_pending(f"not checked: port {self.ep.port} speaks {probe.mode.value} "
                               "(see port.mode)", Status.SKIP)
        return self.facts

    def _mode_result(self, probe: Probe) -> None:
        diag = diagnose(probe, self.service)
        want = expected_mode(self.service)
        self.col.add("port.mode", diag.status, diag.summary, remedy=diag.remedy, evidence={
            "mode": probe.mode.value,
            "expected": want.value if want else None,
            "service": self.service.name,
            "protocol": probe.protocol,
            "banner": probe.banner,
            "detail": probe.detail,
            "elapsed_s": probe.elapsed,
            "connections": probe.connections,
        })

    async def _session(self, probe: Probe) -> None:
        greeting = probe.greeting
        if probe.mode in (Mode.STARTTLS, Mode.PLAIN) and greeting and probe.caps:
            self.facts.banner_name = greeting.name
            self.facts.ehlo_name = probe.caps.name
            authcheck.before_tls(self, greeting, probe.caps)
            authcheck.on_mx(self, probe.caps, "before STARTTLS", final=False)
            if probe.conn:
                await authcheck.requires_tls(self, probe.conn)
            if probe.mode is Mode.PLAIN:
                tlscheck.no_tls(self, probe.caps.lines)
                await self._after_tls(probe, greeting, probe.conn, tls=False)
                return
            conn = await upgrade(probe, self.step, budget=99, greeting=self.wait)
            tlscheck.results(self, probe.tls or TlsInfo())
            if conn:
                await self._after_tls(probe, greeting, conn, tls=True)
        elif probe.mode is Mode.IMPLICIT:
            tlscheck.results(self, probe.tls or TlsInfo())
            if probe.conn and greeting and greeting.ok:
                self.facts.banner_name = greeting.name
                await self._after_tls(probe, greeting, probe.conn, tls=True)

    async def _after_tls(self, probe: Probe, greeting: Greeting, conn: Conn | None, *,
                         tls: bool) -> None:
        if conn is None:
            return
        try:
            caps = probe.caps if not tls else await dialects.capabilities(
                conn, greeting, self.ep.ehlo_name, self.step, after_tls=True)
        except NETWORK_ERRORS as exc:
            for check in ("auth.on_mx", "relay.open"):
                if self.wants(check):
                    self.col.add(check, Status.ERROR,
                                 f"the session broke after TLS: {plain(exc)}",
                                 evidence={"transcript": conn.transcript[-6:]})
            return
        if caps is None:
            return
        if caps.name and not self.facts.ehlo_name:
            self.facts.ehlo_name = caps.name
        authcheck.on_mx(self, caps, "after STARTTLS" if tls else "in plaintext", final=True)
        await relaycheck.relay(self, conn)


async def check_port(endpoint: Endpoint, service: Service, col: Collector, *,
                     step_timeout: float, sender_domain: str | None,
                     expected_cert: ExpectedCert | None = None,
                     greeting_budget: float | None = None,
                     connect_timeout: float | None = None,
                     probe_mail: ProbeMail | None = None) -> PortFacts:
    """`probe_mail`: where smtp.smuggling may send (its sender_done is called at the end)."""
    check = PortCheck(endpoint, service, col, step_timeout, sender_domain, expected_cert,
                      greeting_budget, connect_timeout, probe_mail=probe_mail)
    try:
        return await check.run()
    except asyncio.CancelledError:
        if check.probe and check.probe.conn:
            check.probe.conn.abort()
        raise
