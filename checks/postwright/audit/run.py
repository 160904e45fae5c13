"""Judge collected facts with every rule: the same Report verify produces."""

from __future__ import annotations

import time

from postwright.audit.facts import HostFacts
from postwright.audit.judge import Judge
from postwright.audit.registry import RULES
from postwright.contract import load_contract
from postwright.verify.model import Collector, Report, Status


def judge(facts: HostFacts, target: str, *, started: float | None = None) -> Report:
    col = Collector()
    judge = Judge(facts, load_contract(), col)
    for rule in RULES:
        rule.check(judge)
        if not col.has(rule.id):  # every rule shows up in the report, if only as a skip
            col.add(rule.id, Status.SKIP, "nothing on this host for this rule to judge")
    began = started if started is not None else time.monotonic()
    return Report(target, time.monotonic() - began, col.results)
