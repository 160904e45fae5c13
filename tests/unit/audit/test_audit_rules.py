"""audit's rules against Debian's stock packages (bookworm: Postfix 3.7 + Dovecot 2.3, trixie:
Postfix 3.10 + Dovecot 2.4), against the same host configured by hand the right way, with the
classic mistakes applied one at a time, and against what our roles render. Each mistake must
give exactly its finding: the rule, the file, the setting as written and the change."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postwright.audit.registry import RULES
from postwright.verify.model import Report, Status
from tests.unit.audit.host import (
    FP_OLD,
    FP_SNAKEOIL,
    GOOD_CERT,
    GOOD_KEY,
    SNAKEOIL,
    CertFile,
    Host,
    KeyFile,
    hand_built,
    rendered,
    stock,
)

SUITES = ("bookworm", "trixie")
MAIN, MASTER = "/etc/postfix/main.cf", "/etc/postfix/master.cf"
SSL_CONF, AUTH_CONF = "/etc/dovecot/conf.d/10-ssl.conf", "/etc/dovecot/conf.d/10-auth.conf"
Finding = tuple[str, str, str]  # rule id, file, setting as written there


def findings(report: Report) -> set[Finding]:
    return {(r.id, r.evidence["file"], r.evidence["setting"]) for r in report.results
            if r.status in (Status.FAIL, Status.WARN)}


def changes(report: Report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in report.results:
        if r.status in (Status.FAIL, Status.WARN):
            out.setdefault(r.id, []).append(r.evidence["change"])
    return out


def test_every_rule_reports_on_every_host() -> None:
    """A rule that finds nothing to judge still shows up (as a skip): the report's ids are
    the registry's, on any host."""
    ids = {r.id for r in RULES}
    for host in (stock("bookworm"), rendered("mx2")):
        assert {r.id for r in host.audit().results} == ids


@pytest.mark.parametrize("suite", SUITES)
def test_stock_debian_as_installed(suite: str) -> None:
    """Debian's packages, nothing edited: submission off, SASL off, AUTH before TLS not
    forbidden, TLS 1.0 allowed, the snakeoil certificate, `ssl = yes`; on 3.7 also the
    smuggling settings off (3.10's defaults have them on)."""
    dovecot_cert = ("ssl_cert = </etc/dovecot/private/dovecot.pem" if suite == "bookworm"
                    else "ssl_server_cert_file = /etc/dovecot/private/dovecot.pem")
    expected = {
        ("audit.postfix.tls_auth_only", MAIN, "smtpd_tls_auth_only (not set: default no)"),
        ("audit.postfix.tls_floor", MAIN, "smtpd_tls_protocols (not set: default >=TLSv1)"),
        ("audit.postfix.tls_floor", MAIN,
         "smtpd_tls_mandatory_protocols (not set: default >=TLSv1)"),
        ("audit.dovecot.ssl_required", SSL_CONF, "ssl = yes"),
        ("audit.tls.trusted", MAIN, f"smtpd_tls_cert_file = {SNAKEOIL.path}"),
        ("audit.tls.trusted", SSL_CONF, dovecot_cert),
        ("audit.files.key_mode", "/etc/ssl/private/ssl-cert-snakeoil.key",
         "mode 0640 root:ssl-cert"),
        ("audit.files.key_mode", "/etc/dovecot/private/dovecot.key", "mode 0640 root:ssl-cert"),
        ("audit.listen.contract_ports", MASTER, "no submission/inet service"),
        ("audit.listen.contract_ports", MASTER, "no submissions/inet service"),
    }
    if suite == "bookworm":
        expected |= {
            ("audit.postfix.smuggling", MAIN, "smtpd_forbid_bare_newline (not set: default no)"),
            ("audit.postfix.smuggling", MAIN,
             "smtpd_forbid_unauth_pipelining (not set: default no)"),
        }
    report = stock(suite).audit()
    assert findings(report) == expected
    assert report.exit_code == 1


@pytest.mark.parametrize("suite", SUITES)
def test_hand_built_right_finds_nothing(suite: str) -> None:
    report = hand_built(suite).audit()
    assert findings(report) == set()
    assert report.exit_code == 0


def _without(text: str, option: str, service: str) -> str:
    """master.cf with one -o line removed from one service's block."""
    out, inside = [], False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            inside = line.split()[0] == service
        if inside and line.strip() == f"-o {option}":
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def no_wrappermode(host: Host) -> set[Finding]:
    host.master = _without(host.master, "smtpd_tls_wrappermode=yes", "submissions")
    host.served[465] = None  # plaintext: openssl s_client reads no certificate
    return {("audit.postfix.wrappermode", MASTER,
             "submissions/inet has no -o smtpd_tls_wrappermode")}


def no_encrypt_on_587(host: Host) -> set[Finding]:
    host.master = _without(host.master, "smtpd_tls_security_level=encrypt", "submission")
    return {("audit.postfix.starttls_required", MASTER,
             "submission/inet has no -o smtpd_tls_security_level")}


