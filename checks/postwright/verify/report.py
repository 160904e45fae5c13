"""Render a Report: terminal (grouped by address and port, then DNS), JSON, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import TextIO

from postwright.verify.model import CheckResult, Report, Status

_COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.ERROR: "35",
            Status.SKIP: "2", Status.INFO: "36"}


def group_name(result: CheckResult) -> str:
    if result.port is not None:
        ip = f"[{result.ip}]" if result.ip and ":" in result.ip else (result.ip or "?")
        return f"{ip}:{result.port}"
    if result.id.startswith("dns."):
        return "DNS"
    if result.id.startswith(("send.", "imap.")):
        return "round trip"
    return f"{result.ip}" if result.ip else "other"


Grouping = Callable[[CheckResult], str]


def _groups(report: Report, group: Grouping) -> Iterator[tuple[str, list[CheckResult]]]:
    seen: dict[str, list[CheckResult]] = {}
    for result in report.results:
        seen.setdefault(group(result), []).append(result)
    yield from seen.items()


def short(summary: str, width: int = 72) -> str:
    """The first clause of a summary (up to ': ' or '; ' outside parentheses), for the one
    line a passing check gets; the whole text stays in JSON and --verbose."""
    depth = 0
    for i, ch in enumerate(summary):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and summary[i:i + 2] in (": ", "; "):
            summary = summary[:i]
            break
    return summary if len(summary) <= width else summary[:width - 1] + "…"


def verdict_lines(result: CheckResult) -> list[str]:
    """SPF/DKIM/DMARC as the receiving server judged each test message (imap.receive)."""
    lines = []
    for via, facts in sorted((result.evidence.get("messages") or {}).items()):
        verdict = " ".join(f"{k}={facts[k]}" for k in ("spf", "dkim", "dmarc", "arc")
                           if k in facts)
        latency = facts.get("latency_s")
        lines.append(f"via {via}: {verdict or 'no Authentication-Results'}"
                     + (f" ({latency:.1f} s)" if isinstance(latency, int | float) else ""))
    return lines


def tally(report: Report) -> str:
    counts = report.counts()
    line = ", ".join(f"{counts[s]} {s.value}" for s in
                     (Status.PASS, Status.WARN, Status.FAIL, Status.ERROR))
    if counts[Status.INFO]:
        line += f", {counts[Status.INFO]} info"
    if counts[Status.SKIP]:
        line += f" ({counts[Status.SKIP]} skipped)"
    return line


def render_text(report: Report, out: TextIO, *, colour: bool, verbose: bool = False,
                command: str = "verify", group: Grouping = group_name) -> None:
    """One short line per passing (or skipped) check; what went wrong, why and what to do
    for warn/fail/error; everything, evidence included, with `verbose`. `command` and
    `group` let another command (audit) print its results the same way."""
    def paint(status: Status) -> str:
        label = f"{status.value.upper():<5}"
        return f"\x1b[{_COLOURS[status]}m{label}\x1b[0m" if colour else label

    width = max([28, *(len(r.id) + 1 for r in report.results)])
    print(f"postwright {command} {report.target}", file=out)
    for name, results in _groups(report, group):
        print(f"\n{name}", file=out)
        for r in results:
            where = f" {r.ip}" if r.port is None and r.ip else ""
            quiet = r.status in (Status.PASS, Status.INFO, Status.SKIP) and not verbose
            text = short(r.summary) if quiet else r.summary
            print(f"  {paint(r.status)} {r.id:<{width}}{where} {text}", file=out)
            if r.id == "imap.receive":
                for line in verdict_lines(r):
                    print(f"        {line}", file=out)
            if r.remedy and (verbose or not quiet):
                print(f"        -> {r.remedy}", file=out)
            if verbose and r.evidence:
                evidence = json.dumps(r.evidence, default=str)
                print(f"        evidence: {evidence[:400]}", file=out)
    print(f"\n{tally(report)} in {report.duration_s:.1f} s", file=out)


class Progress:
    """A live line on a terminal: how many checks are done and the latest one; cleared at the
    end so that the report starts on a clean line. Only for a TTY: logs stay clean."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.done = 0

    def __call__(self, result: CheckResult) -> None:
        self.done += 1
        where = f" {group_name(result)}" if result.port is not None else ""
        line = f"checking… {self.done} done, last: {result.id}{where}"
        self.out.write("\r\x1b[K" + line[:100])
        self.out.flush()

    def clear(self) -> None:
        self.out.write("\r\x1b[K")
        self.out.flush()


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)


def render_junit(report: Report, *, command: str = "verify",
                 group: Grouping = group_name) -> str:
    suite = ET.Element("testsuite", {
        "name": f"postwright {command} {report.target}",
        "tests": str(len(report.results)),
        "failures": str(sum(r.status is Status.FAIL for r in report.results)),
        "errors": str(sum(r.status is Status.ERROR for r in report.results)),
        "skipped": str(sum(r.status is Status.SKIP for r in report.results)),
        "time": f"{report.duration_s:.3f}",
    })
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": group(r), "name": r.id})
        if r.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": r.summary}).text = r.remedy
        elif r.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": r.summary}).text = r.remedy
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": r.summary})
        else:
            ET.SubElement(case, "system-out").text = f"{r.status.value}: {r.summary}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
