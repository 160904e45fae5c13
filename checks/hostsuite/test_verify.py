"""`postwright verify` against a host provisioned by our roles, with its DNS on the lab's
authoritative server: every check passes. This is the product judging its own output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostsuite.conftest import LAB_CA, MailHost
from postwright.verify import ExpectedCert, Status, VerifyOptions, run_verify
from postwright.verify.registry import check_ids

# Every check the registry declares runs here: all services of the contract that the roles
# enable, --user, --dkim-selector and --expect-cert given, DNS on.
EXPECTED_IDS = check_ids()


def test_verify_reports_all_pass(host: Any, mail: MailHost, tmp_path: Path) -> None:
    variables = host.ansible.get_variables()
    address, password = mail.user()
    # the certificate on disk, which every port must be serving (tls.cert.current)
    on_disk = tmp_path / "fullchain.pem"
    on_disk.write_text(host.file("/etc/postwright/tls/fullchain.pem").content_string)
    report = run_verify(VerifyOptions(
        mail.name, resolver=variables["dns_records_server"], ca_file=str(LAB_CA),
        user=address, password=password, dkim_selector=variables.get("dkim_selector", "mail"),
        expect_cert=ExpectedCert.load(str(on_disk))))
    by_status = {status: [r for r in report.results if r.status is status] for status in Status}
    problems = [(r.id, r.ip, r.port, r.summary)
                for r in by_status[Status.FAIL] + by_status[Status.ERROR] + by_status[Status.WARN]]
    assert problems == []
    assert {r.id for r in report.results} >= EXPECTED_IDS
    assert by_status[Status.SKIP] == []
    # every check ran on both address families
    assert {r.ip for r in report.results if r.id == "port.mode"} == set(mail.addresses)
