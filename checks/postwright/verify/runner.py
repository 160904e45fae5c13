"""`verify`: every check, for every address of the host, concurrently, under one deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from postwright.contract import Service, load_contract
from postwright.errors import UsageError
from postwright.verify.authority import Authority
from postwright.verify.certcheck import ExpectedCert
from postwright.verify.dnscheck import DnsChecks, DnsFacts, default_domain, is_ip
from postwright.verify.mailpolicy import PolicyTarget, start_policy_checks
from postwright.verify.model import CheckResult, Collector, Report, Status
from postwright.verify.names import check_names
from postwright.verify.portcheck import PortFacts, check_port
from postwright.verify.probe import Endpoint
from postwright.verify.probemail import ProbeMail
from postwright.verify.registry import all_checks, send_check_id, spec
from postwright.verify.resolver import Resolver
from postwright.verify.roundtrip import RoundTrip, receive, send_checks
from postwright.verify.served import SMTP_PORT


@dataclass
class VerifyOptions:
    host: str
    domain: str | None = None
    servername: str | None = None
    ca_file: str | None = None
    resolver: str | None = None  # "IP[:port]"; None: the system resolver
    ports: dict[str, int] = field(default_factory=dict)  # service name -> port override
    services: list[str] | None = None  # only these services (default: all in the contract)
    deadline: float = 20.0
    step_timeout: float = 5.0  # one reply, and the TCP connect of the ports the host must serve
    # TCP connect of optional services that are off by default (143, 110, 995, 4190): a
    # firewall usually drops those, and a dropped SYN must not cost the whole step
    optional_connect_timeout: float = 1.0
    receive_wait: float = 10.0
    user: str | None = None
    smuggle_rcpt: str | None = None  # smtp.smuggling's recipient (default: the --user address)
    password: str | None = field(default=None, repr=False)
    dkim_selector: str | None = None
    ehlo_name: str | None = None  # default: an address literal of our own address
    dns: bool = True
    addresses: list[str] | None = None  # skip resolving HOST; test exactly these
    dns_port: int = 53  # port of the authoritative servers asked for TTLs (a test hook)
    expect_cert: ExpectedCert | None = None  # tls.cert.current on every TLS port when given
    progress: Callable[[CheckResult], None] | None = field(default=None, repr=False)
    dnsbl: list[str] | None = None  # blocklist zones (None: dnsbl.DEFAULT_ZONES, []: none)
    mta_sts_port: int = 443  # port of the MTA-STS policy host (a test hook)


def _services(opts: VerifyOptions) -> list[Service]:
    contract = load_contract()
    for name in [*opts.ports, *(opts.services or [])]:
        contract.service(name)  # raises on an unknown name
    chosen = [s for s in contract.services.values()
              if opts.services is None or s.name in opts.services]
    return chosen


def _ehlo_literal(ip: str) -> str:
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


async def local_literal(ip: str, port: int) -> str:
    """An address literal of the local address used to reach ip (RFC 5321 4.1.3)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (ip, port))  # UDP: no packet leaves
        return _ehlo_literal(sock.getsockname()[0])
    except OSError:
        return "[127.0.0.1]"
    finally:
        sock.close()


async def verify(opts: VerifyOptions) -> Report:
    """Run all checks against opts.host; never raises for network trouble, only for usage."""
    started = time.monotonic()
    services = _services(opts)
    domain = opts.domain or default_domain(opts.host)
    servername = opts.servername or (None if is_ip(opts.host) else opts.host.rstrip("."))
    resolver = Resolver(opts.resolver, timeout=min(3.0, opts.step_timeout)) \
        if opts.dns or not is_ip(opts.host) else None
    top = Collector(listener=opts.progress)
    addresses = opts.addresses or await _addresses(opts.host, resolver, top)
    deadline = started + opts.deadline

    # A greeting may take until shortly before the deadline (RFC 5321 allows 5 minutes; a
    # tarpit is reported as one, rather than as "deadline", when the reserve is left).
    greeting_budget = max(opts.step_timeout, deadline - time.monotonic() - _reserve(opts))
    probe_mail = ProbeMail(opts.smuggle_rcpt or _user_address(opts, domain),
                           settle_by=deadline - _reserve(opts))
    smuggles = spec("smtp.smuggling").applies
    port_facts: dict[tuple[str, int], asyncio.Task[PortFacts]] = {}
    ports = {s.name: opts.ports.get(s.name, s.port) for s in services}
    tasks: list[tuple[Collector, asyncio.Task[Any]]] = []
    for ip in addresses:
        ehlo = opts.ehlo_name or await local_literal(ip, 25)
        for service in services:
            ep = Endpoint(ip, ports[service.name], service.protocol, servername, opts.ca_file,
                          ehlo)
            col = Collector(ip, ep.port, listener=opts.progress)
            mail = probe_mail if smuggles(service) else None
            if mail is not None:
                mail.expect_sender()
            task = asyncio.create_task(check_port(
                ep, service, col, step_timeout=opts.step_timeout, sender_domain=domain,
                expected_cert=opts.expect_cert, greeting_budget=greeting_budget,
                connect_timeout=_connect_timeout(opts, service), probe_mail=mail))
            tasks.append((col, task))
            port_facts[(ip, service.port)] = task
    dns_col = Collector(listener=opts.progress)
    dns_task: asyncio.Task[DnsFacts] | None = None
    if opts.dns and resolver is not None:
        # authoritative TTL queries stop early enough for the checks to report in time
        authority = Authority(resolver, port=opts.dns_port, timeout=min(2.0, opts.step_timeout),
                              deadline=deadline - min(2.0, opts.deadline / 4))
        dns_task = asyncio.create_task(DnsChecks(
            resolver, dns_col, host=opts.host.rstrip("."), domain=domain, addresses=addresses,
            dkim_selector=opts.dkim_selector, authority=authority).run())
        tasks.append((dns_col, dns_task))
        smtp25 = {ip: t for (ip, port), t in port_facts.items() if port == SMTP_PORT}
        tasks += start_policy_checks(resolver, PolicyTarget(
            mx_name=servername, domain=domain, addresses=addresses, ca_file=opts.ca_file,
            dnsbl=opts.dnsbl, timeout=opts.step_timeout, https_port=opts.mta_sts_port), smtp25)
    rt_col = Collector(listener=opts.progress)
    trip = _round_trip(opts, services, ports, addresses, servername, domain, rt_col,
                       probe_mail)
    if trip is not None:
        tasks.append((rt_col, asyncio.create_task(trip)))

    remaining = max(0.0, deadline - time.monotonic())
    if tasks:
        _, pending = await asyncio.wait([t for _, t in tasks], timeout=remaining)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    late = f"not finished within the deadline of {opts.deadline:.0f} s (--deadline)"
    for col, task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            col.close_pending(f"internal error: {exc!r}")
        col.close_pending(late)

    names_col = Collector(listener=opts.progress)
    ptr = dns_task.result().ptr if dns_task and dns_task.done() and not dns_task.cancelled() \
        and dns_task.exception() is None else None
    smtp = next((s for s in services if s.port == load_contract().service("smtp").port), None)
    if smtp is not None:
        for ip in addresses:
            ptask = port_facts.get((ip, smtp.port))
            facts = ptask.result() if ptask and ptask.done() and not ptask.cancelled() \
                and ptask.exception() is None else None
            check_names(names_col, ip, ports[smtp.name], facts,
                        ptr.get(ip) if ptr is not None else None)
    results: list[CheckResult] = list(top.results)
    for col, _ in tasks:
        results += col.results
    if trip is None:
        results += rt_col.results
    results += names_col.results
    return Report(opts.host, time.monotonic() - started, results)


