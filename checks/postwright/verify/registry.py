"""Every check `verify` can report, declared once: id, family, one-line spec, where it applies.

The ids are the stable keys of the JSON report, the JUnit test names and what lab tests
assert; the per-port expectations (`port_check_ids`), `verify --list-checks` and the host
suite's expected set all derive from this table, so a new check is one entry here plus the
code that judges it, never a list repeated somewhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from postwright.contract import AuthRule, Service, TlsMode, load_contract
from postwright.verify.tlsinfo import EXPIRY_WARN_DAYS


class Scope(StrEnum):
    PORT = "port"  # once per address and contract service
    ADDRESS = "address"  # once per address (on the MX port)
    HOST = "host"  # once per run (DNS of the host and domain)
    ROUND_TRIP = "round-trip"  # with --user: real messages sent and read back


Applies = Callable[[Service], bool]


def _every(service: Service) -> bool:
    return True


def _starttls(service: Service) -> bool:
    return service.tls is TlsMode.STARTTLS


def _mx(service: Service) -> bool:
    return service.auth is AuthRule.NEVER


def _smtp(service: Service) -> bool:
    return service.protocol == "smtp"


def _submission_starttls(service: Service) -> bool:
    return _smtp(service) and _starttls(service) and service.tls_required


@dataclass(frozen=True)
class CheckSpec:
    id: str
    family: str  # port | tls | auth | relay | smtp | policy | dns | names | round-trip
    spec: str  # what passing means, in one line
    scope: Scope
    applies: Applies = _every  # PORT scope: which contract services it runs on
    option: str | None = None  # only when this command-line option is given

    def services(self) -> list[str]:
        """Contract services this check runs on (PORT scope), by name."""
        if self.scope is not Scope.PORT:
            return []
        return [s.name for s in load_contract().services.values() if self.applies(s)]


_PORT_CHECKS = (
    CheckSpec("port.mode", "port", "the port speaks the TLS mode the contract gives it "
              "(implicit TLS or plaintext with STARTTLS)", Scope.PORT),
    CheckSpec("tls.handshake", "tls", "a TLS handshake with a contract protocol succeeds",
              Scope.PORT),
    CheckSpec("tls.cert.trusted", "tls", "the certificate chain leads to a trusted CA "
              "(system store or --ca-file)", Scope.PORT),
    CheckSpec("tls.cert.hostname", "tls", "the certificate covers the host name (RFC 6125)",
              Scope.PORT),
    CheckSpec("tls.cert.expiry", "tls", "the certificate is valid for at least "
              f"{EXPIRY_WARN_DAYS} more days", Scope.PORT),
    CheckSpec("tls.cert.current", "tls", "the port serves the certificate on disk (a reload "
              "followed the last renewal)", Scope.PORT, option="--expect-cert"),
    CheckSpec("tls.protocol.legacy_refused", "tls", "TLS 1.0 and 1.1 handshakes are refused",
              Scope.PORT),
    CheckSpec("tls.starttls.injection", "tls", "commands pipelined behind STARTTLS are "
              "discarded, not answered inside TLS (CVE-2011-0411)", Scope.PORT, _starttls),
    CheckSpec("auth.before_tls", "auth", "no login is offered before STARTTLS", Scope.PORT,
              _starttls),
    CheckSpec("auth.on_mx", "auth", "the MX port never offers AUTH, before or after TLS",
              Scope.PORT, _mx),
    CheckSpec("submission.requires_tls", "auth", "MAIL FROM before STARTTLS is refused "
              "(530, RFC 3207)", Scope.PORT, _submission_starttls),
    CheckSpec("relay.open", "relay", "mail to a foreign domain without authentication is "
              "refused (no open relay)", Scope.PORT, _smtp),
    CheckSpec("smtp.smuggling", "smtp", "a message holding a bare end-of-data variant "
              "(<LF>.<CR><LF> and relatives) and a second transaction is refused or taken as one "
              "message (SMTP smuggling, CVE-2023-51764); sends probe messages to --smuggle-rcpt "
              "or --user, skipped without either", Scope.PORT, _mx),
    CheckSpec("smtp.pipelining", "smtp", "commands sent before the EHLO reply are refused "
              "(RFC 2920; Postfix smtpd_forbid_unauth_pipelining)", Scope.PORT, _mx),
)

_OTHER_CHECKS = (
    CheckSpec("names.consistency", "names", "banner, EHLO, PTR and certificate name agree",
              Scope.ADDRESS),
    # The published mail policies (verify/mailpolicy.py): "info" when the domain publishes none.
    CheckSpec("dns.dnsbl", "policy", "no public address of the host is listed in a DNS "
              "blocklist (--dnsbl; default Spamhaus ZEN)", Scope.ADDRESS),
    CheckSpec("dns.dnsbl.resolver", "policy", "Spamhaus zones are not asked through a public "
              "resolver it refuses", Scope.HOST),
    CheckSpec("dns.dane", "policy", "TLSA records at _25._tcp.HOST match the certificate "
              "port 25 serves", Scope.ADDRESS),
    CheckSpec("dns.mta_sts", "policy", "the MTA-STS record and policy are valid", Scope.HOST),
    CheckSpec("dns.mta_sts.mx", "policy", "the MTA-STS policy covers every MX", Scope.HOST),
    CheckSpec("dns.mta_sts.cert", "policy", "port 25 serves a certificate MTA-STS senders "
              "accept (trusted, right name, current)", Scope.ADDRESS),
    CheckSpec("dns.tlsrpt", "policy", "the TLS-RPT record is valid", Scope.HOST),
    CheckSpec("dns.mx", "dns", "the domain's MX points at the host", Scope.HOST),
    CheckSpec("dns.a", "dns", "the host has an A record", Scope.HOST),
    CheckSpec("dns.aaaa", "dns", "the host has an AAAA record", Scope.HOST),
    CheckSpec("dns.spf", "dns", "the domain publishes one valid SPF record", Scope.HOST),
    CheckSpec("dns.spf.authorizes", "dns", "SPF authorizes every address of the host",
              Scope.HOST),
    CheckSpec("dns.dmarc", "dns", "the domain publishes a DMARC policy", Scope.HOST),
    CheckSpec("dns.dkim", "dns", "the DKIM selector publishes a usable key", Scope.HOST,
              option="--dkim-selector"),
    CheckSpec("dns.ptr", "dns", "every address has a PTR record", Scope.HOST),
    CheckSpec("dns.fcrdns", "dns", "the PTR name resolves back to the address", Scope.HOST),
    CheckSpec("dns.ttl", "dns", "record TTLs are neither too short nor too long", Scope.HOST),
)


def _send_checks() -> tuple[CheckSpec, ...]:
    """send.PORT for every SMTP service of the contract, then imap.receive."""
    sends = tuple(
        CheckSpec(f"send.{s.port}", "round-trip", f"a message is accepted on {s.name} "
                  f"(port {s.port}{', authenticated' if s.auth is AuthRule.REQUIRED else ''})",
                  Scope.ROUND_TRIP, option="--user")
        for s in load_contract().services.values() if _smtp(s) and s.enabled)
    receive = CheckSpec("imap.receive", "round-trip", "the sent messages arrive and are read "
                        "back over IMAPS (with their SPF/DKIM/DMARC verdicts)",
                        Scope.ROUND_TRIP, option="--user")
    return (*sends, receive)


@cache
def all_checks() -> tuple[CheckSpec, ...]:
    return (*_PORT_CHECKS, *_OTHER_CHECKS, *_send_checks())


def spec(check_id: str) -> CheckSpec:
    for check in all_checks():
        if check.id == check_id:
            return check
    raise KeyError(check_id)


def port_check_ids(service: Service, *, options: frozenset[str] = frozenset()) -> list[str]:
    """The ids one port reports, in report order (checks tied to an absent option left out)."""
    return [c.id for c in _PORT_CHECKS
            if c.applies(service) and (c.option is None or c.option in options)]


def dns_check_ids() -> list[str]:
    """The dns.* checks every run with DNS reports, in report order."""
    return [c.id for c in all_checks() if c.family == "dns"]


def send_check_id(service: Service) -> str:
    return f"send.{service.port}"


def check_ids() -> set[str]:
    return {c.id for c in all_checks()}


def listing() -> str:
    """`verify --list-checks`: one line per check, grouped by family."""
    rows = []
    for c in all_checks():
        where = ", ".join(c.services()) if c.scope is Scope.PORT else c.scope.value
        if c.option:
            where += f"; with {c.option}"
        rows.append((c.id, c.family, where, c.spec))
    width = max(len(r[0]) for r in rows)
    fam = max(len(r[1]) for r in rows)
    return "\n".join(f"{i:<{width}}  {f:<{fam}}  {s}\n{'':<{width}}  {'':<{fam}}  [{w}]"
                     for i, f, w, s in rows)
