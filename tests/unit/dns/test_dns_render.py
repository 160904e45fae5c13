"""Zone files (checked by BIND's named-checkzone), serials, JSON and the table."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from postwright.dns.records import compute_records
from postwright.dns.render import (
    date_serial,
    render_json,
    render_table,
    render_zones,
    write_zone_files,
)
from postwright.errors import UsageError

from .conftest import make_plan

DAY = dt.date(2026, 3, 14)
CASES: dict[str, dict[str, Any]] = {
    "dual-stack": {},
    "ipv4-only": {"mail_ipv6": None, "dns_primary_ns_ipv6": None},
    "ipv6-only": {"mail_ipv4": None, "dns_primary_ns_ipv4": None},
    "multi-domain": {
        "mail_domains": ["example.test", "example.org", "example.net"],
        "dns_mta_sts_mode": "enforce",
        "dns_tlsrpt_rua": "mailto:tlsrpt@example.test",
        "dns_caa_issuers": ["letsencrypt.org"],
        "dns_ttls": {"MX": 3600, "SOA": 3600, "NS": 86400},
        "mail_optional_services": ["imap", "pop3s"],
    },
    "name-server-outside": {"dns_primary_ns": "ns1.dns-provider.example",
                            "dns_primary_ns_ipv4": None, "dns_primary_ns_ipv6": None},
    "ns-is-the-mail-host": {"dns_primary_ns": "mail.example.test",
                            "dns_primary_ns_ipv4": None, "dns_primary_ns_ipv6": None},
}
EXPECTED_ZONES = {
    "dual-stack": ["example.test.zone", "100.51.198.in-addr.arpa.zone",
                   "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone"],
    "ipv4-only": ["example.test.zone", "100.51.198.in-addr.arpa.zone"],
    "ipv6-only": ["example.test.zone", "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone"],
    "multi-domain": ["example.test.zone", "example.org.zone", "example.net.zone",
                     "100.51.198.in-addr.arpa.zone",
                     "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone"],
}


def named_checkzone(zone: str, path: Path) -> subprocess.CompletedProcess[str]:
    """BIND's own checker; `-i local` keeps its integrity checks in-zone (no lookups)."""
    tool = shutil.which("named-checkzone")
    assert tool is not None, "named-checkzone (bind9-utils) is required for these tests"
    return subprocess.run([tool, "-i", "local", "-k", "fail", "-n", "fail", "-m", "fail",
                           "-M", "fail", "-S", "fail", zone, str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", list(CASES))
def test_every_zone_passes_named_checkzone(case: str, tmp_path: Path,
                                           rsa_public_pem: Path) -> None:
    plan = make_plan(**CASES[case], dns_dkim_public_keys={"example.test": str(rsa_public_pem)})
    records = compute_records(plan)
    paths = [p for p in write_zone_files(plan, tmp_path, today=DAY) if p.suffix == ".zone"]
    if case in EXPECTED_ZONES:
        assert [p.name for p in paths] == EXPECTED_ZONES[case]
    for path in paths:
        origin = path.name.removesuffix(".zone")
        done = named_checkzone(origin, path)
        assert done.returncode == 0, f"{path.name}:\n{done.stdout}{done.stderr}"
        assert f"loaded serial {date_serial(DAY)}" in done.stdout
        assert done.stdout.rstrip().endswith("OK")
        # dnspython reads it back and every record of this zone is in it, TTL included
        zone = dns.zone.from_file(str(path), origin, relativize=False)
        for record in (r for r in records if r.zone == origin + "."):
            rdataset = zone.find_rdataset(record.name, record.type)
            assert rdataset.ttl == record.ttl, record
            assert dns.rdata.from_text("IN", record.type, record.rdata) in rdataset, record
        assert zone.get_rdataset(origin + ".", "SOA") is not None
        assert zone.get_rdataset(origin + ".", "NS") is not None
    if "mta_sts" in str(CASES[case]):
        assert (tmp_path / "mta-sts.txt").read_text().startswith("version: STSv1\nmode: enforce")


def test_in_zone_name_server_without_address_is_a_clear_error() -> None:
    plan = make_plan(dns_primary_ns_ipv4=None, dns_primary_ns_ipv6=None)
    with pytest.raises(UsageError, match=r"dns_primary_ns: ns1.example.test is inside zone"):
        render_zones(plan)


def test_glue_in_primary_zone_only() -> None:
    plan = make_plan(mail_domains=["example.test", "example.org"])
    zones = {z.filename: z.text for z in render_zones(plan, serial=1)}
    assert "ns1.example.test. 300 IN A 192.0.2.53" in zones["example.test.zone"]
    assert "ns1.example.test. 300 IN AAAA 2001:db8:53::53" in zones["example.test.zone"]
    assert "ns1.example.test. 300 IN A" not in zones["example.org.zone"]
    assert "example.org. 300 IN NS ns1.example.test." in zones["example.org.zone"]


def test_serials_are_yyyymmddnn_and_stable_when_nothing_changed(tmp_path: Path) -> None:
    assert date_serial(DAY) == 2026031400
    assert date_serial(DAY, 2026031400) == 2026031401
    assert date_serial(DAY, 2026031307) == 2026031400
    plan = make_plan()
    zone_file = tmp_path / "example.test.zone"
    write_zone_files(plan, tmp_path, today=DAY)
    first = zone_file.read_text()
    assert "    2026031400 ; serial" in first
    mtime = zone_file.stat().st_mtime_ns
    write_zone_files(plan, tmp_path, today=DAY + dt.timedelta(days=3))  # same content
    assert zone_file.read_text() == first
    assert zone_file.stat().st_mtime_ns == mtime  # not even rewritten
    write_zone_files(make_plan(dns_ttl=600), tmp_path, today=DAY)  # changed, same day
    assert "    2026031401 ; serial" in zone_file.read_text()
    write_zone_files(make_plan(dns_ttl=900), tmp_path, today=DAY + dt.timedelta(days=1))
    assert "    2026031500 ; serial" in zone_file.read_text()


def test_json_lists_every_record_with_joined_txt(rsa_public_pem: Path) -> None:
    plan = make_plan(dns_dkim_public_keys={"example.test": str(rsa_public_pem)})
    records = compute_records(plan)
    data = json.loads(render_json(records))
    assert len(data) == len(records)
    assert set(data[0]) == {"name", "type", "ttl", "rdata", "value", "zone", "publisher",
                            "purpose"}
    (dkim,) = [d for d in data if d["name"] == "mail._domainkey.example.test."]
    assert dkim["value"].startswith("v=DKIM1; k=rsa; p=")
    assert '" "' in dkim["rdata"]  # split into several strings
    assert {d["publisher"] for d in data if d["type"] == "PTR"} == {"ptr"}


def test_table_says_who_publishes_what() -> None:
    plan = make_plan(dns_mta_sts_mode="testing")
    table = render_table(plan, compute_records(plan))
    assert "Publish at your DNS host (zone example.test):" in table
    assert ("Publish at your VPS provider's reverse-DNS panel (or the owner of zone "
            "100.51.198.in-addr.arpa):") in table
    assert "198.51.100.10 -> mail.example.test." in table
    assert "2001:db8::10 -> mail.example.test." in table
    assert "v=spf1 mx -all" in table
    assert "mode: testing" in table
