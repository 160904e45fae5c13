"""Every rule `audit` knows, declared once: id, family, what passing means, the settings it
needs collected, and the function that judges it.

The ids are the stable keys of the JSON report and the JUnit test names; `audit --list-rules`,
the parameters collect.sh asks Postfix and Dovecot for, and link.py's causes all derive from
this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from postwright.audit import dovecot_rules, host_rules, postfix_rules, tls_rules
from postwright.audit.judge import Judge


@dataclass(frozen=True)
class RuleSpec:
    id: str
    family: str  # postfix | dovecot | tls | files | listen | firewall | host | dkim
    spec: str  # what passing means, in one line
    check: Callable[[Judge], None]
    postfix: tuple[str, ...] = ()  # main.cf parameters whose effective value it reads
    dovecot: tuple[str, ...] = ()  # Dovecot settings (both dialects' names) it reads


_TLS_FILES = ("smtpd_tls_cert_file", "smtpd_tls_key_file", "myhostname")
_DOVECOT_FILES = ("ssl_cert", "ssl_server")  # 2.4 prints its TLS files as the ssl_server group

RULES = (
    RuleSpec("audit.postfix.wrappermode", "postfix", "implicit-TLS SMTP ports (contract "
             "tls: implicit) run smtpd with -o smtpd_tls_wrappermode=yes",
             postfix_rules.wrappermode, ("smtpd_tls_wrappermode",)),
    RuleSpec("audit.postfix.starttls_required", "postfix", "STARTTLS ports that require TLS "
             "(587) run smtpd with smtpd_tls_security_level=encrypt",
             postfix_rules.starttls_required, ("smtpd_tls_security_level",)),
    RuleSpec("audit.postfix.auth_on_mx", "postfix", "the MX port's smtpd has SASL off "
             "(smtpd_sasl_auth_enable=no)", postfix_rules.auth_on_mx,
             ("smtpd_sasl_auth_enable",)),
    RuleSpec("audit.postfix.auth_on_submission", "postfix", "the submission ports' smtpd has "
             "SASL on", postfix_rules.auth_on_submission, ("smtpd_sasl_auth_enable",)),
    RuleSpec("audit.postfix.tls_auth_only", "postfix", "main.cf smtpd_tls_auth_only = yes, and "
             "no SASL smtpd without wrapper mode overrides it to no",
             postfix_rules.tls_auth_only, ("smtpd_tls_auth_only", "smtpd_sasl_auth_enable",
                                           "smtpd_tls_wrappermode")),
    RuleSpec("audit.postfix.tls_floor", "postfix", "smtpd_tls_protocols and "
             "smtpd_tls_mandatory_protocols refuse TLS below the contract's floor (main.cf and "
             "-o overrides)", postfix_rules.tls_floor,
             ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols")),
    RuleSpec("audit.postfix.relay_restrictions", "postfix", "every contract smtpd rejects "
             "unauthorised destinations (smtpd_relay_restrictions or "
             "smtpd_recipient_restrictions)", postfix_rules.relay_restrictions,
             ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")),
    RuleSpec("audit.postfix.mynetworks_open", "postfix", "mynetworks trusts no network wider "
             "than /8 (IPv4) or /16 (IPv6)", postfix_rules.mynetworks_open, ("mynetworks",)),
    RuleSpec("audit.postfix.smuggling", "postfix", "smtpd_forbid_bare_newline = normalize (or "
             "yes) and smtpd_forbid_unauth_pipelining = yes (SMTP smuggling, CVE-2023-51764)",
             postfix_rules.smuggling, ("smtpd_forbid_bare_newline",
                                       "smtpd_forbid_unauth_pipelining",
                                       "smtpd_data_restrictions")),
    RuleSpec("audit.dovecot.ssl_required", "dovecot", "ssl = required",
             dovecot_rules.ssl_required, dovecot=("ssl",)),
    RuleSpec("audit.dovecot.cleartext_auth", "dovecot", "no cleartext login before TLS "
             "(2.3: disable_plaintext_auth = yes; 2.4: auth_allow_cleartext = no)",
             dovecot_rules.cleartext_auth,
             dovecot=("disable_plaintext_auth", "auth_allow_cleartext")),
    RuleSpec("audit.dovecot.tls_floor", "dovecot", "ssl_min_protocol is the contract's floor "
             "or above", dovecot_rules.tls_floor, dovecot=("ssl_min_protocol",)),
    RuleSpec("audit.dovecot.password_scheme", "dovecot", "passwd-file hashes use a strong "
             "scheme (SHA512-CRYPT, BLF-CRYPT, ARGON2; not PLAIN, MD5, SHA1, DES)",
             dovecot_rules.password_scheme),
    RuleSpec("audit.files.key_mode", "files", "private keys (TLS, DKIM) are readable by their "
             "owner only (0600/0400; group-readable is a warning, world-readable a failure)",
             tls_rules.key_mode),
    RuleSpec("audit.tls.trusted", "tls", "the certificates Postfix and Dovecot name are not "
             "self-signed (snakeoil) and verify against the host's trust store",
             tls_rules.trusted, _TLS_FILES, _DOVECOT_FILES),
    RuleSpec("audit.tls.key_matches_cert", "tls", "each key file belongs to its certificate",
             tls_rules.key_matches_cert, _TLS_FILES, _DOVECOT_FILES),
    RuleSpec("audit.tls.served_is_on_disk", "tls", "each TLS port on 127.0.0.1 serves the "
             "certificate file on disk (a reload followed the last renewal)",
             tls_rules.served_is_on_disk, _TLS_FILES, _DOVECOT_FILES),
    RuleSpec("audit.tls.expiry", "tls", "the certificates are valid for more days than "
             "verify's warning threshold", tls_rules.expiry, _TLS_FILES, _DOVECOT_FILES),
    RuleSpec("audit.listen.contract_ports", "listen", "every enabled contract service has a "
             "listening socket, owned by the contract's daemon", host_rules.contract_ports),
    RuleSpec("audit.firewall.contract_ports", "firewall", "an nftables input chain that drops "
             "by default accepts every enabled contract port", host_rules.firewall),
    RuleSpec("audit.host.mailname", "host", "/etc/mailname holds a domain name",
             host_rules.mailname, ("myhostname",)),
    RuleSpec("audit.host.resolver", "host", "resolv.conf names no public resolver (DNS "
             "blocklists refuse them)", host_rules.resolver),
    RuleSpec("audit.dkim.signing", "dkim", "which DKIM signer is configured (information)",
             host_rules.dkim),
)


@cache
def rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in RULES)


def spec(rule_id: str) -> RuleSpec:
    for rule in RULES:
        if rule.id == rule_id:
            return rule
    raise KeyError(rule_id)


def postfix_params() -> list[str]:
    return sorted({p for r in RULES for p in r.postfix})


def dovecot_params() -> list[str]:
    return sorted({p for r in RULES for p in r.dovecot})


def listing() -> str:
    """`audit --list-rules`: one line per rule."""
    width = max(len(r.id) for r in RULES)
    return "\n".join(f"{r.id:<{width}}  {r.spec}" for r in RULES)
