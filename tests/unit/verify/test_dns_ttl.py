"""TTLs in the dns.* evidence are the authoritative ones, and dns.ttl judges them."""

from __future__ import annotations

import asyncio
import time

from postwright.verify import VerifyOptions, run_verify
from postwright.verify.authority import Authority, TtlFact
from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver
from postwright.verify.ttlcheck import check_ttls
from tests.unit.verify.conftest import ZONE_TTLS
from tests.unit.verify.dnsfixture import DnsConfig, start_dns
from tests.unit.verify.servers import free_port
from tests.unit.verify.test_dns_checks import by, run_json

# check (and ip) -> the record whose TTL its evidence shows
REPORTED = {
    ("dns.mx", None): ("example.test.", "MX"),
    ("dns.a", None): ("mail.example.test.", "A"),
    ("dns.aaaa", None): ("mail.example.test.", "AAAA"),
    ("dns.spf", None): ("example.test.", "TXT"),
    ("dns.dmarc", None): ("_dmarc.example.test.", "TXT"),
    ("dns.dkim", None): ("mail._domainkey.example.test.", "TXT"),
    ("dns.ptr", "127.0.0.1"): ("1.0.0.127.in-addr.arpa.", "PTR"),
}


def verify(resolver: str, dns_port: int = 53, **kwargs):
    return run_verify(VerifyOptions(
        "mail.example.test", resolver=resolver, services=["smtp"],
        ports={"smtp": free_port()}, dkim_selector="mail", deadline=10, dns_port=dns_port,
        **kwargs)).to_dict()


def test_an_authoritative_resolver_gives_the_ttls_itself(dns_server: str,
                                                         dns_config: DnsConfig) -> None:
    asked = len(dns_config.asked)
    data = verify(dns_server, dns_port=free_port())  # nothing else may be asked
    for (check, ip), key in REPORTED.items():
        evidence = by(data, check, ip)["evidence"]
        assert (evidence["ttl"], evidence["ttl_source"]) == (ZONE_TTLS[key], "127.0.0.1"), check
    assert not {t for _, t in dns_config.asked[asked:]} & {"SOA", "NS"}  # no zone search
    ttl = by(data, "dns.ttl")
    assert ttl["status"] == "pass"
    assert ttl["summary"] == "all 7 TTLs of example.test are between 60 s and 1 day (600..86400 s)"
    assert {"name": "example.test", "type": "MX", "ttl": 3600, "source": "127.0.0.1"} \
        in ttl["evidence"]["records"]


def test_a_cache_without_aa_leads_to_the_authoritative_server(dns_cache: str,
                                                              dns_authority: int) -> None:
    direct = asyncio.run(Resolver(dns_cache).query("example.test", "MX"))
    assert (direct.ttl, direct.aa) == (3600 - 17, False)  # what the resolver alone would show
    data = verify(dns_cache, dns_port=dns_authority)
    for (check, ip), key in REPORTED.items():
        result = by(data, check, ip)
        assert result["status"] == "pass", result
        evidence = result["evidence"]
        assert (evidence["ttl"], evidence["ttl_source"]) == (ZONE_TTLS[key], "127.0.0.1"), check
        assert "ttl_note" not in evidence
    assert by(data, "dns.ttl")["status"] == "pass"


def test_no_authoritative_server_reached_keeps_the_resolvers_ttl(dns_cache: str) -> None:
    data = verify(dns_cache, dns_port=free_port(), step_timeout=1)
    mx = by(data, "dns.mx")
    assert mx["status"] == "pass"  # not a failure of the check
    assert (mx["evidence"]["ttl"], mx["evidence"]["ttl_source"]) == (3600 - 17, "resolver")
    assert "no authoritative server could be asked" in mx["evidence"]["ttl_note"]
    assert by(data, "dns.ptr", "127.0.0.1")["evidence"]["ttl_source"] == "resolver"
    ttl = by(data, "dns.ttl")
    assert ttl["status"] == "pass"
    assert "counts them down" in ttl["evidence"]["note"]


def test_a_two_day_ttl_warns(dns_server: str, capsys) -> None:
    _, data = run_json(["verify", "127.0.0.1", "--resolver", dns_server, "--domain",
                        "slow.example.test", "--service", "smtp", "--port",
                        f"smtp={free_port()}", "--json", "-"], capsys)
    ttl = by(data, "dns.ttl")
    assert ttl["status"] == "warn"
    assert ttl["summary"] == ("MX slow.example.test has a TTL of 2 days: a change takes that "
                              "long to reach every resolver")
    assert {"name": "slow.example.test", "type": "MX", "ttl": 172800,
            "source": "127.0.0.1"} in ttl["evidence"]["records"]
    assert "dns_ttl" in ttl["remedy"]
    assert by(data, "dns.mx")["evidence"]["ttl"] == 172800


def test_short_ttls_warn_unless_a_cache_counted_them_down() -> None:
    def judge(source: str) -> Status:
        col = Collector()
        check_ttls(col, "example.test", [TtlFact("example.test", "MX", 30, source)])
        return col.results[0].status

    assert judge("192.0.2.53") is Status.WARN
    assert judge("resolver") is Status.PASS
    col = Collector()
    check_ttls(col, "example.test", [])
    assert col.results[0].status is Status.SKIP


def test_no_authoritative_query_after_the_deadline(dns_cache: str, dns_authority: int) -> None:
    async def ttl() -> TtlFact | None:
        resolver = Resolver(dns_cache)
        lookup = await resolver.query("example.test", "MX")
        authority = Authority(resolver, port=dns_authority, deadline=time.monotonic() - 1)
        return await authority.ttl(lookup)

    fact = asyncio.run(ttl())
    assert fact is not None
    assert (fact.ttl, fact.source) == (3600 - 17, "resolver")
    assert "deadline" in fact.note


def test_an_authority_without_the_record_is_said_in_evidence(loop, zone, dns_cache: str) -> None:
    changed = {k: v for k, v in zone.items() if k != ("example.test.", "MX")}  # MX just removed
    port, handles = loop.run(start_dns(DnsConfig(changed, ZONE_TTLS)))
    try:
        mx = by(verify(dns_cache, dns_port=port), "dns.mx")
    finally:
        for handle in handles:
            loop.loop.call_soon_threadsafe(handle.close)
    assert mx["status"] == "pass"
    assert (mx["evidence"]["ttl"], mx["evidence"]["ttl_source"]) == (3600 - 17, "resolver")
    assert "has no MX record at example.test (the resolver's answer may be stale)" \
        in mx["evidence"]["ttl_note"]