def auth_on_25(host: Host) -> set[Finding]:
    host.postconf_e(smtpd_sasl_auth_enable="yes")
    return {("audit.postfix.auth_on_mx", MAIN,
             "smtpd_sasl_auth_enable = yes (inherited by smtp/inet)")}


def tls_auth_only_no(host: Host) -> set[Finding]:
    host.postconf_e(smtpd_tls_auth_only="no")
    return {("audit.postfix.tls_auth_only", MAIN, "smtpd_tls_auth_only = no")}


def tls_1_0(host: Host) -> set[Finding]:
    old = "!SSLv2, !SSLv3"  # the line of many an old tutorial: TLS 1.0 and 1.1 stay on
    host.postconf_e(smtpd_tls_protocols=old, smtpd_tls_mandatory_protocols=old)
    return {("audit.postfix.tls_floor", MAIN, f"smtpd_tls_protocols = {old}"),
            ("audit.postfix.tls_floor", MAIN, f"smtpd_tls_mandatory_protocols = {old}")}


def dovecot_snakeoil(host: Host) -> set[Finding]:
    cert, key = "/etc/dovecot/private/dovecot.pem", "/etc/dovecot/private/dovecot.key"
    if host.dialect == "2.3":
        host.dovecot_set("ssl_cert", f"<{cert}").dovecot_set("ssl_key", f"<{key}")
        setting = f"ssl_cert = <{cert}"
    else:
        host.dovecot_set("ssl_server_cert_file", cert).dovecot_set("ssl_server_key_file", key)
        setting = f"ssl_server_cert_file = {cert}"
    host.certs[cert] = CertFile(cert, FP_SNAKEOIL, SNAKEOIL.pubkey, SNAKEOIL.subject,
                                SNAKEOIL.issuer, verified=False)
    host.keys[key] = KeyFile(key, SNAKEOIL.pubkey, "640", "root", "ssl-cert")
    host.serve_everywhere(FP_SNAKEOIL, "dovecot")
    return {("audit.tls.trusted", SSL_CONF, setting),
            ("audit.files.key_mode", key, "mode 0640 root:ssl-cert")}


def renewed_not_reloaded(host: Host) -> set[Finding]:
    host.serve_everywhere(FP_OLD, "postfix")
    return {("audit.tls.served_is_on_disk", GOOD_CERT, f"smtpd_tls_cert_file = {GOOD_CERT}")}


def ssl_yes(host: Host) -> set[Finding]:
    host.dovecot_set("ssl", "yes")
    return {("audit.dovecot.ssl_required", SSL_CONF, "ssl = yes")}


def cleartext(host: Host) -> set[Finding]:
    name, value = (("disable_plaintext_auth", "no") if host.dialect == "2.3"
                   else ("auth_allow_cleartext", "yes"))
    host.dovecot_set(name, value)
    return {("audit.dovecot.cleartext_auth", AUTH_CONF, f"{name} = {value}")}


def dovecot_tls_1_0(host: Host) -> set[Finding]:
    host.dovecot_set("ssl_min_protocol", "TLSv1")
    # trixie's 10-ssl.conf writes ssl_min_protocol itself; bookworm's leaves the default
    return {("audit.dovecot.tls_floor", SSL_CONF, "ssl_min_protocol = TLSv1")}


def world_readable_key(host: Host) -> set[Finding]:
    host.keys[GOOD_KEY].mode = "644"
    return {("audit.files.key_mode", GOOD_KEY, "mode 0644 root:root")}


def open_mynetworks(host: Host) -> set[Finding]:
    host.postconf_e(mynetworks="0.0.0.0/0")
    return {("audit.postfix.mynetworks_open", MAIN, "mynetworks = 0.0.0.0/0")}


def relay_permit(host: Host) -> set[Finding]:
    host.postconf_e(smtpd_relay_restrictions="permit_mynetworks, permit")
    return {("audit.postfix.relay_restrictions", MAIN,
             "smtpd_relay_restrictions = permit_mynetworks, permit")}


def weak_hashes(host: Host) -> set[Finding]:
    host.schemes = ("/etc/dovecot/users 3 {PLAIN}", "/etc/dovecot/users 1 {SHA512-CRYPT}$6$")
    return {("audit.dovecot.password_scheme", "/etc/dovecot/users",
             "users hashed with {PLAIN}")}


def public_resolver(host: Host) -> set[Finding]:
    host.resolvers = ("8.8.8.8",)
    return {("audit.host.resolver", "/etc/resolv.conf", "nameserver 8.8.8.8")}


def no_resolver(host: Host) -> set[Finding]:
    host.resolvers = ()
    return {("audit.host.resolver", "/etc/resolv.conf", "no nameserver line")}


def no_sasl_on_587(host: Host) -> set[Finding]:
    host.master = _without(host.master, "smtpd_sasl_auth_enable=yes", "submission")
    return {("audit.postfix.auth_on_submission", MASTER,
             "submission/inet has no -o smtpd_sasl_auth_enable")}


