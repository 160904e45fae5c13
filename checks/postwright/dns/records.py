"""Every DNS record a mail host needs, computed from its MailHostPlan.

Forward records go to the zone of the hosted domain they belong to and are published by
whoever runs that zone ("dns": your DNS host). PTR records live in reverse zones that belong
to whoever owns the address block; for a VPS that is the provider, who offers a reverse-DNS
field in its panel ("ptr").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from postwright.contract import load_contract
from postwright.dns import dkim, names, txt
from postwright.dns.inventory import MailHostPlan
from postwright.errors import UsageError

Publisher = Literal["dns", "ptr"]
MX_PREFERENCE = 10
# RFC 6186 / RFC 8314 SRV labels; each is also the name of a service in the port contract.
SRV_SERVICES = ("submissions", "submission", "imaps", "imap", "pop3s", "pop3")


@dataclass(frozen=True)
class Record:
    """One resource record. `name` and `zone` are absolute (trailing dot); `rdata` is in
    zone-file presentation form (TXT already split into quoted <=255-byte strings)."""

    name: str
    type: str
    ttl: int
    rdata: str
    zone: str
    publisher: Publisher
    purpose: str

    @property
    def key(self) -> tuple[str, str]:
        """The RRset this record belongs to: (owner name, type)."""
        return (self.name.lower(), self.type)

    def text(self) -> str:
        """For TXT: the value receivers see (strings joined); otherwise the rdata."""
        if self.type != "TXT":
            return self.rdata
        return txt.join(txt.strings(self.rdata))

    def zone_line(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {self.rdata}"


def _rec(plan: MailHostPlan, name: str, rtype: str, rdata: str, zone: str, purpose: str,
         publisher: Publisher = "dns") -> Record:
    return Record(names.absolute(name), rtype, plan.ttl_for(rtype), rdata,
                  names.absolute(zone), publisher, purpose)


def _txt(plan: MailHostPlan, name: str, value: str, zone: str, purpose: str) -> Record:
    return _rec(plan, name, "TXT", txt.rdata(value), zone, purpose)


def _addresses(plan: MailHostPlan, name: str, zone: str, purpose: str) -> list[Record]:
    return [
        _rec(plan, name, "A" if ip.version == 4 else "AAAA", str(ip), zone, purpose)
        for ip in plan.addresses
    ]


def _zone(plan: MailHostPlan, name: str) -> str:
    zone = plan.zone_of(name)
    if zone is None:  # plan_from_vars guarantees every name we publish is in a zone
        raise UsageError(f"{name} is not inside any of mail_domains")
    return zone


def _mail_host(plan: MailHostPlan) -> list[Record]:
    zone = _zone(plan, plan.hostname)
    return [*_addresses(plan, plan.hostname, zone, "address of the mail host (MX target)"),
            _txt(plan, plan.hostname, helo_spf(plan), zone,
                 "SPF of the HELO name: the host's bounces (null sender) pass SPF and DMARC")]


def helo_spf(plan: MailHostPlan) -> str:
    """RFC 7208 2.3: a bounce has no sender, so receivers check the HELO name, which is the
    host name; only the host's own addresses may use it (no DNS lookups needed)."""
    return " ".join(["v=spf1", *(f"ip{ip.version}:{ip}" for ip in plan.addresses), "-all"])


