"""The DNS view of one mail host, built from its Ansible host variables.

Shared variables (the Ansible roles read them too):

    mail_hostname   FQDN of the mail host; inside one of mail_domains (or below one)
    mail_domains    list of hosted domains, the first is the primary domain
    mail_ipv4       public IPv4 address (optional)
    mail_ipv6       public IPv6 address (optional; at least one of the two)
    mail_optional_services
                    contract services switched on that are off by default (e.g. [imap]);
                    default [] (decides which RFC 6186 SRV records point at the host)

DNS variables (all optional):

    dns_ttl                 300; default TTL of every record, 60..604800
    dns_ttls                {}; per record type, e.g. {MX: 3600, TXT: 600}
    dns_spf                 "v=spf1 mx -all"; SPF record of every hosted domain
    dns_dmarc_policy        quarantine; none | quarantine | reject
    dns_dmarc_rua           mailto:dmarc-reports@<primary domain>; comma-separated URIs
    dkim_selector           mail; one DNS label
    dns_dkim_public_keys    {}; domain -> file with a PEM public key or a DKIM TXT value;
                            relative paths are taken from the inventory (or vars file)
                            directory. Domains without a key get no DKIM record.
                            `--dkim-public-key DOMAIN=FILE` adds or replaces one on the
                            command line (see with_dkim_public_keys).
    dns_mta_sts_mode        none; none | testing | enforce (none: no MTA-STS records)
    dns_mta_sts_id          derived from the policy text (changes when the policy does)
    dns_tlsrpt_rua          unset; TLS-RPT report URIs (mailto:/https:), unset: no record
    dns_srv                 true; RFC 6186/8314 SRV records for mail clients
    dns_caa_issuers         []; CA domains allowed to issue (e.g. [letsencrypt.org])
    dns_primary_ns          ns1.<primary domain>; the zones' SOA MNAME and NS
    dns_primary_ns_ipv4     unset; glue address, needed when dns_primary_ns is in a zone
    dns_primary_ns_ipv6     unset; same, IPv6
    dns_hostmaster          hostmaster.<primary domain>; SOA RNAME (an address also works)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from postwright.contract import load_contract
from postwright.dns import dkim, names, spf, txt
from postwright.errors import PostwrightError, UsageError

DEFAULT_TTL = 300
MIN_TTL, MAX_TTL = 60, 604800
DEFAULT_SPF = "v=spf1 mx -all"
DEFAULT_SELECTOR = "mail"
RECORD_TYPES = ("A", "AAAA", "MX", "TXT", "PTR", "SRV", "CAA", "SOA", "NS")
DMARC_POLICIES = ("none", "quarantine", "reject")
MTA_STS_MODES = ("none", "testing", "enforce")
MTA_STS_MAX_AGE = 604800

DmarcPolicy = Literal["none", "quarantine", "reject"]
MtaStsMode = Literal["none", "testing", "enforce"]


@dataclass(frozen=True)
class MailHostPlan:
    """Validated inputs for the DNS records of one mail host (see the module docstring)."""

    hostname: str
    domains: tuple[str, ...]
    ipv4: names.IPAddress | None = None
    ipv6: names.IPAddress | None = None
    optional_services: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    ttls: tuple[tuple[str, int], ...] = ()
    spf: str = DEFAULT_SPF
    dmarc_policy: DmarcPolicy = "quarantine"
    dmarc_rua: str = ""
    dkim_selector: str = DEFAULT_SELECTOR
    dkim_public_keys: tuple[tuple[str, Path], ...] = ()
    mta_sts_mode: MtaStsMode = "none"
    mta_sts_id: str | None = None
    tlsrpt_rua: str | None = None
    srv: bool = True
    caa_issuers: tuple[str, ...] = ()
    primary_ns: str = ""
    primary_ns_ipv4: names.IPAddress | None = None
    primary_ns_ipv6: names.IPAddress | None = None
    hostmaster: str = ""
    name: str = field(default="", compare=False)  # inventory host name, for messages

    @property
    def addresses(self) -> tuple[names.IPAddress, ...]:
        return tuple(ip for ip in (self.ipv4, self.ipv6) if ip is not None)

    def ttl_for(self, rtype: str) -> int:
        return dict(self.ttls).get(rtype, self.ttl)

    def zones(self) -> tuple[str, ...]:
        """Forward zones: one per hosted domain, except domains below another hosted domain,
        whose records go into that parent's zone (a separate child zone would need a
        delegation we cannot publish)."""
        return tuple(
            d for d in self.domains
            if not any(p != d and names.is_within(d, p) for p in self.domains)
        )

    def zone_of(self, name: str) -> str | None:
        """The forward zone holding `name`, or None when no hosted zone contains it."""
        holders = [z for z in self.zones() if names.is_within(name, z)]
        return max(holders, key=len) if holders else None

    def mta_sts_policy(self) -> str | None:
        """Text of https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461), or None."""
        if self.mta_sts_mode == "none":
            return None
        return (
            f"version: STSv1\nmode: {self.mta_sts_mode}\nmx: {self.hostname}\n"
            f"max_age: {MTA_STS_MAX_AGE}\n"
        )

    def mta_sts_policy_id(self) -> str:
        """dns_mta_sts_id, or the first 20 hex digits of the policy's SHA-256."""
        if self.mta_sts_id:
            return self.mta_sts_id
        return hashlib.sha256((self.mta_sts_policy() or "").encode()).hexdigest()[:20]


