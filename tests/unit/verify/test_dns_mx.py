"""dns.mx beyond "an MX exists": CNAME and address-literal targets, null MX, missing A/AAAA."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from postwright.verify.authority import Authority
from postwright.verify.dnscheck import DnsChecks
from postwright.verify.model import CheckResult, Collector, Status
from postwright.verify.resolver import Resolver, parse_resolver
from tests.unit.verify.dnsfixture import start_dns

ZONE = {
    ("good.test.", "MX"): ["10 mail.good.test."],
    ("mail.good.test.", "A"): ["192.0.2.1"],
    ("cname.test.", "MX"): ["10 alias.cname.test."],
    ("alias.cname.test.", "CNAME"): ["real.cname.test."],
    ("real.cname.test.", "A"): ["192.0.2.2"],
    ("literal.test.", "MX"): ["10 192.0.2.25."],
    ("null.test.", "MX"): ["0 ."],
    ("mixed.test.", "MX"): ["0 .", "10 mail.mixed.test."],
    ("mail.mixed.test.", "A"): ["192.0.2.3"],
    ("noaddr.test.", "MX"): ["10 ghost.noaddr.test.", "20 mail.good.test."],
    ("ghost.noaddr.test.", "TXT"): ['"exists, but no address"'],
}


@pytest.fixture(scope="module")
def spec(loop) -> Iterator[str]:  # one server for the module: the zone is read-only
    port, handles = loop.run(start_dns(ZONE))
    yield f"127.0.0.1:{port}"
    for handle in handles:
        loop.loop.call_soon_threadsafe(handle.close)


def mx(spec: str, domain: str, host: str = "mail.good.test") -> CheckResult:
    resolver = Resolver(spec, timeout=2)
    col = Collector()
    checks = DnsChecks(resolver, col, host=host, domain=domain, addresses=[],
                       dkim_selector=None,
                       authority=Authority(resolver, port=parse_resolver(spec)[1]))
    asyncio.run(checks.run())
    [result] = [r for r in col.results if r.id == "dns.mx"]
    return result


def test_a_proper_mx_passes_and_lists_its_targets(spec: str) -> None:
    result = mx(spec, "good.test")
    assert result.status is Status.PASS
    assert result.evidence["targets"] == [{"preference": 10, "name": "mail.good.test",
                                           "cname": None, "addresses": ["192.0.2.1"],
                                           "literal": False}]


def test_an_mx_target_that_is_a_cname_fails(spec: str) -> None:
    result = mx(spec, "cname.test", host="alias.cname.test")
    assert result.status is Status.FAIL
    assert "alias.cname.test is a CNAME (to real.cname.test)" in result.summary
    assert "RFC 2181" in result.summary


def test_an_mx_target_written_as_an_address_fails(spec: str) -> None:
    result = mx(spec, "literal.test")
    assert result.status is Status.FAIL
    assert "192.0.2.25 is an IP address written as a host name" in result.summary
    assert result.evidence["targets"][0]["literal"] is True


def test_a_null_mx_says_the_domain_receives_no_mail(spec: str) -> None:
    result = mx(spec, "null.test")
    assert result.status is Status.WARN
    assert "this domain receives no mail" in result.summary
    assert "port 25 results only say what this host would do" in result.summary


def test_a_null_mx_beside_other_mx_records_fails(spec: str) -> None:
    result = mx(spec, "mixed.test", host="mail.mixed.test")
    assert result.status is Status.FAIL
    assert "null MX" in result.summary
    assert "RFC 7505 forbids" in result.summary


def test_an_mx_target_without_addresses_fails_even_beside_a_good_one(spec: str) -> None:
    result = mx(spec, "noaddr.test")
    assert result.status is Status.FAIL
    assert result.summary == "MX target ghost.noaddr.test has no A/AAAA record: nobody can " \
        "deliver to it"


def test_a_host_outside_the_mx_set_still_warns(spec: str) -> None:
    result = mx(spec, "good.test", host="other.good.test")
    assert result.status is Status.WARN
    assert "does not include other.good.test" in result.summary
