"""The port/TLS contract file parses into the design's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from postwright.contract import AuthRule, TlsMode, load_contract
from postwright.errors import PostwrightError


def test_contract_matches_the_design_table() -> None:
    contract = load_contract()
    smtp, submissions, submission = (contract.service(n)
                                     for n in ("smtp", "submissions", "submission"))
    assert (smtp.port, smtp.tls, smtp.tls_required, smtp.auth) == (
        25, TlsMode.STARTTLS, False, AuthRule.NEVER)
    assert (submissions.port, submissions.tls, submissions.auth) == (
        465, TlsMode.IMPLICIT, AuthRule.REQUIRED)
    assert (submission.port, submission.tls, submission.tls_required) == (
        587, TlsMode.STARTTLS, True)
    assert contract.min_protocol == "TLSv1.2"
    enabled = {s.port for s in contract.enabled_services()}
    assert enabled == {25, 465, 587, 993}
    assert {s.port for s in contract.enabled_services(["imap"])} == enabled | {143}


def test_switching_on_a_mandatory_service_is_an_error() -> None:
    with pytest.raises(PostwrightError, match="not an optional service"):
        load_contract().enabled_services(["smtp"])


def test_a_port_listed_twice_is_rejected(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "contract/ports.yml").read_text()
    broken = tmp_path / "ports.yml"
    broken.write_text(text.replace("port: 465", "port: 25"))
    with pytest.raises(PostwrightError, match="listed twice"):
        load_contract(broken)
