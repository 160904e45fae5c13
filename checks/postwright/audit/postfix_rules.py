"""Postfix against the contract and our roles' baseline (roles/postfix/templates): each smtpd
that serves a contract port, judged by its effective settings (its master.cf `-o` overrides,
else main.cf, else the default of the Postfix installed)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from postwright.audit.facts import MasterService, PostfixFacts
from postwright.audit.judge import Judge
from postwright.audit.syntax import (
    POSTFIX_RELOAD,
    Fix,
    postfix_main,
    postfix_service,
    postfix_tls_floor,
)
from postwright.contract import AuthRule, Service, TlsMode
from postwright.verify.model import Status

_YES = {"yes", "true", "1"}
# Restrictions that end the relay decision for a client nothing permitted before them.
_CLOSING = {"reject", "defer", "reject_unauth_destination", "defer_unauth_destination"}
# A mynetworks entry wider than this is "the Internet", not a network the admin runs.
_WIDEST = {4: 8, 6: 16}
_RESTRICTION_SPLIT = str.maketrans({",": " "})

Listener = tuple[Service, MasterService, PostfixFacts]


def yes(value: str | None) -> bool:
    return (value or "").strip().lower() in _YES


def _fix(pf: PostfixFacts, service: MasterService, name: str, want: str,
         overridden: bool) -> Fix:
    """Change the -o override when the service has one, else main.cf."""
    if overridden:
        return postfix_service(pf, service, name, want)
    return postfix_main(pf, name, want)


def _installed(judge: Judge, rule: str) -> PostfixFacts | None:
    """The host's Postfix facts, or None after recording the rule as skipped."""
    if judge.facts.postfix is None:
        judge.skip(rule, "Postfix is not installed")
    return judge.facts.postfix


def listeners(judge: Judge, rule: str) -> Iterator[Listener]:
    """(contract service, the smtpd serving its port, facts) for each enabled SMTP service
    of the contract; a skip for each one without Postfix or without a listener."""
    pf = judge.facts.postfix
    for service in judge.contract.enabled_services():
        if service.daemon != "postfix" or service.protocol != "smtp":
            continue
        if pf is None:
            judge.skip(rule, "Postfix is not installed", port=service.port)
            continue
        smtpd = pf.listener(service.port)
        if smtpd is None:
            judge.skip(rule, f"no master.cf service listens on {service.port} "
                       "(see audit.listen.contract_ports)", port=service.port)
            continue
        yield service, smtpd, pf


def wrappermode(judge: Judge) -> None:
    rule = "audit.postfix.wrappermode"
    for service, smtpd, pf in listeners(judge, rule):
        if service.tls is not TlsMode.IMPLICIT:
            continue
        value, _ = pf.service_value(smtpd, "smtpd_tls_wrappermode")
        if yes(value):
            judge.ok(rule, f"{smtpd.key} speaks TLS from the first byte", port=service.port)
        else:
            judge.finding(rule, f"port {service.port} ({smtpd.key}) speaks plaintext SMTP "
                          "(and STARTTLS): a client that starts with TLS, as RFC 8314 says, "
                          "hangs", postfix_service(pf, smtpd, "smtpd_tls_wrappermode", "yes"),
                          port=service.port)


def starttls_required(judge: Judge) -> None:
    rule = "audit.postfix.starttls_required"
    for service, smtpd, pf in listeners(judge, rule):
        if service.tls is not TlsMode.STARTTLS or not service.tls_required:
            continue
        value, _ = pf.service_value(smtpd, "smtpd_tls_security_level")
        if (value or "").strip() == "encrypt":
            judge.ok(rule, f"{smtpd.key} requires STARTTLS", port=service.port)
        else:
            judge.finding(rule, f"port {service.port} ({smtpd.key}) accepts MAIL FROM without "
                          f"STARTTLS (smtpd_tls_security_level = {value or 'empty'})",
                          postfix_service(pf, smtpd, "smtpd_tls_security_level", "encrypt"),
                          port=service.port)


def auth_on_mx(judge: Judge) -> None:
    rule = "audit.postfix.auth_on_mx"
    for service, smtpd, pf in listeners(judge, rule):
        if service.auth is not AuthRule.NEVER:
            continue
        value, overridden = pf.service_value(smtpd, "smtpd_sasl_auth_enable")
        if not yes(value):
            judge.ok(rule, f"{smtpd.key} offers no AUTH", port=service.port)
            continue
        judge.finding(rule, f"port {service.port} ({smtpd.key}) offers AUTH: the MX port is a "
                      "target for password guessing and must never log users in",
                      _sasl_off(pf, smtpd, judge) if not overridden else
                      postfix_service(pf, smtpd, "smtpd_sasl_auth_enable", "no"),
                      port=service.port)


