"""Fixtures of the host suite: run by testinfra through the Ansible inventory of hosts we own
(`molecule verify`, or `pytest checks/hostsuite --ansible-inventory=... --hosts=mailservers`).

Tests read what a host should be from its inventory variables and the port contract, and
check it two ways: on the host (testinfra) and from the controller as a real client, which is
outside the host's mynetworks.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postwright.contract import Contract, Service, load_contract
from postwright.lab.network import routed_via_lab
from postwright.lab.plan import LAB_NET4, LAB_NET6

LAB_CA = Path(os.environ.get(
    "POSTWRIGHT_LAB_CA", Path.home() / ".local/share/postwright/lab-ca/ca.crt"))


@dataclass(frozen=True)
class MailHost:
    """What the inventory says about one mail host."""

    name: str
    ipv4: str | None
    ipv6: str | None
    users: list[dict[str, str]]
    domains: list[str]
    optional_services: list[str]
    admin: str  # mail_admin_address: root's and the domains' postmaster/abuse mail go there

    @property
    def addresses(self) -> list[str]:
        return [ip for ip in (self.ipv4, self.ipv6) if ip]

    @property
    def ip(self) -> str:
        """The address clients use for the round trip (IPv4 when the host has one)."""
        return self.addresses[0]

    def user(self, index: int = 0) -> tuple[str, str]:
        entry = self.users[index]
        return entry["address"], entry["password"]

    def account(self, address: str) -> tuple[str, str]:
        """The login of one of the inventory's mailboxes."""
        for entry in self.users:
            if entry["address"].lower() == address.lower():
                return entry["address"], entry["password"]
        raise LookupError(f"{address} is no mailbox with a password in the inventory")


@pytest.fixture(scope="module")
def mail(host: Any) -> MailHost:
    variables = host.ansible.get_variables()
    for ip in (variables.get("mail_ipv4"), variables.get("mail_ipv6")):
        _refuse_lab_address_outside_the_lab(ip)
    return MailHost(
        name=variables["mail_hostname"],
        ipv4=variables.get("mail_ipv4"),
        ipv6=variables.get("mail_ipv6"),
        users=[u for u in variables.get("mail_users", []) if "password" in u],
        domains=variables["mail_domains"],
        optional_services=variables.get("mail_optional_services", []),
        # the mail role's default: the first mailbox
        admin=variables.get("mail_admin_address") or variables["mail_users"][0]["address"],
    )


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def enabled(mail: MailHost, contract: Contract) -> list[Service]:
    return contract.enabled_services(mail.optional_services)


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """Verifies the chain against the lab CA and the host name; as strict as a real client."""
    return ssl.create_default_context(cafile=str(LAB_CA))


def _refuse_lab_address_outside_the_lab(ip: str | None) -> None:
    """A lab address must be reached through the lab bridge. If the lab network is gone the
    machine's default route would carry the test traffic off the machine: stop instead."""
    if ip is None:
        return
    address = ipaddress.ip_address(ip)
    if address in LAB_NET4 or address in LAB_NET6:
        assert routed_via_lab(ip), f"{ip} is a lab address but the lab network is down"