def _ttl(variable: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"{variable}: expected a number of seconds, got {value!r}")
    try:
        seconds = int(value)
    except ValueError:
        raise UsageError(f"{variable}: expected a number of seconds, got {value!r}") from None
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise UsageError(
            f"{variable}: TTL {seconds} is out of range ({MIN_TTL}..{MAX_TTL} seconds)"
        )
    return seconds


def _str_list(variable: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{variable}: expected a list of strings, got {value!r}")
    return [str(v) for v in value]


def _choice(variable: str, value: object, choices: tuple[str, ...]) -> str:
    if value is False and "none" in choices:  # YAML `none`-ish spellings: off / no / false
        return "none"
    if not isinstance(value, str) or value.lower() not in choices:
        raise UsageError(f"{variable}: {value!r} is not one of {', '.join(choices)}")
    return value.lower()


def _report_uris(variable: str, value: object) -> str:
    """Comma-separated mailto:/https: URIs, as DMARC rua= and TLS-RPT rua= take them."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{variable}: expected mailto:/https: URIs, got {value!r}")
    uris = [u.strip() for u in value.split(",")]
    for uri in uris:
        if uri.lower().startswith("mailto:"):
            local, at, host = uri[7:].partition("@")
            if not local or not at or any(c in local for c in ' ;",'):
                raise UsageError(f"{variable}: {uri!r} is not a mailto: address")
            names.domain(variable, host.split("!")[0])
        elif not uri.lower().startswith("https://") or any(c in uri for c in ' ;"'):
            raise UsageError(f"{variable}: {uri!r} must be a mailto: or https:// URI")
    txt.check(value, variable)
    return ",".join(uris)


def _hostmaster(value: object) -> str:
    """SOA RNAME: `hostmaster.example.org`, or `host.master@example.org` (dot escaped)."""
    if isinstance(value, str) and "@" in value:
        local, _, host = value.partition("@")
        if not local or not all(c.isalnum() or c in "-_." for c in local):
            raise UsageError(f"dns_hostmaster: {value!r} is not a usable address")
        return local.replace(".", "\\.") + "." + names.domain("dns_hostmaster", host)
    return names.domain("dns_hostmaster", value)


def _caa_issuer(value: str) -> str:
    """An issuer-domain-name, optionally followed by `; key=value` parameters (RFC 8659)."""
    issuer, _, params = value.partition(";")
    names.domain("dns_caa_issuers", issuer)
    if '"' in value or "\\" in value:
        raise UsageError(f"dns_caa_issuers: {value!r} must not contain quotes or backslashes")
    txt.check(value, "dns_caa_issuers")
    return issuer.strip().lower() + (";" + params if params else "")


def _key_paths(value: object, domains: tuple[str, ...], base_dir: Path) -> tuple[
        tuple[str, Path], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise UsageError(f"dns_dkim_public_keys: expected domain -> file, got {value!r}")
    keys: list[tuple[str, Path]] = []
    for raw_domain, raw_path in value.items():
        domain = names.domain("dns_dkim_public_keys", raw_domain)
        if domain not in domains:
            raise UsageError(f"dns_dkim_public_keys: {raw_domain!r} is not in mail_domains "
                             f"({', '.join(domains)})")
        if not isinstance(raw_path, str) or not raw_path:
            raise UsageError(f"dns_dkim_public_keys[{domain}]: expected a file path, got "
                             f"{raw_path!r}")
        path = Path(raw_path).expanduser()
        keys.append((domain, path if path.is_absolute() else base_dir / path))
    return tuple(sorted(keys))


def _optional_services(value: object) -> tuple[str, ...]:
    wanted = _str_list("mail_optional_services", value)
    try:
        load_contract().enabled_services(wanted)
    except PostwrightError as exc:
        raise UsageError(f"mail_optional_services: {exc}") from None
    return tuple(wanted)


def plan_from_vars(
    host_vars: Mapping[str, Any], *, base_dir: Path | None = None, name: str = ""
) -> MailHostPlan:
    """Validate `host_vars` (Ansible host variables) into a MailHostPlan.

    `base_dir` anchors relative DKIM key paths (default: the current directory). Every
    problem raises UsageError naming the variable and its value.
    """
    hv = dict(host_vars)
    for key, value in hv.items():
        if key.startswith(("mail_", "dns_", "dkim_")) and isinstance(value, str) and "{{" in value:
            raise UsageError(
                f"{key}: {value!r} is a Jinja template; `postwright dns` reads inventory "
                "values as written, so give the plain value"
            )
    raw_domains = hv.get("mail_domains")
    if not isinstance(raw_domains, list | tuple) or not raw_domains:
        raise UsageError(f"mail_domains: expected a non-empty list of domains, got {raw_domains!r}")
    domains = tuple(names.domain("mail_domains", d) for d in raw_domains)
    duplicates = sorted({d for d in domains if domains.count(d) > 1})
    if duplicates:
        raise UsageError(f"mail_domains: {', '.join(duplicates)} listed twice")
    hostname = names.domain("mail_hostname", hv.get("mail_hostname"))
    if not any(names.is_within(hostname, d) for d in domains):
        raise UsageError(
            f"mail_hostname: {hostname!r} is not inside any of mail_domains "
            f"({', '.join(domains)}); its A/AAAA records would have no zone here"
        )
    ipv4 = names.address("mail_ipv4", hv["mail_ipv4"], 4) if hv.get("mail_ipv4") else None
    ipv6 = names.address("mail_ipv6", hv["mail_ipv6"], 6) if hv.get("mail_ipv6") else None
    if ipv4 is None and ipv6 is None:
        raise UsageError("mail_ipv4 / mail_ipv6: give at least one address of the mail host")

    raw_ttls = hv.get("dns_ttls") or {}
    if not isinstance(raw_ttls, Mapping):
        raise UsageError(f"dns_ttls: expected a mapping of record type -> TTL, got {raw_ttls!r}")
    ttls: dict[str, int] = {}
    for rtype, seconds in raw_ttls.items():
        key = str(rtype).upper()
        if key not in RECORD_TYPES:
            raise UsageError(f"dns_ttls: {rtype!r} is not one of {', '.join(RECORD_TYPES)}")
        ttls[key] = _ttl(f"dns_ttls[{key}]", seconds)

    selector = hv.get("dkim_selector", DEFAULT_SELECTOR)
    if not isinstance(selector, str) or not names.is_label(selector):
        raise UsageError(
            f"dkim_selector: {selector!r} is not a valid DNS label (letters, digits, hyphens, "
            "1-63 characters, no hyphen at either end)"
        )
    spf_record = hv.get("dns_spf", DEFAULT_SPF)
    if not isinstance(spf_record, str):
        raise UsageError(f"dns_spf: expected a string, got {spf_record!r}")
    txt.check(spf_record, "dns_spf")
    spf.validate(spf_record)

    mode = _choice("dns_mta_sts_mode", hv.get("dns_mta_sts_mode", "none"), MTA_STS_MODES)
    sts_id = hv.get("dns_mta_sts_id")
    if sts_id is not None:
        sts_id = str(sts_id)
        if not (1 <= len(sts_id) <= 32 and sts_id.isascii() and sts_id.isalnum()):
            raise UsageError(f"dns_mta_sts_id: {sts_id!r} must be 1-32 letters or digits")
    tlsrpt = hv.get("dns_tlsrpt_rua")
    srv = hv.get("dns_srv", True)
    if not isinstance(srv, bool):
        raise UsageError(f"dns_srv: expected true or false, got {srv!r}")

    primary_ns = names.domain("dns_primary_ns", hv.get("dns_primary_ns") or f"ns1.{domains[0]}")
    ns4, ns6 = hv.get("dns_primary_ns_ipv4"), hv.get("dns_primary_ns_ipv6")
    base = base_dir if base_dir is not None else Path.cwd()
    return MailHostPlan(
        hostname=hostname,
        domains=domains,
        ipv4=ipv4,
        ipv6=ipv6,
        optional_services=_optional_services(hv.get("mail_optional_services")),
        ttl=_ttl("dns_ttl", hv.get("dns_ttl", DEFAULT_TTL)),
        ttls=tuple(sorted(ttls.items())),
        spf=spf_record,
        dmarc_policy=cast(DmarcPolicy, _choice(
            "dns_dmarc_policy", hv.get("dns_dmarc_policy", "quarantine"), DMARC_POLICIES
        )),
        dmarc_rua=_report_uris(
            "dns_dmarc_rua", hv.get("dns_dmarc_rua") or f"mailto:dmarc-reports@{domains[0]}"
        ),
        dkim_selector=selector.lower(),
        dkim_public_keys=_key_paths(hv.get("dns_dkim_public_keys"), domains, base),
        mta_sts_mode=cast(MtaStsMode, mode),
        mta_sts_id=sts_id,
        tlsrpt_rua=_report_uris("dns_tlsrpt_rua", tlsrpt) if tlsrpt else None,
        srv=srv,
        caa_issuers=tuple(_caa_issuer(i) for i in _str_list("dns_caa_issuers",
                                                              hv.get("dns_caa_issuers"))),
        primary_ns=primary_ns,
        primary_ns_ipv4=names.address("dns_primary_ns_ipv4", ns4, 4) if ns4 else None,
        primary_ns_ipv6=names.address("dns_primary_ns_ipv6", ns6, 6) if ns6 else None,
        hostmaster=_hostmaster(hv.get("dns_hostmaster") or f"hostmaster.{domains[0]}"),
        name=name,
    )


def with_dkim_public_keys(
    plan: MailHostPlan,
    keys: Iterable[tuple[str, str | Path]],
    *,
    source: str = "--dkim-public-key",
) -> MailHostPlan:
    """`plan` with DKIM key files given outside the inventory (domain, file) added; a domain
    that dns_dkim_public_keys already maps gets the new file instead.

    Used for keys generated on the mail host and fetched to the controller, which the
    inventory cannot name in advance. Relative paths are taken from the current directory
    (they come from a command line). Unlike the inventory variable, each file is read now:
    the error then names `source` rather than dns_dkim_public_keys.
    """
    given: dict[str, Path] = {}
    for raw_domain, raw_path in keys:
        domain = names.domain(source, raw_domain)
        if domain not in plan.domains:
            raise UsageError(f"{source}: {raw_domain!r} is not in mail_domains "
                             f"({', '.join(plan.domains)})")
        if domain in given:
            raise UsageError(f"{source}: {domain} given twice")
        if not str(raw_path):
            raise UsageError(f"{source}: expected a file for {domain}")
        path = Path(raw_path).expanduser().absolute()
        dkim.record_value(path, source)  # exists, readable, a public key or DKIM TXT value
        given[domain] = path
    if not given:
        return plan
    kept = [(d, p) for d, p in plan.dkim_public_keys if d not in given]
    return dataclasses.replace(plan, dkim_public_keys=tuple(sorted([*kept, *given.items()])))
