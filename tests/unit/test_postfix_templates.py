"""The Postfix templates rendered offline for the example inventory (tests/unit/render.py) and
checked against the port contract: one smtpd listener per contract service with its TLS mode
and AUTH rule, the TLS floor and ciphers, and the settings written out because the two
supported Postfix releases (3.7 on Debian 12, 3.10 on Debian 13) have different defaults."""

from __future__ import annotations

import json
from functools import cache

import pytest

from postwright.contract import AuthRule, Contract, Service, TlsMode, load_contract
from tests.unit.render import REPO, RenderedHost

HOSTS = ("mx1", "mx2")
PLAY_ROLES = ("mail", "base", "tls", "dkim", "dovecot", "postfix")


@cache
def contract() -> Contract:
    return load_contract(REPO / "contract" / "ports.yml")


@cache
def _host(name: str) -> RenderedHost:
    return RenderedHost(name)


@cache
def render(host: str, template: str, postscreen: bool = False) -> str:
    return _host(host).render("postfix", template, play_roles=PLAY_ROLES,
                              extra={"postfix_postscreen": postscreen})


def main_cf(host: str) -> dict[str, str]:
    return settings_of(render(host, "main.cf.j2"))


def settings_of(text: str) -> dict[str, str]:
    """main.cf's settings by name; a name set twice fails the test (Postfix keeps the last).
    A line starting with white space continues the setting before it."""
    settings: dict[str, str] = {}
    text = text.replace("\n  ", " ")
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", " ")) and "=" in line:
            key, value = line.split("=", 1)
            assert key.strip() not in settings, f"{key.strip()} is set twice"
            settings[key.strip()] = value.strip()
    return settings


Entry = tuple[list[str], dict[str, str]]  # a master.cf service: its fields, its -o options


def master_entries(host: str, postscreen: bool = False) -> dict[str, Entry]:
    """master.cf by service name."""
    entries: dict[str, Entry] = {}
    current = ""
    for line in render(host, "master.cf.j2", postscreen).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith((" ", "\t")):
            words = line.split()
            if words[0] == "-o":
                key, value = words[1].split("=", 1)
                entries[current][1][key] = value
            continue
        fields = line.split()
        current = fields[0]
        assert current not in entries, f"{current} is defined twice"
        entries[current] = (fields, {})
    return entries


def postfix_services() -> list[Service]:
    return [s for s in contract().services.values() if s.daemon == "postfix" and s.enabled]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("service", postfix_services(), ids=lambda s: s.name)
def test_each_contract_port_has_its_smtpd_with_its_tls_mode_and_auth_rule(host: str,
                                                                         service: Service) -> None:
    fields, options = master_entries(host)[str(service.port)]
    assert fields[1] == "inet"
    assert fields[-1] == "smtpd"
    assert options["syslog_name"] == f"postfix/{service.name}"
    assert options.get("smtpd_tls_wrappermode", "no") == (
        "yes" if service.tls is TlsMode.IMPLICIT else "no")
    assert options["smtpd_tls_security_level"] == ("encrypt" if service.tls_required else "may")
    assert options["smtpd_sasl_auth_enable"] == (
        "yes" if service.auth is AuthRule.REQUIRED else "no")
    if service.auth is AuthRule.REQUIRED:
        assert options["smtpd_tls_auth_only"] == "yes"  # never AUTH before TLS
        assert options["smtpd_relay_restrictions"] == "permit_sasl_authenticated,reject"


@pytest.mark.parametrize("host", HOSTS)
def test_no_listener_outside_the_contract(host: str) -> None:
    inet = {name for name, (fields, _) in master_entries(host).items() if fields[1] == "inet"}
    assert inet == {str(s.port) for s in postfix_services()}


def test_postscreen_fronts_the_mx_port_only() -> None:
    entries = master_entries("mx1", postscreen=True)
    for service in postfix_services():
        fields, _ = entries[str(service.port)]
        expected = "postscreen" if service.auth is AuthRule.NEVER else "smtpd"
        assert fields[-1] == expected, service.name
    assert entries["smtpd"][0][1] == "pass"


