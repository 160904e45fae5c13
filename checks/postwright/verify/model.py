"""Check results and the report: the stable shape behind the terminal, JSON and JUnit outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Exit codes of `verify` (2 is every command's usage error, see errors.UsageError).
EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 3


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # the check does not apply; the summary says why
    INFO = "info"  # nothing to judge: an optional policy not published, an address not listed
    ERROR = "error"  # the check could not be carried out (network error, deadline)


@dataclass
class CheckResult:
    id: str
    status: Status
    summary: str
    ip: str | None = None
    port: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    remedy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "ip": self.ip,
            "port": self.port,
            "summary": self.summary,
            "evidence": self.evidence,
            "remedy": self.remedy,
        }


@dataclass
class Report:
    target: str
    duration_s: float
    results: list[CheckResult]

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    @property
    def errored(self) -> bool:
        return any(r.status is Status.ERROR for r in self.results)

    @property
    def exit_code(self) -> int:
        """EXIT_FAIL when a check failed; else EXIT_ERROR when one could not be carried out
        (the host may be fine: nothing proves it); else 0. Usage errors exit 2 (cli)."""
        if self.failed:
            return EXIT_FAIL
        return EXIT_ERROR if self.errored else EXIT_OK

    def counts(self) -> dict[Status, int]:
        return {s: sum(1 for r in self.results if r.status is s) for s in Status}

    def find(self, check_id: str, *, ip: str | None = None,
             port: int | None = None) -> list[CheckResult]:
        """Results with this id (and ip/port when given): the lookup tests and labs use."""
        return [r for r in self.results
                if r.id == check_id
                and (ip is None or r.ip == ip)
                and (port is None or r.port == port)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "duration_s": round(self.duration_s, 3),
            "results": [r.to_dict() for r in self.results],
        }


class Collector:
    """Results of one task; ids it promised but did not deliver become `error` on the deadline."""

    def __init__(self, ip: str | None = None, port: int | None = None, *,
                 listener: Callable[[CheckResult], None] | None = None) -> None:
        self.ip = ip
        self.port = port
        self.listener = listener  # told of every result as it comes (a progress line)
        self.results: list[CheckResult] = []
        self._pending: list[str] = []

    def expect(self, *ids: str) -> None:
        self._pending.extend(i for i in ids if i not in self._pending)

    def add(self, check_id: str, status: Status, summary: str, *,
            evidence: dict[str, Any] | None = None, remedy: str = "",
            ip: str | None = None, port: int | None = None) -> CheckResult:
        result = CheckResult(
            id=check_id, status=status, summary=summary,
            ip=ip if ip is not None else self.ip,
            port=port if port is not None else self.port,
            evidence=evidence or {}, remedy=remedy,
        )
        self.results.append(result)
        if self.listener is not None:
            self.listener(result)
        if check_id in self._pending:
            self._pending.remove(check_id)
        return result

    def has(self, check_id: str) -> bool:
        return any(r.id == check_id for r in self.results)

    def close_pending(self, why: str, status: Status = Status.ERROR) -> None:
        """Give every promised but missing check a result saying why it did not run."""
        for check_id in list(self._pending):
            self.add(check_id, status, why)
        self._pending.clear()
