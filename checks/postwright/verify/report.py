"""Render a Report: terminal (grouped by address and port, then DNS), JSON, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import TextIO

from postwright.verify.model import CheckResult, Report, Status

_COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.ERROR: "35",
            Status.SKIP: "2"}


def group_name(result: CheckResult) -> str:
    if result.port is not None:
        ip = f"[{result.ip}]" if result.ip and ":" in result.ip else (result.ip or "?")
        return f"{ip}:{result.port}"
    if result.id.startswith("dns."):
        return "DNS"
    if result.id.startswith(("send.", "imap.")):
        return "round trip"
    return f"{result.ip}" if result.ip else "other"


def _groups(report: Report) -> Iterator[tuple[str, list[CheckResult]]]:
    seen: dict[str, list[CheckResult]] = {}
    for result in report.results:
        seen.setdefault(group_name(result), []).append(result)
    yield from seen.items()


def render_text(report: Report, out: TextIO, *, colour: bool) -> None:
    def paint(status: Status) -> str:
        label = f"{status.value.upper():<5}"
        return f"\x1b[{_COLOURS[status]}m{label}\x1b[0m" if colour else label

    print(f"postwright verify {report.target}", file=out)
    for name, results in _groups(report):
        print(f"\n{name}", file=out)
        for r in results:
            where = f" {r.ip}" if r.port is None and r.ip else ""
            print(f"  {paint(r.status)} {r.id:<30}{where} {r.summary}", file=out)
            if r.remedy and r.status in (Status.FAIL, Status.WARN, Status.ERROR):
                print(f"        -> {r.remedy}", file=out)
    counts = {s: sum(1 for r in report.results if r.status is s) for s in Status}
    tally = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    print(f"\n{tally} in {report.duration_s:.1f} s", file=out)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)


def render_junit(report: Report) -> str:
    suite = ET.Element("testsuite", {
        "name": f"postwright verify {report.target}",
        "tests": str(len(report.results)),
        "failures": str(sum(r.status is Status.FAIL for r in report.results)),
        "errors": str(sum(r.status is Status.ERROR for r in report.results)),
        "skipped": str(sum(r.status is Status.SKIP for r in report.results)),
        "time": f"{report.duration_s:.3f}",
    })
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": group_name(r), "name": r.id})
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