@pytest.mark.parametrize("host", HOSTS)
def test_tls_follows_the_contract(host: str) -> None:
    settings = main_cf(host)
    floor = f">={contract().min_protocol}"
    for key in ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtp_tls_protocols",
                "smtp_tls_mandatory_protocols"):
        assert settings[key] == floor, key
    ciphers = _host(host).evaluate("mail_contract.tls.tls12_ciphers",
                                   _host(host).variables("postfix", play_roles=PLAY_ROLES))
    assert settings["tls_high_cipherlist"] == ciphers
    assert settings["tls_preempt_cipherlist"] == "yes"  # the server's order
    assert settings["smtpd_tls_auth_only"] == "yes"
    assert settings["smtpd_sasl_auth_enable"] == "no"  # on only where master.cf says so


@pytest.mark.parametrize("host", HOSTS)
def test_defaults_that_differ_between_postfix_3_7_and_3_10_are_written_out(host: str) -> None:
    settings = main_cf(host)
    assert settings["compatibility_level"] == "3.6"
    assert settings["smtpd_forbid_bare_newline"] == "normalize"
    assert settings["smtpd_forbid_bare_newline_exclusions"] == "$mynetworks"
    assert settings["smtpd_forbid_unauth_pipelining"] == "yes"
    assert settings["cleanup_replace_stray_cr_lf"] == "yes"


@pytest.mark.parametrize("host", HOSTS)
def test_no_open_relay_defaults(host: str) -> None:
    settings = main_cf(host)
    assert settings["mydestination"] == "$myhostname, localhost"  # never a hosted domain
    assert settings["local_recipient_maps"] == "$alias_maps"  # no system account from outside
    assert settings["mynetworks"] == "127.0.0.0/8 [::1]/128"


def test_site_settings_follow_postwright_s_own_in_postfix_syntax() -> None:
    text = _host("mx1").render("postfix", "main.cf.j2", play_roles=PLAY_ROLES, extra={
        "postfix_main_extra": {"delay_warning_time": "4h", "smtputf8_enable": False,
                               "smtpd_discard_ehlo_keywords": ["silent-discard", "dsn"]}})
    settings = settings_of(text)
    assert settings["delay_warning_time"] == "4h"
    assert settings["smtputf8_enable"] == "no"
    assert settings["smtpd_discard_ehlo_keywords"] == "silent-discard, dsn"
    assert text.index("delay_warning_time") > text.index("compatibility_level")


def _render(template: str, **extra: object) -> str:
    return _host("mx1").render("postfix", template, play_roles=PLAY_ROLES, extra=extra)


def _map(text: str) -> dict[str, str]:
    """A texthash map: key -> value (a key twice fails the test)."""
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            assert key not in entries, f"{key} twice"
            entries[key] = value
    return entries


ADMIN = "alice@example.test"  # mx1's first mailbox: the default mail_admin_address


def test_root_and_postmaster_of_the_host_reach_the_admin() -> None:
    aliases = dict(line.split(": ", 1) for line in _render("aliases.j2").splitlines()
                   if line and not line.startswith("#"))
    assert aliases["root"] == ADMIN
    assert aliases["postmaster"] == "root"
    assert _render("aliases.j2", mail_admin_address="Ops@Elsewhere.example").endswith(
        "root: ops@elsewhere.example\n")


def test_postmaster_and_abuse_of_every_domain_exist() -> None:
    named = _map(_render("virtual_aliases.j2"))  # the example inventory names both
    assert named["postmaster@example.test"] == ADMIN
    unnamed = _map(_render("virtual_aliases.j2", mail_aliases=[]))
    assert unnamed == {"postmaster@example.test": ADMIN, "abuse@example.test": ADMIN}


