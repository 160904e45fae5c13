"""The parsers behind audit's facts, fed what the real tools print (fixtures/ were made with
Debian's own postconf and doveconf, see fixtures/make_fixtures.sh)."""

from __future__ import annotations

import pytest

from postwright.audit.doveconf import flatten
from postwright.audit.facts import MasterService, parse_master, split_sections, version_tuple
from postwright.audit.postfix_rules import _below_floor
from tests.unit.audit.host import MARK, fixture, master_lines


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_master_cf_reads_as_postconf_M_prints_it(suite: str) -> None:
    """The tests' master.cf -> `postconf -M` conversion agrees with the real postconf."""
    real = parse_master(fixture(suite, "postconf-M.txt").splitlines())
    ours = parse_master(master_lines(fixture(suite, "master.cf")))
    assert [(s.key, s.command, s.options) for s in ours] == \
        [(s.key, s.command, s.options) for s in real]
    assert real[0].key == "smtp/inet"
    assert real[0].port == 25


def test_master_options_with_braces_and_ports_by_name() -> None:
    [service] = parse_master(["submissions inet n - y - - smtpd -o syslog_name=postfix/x "
                              "-o { smtpd_client_restrictions = permit_sasl_authenticated, "
                              "reject } -o smtpd_tls_wrappermode=yes"])
    assert service.options == {"syslog_name": "postfix/x", "smtpd_tls_wrappermode": "yes",
                               "smtpd_client_restrictions": "permit_sasl_authenticated, reject"}
    assert service.port == 465
    local = MasterService("127.0.0.1:submission", "inet", "smtpd", {})
    assert local.port == 587
    assert local.loopback_only
    assert MasterService("2525", "inet", "smtpd", {}).port == 2525
    assert MasterService("pickup", "unix", "pickup", {}).port is None


def test_doveconf_24_groups_and_hidden_secrets() -> None:
    """Dovecot 2.4 prints ssl_server_cert_file as `ssl_server { cert_file }`; doveconf's
    `# hidden` stand-in for a secret is not a value."""
    settings = flatten(fixture("trixie", "doveconf-defaults.txt").splitlines())
    assert settings["ssl_server_cert_file"] == "/etc/dovecot/private/dovecot.pem"
    assert settings["ssl"] == "yes"
    bookworm = flatten(fixture("bookworm", "doveconf-n.txt").splitlines())
    assert "ssl_key" not in bookworm
    assert bookworm["ssl_cert"] == "</etc/dovecot/private/dovecot.pem"


def test_doveconf_listeners_by_path() -> None:
    settings = flatten(["service imap-login {", "  inet_listener imaps {", "    port = 993",
                        "    ssl = yes", "  }", "}", 'protocols = " imap"'])
    assert settings["service imap-login/inet_listener imaps/ssl"] == "yes"
    assert settings["protocols"] == " imap"


def test_versions() -> None:
    assert version_tuple("3.7.11") == (3, 7, 11)
    assert version_tuple("2.4.1-4 (7d8c0e5759)") == (2, 4, 1)
    assert version_tuple("") == ()


@pytest.mark.parametrize(("value", "weak"), [
    (">=TLSv1", True), (">=TLSv1.2", False), ("!SSLv2, !SSLv3", True),
    ("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", False), ("TLSv1.2 TLSv1.3", False),
    ("TLSv1 TLSv1.2", True), ("", True),
])
def test_postfix_protocol_lists(value: str, weak: bool) -> None:
    assert _below_floor(value, ("TLSv1.2", "TLSv1.3")) is weak


def test_sections_need_the_runs_mark() -> None:
    """A file that happens to hold marker-like text cannot open a section: the mark is a
    nonce of the run."""
    text = f"{MARK} mailname\nmail.example.test\n@@postwright-audit-other@@ end\nx\n"
    assert split_sections(text, MARK) == {"mailname": ["mail.example.test",
                                                       "@@postwright-audit-other@@ end", "x"]}
