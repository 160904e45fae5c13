"""Tie verify's network findings to their causes in the host's configuration.

verify sees the symptom from outside ("port 465 speaks plaintext"); audit reads the line that
causes it (master.cf `submissions` lacks `-o smtpd_tls_wrappermode=yes`). CAUSES says which
audit rules can explain each verify check; a cause is linked when the rule found something on
the same port (or on no particular port, e.g. a main.cf setting that applies to every smtpd).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postwright.errors import UsageError
from postwright.verify.model import Report, Status

CAUSES: dict[str, tuple[str, ...]] = {
    "port.mode": ("audit.postfix.wrappermode", "audit.listen.contract_ports"),
    "tls.handshake": ("audit.postfix.wrappermode", "audit.tls.key_matches_cert"),
    "submission.requires_tls": ("audit.postfix.starttls_required",),
    "auth.on_mx": ("audit.postfix.auth_on_mx",),
    "auth.before_tls": ("audit.postfix.tls_auth_only", "audit.postfix.starttls_required",
                        "audit.dovecot.ssl_required", "audit.dovecot.cleartext_auth"),
    "tls.protocol.legacy_refused": ("audit.postfix.tls_floor", "audit.dovecot.tls_floor"),
    "tls.cert.trusted": ("audit.tls.trusted",),
    "tls.cert.hostname": ("audit.tls.trusted",),
    "tls.cert.expiry": ("audit.tls.expiry", "audit.tls.served_is_on_disk"),
    "tls.cert.current": ("audit.tls.served_is_on_disk",),
    "relay.open": ("audit.postfix.relay_restrictions", "audit.postfix.mynetworks_open"),
    "smtp.smuggling": ("audit.postfix.smuggling",),
    "smtp.pipelining": ("audit.postfix.smuggling",),
    "dns.dnsbl.resolver": ("audit.host.resolver",),
}
_BAD = {Status.FAIL.value, Status.WARN.value, Status.ERROR.value}


@dataclass(frozen=True)
class Link:
    check: dict[str, Any]  # the verify result, as in its JSON report
    causes: list[dict[str, Any]]  # audit results: id, port, file, line, setting, change

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "causes": self.causes}


def load_verify(path: str) -> list[dict[str, Any]]:
    """The results of a `postwright verify --json FILE` report."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [r for r in data["results"] if isinstance(r, dict)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--verify-report: not a verify JSON report: {path} ({exc})") from None


def link(verify_results: list[dict[str, Any]], audit: Report) -> list[Link]:
    links = []
    for check in verify_results:
        if check.get("status") not in _BAD or check.get("id") not in CAUSES:
            continue
        rules = CAUSES[str(check["id"])]
        causes = [{"id": r.id, "port": r.port, "summary": r.summary, **r.evidence}
                  for r in audit.results
                  if r.id in rules and r.status in (Status.FAIL, Status.WARN)
                  and (r.port is None or r.port == check.get("port"))]
        links.append(Link(check, causes))
    return links


def render_links(links: list[Link]) -> list[str]:
    """Each network finding, then `cause: FILE SETTING -> CHANGE` for each cause found."""
    lines = []
    for item in links:
        check = item.check
        where = f" port {check['port']}" if check.get("port") else ""
        lines.append(f"{check['status'].upper():<5} {check['id']}{where}: {check['summary']}")
        for cause in item.causes:
            place = f"{cause['file']}:{cause['line']}" if cause.get("line") else cause["file"]
            lines.append(f"      cause: {place} {cause['setting']} -> {cause['change']}"
                         f"  [{cause['id']}]")
        if not item.causes:
            lines.append("      cause: not found in the configuration audit reads")
    return lines
