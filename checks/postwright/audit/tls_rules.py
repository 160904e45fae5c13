"""The certificates and keys the daemons name: who may read the key, whether the key belongs
to the certificate, whether clients trust it, and whether the daemons serve the file that is
on disk now (a renewal that no reload followed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from postwright.audit.facts import FileFacts
from postwright.audit.judge import Judge
from postwright.audit.syntax import (
    DOVECOT_RELOAD,
    POSTFIX_RELOAD,
    Fix,
    dovecot_name,
    dovecot_setting,
    postfix_main,
    postfix_service,
)
from postwright.verify.model import Status
from postwright.verify.tlsinfo import EXPIRY_WARN_DAYS


@dataclass(frozen=True)
class TlsUse:
    """One certificate (and its key) as one daemon uses it, on these contract ports."""

    daemon: str
    cert: str
    key: str | None
    names_it: Fix  # the setting that names the certificate, and how to point it elsewhere
    ports: tuple[int, ...]
    reload: str


def uses(judge: Judge) -> list[TlsUse]:
    found: list[TlsUse] = []
    contract = judge.contract.enabled_services()
    pf, dc = judge.facts.postfix, judge.facts.dovecot
    if pf is not None:
        main_ports: list[int] = []
        for service in contract:
            smtpd = pf.listener(service.port) if service.daemon == "postfix" else None
            if smtpd is None:
                continue
            if "smtpd_tls_cert_file" in smtpd.options:
                found.append(TlsUse(
                    "postfix", pf.expand(smtpd.options["smtpd_tls_cert_file"]),
                    pf.service_value(smtpd, "smtpd_tls_key_file")[0],
                    postfix_service(pf, smtpd, "smtpd_tls_cert_file", "/path/to/fullchain.pem"),
                    (service.port,), POSTFIX_RELOAD))
            else:
                main_ports.append(service.port)
        cert = pf.param("smtpd_tls_cert_file")
        if cert:
            found.append(TlsUse("postfix", cert, pf.param("smtpd_tls_key_file"),
                                postfix_main(pf, "smtpd_tls_cert_file",
                                             "/path/to/fullchain.pem"),
                                tuple(main_ports), POSTFIX_RELOAD))
    if dc is not None:
        cert = (dc.get(dovecot_name(dc, "cert")) or "").lstrip("<").strip()
        key = (dc.get(dovecot_name(dc, "key")) or "").lstrip("<").strip() or None
        if cert:
            ports = tuple(s.port for s in contract if s.daemon == "dovecot")
            want = ("</path/to/fullchain.pem" if dc.dialect == "2.3"
                    else "/path/to/fullchain.pem")
            found.append(TlsUse("dovecot", cert, key, dovecot_setting(dc, "cert", want), ports,
                                DOVECOT_RELOAD))
    return found


def _file(judge: Judge, rule: str, kind: str, path: str) -> FileFacts | None:
    facts = judge.facts.file(kind, path)
    if facts is None or facts.missing:
        judge.cannot(rule, f"{path} was not found on the host" if facts else
                     f"no facts about {path} were collected")
        return None
    return facts


def key_mode(judge: Judge) -> None:
    """Private keys (TLS and DKIM): owner-only, 0600 or 0400 (Debian's 0640 root:ssl-cert
    is a warning: every member of ssl-cert can read it)."""
    rule = "audit.files.key_mode"
    keys = [f for f in judge.facts.files.values() if f.kind == "key" and not f.missing]
    if not keys:
        judge.skip(rule, "no private key file is named by Postfix, Dovecot or a DKIM signer")
        return
    for key in sorted(keys, key=lambda k: k.path):
        mode = key.mode if key.mode is not None else 0
        chmod = f"chmod 600 {key.path}"
        if mode & 0o007:
            judge.finding(rule, f"{key.path} is readable by every local user (mode {mode:04o})",
                          Fix(key.path, f"mode {mode:04o} {key.owner}:{key.group}", chmod),
                          evidence={"path": key.path})
        elif mode & 0o070:
            judge.finding(rule, f"{key.path} is readable by group {key.group} "
                          f"(mode {mode:04o}; our baseline is 0600)",
                          Fix(key.path, f"mode {mode:04o} {key.owner}:{key.group}", chmod),
                          evidence={"path": key.path}, status=Status.WARN)
        else:
            judge.ok(rule, f"{key.path}: mode {mode:04o} {key.owner}:{key.group}",
                     evidence={"path": key.path})


def trusted(judge: Judge) -> None:
    """The certificate is one clients trust: not self-signed (Debian's snakeoil), and its
    chain verifies against the host's own trust store."""
    rule = "audit.tls.trusted"
    for use in uses(judge):
        cert = _file(judge, rule, "cert", use.cert)
        if cert is None:
            continue
        evidence = {"path": use.cert, "subject": cert.subject, "issuer": cert.issuer,
                    "daemon": use.daemon}
        if cert.self_signed or "snakeoil" in use.cert:
            judge.finding(rule, f"{use.daemon} serves {use.cert}, a self-signed certificate "
                          f"({cert.subject}): no client trusts it", use.names_it,
                          evidence=evidence)
        elif cert.verified is False:
            judge.finding(rule, f"{use.daemon} serves {use.cert}, whose chain the host's trust "
                          "store does not verify (intermediate missing from the file?)",
                          use.names_it, evidence=evidence)
        else:
            judge.ok(rule, f"{use.daemon}: {use.cert} ({cert.subject})", evidence=evidence)


def key_matches_cert(judge: Judge) -> None:
    rule = "audit.tls.key_matches_cert"
    for use in uses(judge):
        cert = _file(judge, rule, "cert", use.cert)
        key = _file(judge, rule, "key", use.key) if use.key else None
        if cert is None or key is None:
            if use.key is None:
                judge.cannot(rule, f"{use.daemon}: no key file found for {use.cert}")
            continue
        if cert.pubkey and cert.pubkey == key.pubkey:
            judge.ok(rule, f"{use.daemon}: {use.key} belongs to {use.cert}")
        elif not cert.pubkey or not key.pubkey:
            judge.cannot(rule, f"{use.daemon}: openssl could not read {use.cert} or {use.key}")
        else:
            judge.finding(rule, f"{use.daemon}: {use.key} is not the key of {use.cert}: the "
                          "daemon cannot start TLS", use.names_it,
                          evidence={"cert": use.cert, "key": use.key})


def served_is_on_disk(judge: Judge) -> None:
    """What 127.0.0.1:PORT serves is the certificate file on disk now."""
    rule = "audit.tls.served_is_on_disk"
    for use in uses(judge):
        cert = judge.facts.file("cert", use.cert)
        for port in use.ports:
            if port not in judge.facts.served:
                continue  # not listening (audit.listen.contract_ports says so)
            served = judge.facts.served[port]
            if served is None or cert is None or not cert.sha256:
                judge.skip(rule, f"no certificate read from 127.0.0.1:{port}", port=port)
            elif served == cert.sha256:
                judge.ok(rule, f"port {port} serves {use.cert}", port=port)
            else:
                judge.finding(rule, f"port {port} serves another certificate than {use.cert} "
                              f"(served {served[:23]}…, on disk {cert.sha256[:23]}…): the "
                              f"certificate was renewed and {use.daemon} not reloaded",
                              Fix(use.cert, use.names_it.setting, use.reload),
                              port=port, evidence={"served": served, "on_disk": cert.sha256})


def expiry(judge: Judge) -> None:
    rule = "audit.tls.expiry"
    for use in uses(judge):
        cert = judge.facts.file("cert", use.cert)
        if cert is None or cert.not_after is None:
            continue
        left = cert.not_after - judge.facts.collected_at
        if left > timedelta(days=EXPIRY_WARN_DAYS):
            judge.ok(rule, f"{use.cert} is valid for {left.days} more days")
            continue
        judge.finding(rule, f"{use.cert} {'expired' if left.total_seconds() < 0 else 'expires'} "
                      f"{cert.not_after:%Y-%m-%d}", Fix(use.cert, "notAfter", "renew it "
                      f"(certbot renew) and {use.reload}"),
                      status=Status.FAIL if left.total_seconds() < 0 else Status.WARN)
