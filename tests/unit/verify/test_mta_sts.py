"""dns.mta_sts*, dns.tlsrpt: the policy fetched over HTTPS from a loopback policy host whose
name the loopback DNS fixture maps to 127.0.0.1 (certificate from the test CA)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from postwright.verify import Status, VerifyOptions, run_verify
from postwright.verify.model import CheckResult, Collector
from postwright.verify.mtasts import covered, parse_policy
from postwright.verify.resolver import Resolver
from postwright.verify.tlsrpt import check_tlsrpt
from tests.unit.verify.servers import free_port, serve, tarpit

GOOD = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"


@dataclass
class PolicyHost:
    """https://mta-sts.example.test/.well-known/mta-sts.txt, as a test wants it."""

    body: str = GOOD
    status: str = "200 OK"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})
    paths: list[str] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            self.paths.append(head.split(" ")[1])
            body = self.body.encode()
            lines = [f"HTTP/1.1 {self.status}", f"Content-Length: {len(body)}",
                     *(f"{k}: {v}" for k, v in self.headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
        finally:
            writer.close()


def zone(mx: tuple[str, ...] = ("mail.example.test",), sts: str | None = "v=STSv1; id=20260101",
         tlsrpt: str | None = None) -> dict[tuple[str, str], list[str]]:
    entries = {
        ("example.test.", "MX"): [f"{10 * (n + 1)} {m}." for n, m in enumerate(mx)],
        **{(f"{m}.", "A"): ["127.0.0.1"] for m in mx},
        ("mta-sts.example.test.", "A"): ["127.0.0.1"],
    }
    if sts:
        entries[("_mta-sts.example.test.", "TXT")] = [f'"{sts}"']
    if tlsrpt:
        entries[("_smtp._tls.example.test.", "TXT")] = [f'"{tlsrpt}"']
    return entries


@pytest.fixture
def policy_host(loop, pki):
    host = PolicyHost()
    port, server = serve(loop, host, tls=pki.server_context("mtasts"))
    yield port, host
    loop.loop.call_soon_threadsafe(server.close)


def verify(serve_zone, pki, smtp_port: int, https_port: int,
           entries: dict[tuple[str, str], list[str]]) -> dict[str, list[CheckResult]]:
    report = run_verify(VerifyOptions(
        "mail.example.test", resolver=serve_zone(entries), ca_file=pki.ca,
        services=["smtp"], ports={"smtp": smtp_port}, dnsbl=[], deadline=10,
        mta_sts_port=https_port))
    found: dict[str, list[CheckResult]] = {}
    for result in report.results:
        if result.id.startswith(("dns.mta_sts", "dns.tlsrpt")):
            found.setdefault(result.id, []).append(result)
    return found


def test_a_good_policy_passes_all_three(scripted, serve_zone, pki, policy_host) -> None:
    https, host = policy_host
    smtp, _ = scripted()
    found = verify(serve_zone, pki, smtp, https, zone())
    [sts], [mx], [cert] = found["dns.mta_sts"], found["dns.mta_sts.mx"], \
        found["dns.mta_sts.cert"]
    assert sts.status is Status.PASS, sts
    assert sts.summary == ("MTA-STS mode enforce, max_age 604800, mx mail.example.test "
                           "(id 20260101)")
    assert sts.evidence["address"] == "127.0.0.1"
    assert host.paths == ["/.well-known/mta-sts.txt"]
    assert mx.status is Status.PASS
    assert cert.status is Status.PASS
    assert cert.ip == "127.0.0.1"
    assert "valid for mail.example.test, as MTA-STS enforce requires" in cert.summary


def test_a_mode_typo_makes_the_policy_unusable(scripted, serve_zone, pki, policy_host) -> None:
    https, host = policy_host
    host.body = GOOD.replace("mode: enforce", "mode: enforcing")
    found = verify(serve_zone, pki, free_port(), https, zone())
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.FAIL
    assert "mode is 'enforcing', not one of enforce, testing, none" in sts.summary
    assert [r.status for r in found["dns.mta_sts.mx"]] == [Status.SKIP]
    assert [r.status for r in found["dns.mta_sts.cert"]] == [Status.SKIP]


def test_an_mx_the_policy_does_not_cover_fails_under_enforce(scripted, serve_zone, pki,
                                                              policy_host) -> None:
    https, host = policy_host
    host.body = GOOD.replace("mx: mail.example.test", "mx: *.example.test")
    smtp, _ = scripted()
    found = verify(serve_zone, pki, smtp, https,
                   zone(mx=("mail.example.test", "backup.mx.example.test")))
    [mx] = found["dns.mta_sts.mx"]
    assert mx.status is Status.FAIL
    assert mx.summary == ("MTA-STS mx: patterns ['*.example.test'] do not cover "
                          "backup.mx.example.test: senders refuse to deliver to it")
    assert found["dns.mta_sts"][0].status is Status.PASS


def test_an_uncovered_mx_only_warns_under_testing(scripted, serve_zone, pki,
                                                  policy_host) -> None:
    https, host = policy_host
    host.body = GOOD.replace("enforce", "testing").replace("mail.example", "mx9.example")
    found = verify(serve_zone, pki, free_port(), https, zone())
    assert [r.status for r in found["dns.mta_sts.mx"]] == [Status.WARN]


def test_an_unreachable_policy_host_fails(serve_zone, pki) -> None:
    found = verify(serve_zone, pki, free_port(), free_port(), zone())
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.FAIL
    assert sts.summary.startswith("the MTA-STS policy cannot be fetched: cannot connect to "
                                  "127.0.0.1 port")
    assert "senders without a cached copy apply no policy" in sts.summary


def test_a_redirect_is_not_followed(serve_zone, pki, policy_host) -> None:
    https, host = policy_host
    host.status = "301 Moved Permanently"
    host.headers["Location"] = "https://www.example.test/mta-sts.txt"
    found = verify(serve_zone, pki, free_port(), https, zone())
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.FAIL
    assert "redirects (HTTP 301 to https://www.example.test/mta-sts.txt)" in sts.summary
    assert host.paths == ["/.well-known/mta-sts.txt"]


def test_a_policy_host_certificate_for_another_name_fails(loop, serve_zone, pki) -> None:
    host = PolicyHost()
    https, server = serve(loop, host, tls=pki.server_context("wrongname"))
    try:
        found = verify(serve_zone, pki, free_port(), https, zone())
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.FAIL
    assert "TLS with mta-sts.example.test failed: certificate verify failed" in sts.summary
    assert host.paths == []


def test_the_port_25_certificate_must_fit_the_mx_under_enforce(scripted, serve_zone, pki,
                                                               policy_host) -> None:
    https, _ = policy_host
    smtp, _ = scripted(starttls=pki.server_context("wrongname"))
    found = verify(serve_zone, pki, smtp, https, zone())
    [cert] = found["dns.mta_sts.cert"]
    assert cert.status is Status.FAIL
    assert "do not cover mail.example.test" in cert.summary
    assert "MTA-STS senders refuse to deliver (mode enforce)" in cert.summary


def test_no_mta_sts_record_is_information_only(serve_zone, pki) -> None:
    found = verify(serve_zone, pki, free_port(), free_port(), zone(sts=None))
    for check in ("dns.mta_sts", "dns.mta_sts.mx", "dns.mta_sts.cert", "dns.tlsrpt"):
        [result] = found[check]
        assert result.status is Status.INFO, result
    assert found["dns.mta_sts"][0].summary.startswith("no MTA-STS: no v=STSv1 TXT record")


def test_a_broken_sts_record_fails_before_any_fetch(serve_zone, pki, policy_host) -> None:
    https, host = policy_host
    found = verify(serve_zone, pki, free_port(), https, zone(sts="v=STSv1; id=2026-01-01"))
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.FAIL
    assert "id='2026-01-01' is not 1-32 letters and digits" in sts.summary
    assert host.paths == []


@pytest.mark.parametrize(("max_age", "status", "words"), [
    ("604800", Status.PASS, ""),
    ("3600", Status.WARN, "max_age 3600 is under a day"),
    ("40000000", Status.FAIL, "max_age 40000000 exceeds 31557600"),
    ("soon", Status.FAIL, "max_age 'soon' is not a number"),
])
def test_max_age_bounds(max_age: str, status: Status, words: str) -> None:
    policy = parse_policy(GOOD.replace("604800", max_age))
    worst = max((s for s, _ in policy.problems), default=Status.PASS,
                key=[Status.PASS, Status.WARN, Status.FAIL].index)
    assert worst is status
    assert all(words in p for _, p in policy.problems)


def test_policy_parsing_and_patterns() -> None:
    policy = parse_policy("version: STSv1\nmode: testing\nmx: a.example.test\n"
                          "mx: *.mx.example.test\nmax_age: 86400\nextension: ignored\n")
    assert policy.usable
    assert policy.problems == []
    assert policy.mx == ["a.example.test", "*.mx.example.test"]
    assert covered("b.mx.example.test", policy.mx)
    assert covered("A.EXAMPLE.TEST.", policy.mx)
    assert not covered("mx.example.test", policy.mx)  # the wildcard needs one more label
    assert not covered("c.b.mx.example.test", policy.mx)  # ... and exactly one
    assert not parse_policy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 86400").usable


def run_tlsrpt(serve_zone, record: str | None) -> CheckResult:
    col = Collector()
    spec = serve_zone(zone(tlsrpt=record))
    asyncio.run(check_tlsrpt(Resolver(spec, timeout=2), col, "example.test"))
    [result] = col.results
    assert result.id == "dns.tlsrpt"
    return result


def test_tlsrpt_good_and_bad(serve_zone) -> None:
    good = run_tlsrpt(serve_zone, "v=TLSRPTv1; rua=mailto:tls@example.test,"
                      "https://reports.example.test/tlsrpt")
    assert good.status is Status.PASS
    bad = run_tlsrpt(serve_zone, "v=TLSRPTv1; rua=ftp://reports.example.test")
    assert bad.status is Status.FAIL
    assert "rua 'ftp://reports.example.test' is neither mailto: nor https:" in bad.summary
    empty = run_tlsrpt(serve_zone, "v=TLSRPTv1;")
    assert empty.status is Status.FAIL
    assert "no rua=" in empty.summary
    version = run_tlsrpt(serve_zone, "v=TLSRPTv2; rua=mailto:tls@example.test")
    assert version.status is Status.FAIL
    assert "must start with v=TLSRPTv1" in version.summary
    absent = run_tlsrpt(serve_zone, None)
    assert absent.status is Status.INFO


def test_the_next_address_of_the_policy_host_is_tried(loop, serve_zone, pki) -> None:
    host = PolicyHost()

    async def start() -> asyncio.AbstractServer:  # on ::1 only, the A address refuses
        return await asyncio.start_server(host, "::1", 0, ssl=pki.server_context("mtasts"))

    server = loop.run(start())
    entries = zone()
    entries[("mta-sts.example.test.", "A")] = ["127.0.0.3"]
    entries[("mta-sts.example.test.", "AAAA")] = ["::1"]
    try:
        found = verify(serve_zone, pki, free_port(), server.sockets[0].getsockname()[1],
                       entries)
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    [sts] = found["dns.mta_sts"]
    assert sts.status is Status.PASS, sts
    assert sts.evidence["address"] == "::1"
    assert host.paths == ["/.well-known/mta-sts.txt"]


def test_a_silent_policy_host_costs_one_step_timeout(loop, serve_zone, pki) -> None:
    https, server = serve(loop, tarpit)
    try:
        report = run_verify(VerifyOptions(
            "mail.example.test", resolver=serve_zone(zone()), ca_file=pki.ca,
            services=["smtp"], ports={"smtp": free_port()}, dnsbl=[], deadline=10,
            step_timeout=1, mta_sts_port=https))
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    [sts] = report.find("dns.mta_sts")
    assert sts.status is Status.FAIL
    assert "no complete answer from 127.0.0.1 within 1 s" in sts.summary
    assert report.duration_s < 4