def _sasl_off(pf: PostfixFacts, mx: MasterService, judge: Judge) -> Fix:
    """SASL inherited from main.cf: off there, on again only where the contract wants AUTH
    (our baseline), so that no other smtpd inherits it."""
    fix = postfix_main(pf, "smtpd_sasl_auth_enable", "no")
    commands = [fix.change.removesuffix(f" && {POSTFIX_RELOAD}")]
    for service in judge.contract.enabled_services():
        smtpd = pf.listener(service.port) if service.auth is AuthRule.REQUIRED else None
        if smtpd is not None and not yes(smtpd.options.get("smtpd_sasl_auth_enable")):
            commands.append(postfix_service(pf, smtpd, "smtpd_sasl_auth_enable", "yes")
                            .change.removesuffix(f" && {POSTFIX_RELOAD}"))
    return Fix(fix.file, f"{fix.setting} (inherited by {mx.key})",
               " && ".join([*commands, POSTFIX_RELOAD]), fix.line)


def auth_on_submission(judge: Judge) -> None:
    rule = "audit.postfix.auth_on_submission"
    for service, smtpd, pf in listeners(judge, rule):
        if service.auth is not AuthRule.REQUIRED:
            continue
        value, _ = pf.service_value(smtpd, "smtpd_sasl_auth_enable")
        if yes(value):
            judge.ok(rule, f"{smtpd.key} offers AUTH", port=service.port)
        else:
            judge.finding(rule, f"port {service.port} ({smtpd.key}) offers no AUTH: users "
                          "cannot submit mail there",
                          postfix_service(pf, smtpd, "smtpd_sasl_auth_enable", "yes"),
                          port=service.port)


def tls_auth_only(judge: Judge) -> None:
    """main.cf says yes (our baseline), and no smtpd with SASL and without TLS from the first
    byte takes it back with an -o override."""
    rule = "audit.postfix.tls_auth_only"
    pf = _installed(judge, rule)
    if pf is None:
        return
    if yes(pf.param("smtpd_tls_auth_only")):
        judge.ok(rule, "smtpd_tls_auth_only = yes in main.cf")
    else:
        judge.finding(rule, "main.cf lets every smtpd with SASL offer AUTH before STARTTLS "
                      "(smtpd_tls_auth_only is not yes): passwords may cross the network in "
                      "clear text", postfix_main(pf, "smtpd_tls_auth_only", "yes"))
    for smtpd in pf.smtpd_inet():
        if "smtpd_tls_auth_only" not in smtpd.options:
            continue
        value, _ = pf.service_value(smtpd, "smtpd_tls_auth_only")
        sasl, _ = pf.service_value(smtpd, "smtpd_sasl_auth_enable")
        wrapped, _ = pf.service_value(smtpd, "smtpd_tls_wrappermode")
        if yes(sasl) and not yes(value) and not yes(wrapped):
            judge.finding(rule, f"{smtpd.key} offers AUTH before STARTTLS",
                          postfix_service(pf, smtpd, "smtpd_tls_auth_only", "yes"),
                          port=smtpd.port)


def _below_floor(value: str, protocols: tuple[str, ...]) -> bool:
    """Does a Postfix protocol list (`>=TLSv1.2`, `!SSLv2, !SSLv3` or `TLSv1.2 TLSv1.3`) let
    a protocol older than the contract's through?"""
    words = value.replace(",", " ").replace(":", " ").split()
    order = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    allowed = set(order)
    for word in words:
        if word.startswith(">="):
            low = order.index(word[2:]) if word[2:] in order else 0
            allowed = {p for p in allowed if order.index(p) >= low}
        elif word.startswith("<="):
            high = order.index(word[2:]) if word[2:] in order else len(order)
            allowed = {p for p in allowed if order.index(p) <= high}
        elif word.startswith("!"):
            allowed.discard(word[1:])
    explicit = [w for w in words if w in order]
    if explicit:
        allowed &= set(explicit)
    # SSLv2/SSLv3 are gone from OpenSSL 3 builds; what matters is TLS 1.0 and 1.1
    return bool(allowed & ({"TLSv1", "TLSv1.1"} - set(protocols)))


