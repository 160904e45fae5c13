"""dns.tlsrpt: the SMTP TLS reporting record (RFC 8460) at _smtp._tls.<domain>.

TLS-RPT is how a domain learns that senders fail to reach it over TLS (an expired
certificate, a DANE or MTA-STS mismatch) before its users notice missing mail. A record that
does not parse (wrong version, a `rua` that is neither mailto: nor https:) gets no reports,
silently; so the syntax is worth checking even though the record is optional.
"""

from __future__ import annotations

from typing import Any

from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver, txt_strings

CHECK_ID = "dns.tlsrpt"
VERSION = "v=TLSRPTv1"


def record_problems(record: str) -> list[str]:
    """What is wrong with one `v=TLSRPTv1; rua=...` record (RFC 8460 3)."""
    parts = [p.strip() for p in record.split(";") if p.strip()]
    problems = []
    if not parts or parts[0] != VERSION:
        problems.append(f"it must start with {VERSION}")
    tags = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            problems.append(f"{part!r} is not key=value")
        tags[key.strip().lower()] = value.strip()
    rua = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if not rua:
        problems.append("it has no rua= (where reports go)")
    for uri in rua:
        scheme, sep, rest = uri.partition(":")
        if not sep or scheme.lower() not in ("mailto", "https") or not rest:
            problems.append(f"rua {uri!r} is neither mailto: nor https:")
        elif scheme.lower() == "mailto" and "@" not in rest:
            problems.append(f"rua {uri!r} has no mail address")
    return problems


async def check_tlsrpt(resolver: Resolver, col: Collector, domain: str | None) -> None:
    col.expect(CHECK_ID)
    if domain is None:
        col.add(CHECK_ID, Status.SKIP, "HOST is an IP address and no --domain was given")
        return
    name = f"_smtp._tls.{domain}"
    lookup = await resolver.txt(name)
    records = [t for t in txt_strings(lookup) if t.lower().startswith("v=tlsrpt")]
    ev: dict[str, Any] = {**lookup.evidence(), "resolver": resolver.description}
    remedy = f'publish one TXT {name} "v=TLSRPTv1; rua=mailto:tls-reports@{domain}"'
    if lookup.status == "error":
        col.add(CHECK_ID, Status.ERROR, f"TXT lookup of {name} failed: {lookup.error}",
                evidence=ev)
    elif not records:
        col.add(CHECK_ID, Status.INFO, f"no TLS-RPT record at {name} (optional: senders "
                "then have nowhere to report TLS failures)", evidence=ev)
    elif len(records) > 1:
        col.add(CHECK_ID, Status.FAIL, f"{name} has {len(records)} TLS-RPT records: senders "
                "use none (RFC 8460 3)", evidence=ev, remedy=remedy)
    elif problems := record_problems(records[0]):
        col.add(CHECK_ID, Status.FAIL, f"TLS-RPT record {records[0]!r}: {'; '.join(problems)}",
                evidence=ev, remedy=remedy)
    else:
        col.add(CHECK_ID, Status.PASS, records[0], evidence=ev)
