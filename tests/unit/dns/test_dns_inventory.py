"""Inventory variables -> MailHostPlan: defaults, normalisation, and every bad input."""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from postwright.dns.inventory import plan_from_vars
from postwright.dns.loader import plan_from_inventory, plan_from_vars_file
from postwright.errors import UsageError

from .conftest import DUAL, make_plan


def test_defaults() -> None:
    plan = plan_from_vars({"mail_hostname": "Mail.Example.TEST.", "mail_domains": ["example.test"],
                           "mail_ipv4": "198.51.100.10"})
    assert plan.hostname == "mail.example.test"
    assert plan.domains == ("example.test",)
    assert plan.ipv4 == ipaddress.IPv4Address("198.51.100.10")
    assert plan.ipv6 is None
    assert plan.ttl == 300
    assert plan.ttl_for("MX") == 300
    assert plan.spf == "v=spf1 mx -all"
    assert plan.dmarc_policy == "quarantine"
    assert plan.dmarc_rua == "mailto:dmarc-reports@example.test"
    assert plan.dkim_selector == "mail"
    assert plan.dkim_public_keys == ()
    assert plan.mta_sts_mode == "none"
    assert plan.mta_sts_policy() is None
    assert plan.tlsrpt_rua is None
    assert plan.srv is True
    assert plan.caa_issuers == ()
    assert plan.primary_ns == "ns1.example.test"
    assert plan.hostmaster == "hostmaster.example.test"


def test_overrides_are_normalised(tmp_path: Path) -> None:
    plan = plan_from_vars({
        **DUAL,
        "mail_domains": ["example.test", "Example.ORG"],
        "dns_ttl": "600",
        "dns_ttls": {"mx": 3600, "TXT": 900},
        "dns_dmarc_policy": "Reject",
        "dkim_selector": "s2026",
        "dns_dkim_public_keys": {"example.org": "keys/org.pub"},
        "dns_mta_sts_mode": "enforce",
        "dns_caa_issuers": ["LetsEncrypt.org"],
        "dns_hostmaster": "dns.admin@example.test",
    }, base_dir=tmp_path)
    assert plan.domains == ("example.test", "example.org")
    assert (plan.ttl, plan.ttl_for("MX"), plan.ttl_for("TXT"), plan.ttl_for("A")) == (
        600, 3600, 900, 600)
    assert plan.dmarc_policy == "reject"
    assert plan.dkim_public_keys == (("example.org", tmp_path / "keys/org.pub"),)
    assert plan.caa_issuers == ("letsencrypt.org",)
    assert plan.hostmaster == "dns\\.admin.example.test"
    policy = plan.mta_sts_policy()
    assert policy == "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 604800\n"
    assert len(plan.mta_sts_policy_id()) == 20
    assert plan.mta_sts_policy_id().isalnum()


def test_hostname_in_a_subdomain_of_a_hosted_domain_is_accepted() -> None:
    plan = make_plan(mail_hostname="mx.eu.example.test")
    assert plan.zone_of(plan.hostname) == "example.test"


