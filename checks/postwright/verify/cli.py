"""`postwright probe HOST:PORT` and `postwright verify HOST`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from postwright.contract import load_contract
from postwright.errors import UsageError
from postwright.verify.certcheck import ExpectedCert
from postwright.verify.credentials import read_password
from postwright.verify.diagnosis import diagnose
from postwright.verify.dialects import goodbye
from postwright.verify.dnsbl import parse_zones
from postwright.verify.dnscheck import is_ip
from postwright.verify.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK
from postwright.verify.probe import Endpoint, Mode, Probe, classify, upgrade
from postwright.verify.registry import listing
from postwright.verify.report import Progress, render_json, render_junit, render_text
from postwright.verify.runner import VerifyOptions, local_literal, run_verify

PROBE_EXIT = """exit codes:
  0  the port speaks what the contract expects (or is not in the contract)
  1  it does not, or it advertises STARTTLS and the TLS handshake then fails
  2  usage error"""
VERIFY_EXIT = f"""exit codes:
  {EXIT_OK}  every check passed (warnings and skips allowed)
  {EXIT_FAIL}  at least one check failed
  {EXIT_ERROR}  no check failed, but at least one could not be carried out (error: a
     timeout, the --deadline, a broken connection); the host is not proven fine
  2  usage error (nothing was sent)"""


def register(sub: Any) -> None:
    probe = sub.add_parser("probe", help="classify what one port speaks (STARTTLS, implicit "
                           "TLS, plain, closed, filtered, tarpit)", epilog=PROBE_EXIT,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    probe.add_argument("target", metavar="HOST:PORT", help="e.g. mx1.example.org:465, "
                       "[2001:db8::25]:587")
    probe.add_argument("--servername", help="SNI and certificate name (default: HOST if a name)")
    probe.add_argument("--ca-file", help="trust only this CA bundle (default: system store)")
    probe.add_argument("--timeout", type=float, default=5.0,
                       help="TCP connect and per-reply timeout in seconds (default 5)")
    probe.add_argument("--deadline", type=float, default=30.0,
                       help="how long the greeting may take, in seconds (default 30; "
                       "postscreen and Sendmail's greet_pause pause before it)")
    probe.add_argument("--ehlo", help="EHLO name (default: an address literal of ours)")
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    probe.set_defaults(handler=_probe)

    verify = sub.add_parser("verify", help="check a mail host: ports, TLS, AUTH policy, relay, "
                            "DNS, and (with --user) a real round trip", epilog=VERIFY_EXIT,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("host", metavar="HOST", nargs="?", help="host name or IP address")
    verify.add_argument("--list-checks", action="store_true",
                        help="list every check (id, family, where it runs) and exit")
    verify.add_argument("-v", "--verbose", action="store_true",
                        help="show every check in full, with its evidence")
    verify.add_argument("--domain", help="mail domain (default: HOST minus its first label)")
    verify.add_argument("--servername", help="SNI and certificate name when HOST is an IP")
    verify.add_argument("--ca-file", help="trust only this CA bundle (default: system store)")
    verify.add_argument("--resolver", metavar="IP[:PORT]", help="DNS server (default: system)")
    verify.add_argument("--no-dns", action="store_true", help="skip the dns.* checks")
    verify.add_argument("--dnsbl", metavar="ZONE,...", help="DNS blocklists to look the "
                        "host's addresses up in (default: zen.spamhaus.org; '' for none)")
    verify.add_argument("--port", action="append", default=[], metavar="SERVICE=N",
                        help="non-standard port for a contract service, e.g. submission=2587")
    verify.add_argument("--service", action="append", metavar="NAME",
                        help="check only this contract service (repeatable)")
    verify.add_argument("--deadline", type=float, default=20.0,
                        help="global deadline in seconds (default 20); a slow greeting "
                        "(postscreen, greet_pause) is awaited until shortly before it")
    verify.add_argument("--timeout", type=float, default=5.0,
                        help="per-reply and TCP connect timeout in seconds (default 5; "
                        "optional services that are off get 1 s to connect)")
    verify.add_argument("--user", help="test mailbox (user or user@domain) for the round trip")
    verify.add_argument("--smuggle-rcpt", metavar="ADDRESS", help="recipient of the SMTP "
                        "smuggling test (smtp.smuggling) on port 25: it gets one probe message "
                        "per end-of-data variant (default: the --user address, whose copies "
                        "the round trip deletes; without either the test is skipped)")
    verify.add_argument("--password-file", help="file whose first line is the password "
                        "(else $POSTWRIGHT_PASSWORD, else a prompt)")
    verify.add_argument("--receive-wait", type=float, default=10.0,
                        help="seconds to wait for the test messages in IMAP (default 10)")
    verify.add_argument("--dkim-selector", help="DKIM selector to check")
    verify.add_argument("--expect-cert", metavar="FILE", help="the certificate the daemons "
                        "should serve (PEM; a fullchain's first certificate): tls.cert.current "
                        "fails on every port still serving another one (e.g. no reload after "
                        "a renewal)")
    verify.add_argument("--ehlo", help="EHLO name (default: an address literal of ours)")
    verify.add_argument("--json", metavar="FILE|-", help="write the JSON report here")
    verify.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    verify.set_defaults(handler=_verify)


def parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"want HOST:PORT, got {target!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not 0 < int(port) < 65536:
        raise UsageError(f"port out of range: {port}")
    return host, int(port)


def parse_ports(items: list[str]) -> dict[str, int]:
    ports: dict[str, int] = {}
    contract = load_contract()
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit() or not 0 < int(value) < 65536:
            raise UsageError(f"--port wants SERVICE=N, got {item!r}")
        if name not in contract.services:
            raise UsageError(f"--port: unknown service {name!r} (known: "
                             f"{', '.join(contract.services)})")
        ports[name] = int(value)
    return ports


def _positive(value: float, option: str) -> float:
    if value <= 0:
        raise UsageError(f"{option} must be positive")
    return value


def _resolve_one(host: str) -> str:
    if is_ip(host):
        return host
    import socket

    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        raise UsageError(f"cannot resolve {host}: {exc}") from None


async def probe_port(host: str, port: int, *, servername: str | None = None,
                     ca_file: str | None = None, timeout: float = 5.0,
                     ehlo: str | None = None, greeting: float | None = None) -> Probe:
    """Classify one port and, for STARTTLS, fill in the TLS facts (at most 3 connections)."""
    ip = _resolve_one(host)
    service = load_contract().by_port(port)
    name = servername or (None if is_ip(host) else host)
    ep = Endpoint(ip, port, service.protocol if service else "smtp", name, ca_file,
                  ehlo or await local_literal(ip, port))
    result = await classify(ep, timeout, greeting=greeting)
    if result.mode is Mode.STARTTLS:
        await upgrade(result, timeout, greeting=greeting)
    if result.conn:
        await goodbye(result.conn, result.protocol or "smtp")
        result.conn = None
    return result


def probe_json(result: Probe) -> dict[str, Any]:
    service = load_contract().by_port(result.endpoint.port)
    return {
        "host": result.endpoint.ip,
        "port": result.endpoint.port,
        "mode": result.mode.value,
        "tls": result.tls.to_dict() if result.tls else None,
        "banner": result.banner,
        "diagnosis": diagnose(result, service).summary,
    }


def _probe(args: argparse.Namespace) -> int:
    host, port = parse_target(args.target)
    result = asyncio.run(probe_port(host, port, servername=args.servername,
                                    ca_file=args.ca_file,
                                    timeout=_positive(args.timeout, "--timeout"),
                                    ehlo=args.ehlo,
                                    greeting=_positive(args.deadline, "--deadline")))
    service = load_contract().by_port(port)
    diag = diagnose(result, service)
    if args.json:
        data = probe_json(result)
        data["host"] = host
        print(json.dumps(data, indent=2))
    else:
        print(f"{host}:{port}  {result.mode.value}  ({result.elapsed:.2f} s, "
              f"{result.connections} connection(s))")
        if result.banner:
            print(f"banner: {result.banner.splitlines()[0]}")
        if result.tls:
            t = result.tls
            print(f"tls: {t.version or '-'} {t.cipher or ''} trusted={t.trusted} "
                  f"{t.verify_error or t.error or ''}".rstrip())
        print(diag.summary)
        if diag.remedy:
            print(f"-> {diag.remedy}")
    starttls_broken = result.mode is Mode.STARTTLS and (result.tls is None
                                                       or result.tls.version is None)
    if starttls_broken and not args.json:
        why = result.tls.error if result.tls else "no TLS session"
        print(f"STARTTLS is advertised, but the TLS handshake failed: {why}")
    return 0 if diag.status.value in ("pass", "warn") and not starttls_broken else 1


def _verify(args: argparse.Namespace) -> int:
    if args.list_checks:
        print(listing())
        return 0
    if not args.host:
        raise UsageError("verify needs HOST (or --list-checks)")
    # first: a bad file ends the run before any prompt or traffic
    expected = ExpectedCert.load(args.expect_cert) if args.expect_cert else None
    password = None
    if args.user:
        password = read_password(args.password_file)
    elif args.password_file:
        raise UsageError("--password-file without --user")
    if args.smuggle_rcpt is not None and "@" not in args.smuggle_rcpt.strip("@"):
        raise UsageError(f"--smuggle-rcpt wants a mail address, got {args.smuggle_rcpt!r}")
    opts = VerifyOptions(
        host=args.host, domain=args.domain, servername=args.servername, ca_file=args.ca_file,
        resolver=args.resolver, ports=parse_ports(args.port), services=args.service,
        deadline=_positive(args.deadline, "--deadline"),
        step_timeout=_positive(args.timeout, "--timeout"),
        receive_wait=args.receive_wait, user=args.user, password=password,
        smuggle_rcpt=args.smuggle_rcpt,
        dkim_selector=args.dkim_selector, ehlo_name=args.ehlo, dns=not args.no_dns,
        expect_cert=expected, dnsbl=None if args.dnsbl is None else parse_zones(args.dnsbl),
    )
    if args.service:
        contract = load_contract()
        for name in args.service:
            if name not in contract.services:
                raise UsageError(f"--service: unknown service {name!r}")
    live = Progress(sys.stderr) if sys.stdout.isatty() and args.json != "-" else None
    opts.progress = live
    try:
        report = run_verify(opts)
    finally:
        if live is not None:
            live.clear()
    if args.json:
        text = render_json(report)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(render_junit(report) + "\n", encoding="utf-8")
    if args.json != "-":
        render_text(report, sys.stdout, colour=sys.stdout.isatty(), verbose=args.verbose)
    return report.exit_code
