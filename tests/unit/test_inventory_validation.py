"""A malformed inventory fails in the validation play, with a clear message, before any task
reaches a host. The host here cannot be reached at all (its nsenter PID does not exist), so a
run that got as far as touching it would say "unreachable" instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "playbooks/site.yml"),
            "-i", str(REPO / "inventories/example")]


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inventory = tmp_path_factory.mktemp("inv") / "unreachable.yml"
    nowhere = {"ansible_connection": "postwright_nsenter", "ansible_nsenter_pid": 2**22 + 7}
    inventory.write_text(json.dumps({"all": {"hosts": {"mx1": nowhere, "mx2": nowhere}}}))
    return inventory


def converge(unreachable: Path, overrides: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLAYBOOK, "-i", str(unreachable), "--limit", "mx1",
                           "-e", json.dumps(overrides)],
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)


def test_the_example_inventory_passes_validation(unreachable: Path) -> None:
    done = converge(unreachable, {})
    assert "Validate the inventory" in done.stdout
    # the inventory checks passed; the release check, last in the validation play, is the
    # first task to read the host, and cannot reach it
    assert "TASK [base : Read the host's release]" in done.stdout, done.stdout[-2000:]
    assert "unreachable=1" in done.stdout or "UNREACHABLE" in done.stdout or \
        "Failed to connect" in done.stdout + done.stderr, done.stdout[-2000:]


GOOD_USER = {"address": "alice@example.test", "password": "x"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mail_domains": []}, "mail_domains must be a non-empty list"),
        ({"mail_domains": ["exa mple.test"]}, "are not"),
        ({"mail_domains": ["localhost"]}, "are not"),
        ({"mail_hostname": "mail"}, "must be a FQDN inside one of the hosted domains"),
        ({"mail_hostname": "mail.other.test"}, "must be a FQDN inside one of the hosted domains"),
        ({"mail_ipv4": "198.51.100.300"}, "set mail_ipv4 and/or mail_ipv6"),
        ({"mail_ipv6": "198.51.100.10"}, "set mail_ipv4 and/or mail_ipv6"),
        ({"mail_users": [{"address": "eve@elsewhere.test", "password": "x"}]},
         "must be in a hosted domain"),
        ({"mail_users": [{"address": "eve@example.test"}]}, "needs `password` or `password_hash`"),
        ({"mail_users": [{"address": "eve@example.test", "password_hash": "$1$md5$weak"}]},
         "SHA512-CRYPT, BLF-CRYPT or yescrypt only"),
        ({"mail_users": [GOOD_USER], "mail_aliases": [{"source": "x@elsewhere.test",
                                                       "destination": "alice@example.test"}]},
         "the source must be in a hosted domain"),
        ({"mail_optional_services": ["smtp"]}, "may only name optional services"),
        ({"mail_admin_address": "nobody@example.test"}, "receives root's mail"),
        ({"mail_users": []}, "and there is none"),
        ({"postfix_main_extra": {"Delay Warning": "4h"}}, "a main.cf parameter is a lower-case"),
        ({"postfix_main_extra": {"delay_warning_time": "4h\nrelayhost = evil"}}, "on one line"),
        ({"mail_users": "alice"}, "mail_users"),  # argument_specs: not a list
        ({"mail_users": [{**GOOD_USER, "send_as": ["not an address"]}]},
         "send_as entries are addresses or @domain"),
        ({"base_resolvers": ["ns1.example.test"]}, "base_resolvers takes at most 3 IP addresses"),
        ({"dkim_selector": "mail_2026"}, "must be one DNS label"),
        ({"dkim_selector": "a.b"}, "must be one DNS label"),
        ({"dkim_key_bits": 1024}, "at least 2048"),
        ({"postfix_relayhost": {"host": "smtp.provider.example", "port": 465}},
         "a smarthost without credentials refuses to relay"),
        ({"postfix_relayhost": {"host": "smtp.provider.example", "port": 2525,
                                "username": "u", "password": "x"}}, "postfix_relayhost"),
        ({"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 22,
          "firewall_ssh_port": 2222},
         "this rule set would lock Ansible out"),
        ({"firewall_ssh_sources": ["anywhere"]}, "would lock Ansible out"),
        ({"tls_mode": "acme", "tls_acme_directory": "http://acme.example/dir"},
         "tls_acme_directory as an https:// URL"),
        ({"tls_mode": "acme", "tls_acme_challenge": "dns-01"}, "for dns-01 tls_acme_dns_server"),
        ({"fail2ban_maxretry": 0}, "fail2ban_maxretry must be a whole number of at least 1"),
        ({"fail2ban_bantime": "1 hour"}, "are durations such as 600, 10m or 1h30m"),
        ({"fail2ban_ignore_networks": ["office"]}, "fail2ban_ignore_networks takes IP addresses"),
    ],
)
def test_bad_inventory_fails_before_any_host_is_touched(
    unreachable: Path, overrides: dict[str, object], message: str
) -> None:
    done = converge(unreachable, overrides)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert message in output, output[-3000:]
    assert "Gathering Facts" not in done.stdout  # the provisioning play never started
    assert "unreachable=0" in done.stdout
    assert "changed=0" in done.stdout
    if "password" in json.dumps(overrides):
        assert '"x"' not in output  # no_log: a password never appears in the output