def test_a_catch_all_keeps_mailboxes_delivering_and_grants_no_send_as() -> None:
    catchall = [{"source": "@example.test", "destination": "bob@example.test"}]
    aliases = _map(_render("virtual_aliases.j2", mail_aliases=catchall))
    assert aliases["@example.test"] == "bob@example.test"
    assert aliases["alice@example.test"] == "alice@example.test"
    assert aliases["bob@example.test"] == "bob@example.test"
    logins = _map(_render("sender_logins.j2", mail_aliases=catchall))
    assert "@example.test" not in logins
    granted = [{"address": "bob@example.test", "password": "x", "send_as": ["@example.test"]}]
    assert _map(_render("sender_logins.j2", mail_users=granted))["@example.test"] == (
        "bob@example.test")


@pytest.mark.parametrize("host", HOSTS)
def test_submission_refuses_the_null_sender_and_foreign_senders(host: str) -> None:
    restrictions = main_cf(host)["postwright_submission_sender_restrictions"]
    assert "reject_sender_login_mismatch" in restrictions
    senders_map = restrictions.rsplit("texthash:", 1)[1]
    assert senders_map == _host(host).variables("postfix", play_roles=PLAY_ROLES)[
        "postfix_submission_senders"]
    assert _map(_render("submission_senders.j2"))["<>"].startswith("REJECT 5.7.1")
    for name, service in contract().services.items():
        if service.auth is AuthRule.REQUIRED and service.daemon == "postfix":
            options = master_entries(host)[str(service.port)][1]
            assert options["smtpd_sender_restrictions"] == (
                "$postwright_submission_sender_restrictions"), name


def _ip_json(*addresses: str) -> dict[str, str]:
    """What `ip -json address show` registers: interfaces with their addr_info."""
    return {"stdout": json.dumps([{"ifname": "eth0", "addr_info": [
        {"family": "inet6" if ":" in a else "inet", "local": a} for a in addresses]}])}


def test_outbound_leaves_from_the_published_addresses_when_they_are_the_host_s() -> None:
    bound = settings_of(_render("main.cf.j2", postfix_host_addresses=_ip_json(
        "10.0.0.5", "198.51.100.10", "2001:db8:0::10", "fe80::1")))
    assert (bound["smtp_bind_address"], bound["smtp_bind_address6"]) == (
        "198.51.100.10", "2001:db8::10")
    behind_nat = settings_of(_render("main.cf.j2",
                                     postfix_host_addresses=_ip_json("10.0.0.5", "fe80::1")))
    assert "smtp_bind_address" not in behind_nat
    assert "smtp_bind_address6" not in behind_nat


def test_no_published_ipv6_means_ipv4_only_delivery() -> None:
    variables = _host("mx1").variables("postfix", play_roles=PLAY_ROLES)
    assert "mail_ipv6" in variables  # the example host has one: delivery over both families
    assert "inet_protocols=ipv4" not in _render("master.cf.j2")
    without = _host("mx1").render("postfix", "master.cf.j2", play_roles=PLAY_ROLES,
                                  extra={"mail_ipv6": None})
    assert without.count("-o inet_protocols=ipv4") == 2  # smtp and relay


@pytest.mark.parametrize("host", HOSTS)
def test_mail_written_on_the_host_is_signed_like_submitted_mail(host: str) -> None:
    settings = main_cf(host)
    variables = _host(host).variables("postfix", play_roles=PLAY_ROLES)
    assert settings["non_smtpd_milters"] == variables["dkim_milter"]
    assert settings["internal_mail_filter_classes"] == "bounce"
    table = _host(host).render("dkim", "SigningTable.j2", play_roles=("mail", "dkim"))
    rows = dict(line.split("\t") for line in table.splitlines() if not line.startswith("#"))
    hostname, domain = variables["mail_hostname"], variables["mail_domains"][0]
    # the host name lies in the hosted domain; its mail is signed with that domain's key
    assert rows[f"*@{hostname}"] == rows[f"*@{domain}"] == f"mail._domainkey.{domain}"
