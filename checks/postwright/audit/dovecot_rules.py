"""Dovecot against our roles' baseline (roles/dovecot/templates/2.3 and 2.4): TLS required on
every login, no cleartext passwords before TLS, the contract's TLS floor, strong password
hashes. Settings are named as the installed release names them."""

from __future__ import annotations

from postwright.audit.facts import DovecotFacts
from postwright.audit.judge import Judge
from postwright.audit.syntax import DOVECOT_WANT, Fix, dovecot_name, dovecot_setting
from postwright.verify.model import Status

_ORDER = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
# Hashes a stolen passwd-file gives up quickly (Dovecot 2.4 refuses most of them unless
# auth_allow_weak_schemes = yes); {CRYPT} is judged by its crypt id ($1$ is MD5).
_WEAK = {"PLAIN", "CLEARTEXT", "CRAM-MD5", "DIGEST-MD5", "MD5", "MD5-CRYPT", "SMD5", "SHA",
         "SHA1", "SSHA", "SHA256", "SSHA256", "PLAIN-MD4", "PLAIN-MD5", "LDAP-MD5", "HMAC-MD5",
         "DES-CRYPT", "LANMAN", "NTLM", "RPA"}
_WEAK_CRYPT_IDS = {"$1$", "$apr1$", ""}  # MD5-crypt, Apache MD5, DES (no id)


def _dovecot(judge: Judge, rule: str) -> DovecotFacts | None:
    if judge.facts.dovecot is None:
        judge.skip(rule, "Dovecot is not installed")
    return judge.facts.dovecot


def ssl_required(judge: Judge) -> None:
    rule = "audit.dovecot.ssl_required"
    dc = _dovecot(judge, rule)
    if dc is None:
        return
    value = dc.get("ssl")
    want = DOVECOT_WANT[dc.dialect]["ssl"]
    if value == want:
        judge.ok(rule, "ssl = required: no login without TLS")
        return
    if value is None:
        judge.cannot(rule, "doveconf did not report `ssl`")
        return
    judge.finding(rule, f"ssl = {value}: Dovecot lets a client log in without TLS on the "
                  "STARTTLS ports", dovecot_setting(dc, "ssl", want))


def cleartext_auth(judge: Judge) -> None:
    rule = "audit.dovecot.cleartext_auth"
    dc = _dovecot(judge, rule)
    if dc is None:
        return
    name, want = dovecot_name(dc, "cleartext"), DOVECOT_WANT[dc.dialect]["cleartext"]
    value = dc.get(name)
    if value is None:
        judge.cannot(rule, f"doveconf did not report `{name}`")
    elif value == want:
        judge.ok(rule, f"{name} = {value}: no password in clear text before TLS")
    else:
        judge.finding(rule, f"{name} = {value}: a password may be sent before TLS (IMAP "
                      "offers LOGIN without LOGINDISABLED)", dovecot_setting(dc, "cleartext",
                                                                             want))


def tls_floor(judge: Judge) -> None:
    rule = "audit.dovecot.tls_floor"
    dc = _dovecot(judge, rule)
    if dc is None:
        return
    name, minimum = dovecot_name(dc, "min_protocol"), judge.contract.min_protocol
    value = dc.get(name)
    if value is None:
        judge.cannot(rule, f"doveconf did not report `{name}`")
    elif value in _ORDER and _ORDER.index(value) >= _ORDER.index(minimum):
        judge.ok(rule, f"{name} = {value}")
    else:
        judge.finding(rule, f"{name} = {value}: Dovecot accepts TLS below {minimum}",
                      dovecot_setting(dc, "min_protocol", minimum))


def _weak(scheme: str) -> bool:
    name, _, crypt_id = scheme.partition("}")
    name = name.strip("{").upper()
    if name == "CRYPT" or (not name and crypt_id):
        return crypt_id in _WEAK_CRYPT_IDS
    return name in _WEAK


def password_scheme(judge: Judge) -> None:
    rule = "audit.dovecot.password_scheme"
    dc = _dovecot(judge, rule)
    if dc is None:
        return
    if not judge.facts.password_schemes:
        judge.skip(rule, "no passwd-file passdb (system accounts: PAM and /etc/shadow judge "
                   "the hashes)")
        return
    for path, schemes in sorted(judge.facts.password_schemes.items()):
        weak = {s: n for s, n in schemes.items() if s and _weak(s)}
        if not weak:
            judge.ok(rule, f"{path}: {', '.join(sorted(s or 'default' for s in schemes))}",
                     evidence={"file": path, "schemes": schemes})
            continue
        listing = ", ".join(f"{n} x {s}" for s, n in sorted(weak.items()))
        judge.finding(rule, f"{path} holds weak password hashes ({listing}): a stolen copy "
                      "gives the passwords up quickly",
                      Fix(path, f"users hashed with {', '.join(sorted(weak))}",
                          "rehash each with `doveadm pw -s SHA512-CRYPT` (or BLF-CRYPT) and "
                          "replace the hash in the file"),
                      evidence={"schemes": schemes}, status=Status.FAIL)
