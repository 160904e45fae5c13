"""dns.dnsbl against a test blocklist zone served on loopback (no query leaves the machine:
the addresses looked up are only labels of names asked to the fixture)."""

from __future__ import annotations

import asyncio

import pytest

from postwright.errors import UsageError
from postwright.verify.dnsbl import DnsblChecks, parse_zones, query_name
from postwright.verify.model import CheckResult, Collector, Status
from postwright.verify.resolver import Resolver

V6 = "2a00:1450:4001::1"
V6_LABELS = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.4.0.5.4.1.0.0.a.2"
ZONE = {
    ("4.3.2.1.bl.test.", "A"): ["127.0.0.2"],
    ("4.3.2.1.bl.test.", "TXT"): ['"listed since 2026-01-01, see https://bl.test/q/1.2.3.4"'],
    ("6.3.2.1.bl.test.", "A"): ["127.255.255.254"],
    ("7.3.2.1.bl.test.", "A"): ["198.51.100.1"],
    (f"{V6_LABELS}.bl.test.", "A"): ["127.0.0.3"],
    ("4.3.2.1.zen.spamhaus.org.", "A"): ["127.0.0.4", "127.0.0.10"],
    ("6.3.2.1.zen.spamhaus.org.", "A"): ["127.255.255.254"],
    ("bl.test.", "SOA"): ["ns.bl.test. hostmaster.bl.test. 1 3600 600 86400 300"],
}


def run(spec: str, addresses: list[str], zones: list[str]) -> list[CheckResult]:
    col = Collector()
    asyncio.run(DnsblChecks(Resolver(spec, timeout=2), col, addresses=addresses,
                            zones=zones).run())
    return col.results


def one(results: list[CheckResult], ip: str, zone: str) -> CheckResult:
    [found] = [r for r in results if r.ip == ip and r.evidence.get("zone") == zone]
    return found


def test_query_names_reverse_octets_and_nibbles() -> None:
    assert query_name("1.2.3.4", "zen.spamhaus.org") == "4.3.2.1.zen.spamhaus.org"
    assert query_name(V6, "bl.test") == f"{V6_LABELS}.bl.test"


def test_a_listed_address_fails_with_zone_code_and_reason(serve_zone) -> None:
    results = run(serve_zone(ZONE), ["1.2.3.4"], ["bl.test"])
    listed = one(results, "1.2.3.4", "bl.test")
    assert listed.status is Status.FAIL
    assert listed.id == "dns.dnsbl"
    assert listed.summary == ("1.2.3.4 is listed on bl.test (127.0.0.2): listed since "
                              "2026-01-01, see https://bl.test/q/1.2.3.4")
    assert listed.evidence["name"] == "4.3.2.1.bl.test"


def test_spamhaus_codes_are_named(serve_zone) -> None:
    results = run(serve_zone(ZONE), ["1.2.3.4"], ["zen.spamhaus.org"])
    listed = one(results, "1.2.3.4", "zen.spamhaus.org")
    assert listed.status is Status.FAIL
    assert "127.0.0.4 = XBL: a hijacked or infected host" in listed.summary
    assert "127.0.0.10 = PBL (ISP)" in listed.summary


def test_an_unlisted_address_passes_and_v6_is_looked_up_by_nibbles(serve_zone) -> None:
    results = run(serve_zone(ZONE), ["1.2.3.5", V6], ["bl.test"])
    assert one(results, "1.2.3.5", "bl.test").status is Status.PASS
    v6 = one(results, V6, "bl.test")
    assert v6.status is Status.FAIL
    assert "listed on bl.test (127.0.0.3)" in v6.summary


def test_a_refused_query_is_an_error_not_a_listing(serve_zone) -> None:
    results = run(serve_zone(ZONE), ["1.2.3.6"], ["zen.spamhaus.org", "bl.test"])
    for zone in ("zen.spamhaus.org", "bl.test"):
        refused = one(results, "1.2.3.6", zone)
        assert refused.status is Status.ERROR
        assert "127.255.255.254" in refused.summary
    assert "Spamhaus refuses queries that come through a public/open resolver" in one(
        results, "1.2.3.6", "zen.spamhaus.org").summary


def test_an_answer_outside_127_is_an_error(serve_zone) -> None:
    results = run(serve_zone(ZONE), ["1.2.3.7"], ["bl.test"])
    strange = one(results, "1.2.3.7", "bl.test")
    assert strange.status is Status.ERROR
    assert "198.51.100.1 is not a blocklist answer" in strange.summary


def test_private_and_loopback_addresses_are_not_looked_up(serve_zone) -> None:
    from tests.unit.verify.dnsfixture import DnsConfig

    config = DnsConfig(dict(ZONE))
    results = run(serve_zone(config), ["127.0.0.1", "10.1.2.3", "::1"], ["bl.test"])
    assert [r.status for r in results if r.id == "dns.dnsbl"] == [Status.INFO] * 3
    assert config.asked == []


def test_a_public_resolver_gets_a_warning_for_spamhaus_zones() -> None:
    for server, zones, warned in (("8.8.8.8", ["zen.spamhaus.org"], True),
                                  ("2606:4700:4700::1111", ["zen.spamhaus.org"], True),
                                  ("8.8.8.8", ["bl.test"], False),
                                  ("127.0.0.1", ["zen.spamhaus.org"], False)):
        col = Collector()
        DnsblChecks(Resolver(server), col, addresses=[], zones=zones).resolver_warning()
        [result] = col.results
        assert result.id == "dns.dnsbl.resolver"
        assert result.status is (Status.WARN if warned else Status.PASS)
        assert ("Spamhaus refuses its queries" in result.summary) is warned


def test_parse_zones() -> None:
    assert parse_zones("") == []
    assert parse_zones(" zen.spamhaus.org., bl.test ,") == ["zen.spamhaus.org", "bl.test"]
    with pytest.raises(UsageError):
        parse_zones("nodot")
    with pytest.raises(UsageError):
        parse_zones("a..b")
