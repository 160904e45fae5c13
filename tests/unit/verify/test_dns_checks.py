"""dns.* against a real (tiny) authoritative server on 127.0.0.1, queried over --resolver."""

from __future__ import annotations

import asyncio
import json

from postwright.cli import main
from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver
from postwright.verify.spfeval import Evaluator
from tests.unit.verify.servers import free_port


def run_json(argv: list[str], capsys) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def by(data: dict, check: str, ip: str | None = None) -> dict:
    found = [r for r in data["results"] if r["id"] == check and (ip is None or r["ip"] == ip)]
    assert len(found) == 1, (check, ip, found)
    return found[0]


def test_dns_checks_of_a_dual_stack_host(dns_server: str, capsys) -> None:
    closed = free_port()
    code, data = run_json(["verify", "mail.example.test", "--resolver", dns_server,
                           "--service", "smtp", "--port", f"smtp={closed}",
                           "--dkim-selector", "mail", "--json", "-", "--deadline", "10"],
                          capsys)
    assert code == 1
    assert by(data, "dns.mx")["status"] == "pass"
    assert by(data, "dns.a")["status"] == "pass"
    assert by(data, "dns.aaaa")["status"] == "pass"
    spf = by(data, "dns.spf")
    assert spf["status"] == "pass"
    assert spf["evidence"]["lookups"] == 2  # include + a
    v4 = by(data, "dns.spf.authorizes", "127.0.0.1")
    assert v4["status"] == "pass"
    assert v4["evidence"]["mechanism"] == "ip4:127.0.0.0/8"
    v6 = by(data, "dns.spf.authorizes", "::1")
    assert v6["status"] == "fail"
    assert v6["evidence"]["result"] == "fail"  # include's ~all is "no match", then -all
    assert "ip6:::1" in v6["remedy"]
    assert by(data, "dns.dmarc")["status"] == "pass"
    assert by(data, "dns.dkim")["summary"].endswith("(rsa 2048)")
    assert by(data, "dns.ptr", "127.0.0.1")["status"] == "pass"
    assert by(data, "dns.fcrdns", "127.0.0.1")["status"] == "pass"
    ptr6 = by(data, "dns.ptr", "::1")
    assert ptr6["status"] == "fail"
    assert "IPv6 address ::1 has no PTR" in ptr6["summary"]
    assert "VPS provider's control panel" in ptr6["remedy"]
    assert by(data, "dns.fcrdns", "::1")["status"] == "fail"
    # both addresses were probed (and are closed): per-address results
    assert {r["ip"] for r in data["results"] if r["id"] == "port.mode"} == {"127.0.0.1", "::1"}


def test_weak_and_missing_records(dns_server: str, capsys) -> None:
    code, data = run_json(["verify", "127.0.0.1", "--resolver", dns_server, "--domain",
                           "weak.example.test", "--service", "smtp", "--port",
                           f"smtp={free_port()}", "--json", "-"], capsys)
    assert code == 1
    spf = by(data, "dns.spf")
    assert spf["status"] == "fail"
    assert "+all" in spf["summary"]
    assert by(data, "dns.mx")["status"] == "fail"
    assert by(data, "dns.dmarc")["status"] == "fail"
    dkim = by(data, "dns.dkim")
    assert dkim["status"] == "skip"
    assert "--dkim-selector" in dkim["summary"]
    assert by(data, "dns.a")["status"] == "skip"


def test_spf_evaluator_results(dns_server: str) -> None:
    async def check(ip: str, domain: str) -> str:
        return (await Evaluator(Resolver(dns_server)).check_host(
            ip, domain, f"postmaster@{domain}")).result

    assert asyncio.run(check("127.0.0.9", "example.test")) == "pass"
    assert asyncio.run(check("192.0.2.7", "example.test")) == "pass"  # via include: a:relay
    assert asyncio.run(check("198.51.100.1", "example.test")) == "fail"
    assert asyncio.run(check("198.51.100.1", "_spf.example.test")) == "softfail"
    assert asyncio.run(check("198.51.100.1", "weak.example.test")) == "pass"
    assert asyncio.run(check("198.51.100.1", "nospf.example.test")) == "none"


def test_an_unreachable_resolver_is_an_error_not_a_hang() -> None:
    from postwright.verify.dnscheck import DnsChecks

    col = Collector()
    resolver = Resolver(f"127.0.0.1:{free_port()}", timeout=0.5)
    checks = DnsChecks(resolver, col, host="mail.example.test", domain="example.test",
                       addresses=["127.0.0.1"], dkim_selector=None)
    asyncio.run(checks.run())
    statuses = {r.id: r.status for r in col.results}
    assert statuses["dns.mx"] is Status.ERROR
    assert statuses["dns.ptr"] is Status.ERROR
