"""How a rule reports: one result per rule and subject (a port, a file, a setting), through
verify's Collector, so that audit's report, JSON, JUnit and exit codes are verify's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postwright.audit.facts import HostFacts
from postwright.audit.syntax import Fix
from postwright.contract import Contract
from postwright.verify.model import CheckResult, Collector, Status


@dataclass
class Judge:
    facts: HostFacts
    contract: Contract
    col: Collector

    def ok(self, rule: str, summary: str, *, port: int | None = None,
           evidence: dict[str, Any] | None = None) -> CheckResult:
        return self.col.add(rule, Status.PASS, summary, port=port, evidence=evidence)

    def finding(self, rule: str, summary: str, fix: Fix, *, port: int | None = None,
                status: Status = Status.FAIL,
                evidence: dict[str, Any] | None = None) -> CheckResult:
        """A deviation: the evidence carries file, line, setting and change (stable keys)."""
        return self.col.add(rule, status, summary, port=port, remedy=fix.text(),
                            evidence={**fix.evidence(), **(evidence or {})})

    def skip(self, rule: str, why: str, *, port: int | None = None) -> CheckResult:
        return self.col.add(rule, Status.SKIP, why, port=port)

    def info(self, rule: str, summary: str, *, evidence: dict[str, Any] | None = None,
             port: int | None = None) -> CheckResult:
        return self.col.add(rule, Status.INFO, summary, port=port, evidence=evidence)

    def cannot(self, rule: str, why: str, *, port: int | None = None) -> CheckResult:
        """The fact the rule needs was not readable on the host: nothing is proven."""
        return self.col.add(rule, Status.ERROR, why, port=port)
