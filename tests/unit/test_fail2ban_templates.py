"""The fail2ban jail file rendered offline for the example inventory (tests/unit/render.py): the
three jails, each banning on every public port the port contract enables plus SSH, reading the
journal, and never banning loopback, the inventory's networks or the address Ansible came from."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from typing import Any

import pytest

from postwright.contract import load_contract
from tests.unit.render import REPO, RenderedHost

PLAY_ROLES = ("mail", "daemon", "fail2ban")
JAILS = ("postfix-sasl", "dovecot", "sshd")


def jails(host: str = "mx1", **extra: Any) -> configparser.ConfigParser:
    variables: Mapping[str, Any] = {"fail2ban_ssh_port": 22, "fail2ban_controller": [],
                                    "fail2ban_postfix_log": "/var/log/mail.log", **extra}
    text = RenderedHost(host).render("fail2ban", "postwright.local.j2", play_roles=PLAY_ROLES,
                                     extra=variables)
    # fail2ban reads its files as INI with its own %(name)s interpolation: none is used here
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def ports(optional: list[str]) -> str:
    contract = load_contract(REPO / "contract" / "ports.yml")
    return ",".join(str(p) for p in sorted(
        {s.port for s in contract.enabled_services(optional)} | {22}))


@pytest.mark.parametrize("optional", [[], ["imap", "pop3s", "sieve"]])
def test_every_jail_bans_on_every_public_port_from_the_journal(optional: list[str]) -> None:
    parser = jails(mail_optional_services=optional)
    assert parser.sections() == list(JAILS)
    for name in JAILS:
        jail = parser[name]
        assert jail["enabled"] == "true"
        assert jail["port"] == ports(optional)
    assert "143" in ports(["imap"]).split(",")


def test_each_jail_reads_where_its_daemon_logs_on_both_releases() -> None:
    parser = jails(fail2ban_postfix_log="/var/log/postfix.log")
    # Postfix logs through postlogd to its file, not to the journal
    assert (parser["postfix-sasl"]["backend"], parser["postfix-sasl"]["logpath"]) == (
        "pyinotify", "/var/log/postfix.log")
    assert parser["postfix-sasl"]["filter"] == "postfix[mode=auth]"
    assert (parser["dovecot"]["backend"], parser["sshd"]["backend"]) == ("systemd", "systemd")
    # Debian 13's OpenSSH logs failed logins from sshd-session
    assert "_COMM=sshd-session" in parser["sshd"]["journalmatch"].split(" + ")


def test_the_dovecot_filter_learns_dovecot_2_4_s_lines() -> None:
    extension = configparser.ConfigParser(interpolation=None)
    extension.read_string((REPO / "roles/fail2ban/files/dovecot.local").read_text())
    first, added = extension["Definition"]["failregex"].splitlines()
    assert first == "%(known/failregex)s"  # the package's own expressions stay
    line = ("Login aborted: Logged out (auth failed, 1 attempts in 2 secs) (auth_failed): "
            "user=<carol@example.net>, method=PLAIN, rip=198.51.100.253, lip=198.51.100.11, "
            "TLS, session=<HtzrdYphT5zGM2T9>")
    # fail2ban's own substitutions, as its filter reader makes them
    pattern = (added.replace("%(_bypass_reject_reason)s", r"(?:: (?:\w+\([^\):]*\) \w+|[^\(]+))*")
               .replace("<HOST>", r"(?P<host>\S+)").replace("<F-USER>", "(?P<user>")
               .replace("</F-USER>", ")"))
    found = re.match(pattern, line)
    assert found
    assert found["host"].rstrip(",") == "198.51.100.253"
    assert found["user"] == "carol@example.net"


def test_bans_are_nftables_sets_that_expire_and_grow_for_repeat_offenders() -> None:
    default = jails()["DEFAULT"]
    assert default["banaction"] == "nftables[type=multiport]"
    assert default["bantime"] == "60s"  # the example inventory's lab setting
    assert default["bantime.increment"] == "true"
    assert (default["maxretry"], default["findtime"], default["bantime.maxtime"]) == (
        "5", "10m", "2m")  # lab: a repeat offender's ban stays short too
    production = jails(fail2ban_bantime="1h", fail2ban_bantime_maxtime="1w",
                       fail2ban_bantime_increment=False)["DEFAULT"]
    assert (production["bantime"], production["bantime.maxtime"],
            production["bantime.increment"]) == ("1h", "1w", "false")


def test_loopback_the_inventory_s_networks_and_the_controller_are_never_banned() -> None:
    lab = jails()["DEFAULT"]["ignoreip"].split()
    assert lab == ["127.0.0.1/8", "::1", "198.51.100.1", "2001:db8::1"]
    over_ssh = jails(fail2ban_controller=["203.0.113.7"],
                     fail2ban_ignore_networks=["192.0.2.0/24"])["DEFAULT"]["ignoreip"].split()
    assert over_ssh == ["127.0.0.1/8", "::1", "192.0.2.0/24", "203.0.113.7"]