@pytest.mark.parametrize(
    ("overrides", "variable", "value"),
    [
        ({"mail_domains": ["exa mple.test"]}, "mail_domains", "exa mple.test"),
        ({"mail_domains": ["-bad.example"]}, "mail_domains", "-bad.example"),
        ({"mail_domains": ["under_score.test"]}, "mail_domains", "under_score"),
        ({"mail_domains": ["a" * 64 + ".test"]}, "mail_domains", "aaaa"),
        ({"mail_domains": ["localhost"]}, "mail_domains", "localhost"),
        ({"mail_domains": ["198.51.100.10"]}, "mail_domains", "198.51.100.10"),
        ({"mail_domains": ["exämple.test"]}, "mail_domains", "xn--exmple-cua.test"),
        ({"mail_domains": "example.test"}, "mail_domains", "example.test"),
        ({"mail_domains": ["example.test", "EXAMPLE.test"]}, "mail_domains", "twice"),
        ({"mail_hostname": "mail..example.test"}, "mail_hostname", "mail..example.test"),
        ({"mail_hostname": "mail.example.org"}, "mail_hostname", "mail.example.org"),
        ({"mail_ipv4": "198.51.100.300"}, "mail_ipv4", "198.51.100.300"),
        ({"mail_ipv4": "mail.example.test"}, "mail_ipv4", "mail.example.test"),
        ({"mail_ipv6": "198.51.100.10"}, "mail_ipv6", "put it in mail_ipv4"),
        ({"mail_ipv4": "2001:db8::10"}, "mail_ipv4", "put it in mail_ipv6"),
        ({"mail_ipv6": "::1"}, "mail_ipv6", "::1"),
        ({"mail_ipv6": "fe80::1"}, "mail_ipv6", "fe80::1"),
        ({"mail_ipv4": None, "mail_ipv6": None}, "mail_ipv4 / mail_ipv6", "at least one"),
        ({"dns_ttl": 59}, "dns_ttl", "59"),
        ({"dns_ttl": 604801}, "dns_ttl", "604801"),
        ({"dns_ttl": "five"}, "dns_ttl", "five"),
        ({"dns_ttl": True}, "dns_ttl", "True"),
        ({"dns_ttls": {"MX": 10}}, "dns_ttls[MX]", "10"),
        ({"dns_ttls": {"SPF": 600}}, "dns_ttls", "SPF"),
        ({"dkim_selector": "bad_selector"}, "dkim_selector", "bad_selector"),
        ({"dkim_selector": "a.b"}, "dkim_selector", "a.b"),
        ({"dkim_selector": "-x"}, "dkim_selector", "-x"),
        ({"dns_dmarc_policy": "block"}, "dns_dmarc_policy", "block"),
        ({"dns_dmarc_rua": "dmarc@example.test"}, "dns_dmarc_rua", "dmarc@example.test"),
        ({"dns_mta_sts_mode": "on"}, "dns_mta_sts_mode", "on"),
        ({"dns_mta_sts_id": "has-dash"}, "dns_mta_sts_id", "has-dash"),
        ({"dns_tlsrpt_rua": "http://x.test/r"}, "dns_tlsrpt_rua", "http://x.test/r"),
        ({"dns_srv": "yes"}, "dns_srv", "yes"),
        ({"dns_caa_issuers": ["not a ca"]}, "dns_caa_issuers", "not a ca"),
        ({"dns_spf": "spf1 mx -all"}, "dns_spf", "spf1 mx -all"),
        ({"dns_dkim_public_keys": {"other.test": "k.pub"}}, "dns_dkim_public_keys", "other.test"),
        ({"dns_primary_ns_ipv4": "2001:db8::53"}, "dns_primary_ns_ipv4", "2001:db8::53"),
        ({"mail_optional_services": ["smtp"]}, "mail_optional_services", "smtp"),
        ({"dns_dmarc_rua": "mailto:x@{{ mail_domains[0] }}"}, "dns_dmarc_rua", "Jinja"),
    ],
)
def test_bad_input_names_variable_and_value(overrides: dict[str, Any], variable: str,
                                            value: str) -> None:
    with pytest.raises(UsageError) as caught:
        make_plan(**overrides)
    message = str(caught.value)
    assert message.startswith(variable + ":"), message
    assert value in message, message


def test_vars_file_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "host.yml"
    yaml_file.write_text(textwrap.dedent("""\
        mail_hostname: mail.example.test
        mail_domains: [example.test]
        mail_ipv6: "2001:db8::10"
        dns_dkim_public_keys:
          example.test: dkim/example.test.pub
        """))
    plan = plan_from_vars_file(yaml_file)
    assert plan.ipv6 == ipaddress.IPv6Address("2001:db8::10")
    assert plan.dkim_public_keys == (("example.test", tmp_path / "dkim/example.test.pub"),)
    json_file = tmp_path / "host.json"
    json_file.write_text(json.dumps(DUAL))
    assert plan_from_vars_file(json_file) == make_plan()


def test_vars_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read vars file"):
        plan_from_vars_file(tmp_path / "missing.yml")
    bad = tmp_path / "list.yml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="expected a mapping"):
        plan_from_vars_file(bad)


def test_ansible_inventory_merges_group_vars(tmp_path: Path) -> None:
    """Runs the real ansible-inventory on a small inventory (group_vars + host vars)."""
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "mailservers.yml").write_text(
        "mail_domains: [example.test, example.org]\ndns_ttl: 900\n")
    (tmp_path / "hosts.yml").write_text(textwrap.dedent("""\
        all:
          children:
            mailservers:
              hosts:
                mx1:
                  mail_hostname: mail.example.test
                  mail_ipv4: 198.51.100.10
                mx2:
                  mail_hostname: mail.example.org
                  mail_ipv6: "2001:db8::20"
            other:
              hosts:
                web1: {}
        """))
    plan = plan_from_inventory([tmp_path], "mx2")
    assert plan.name == "mx2"
    assert (plan.hostname, plan.domains, plan.ttl) == (
        "mail.example.org", ("example.test", "example.org"), 900)
    assert plan.ipv4 is None
    with pytest.raises(UsageError, match=r"choose the mail host with --host .*mx1, mx2"):
        plan_from_inventory([tmp_path])
    with pytest.raises(UsageError, match="'nope' is not in the inventory"):
        plan_from_inventory([tmp_path], "nope")


def test_example_inventory_loads() -> None:
    repo = Path(__file__).resolve().parents[3]
    plan = plan_from_inventory([repo / "inventories" / "example"], "mx1")
    assert plan.name == "mx1"
    assert plan.hostname == "mail.example.test"
    assert {str(a) for a in plan.addresses} == {"198.51.100.10", "2001:db8::10"}
    second = plan_from_inventory([repo / "inventories" / "example"], "mx2")
    assert second.hostname == "mail.example.net"
    assert second.domains == ("example.net",)
