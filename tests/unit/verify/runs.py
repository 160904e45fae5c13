"""Running verify against one loopback service, and picking one result: shared by the tests."""

from __future__ import annotations

from typing import Any

from postwright.verify import Report, VerifyOptions, run_verify

NAME = "mail.example.test"


def verify_one(service: str, port: int, ca: str | None = None, **extra: Any) -> Report:
    """verify of one contract service on a loopback port (no DNS), with short waits."""
    opts = VerifyOptions("127.0.0.1", servername=NAME, ca_file=ca, ports={service: port},
                         services=[service], dns=False, deadline=8, step_timeout=2,
                         domain="example.test", **extra)
    return run_verify(opts)


def one(report: Report, check: str) -> Any:
    """The single result with this id (the test fails showing every result otherwise)."""
    found = report.find(check)
    assert len(found) == 1, (check, [r.to_dict() for r in report.results])
    return found[0]