def tls_floor(judge: Judge) -> None:
    rule = "audit.postfix.tls_floor"
    pf = _installed(judge, rule)
    if pf is None:
        return
    contract = judge.contract
    want = postfix_tls_floor(pf, contract.min_protocol, contract.protocols)
    clean = True
    for name in ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"):
        value = pf.param(name)
        if value is not None and _below_floor(value, contract.protocols):
            clean = False
            judge.finding(rule, f"main.cf {name} = {value} lets TLS 1.0/1.1 through "
                          f"(contract: {contract.min_protocol}+)", postfix_main(pf, name, want))
        for smtpd in pf.smtpd_inet():
            if name in smtpd.options and _below_floor(pf.expand(smtpd.options[name]),
                                                       contract.protocols):
                clean = False
                judge.finding(rule, f"{smtpd.key} lets TLS 1.0/1.1 through",
                              postfix_service(pf, smtpd, name, want), port=smtpd.port)
    if clean:
        judge.ok(rule, f"every smtpd refuses TLS below {contract.min_protocol}")


def _relay_closed(restrictions: str) -> bool:
    for word in restrictions.translate(_RESTRICTION_SPLIT).split():
        if word in _CLOSING:
            return True
        if word == "permit":
            return False
    return False


def relay_restrictions(judge: Judge) -> None:
    """Every smtpd ends relaying for strangers: smtpd_relay_restrictions (or, when that is
    empty, smtpd_recipient_restrictions) rejects unauthorised destinations."""
    rule = "audit.postfix.relay_restrictions"
    for service, smtpd, pf in listeners(judge, rule):
        relay, relay_over = pf.service_value(smtpd, "smtpd_relay_restrictions")
        recipient, _ = pf.service_value(smtpd, "smtpd_recipient_restrictions")
        if _relay_closed(relay or "") or _relay_closed(recipient or ""):
            judge.ok(rule, f"{smtpd.key} refuses to relay for unauthenticated clients",
                     port=service.port)
            continue
        want = ("permit_sasl_authenticated, reject" if service.auth is AuthRule.REQUIRED
                else "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination")
        judge.finding(rule, f"{smtpd.key} (port {service.port}) relays mail to any domain: "
                      f"smtpd_relay_restrictions = {relay or 'empty'} never rejects an "
                      "unauthorised destination (open relay)",
                      _fix(pf, smtpd, "smtpd_relay_restrictions", want, relay_over),
                      port=service.port)


def _too_wide(entry: str) -> bool:
    text = entry.strip("[]").replace("]/", "/")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False  # a table (hash:...), a name, a $parameter: not judged here
    return not net.is_loopback and net.prefixlen < _WIDEST[net.version]


def mynetworks_open(judge: Judge) -> None:
    rule = "audit.postfix.mynetworks_open"
    pf = _installed(judge, rule)
    if pf is None:
        return
    value = pf.param("mynetworks") or ""
    wide = [e for e in value.replace(",", " ").split() if _too_wide(e)]
    if not wide:
        judge.ok(rule, "mynetworks holds only networks this host trusts",
                 evidence={"mynetworks": value})
        return
    keep = [e for e in value.replace(",", " ").split() if e not in wide] or ["127.0.0.0/8",
                                                                             "[::1]/128"]
    judge.finding(rule, f"mynetworks trusts {', '.join(wide)}: permit_mynetworks lets anyone "
                  "there relay without a password (an open relay)",
                  postfix_main(pf, "mynetworks", " ".join(keep)))


def smuggling(judge: Judge) -> None:
    """SMTP smuggling (CVE-2023-51764): bare <LF> normalized, unauthorised pipelining refused
    (Postfix >= 3.9 defaults; 3.7.9+ has the settings, off)."""
    rule = "audit.postfix.smuggling"
    pf = _installed(judge, rule)
    if pf is None:
        return
    bare = pf.param("smtpd_forbid_bare_newline")
    pipelining = pf.param("smtpd_forbid_unauth_pipelining")
    data = pf.param("smtpd_data_restrictions") or ""
    clean = True
    if bare is None:
        clean = False
        judge.finding(rule, f"Postfix {'.'.join(map(str, pf.version))} has no "
                      "smtpd_forbid_bare_newline: SMTP smuggling is only blocked by refusing "
                      "pipelining before DATA", postfix_main(pf, "smtpd_data_restrictions",
                                                             "reject_unauth_pipelining"))
    elif bare.strip().lower() not in ("normalize", "yes", "reject"):
        clean = False
        judge.finding(rule, f"smtpd_forbid_bare_newline = {bare}: a bare <LF> ends a line, so "
                      "a smuggled second message is accepted",
                      postfix_main(pf, "smtpd_forbid_bare_newline", "normalize"))
    if pipelining is not None and not yes(pipelining) and "reject_unauth_pipelining" not in data:
        clean = False
        judge.finding(rule, "smtpd_forbid_unauth_pipelining = no: commands sent before they "
                      "may be are answered", postfix_main(pf, "smtpd_forbid_unauth_pipelining",
                                                          "yes"), status=Status.WARN)
    if clean:
        judge.ok(rule, "bare newlines and unauthorised pipelining are refused")
