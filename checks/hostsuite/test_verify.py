"""`postwright verify` against a host provisioned by our roles, with its DNS on the lab's
authoritative server: every check passes. This is the product judging its own output."""

from __future__ import annotations

from typing import Any

from hostsuite.conftest import LAB_CA, MailHost
from postwright.verify import Status, VerifyOptions, run_verify

EXPECTED_IDS = {
    "port.mode", "tls.handshake", "tls.cert.trusted", "tls.cert.hostname", "tls.cert.expiry",
    "tls.protocol.legacy_refused", "auth.before_tls", "auth.on_mx", "submission.requires_tls",
    "relay.open", "send.25", "send.465", "send.587", "imap.receive", "dns.mx", "dns.a",
    "dns.aaaa", "dns.spf", "dns.spf.authorizes", "dns.dmarc", "dns.ptr", "dns.fcrdns",
}


def test_verify_reports_all_pass(host: Any, mail: MailHost) -> None:
    variables = host.ansible.get_variables()
    address, password = mail.user()
    report = run_verify(VerifyOptions(
        mail.name, resolver=variables["dns_records_server"], ca_file=str(LAB_CA),
        user=address, password=password))
    by_status = {status: [r for r in report.results if r.status is status] for status in Status}
    problems = [(r.id, r.ip, r.port, r.summary)
                for r in by_status[Status.FAIL] + by_status[Status.ERROR] + by_status[Status.WARN]]
    assert problems == []
    assert {r.id for r in report.results} >= EXPECTED_IDS
    # DKIM arrives with the DKIM role; until then its check has nothing to look up
    assert [r.id for r in by_status[Status.SKIP]] == ["dns.dkim"]
    # every check ran on both address families
    assert {r.ip for r in report.results if r.id == "port.mode"} == set(mail.addresses)