def _reserve(opts: VerifyOptions) -> float:
    """Time kept back from the greeting wait so that the checks after it still report."""
    return min(opts.step_timeout, opts.deadline / 4)


def _connect_timeout(opts: VerifyOptions, service: Service) -> float:
    if service.optional and not service.enabled:
        return min(opts.optional_connect_timeout, opts.step_timeout)
    return opts.step_timeout


async def _addresses(host: str, resolver: Resolver | None, col: Collector) -> list[str]:
    if is_ip(host):
        return [host]
    if resolver is None:
        raise UsageError("HOST is a name: DNS is needed to resolve it")
    found = await resolver.addresses(host.rstrip("."))
    if not found:
        col.add("dns.a", Status.FAIL, f"{host} does not resolve (no A or AAAA) via "
                f"{resolver.description}: nothing to check",
                remedy=f"publish A/AAAA records for {host}")
    return found


def _round_trip(opts: VerifyOptions, services: list[Service], ports: dict[str, int],
                addresses: list[str], servername: str | None, domain: str | None,
                col: Collector, probe_mail: ProbeMail) -> Coroutine[Any, Any, None] | None:
    contract = load_contract()
    sends = {c.id for c in all_checks() if c.id.startswith("send.")}
    send_services = [s for s in services if send_check_id(s) in sends]
    ids = [send_check_id(s) for s in send_services] + ["imap.receive"]
    if not opts.user:
        for check in ids:
            col.add(check, Status.SKIP, "no --user given: the round trip (send, then read back "
                    "over IMAPS) needs a test mailbox and its password")
        return None
    if not opts.password:
        raise UsageError("--user needs a password (--password-file, POSTWRIGHT_PASSWORD)")
    address = _user_address(opts, domain)
    if address is None:
        raise UsageError("--user without @domain needs --domain (HOST is an IP address)")
    rt = RoundTrip(opts.user, opts.password, address)
    if (probe_mail.recipient or "").lower() == address.lower():
        rt.probes = probe_mail  # the smuggling probe's messages land here: delete them too
    imaps = contract.service("imaps")

    # the sends' greetings may be slow too; reading back usually takes a second, not the
    # whole --receive-wait, so half the run is enough
    greeting = max(opts.step_timeout, opts.deadline - 2 * _reserve(opts))

    async def run() -> None:
        jobs = []
        for ip in addresses:
            ehlo = opts.ehlo_name or await local_literal(ip, 25)
            for service in send_services:
                ep = Endpoint(ip, ports[service.name], "smtp", servername, opts.ca_file, ehlo)
                jobs.append(send_checks(col, ep, service, rt, opts.step_timeout,
                                        greeting=greeting))
        await asyncio.gather(*jobs)
        ep = Endpoint(addresses[0], opts.ports.get(imaps.name, imaps.port), "imap", servername,
                      opts.ca_file)
        await receive(col, ep, rt, opts.step_timeout, opts.receive_wait)

    if not addresses:
        return None
    return run()


def _user_address(opts: VerifyOptions, domain: str | None) -> str | None:
    """The --user mailbox's address (user@domain), or None without --user (or a domain)."""
    if not opts.user:
        return None
    if "@" in opts.user:
        return opts.user
    return f"{opts.user}@{domain}" if domain else None


def run_verify(opts: VerifyOptions) -> Report:
    """Synchronous entry point (CLI, lab tests)."""
    return asyncio.run(verify(opts))
