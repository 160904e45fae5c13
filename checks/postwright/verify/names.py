"""names.consistency: the banner name, the EHLO name, the PTR name and the certificate agree."""

from __future__ import annotations

from postwright.verify.model import Collector, Status
from postwright.verify.session import PortFacts
from postwright.verify.tlsinfo import name_matches


def check_names(col: Collector, ip: str, port: int, facts: PortFacts | None,
                ptr: list[str] | None) -> None:
    if facts is None or not (facts.banner_name or facts.ehlo_name):
        col.add("names.consistency", Status.SKIP,
                f"port {port} gave no SMTP banner on {ip}: no names to compare", ip=ip, port=port)
        return
    names = {"banner": facts.banner_name, "ehlo": facts.ehlo_name}
    evidence: dict[str, object] = {**names, "ptr": ptr, "certificate": facts.cert_names}
    problems = []
    banner, ehlo = (n.lower().rstrip(".") if n else None for n in names.values())
    if banner and ehlo and banner != ehlo:
        problems.append(f"banner says {banner} but EHLO says {ehlo}")
    name = ehlo or banner or ""
    if ptr is not None:
        if not ptr:
            problems.append(f"{ip} has no PTR to compare with {name}")
        elif name not in [p.lower() for p in ptr]:
            problems.append(f"PTR of {ip} is {', '.join(ptr)}, not {name}")
    if facts.cert_names and not name_matches(name, facts.cert_names):
        problems.append(f"certificate names {facts.cert_names} do not cover {name}")
    if problems:
        col.add("names.consistency", Status.WARN, "; ".join(problems), ip=ip, port=port,
                evidence=evidence,
                remedy="use one name everywhere: Postfix myhostname (banner and EHLO) = the PTR "
                "of every address = a name in the certificate")
    else:
        col.add("names.consistency", Status.PASS,
                f"{name}: banner, EHLO" + (", PTR" if ptr else "")
                + (" and certificate agree" if facts.cert_names else " agree"),
                ip=ip, port=port, evidence=evidence)
