"""dns.ttl: the TTLs of the records the dns.* checks looked at, judged in one result."""

from __future__ import annotations

from postwright.verify.authority import TtlFact
from postwright.verify.model import Collector, Status

LOW, HIGH = 60, 86400
REMEDY = (f"set the TTL of these records to between {LOW} and {HIGH} s (300..3600 s is usual): "
          "with postwright dns the dns_ttl / dns_ttls inventory variables, else your DNS "
          "provider's panel; lower a TTL a day before a planned change")


def _days(seconds: int) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 2 * 86400 else f"{seconds} s"


def check_ttls(col: Collector, subject: str, facts: list[TtlFact]) -> None:
    rows = {(f.name.rstrip(".").lower(), f.rdtype): f for f in facts}  # one per name and type
    found = [rows[key] for key in sorted(rows)]
    evidence = {"records": [f.row() for f in found], "range": [LOW, HIGH]}
    if not found:
        col.add("dns.ttl", Status.SKIP, f"no records of {subject} were found: no TTL to judge")
        return
    problems = []
    for f in found:
        if f.ttl > HIGH:
            problems.append(f"{f.rdtype} {f.name} has a TTL of {_days(f.ttl)}: a change takes "
                            "that long to reach every resolver")
        elif f.ttl < LOW and f.source != "resolver":  # a cache's countdown is no fault
            problems.append(f"{f.rdtype} {f.name} has a TTL of only {f.ttl} s: resolvers ask "
                            "again and again, and some raise such short TTLs anyway")
    if any(f.source == "resolver" for f in found):
        evidence["note"] = ("some TTLs are the resolver's (no authoritative server answered); "
                            "a cache counts them down, so only the upper limit is judged there")
    if problems:
        col.add("dns.ttl", Status.WARN, "; ".join(problems), evidence=evidence, remedy=REMEDY)
        return
    low, high = min(f.ttl for f in found), max(f.ttl for f in found)
    span = f"{low} s" if low == high else f"{low}..{high} s"
    col.add("dns.ttl", Status.PASS, f"all {len(found)} TTLs of {subject} are between {LOW} s "
            f"and 1 day ({span})", evidence=evidence)