def _domain(plan: MailHostPlan, domain: str) -> list[Record]:
    zone = _zone(plan, domain)
    host = names.absolute(plan.hostname)
    out = [
        _rec(plan, domain, "MX", f"{MX_PREFERENCE} {host}", zone,
             f"mail for {domain} goes to {plan.hostname}"),
        _txt(plan, domain, plan.spf, zone, "SPF: servers allowed to send as this domain"),
    ]
    for key_domain, path in plan.dkim_public_keys:
        if key_domain == domain:
            out.append(_txt(plan, f"{plan.dkim_selector}._domainkey.{domain}",
                            dkim.record_value(path), zone,
                            f"DKIM public key, selector {plan.dkim_selector}"))
    out.append(_txt(plan, f"_dmarc.{domain}",
                    f"v=DMARC1; p={plan.dmarc_policy}; rua={plan.dmarc_rua}", zone,
                    "DMARC policy and aggregate-report address"))
    if plan.mta_sts_mode != "none":
        out.append(_txt(plan, f"_mta-sts.{domain}", f"v=STSv1; id={plan.mta_sts_policy_id()}",
                        zone, f"MTA-STS policy ({plan.mta_sts_mode}) is published"))
        out += _addresses(plan, f"mta-sts.{domain}", zone,
                          "web host serving the MTA-STS policy file")
    if plan.tlsrpt_rua:
        out.append(_txt(plan, f"_smtp._tls.{domain}", f"v=TLSRPTv1; rua={plan.tlsrpt_rua}",
                        zone, "TLS-RPT: where senders report TLS failures"))
    if plan.srv:
        out += _srv(plan, domain, zone)
    for issuer in plan.caa_issuers:
        out.append(_rec(plan, domain, "CAA", f'0 issue "{issuer}"', zone,
                        "certificate authority allowed to issue"))
    return out


def _srv(plan: MailHostPlan, domain: str, zone: str) -> list[Record]:
    """RFC 6186 client autoconfiguration; target "." says "not offered" (RFC 2782)."""
    contract = load_contract()
    enabled = {s.name for s in contract.enabled_services(plan.optional_services)}
    host = names.absolute(plan.hostname)
    out = []
    for service in SRV_SERVICES:
        if service in enabled:
            rdata = f"0 1 {contract.service(service).port} {host}"
            purpose = f"mail clients find {service} here"
        else:
            rdata, purpose = "0 0 0 .", f"{service} is not offered"
        out.append(_rec(plan, f"_{service}._tcp.{domain}", "SRV", rdata, zone, purpose))
    return out


def _dmarc_authorizations(plan: MailHostPlan) -> list[Record]:
    """RFC 7489 7.1: a domain whose reports go to an address in another hosted domain needs
    `<domain>._report._dmarc.<report domain>` TXT "v=DMARC1" in the report domain's zone."""
    out = []
    report_domains = {
        uri[7:].rpartition("@")[2].split("!")[0].lower()
        for uri in plan.dmarc_rua.split(",")
        if uri.lower().startswith("mailto:")
    }
    for report_domain in sorted(report_domains):
        zone = plan.zone_of(report_domain)
        if zone is None:
            continue  # not ours to publish: the report domain's owner must authorise us
        for domain in plan.domains:
            if not names.is_within(domain, report_domain):
                out.append(_txt(plan, f"{domain}._report._dmarc.{report_domain}", "v=DMARC1",
                                zone, f"{report_domain} accepts DMARC reports for {domain}"))
    return out


def _ptr(plan: MailHostPlan) -> list[Record]:
    host = names.absolute(plan.hostname)
    return [
        _rec(plan, names.reverse_name(ip), "PTR", host, names.reverse_zone(ip),
             f"reverse DNS of {ip} (must match the A/AAAA: FCrDNS)", publisher="ptr")
        for ip in plan.addresses
    ]


def compute_records(plan: MailHostPlan) -> list[Record]:
    """All records, forward zones first (in mail_domains order), then PTRs."""
    out = _mail_host(plan)
    for domain in plan.domains:
        out += _domain(plan, domain)
    out += _dmarc_authorizations(plan)
    out += _ptr(plan)
    return _dedupe(out)


def _dedupe(records: list[Record]) -> list[Record]:
    """Drop exact repeats (e.g. mail_hostname == mta-sts.<domain>) keeping the first."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for record in records:
        ident = (*record.key, record.rdata)
        if ident not in seen:
            seen.add(ident)
            out.append(record)
    return out


def zones_of(records: list[Record]) -> list[str]:
    """Zones in first-appearance order."""
    return list(dict.fromkeys(r.zone for r in records))
