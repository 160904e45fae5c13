"""Check results and the report: the stable shape behind the terminal, JSON and JUnit outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # the check does not apply; the summary says why
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
    def exit_code(self) -> int:
        return 1 if self.failed else 0

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

    def __init__(self, ip: str | None = None, port: int | None = None) -> None:
        self.ip = ip
        self.port = port
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
