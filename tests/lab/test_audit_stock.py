"""`postwright audit` on real hosts: mx1 built by hand from Debian's stock packages (Debian 12
and 13, tests/lab/stock.py), first configured the right way by hand, then the classic mistakes
applied one at a time (each undone before the next): audit names each with the right file and
setting. And on mx1 as our roles provision it, audit finds nothing.

The host is read through the lab's Ansible inventory (its nsenter connection), as an admin
would through theirs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postwright.lab.network import routed_via_lab
from tests.conftest import postwright
from tests.lab import playbook
from tests.lab.playbook import on_host
from tests.lab.stock import IP, IP6, boot_stock_host
from tests.unit.verify.pki import make_pki

pytestmark = pytest.mark.lab
TLS_DIR = "/etc/ssl/mail"
CERT, KEY = f"{TLS_DIR}/fullchain.pem", f"{TLS_DIR}/privkey.pem"
MAIN, MASTER = "/etc/postfix/main.cf", "/etc/postfix/master.cf"
SSL_CONF = "/etc/dovecot/conf.d/10-ssl.conf"
SNAKEOIL = "/etc/dovecot/private/dovecot.pem"
# Debian's own -o lines for the submission services (master.cf.dist, commented out there).
SUBMISSION = ("syslog_name=postfix/submission", "smtpd_tls_security_level=encrypt",
              "smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes",
              "smtpd_recipient_restrictions=permit_sasl_authenticated,reject")
SUBMISSIONS = ("syslog_name=postfix/submissions", "smtpd_tls_wrappermode=yes",
               "smtpd_sasl_auth_enable=yes",
               "smtpd_recipient_restrictions=permit_sasl_authenticated,reject")


def _write(path: str, text: str, mode: str = "644") -> str:
    return f"cat > {path} <<'EOF'\n{text.strip()}\nEOF\nchmod {mode} {path}"


def hand_built_right(pki_dir: Path) -> str:
    """The commands of an admin who gets it right: a CA-issued certificate for both daemons
    (the test CA in the host's trust store), TLS 1.2+, AUTH only after TLS and only on the
    submission ports, the smuggling settings, `ssl = required`."""
    opts = [f"submission/inet/{o}" for o in SUBMISSION] + \
        [f"submissions/inet/{o}" for o in SUBMISSIONS]
    return "\n".join([
        f"mkdir -p {TLS_DIR}",
        _write(CERT, (pki_dir / "good.pem").read_text()),
        _write(KEY, (pki_dir / "good.key").read_text(), "600"),
        _write("/usr/local/share/ca-certificates/audit-test-ca.crt",
               (pki_dir / "ca.pem").read_text()),
        "update-ca-certificates >/dev/null",
        f"postconf -e smtpd_tls_cert_file={CERT} smtpd_tls_key_file={KEY} "
        "smtpd_tls_auth_only=yes 'smtpd_tls_protocols=>=TLSv1.2' "
        "'smtpd_tls_mandatory_protocols=>=TLSv1.2' smtpd_sasl_type=dovecot "
        "smtpd_sasl_path=private/auth smtpd_forbid_bare_newline=normalize "
        "smtpd_forbid_unauth_pipelining=yes",
        "postconf -M submission/inet='submission inet n - y - - smtpd' "
        "submissions/inet='submissions inet n - y - - smtpd'",
        "postconf -P " + " ".join(f"'{o}'" for o in opts),
        # Dovecot 2.3 (ssl_cert/ssl_key) and 2.4 (ssl_server_*_file): whichever the file has
        f"sed -i -e 's|^ssl = .*|ssl = required|' -e 's|^ssl_cert = .*|ssl_cert = <{CERT}|' "
        f"-e 's|^ssl_key = .*|ssl_key = <{KEY}|' "
        f"-e 's|^ssl_server_cert_file = .*|ssl_server_cert_file = {CERT}|' "
        f"-e 's|^ssl_server_key_file = .*|ssl_server_key_file = {KEY}|' {SSL_CONF}",
        "systemctl restart postfix dovecot",
    ])


def renew(pki_dir: Path) -> str:
    """A renewal (same name, same CA, a new key) written over the files: no reload."""
    return "\n".join([_write(CERT, (pki_dir / "rsa.pem").read_text()),
                      _write(KEY, (pki_dir / "rsa.key").read_text(), "600")])


def audit(*extra: str) -> dict[str, Any]:
    lab = postwright("lab", "inventory", "--path").stdout.strip()
    done = postwright("audit", "--ansible-inventory", lab, "--ansible-host", "mx1",
                      "--json", "-", *extra, check=False)
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def bad(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["results"] if r["status"] in ("fail", "warn", "error")]


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def stock_host(request: pytest.FixtureRequest, clean_lab: None,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    pki_dir = tmp_path_factory.mktemp("pki")
    make_pki(pki_dir)
    boot_stock_host(request.param)
    on_host("mx1", hand_built_right(pki_dir))
    # a copy of the right configuration, put back after each mistake
    on_host("mx1", "cp -a /etc/postfix /etc/dovecot /etc/ssl/mail /root/")
    yield request.param, pki_dir
    postwright("lab", "down")


RESTORE = ("cp -a /root/postfix /root/dovecot /etc/ && cp -a /root/mail /etc/ssl/ && "
           "systemctl restart postfix dovecot")


def dovecot_cert_setting(suite: str, path: str) -> str:
    return f"ssl_cert = <{path}" if suite == "bookworm" else f"ssl_server_cert_file = {path}"


# name: (shell commands, rule id, file, setting as written there)
MISTAKES: dict[str, tuple[str, str, str, str]] = {
    "465 without wrapper mode": (
        "postconf -PX submissions/inet/smtpd_tls_wrappermode && postfix reload",
        "audit.postfix.wrappermode", MASTER, "submissions/inet has no -o smtpd_tls_wrappermode"),
    "AUTH on 25": ("postconf -e smtpd_sasl_auth_enable=yes && postfix reload",
                   "audit.postfix.auth_on_mx", MAIN,
                   "smtpd_sasl_auth_enable = yes (inherited by smtp/inet)"),
    "smtpd_tls_auth_only = no": ("postconf -e smtpd_tls_auth_only=no && postfix reload",
                                 "audit.postfix.tls_auth_only", MAIN, "smtpd_tls_auth_only = no"),
    "TLS 1.0 allowed": ("postconf -e 'smtpd_tls_protocols=!SSLv2, !SSLv3' && postfix reload",
                        "audit.postfix.tls_floor", MAIN, "smtpd_tls_protocols = !SSLv2, !SSLv3"),
    "Dovecot on the snakeoil certificate": (
        f"sed -i -e 's|^ssl_cert = .*|ssl_cert = <{SNAKEOIL}|' "
        f"-e 's|^ssl_key = .*|ssl_key = </etc/dovecot/private/dovecot.key|' "
        f"-e 's|^ssl_server_cert_file = .*|ssl_server_cert_file = {SNAKEOIL}|' "
        "-e 's|^ssl_server_key_file = .*|ssl_server_key_file = /etc/dovecot/private/dovecot.key|' "
        f"{SSL_CONF} && systemctl reload dovecot",
        "audit.tls.trusted", SSL_CONF, "{dovecot snakeoil}"),
    "ssl = yes instead of required": (
        f"sed -i 's|^ssl = required|ssl = yes|' {SSL_CONF} && systemctl reload dovecot",
        "audit.dovecot.ssl_required", SSL_CONF, "ssl = yes"),
    "a world-readable key": (f"chmod 644 {KEY}", "audit.files.key_mode", KEY,
                             "mode 0644 root:root"),
    "an open-relay mynetworks": ("postconf -e mynetworks=0.0.0.0/0 && postfix reload",
                                 "audit.postfix.mynetworks_open", MAIN,
                                 "mynetworks = 0.0.0.0/0"),
}


def test_hand_built_right_has_no_finding(stock_host: tuple[str, Path]) -> None:
    assert bad(audit()) == []


@pytest.mark.parametrize("mistake", MISTAKES)
def test_audit_names_each_classic_mistake(stock_host: tuple[str, Path], mistake: str) -> None:
    suite, _ = stock_host
    command, rule, file, setting = MISTAKES[mistake]
    setting = setting.replace("{dovecot snakeoil}", dovecot_cert_setting(suite, SNAKEOIL))
    on_host("mx1", command)
    try:
        found = {(r["id"], r["evidence"].get("file"), r["evidence"].get("setting"))
                 for r in bad(audit())}
    finally:
        on_host("mx1", RESTORE)
    assert (rule, file, setting) in found, sorted(found, key=str)
    # nothing else fails (Dovecot's snakeoil key is also group-readable: a warning)
    others = {f for f in found if f[0] != rule and f[0] != "audit.files.key_mode"}
    assert others == set(), others


def test_a_renewed_certificate_not_reloaded(stock_host: tuple[str, Path]) -> None:
    """Dovecot keeps the certificate it loaded until a reload: its ports serve the old one
    (Postfix's smtpd processes read the file when they start, so Postfix may already serve
    the new one; not asserted)."""
    _, pki_dir = stock_host
    on_host("mx1", renew(pki_dir))
    try:
        report = audit()
    finally:
        on_host("mx1", RESTORE)
    stale = [r for r in bad(report) if r["id"] == "audit.tls.served_is_on_disk"]
    assert 993 in {r["port"] for r in stale}, stale
    assert {r["evidence"]["file"] for r in stale} == {CERT}
    assert "systemctl reload dovecot" in {r["evidence"]["change"] for r in stale}


@pytest.fixture(scope="module")
def provisioned(clean_lab: None) -> Iterator[None]:
    # the stock hosts' module fixture may still be up (pytest ends it with the module)
    postwright("lab", "down")
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6, "--suite",
               playbook.EXAMPLE_HOSTS["mx1"].get("lab_suite", "bookworm"))
    assert routed_via_lab(IP)
    playbook.converge(limit="mx1")
    yield
    postwright("lab", "down")


def test_audit_finds_nothing_on_a_host_our_roles_provisioned(provisioned: None,
                                                             tmp_path: Path) -> None:
    report = audit("--save-output", str(tmp_path / "mx1.out"))
    assert bad(report) == []
    # what left the host holds no key and no password hash
    saved = (tmp_path / "mx1.out").read_text()
    assert "PRIVATE KEY" not in saved
    assert "$6$rounds" not in saved