def key_of_another_cert(host: Host) -> set[Finding]:
    host.keys[GOOD_KEY].pubkey = "99" * 32  # a new key written, the old certificate kept
    return {("audit.tls.key_matches_cert", MAIN, f"smtpd_tls_cert_file = {GOOD_CERT}"),
            ("audit.tls.key_matches_cert", SSL_CONF,
             f"ssl_cert = <{GOOD_CERT}" if host.dialect == "2.3"
             else f"ssl_server_cert_file = {GOOD_CERT}")}


def expired(host: Host) -> set[Finding]:
    host.certs[GOOD_CERT].not_after = "Jan  1 00:00:00 2020 GMT"
    return {("audit.tls.expiry", GOOD_CERT, "notAfter")}


def firewall_drops_465(host: Host) -> set[Finding]:
    host.firewall = ("type filter hook input priority filter; policy drop;",
                     'tcp dport { 22, 25, 587 } accept comment "mail"',
                     'tcp dport 993 accept comment "imaps"')
    return {("audit.firewall.contract_ports", "/etc/nftables.conf", "input chain")}


def no_mailname(host: Host) -> set[Finding]:
    host.mailname = ""
    return {("audit.host.mailname", "/etc/mailname", "''")}


MISTAKES: dict[str, tuple[Callable[[Host], set[Finding]], str]] = {
    # name: (apply it, a piece of the change audit must propose)
    "465 without wrapper mode": (no_wrappermode,
                                 "postconf -P 'submissions/inet/smtpd_tls_wrappermode=yes'"),
    "587 without encrypt": (no_encrypt_on_587,
                            "postconf -P 'submission/inet/smtpd_tls_security_level=encrypt'"),
    "AUTH on 25": (auth_on_25, "postconf -e 'smtpd_sasl_auth_enable = no'"),
    "smtpd_tls_auth_only = no": (tls_auth_only_no, "postconf -e 'smtpd_tls_auth_only = yes'"),
    "TLS 1.0 allowed": (tls_1_0, "postconf -e 'smtpd_tls_protocols = >=TLSv1.2'"),
    "Dovecot on the snakeoil certificate": (dovecot_snakeoil, "/path/to/fullchain.pem"),
    "renewed certificate not reloaded": (renewed_not_reloaded, "postfix reload"),
    "ssl = yes": (ssl_yes, "`ssl = required`"),
    "cleartext auth": (cleartext, "systemctl reload dovecot"),
    "Dovecot TLS 1.0": (dovecot_tls_1_0, "ssl_min_protocol = TLSv1.2"),
    "world-readable key": (world_readable_key, f"chmod 600 {GOOD_KEY}"),
    # nothing of the admin's list is left to keep: loopback only
    "open-relay mynetworks": (open_mynetworks, "postconf -e 'mynetworks = 127.0.0.0/8 [::1]/128'"),
    "relay restrictions that permit": (relay_permit, "reject_unauth_destination"),
    "weak password hashes": (weak_hashes, "doveadm pw -s SHA512-CRYPT"),
    "public resolver": (public_resolver, "127.0.0.1"),
    "no resolver": (no_resolver, "nameserver 127.0.0.1"),
    "no AUTH on 587": (no_sasl_on_587,
                       "postconf -P 'submission/inet/smtpd_sasl_auth_enable=yes'"),
    "key of another certificate": (key_of_another_cert, "/path/to/fullchain.pem"),
    "expired certificate": (expired, "certbot renew"),
    "firewall drops 465": (firewall_drops_465, "tcp dport 465 accept"),
    "no /etc/mailname": (no_mailname, "echo mail.example.test > /etc/mailname"),
}


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_classic_mistake_is_named_with_file_setting_and_change(suite: str,
                                                                      mistake: str) -> None:
    apply, change = MISTAKES[mistake]
    host = hand_built(suite)
    expected = apply(host)
    report = host.audit()
    assert findings(report) == expected
    proposed = [c for rule in {e[0] for e in expected} for c in changes(report)[rule]]
    assert any(change in c for c in proposed), proposed


def test_renewed_certificate_is_named_on_every_port_that_serves_the_old_one() -> None:
    host = hand_built("trixie")
    renewed_not_reloaded(host)
    ports = {r.port for r in host.audit().results
             if r.id == "audit.tls.served_is_on_disk" and r.status is Status.FAIL}
    assert ports == {25, 465, 587}


def test_a_finding_has_the_line_where_it_is_written() -> None:
    host = hand_built("bookworm")
    ssl_yes(host)
    result = next(r for r in host.audit().results if r.id == "audit.dovecot.ssl_required")
    assert result.evidence["line"] == 6  # bookworm's conf.d/10-ssl.conf writes `ssl =` there
    assert result.remedy.startswith(f"{SSL_CONF}:6 ssl = yes -> ")


@pytest.mark.parametrize("inventory_host", ["mx1", "mx2"])
def test_what_our_roles_provision_has_no_finding(inventory_host: str) -> None:
    """The baseline audit judges by is the one the roles apply: nothing fails or warns on
    the configuration they render (Postfix 3.7 + Dovecot 2.3 on mx1, 3.10 + 2.4 on mx2)."""
    report = rendered(inventory_host).audit()
    assert findings(report) == set()
    assert report.exit_code == 0
    assert not [r for r in report.results if r.status is Status.ERROR]
