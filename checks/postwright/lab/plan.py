"""The lab's fixed plan: where things live on disk, the address plan and host naming rules.

Every lab address comes from the documentation ranges (RFC 5737 / RFC 3849) so nothing in the
lab can ever be confused with, or routed to, a real host.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from postwright.errors import UsageError

# 198.51.100.0/24 rather than 192.0.2.0/24: build machines here use 192.0.2.0/24 themselves.
LAB_NET4 = ipaddress.IPv4Network("198.51.100.0/24")
LAB_NET6 = ipaddress.IPv6Network("2001:db8::/64")
# The machine running `postwright lab` joins the lab bridge at these addresses: it is the apt
# proxy for the hosts and the "outside" client of every test (not in any host's mynetworks).
CONTROLLER4 = ipaddress.IPv4Address("198.51.100.1")
CONTROLLER6 = ipaddress.IPv6Address("2001:db8::1")
APT_PROXY_PORT = 3142

# Host numbers: .53 is the lab DNS host, mail hosts are numbered from .10 upwards; numbers
# above LAST_HOST_NUMBER are the controller's outside clients (OUTSIDE_CLIENTS).
DNS_HOST_NAME = "ns1"
DNS_HOST_NUMBER = 53
FIRST_MAIL_NUMBER = 10
LAST_HOST_NUMBER = 250

# Network namespaces and links carry this prefix so `ip netns` shows what belongs to the lab.
PREFIX = "pw-"
LAB_NETNS = f"{PREFIX}lab"
BRIDGE = "br0"
UPLINK_ROOT = "pwlab0"  # the controller's end of the uplink veth, in the root namespace
UPLINK_LAB = "uplink"  # its peer, enslaved to the bridge inside the lab namespace
GUEST_IFACE = "host0"  # the host's interface name inside its own namespace

# Linux interface names have at most 15 bytes; the lab side of a host's veth is PREFIX + name.
MAX_NAME = 15 - len(PREFIX)
_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
RESERVED_NAMES = frozenset({"lab"})


# Debian releases a lab host can run: 12 "bookworm" and 13 "trixie" (today's stable).
SUITES = {"bookworm": "Debian 12", "trixie": "Debian 13"}
DEFAULT_SUITE = "bookworm"


def validate_suite(suite: str) -> str:
    if suite not in SUITES:
        raise UsageError(f"unknown Debian suite {suite!r}: the lab runs "
                         + ", ".join(f"{name} ({release})" for name, release in SUITES.items()))
    return suite


class HostKind(StrEnum):
    """What a lab host is for; decides its resolver and its Ansible group."""

    MAIL = "mail"
    DNS = "dns"


@dataclass(frozen=True)
class LabPaths:
    """Where the lab keeps its hosts (state) and its cached image (kept across runs)."""

    state: Path
    cache: Path

    @classmethod
    def from_env(cls) -> LabPaths:
        return cls(
            state=Path(os.environ.get("POSTWRIGHT_LAB_DIR", "/var/lib/postwright/lab")),
            cache=Path(os.environ.get("POSTWRIGHT_CACHE_DIR", "/var/cache/postwright")),
        )

    @property
    def hosts(self) -> Path:
        return self.state / "hosts"

    @property
    def inventory(self) -> Path:
        return self.state / "inventory.yml"

    @property
    def lock(self) -> Path:
        """One lock for the whole machine, whatever the state directory: the namespaces and the
        bridge are the machine's, and a `down` of another state directory must not sweep a
        namespace whose host is still booting."""
        return Path("/run/lock/postwright-lab.lock")


@dataclass(frozen=True)
class Addresses:
    """A lab host's IPv4 and IPv6 address on the lab bridge."""

    ipv4: ipaddress.IPv4Address
    ipv6: ipaddress.IPv6Address

    @classmethod
    def for_number(cls, number: int) -> Addresses:
        """Host number N gets 198.51.100.N and 2001:db8::N (N written in decimal digits, so the
        two addresses read alike)."""
        return cls(
            ipv4=LAB_NET4.network_address + number,
            ipv6=ipaddress.IPv6Address(f"{LAB_NET6.network_address}{number}"),
        )


# More addresses of the controller on the uplink: clients from the outside that are not the
# controller itself. The controller is the hosts' management address, which fail2ban never bans;
# a test that needs a client banned, or a second client beside it, connects from one of these.
OUTSIDE_CLIENTS = tuple(Addresses.for_number(n) for n in range(LAST_HOST_NUMBER + 1, 255))


def validate_name(name: str) -> str:
    """Check that `name` is usable as a lab host name (a hostname label that also fits the
    interface-name limit); raise UsageError saying why not."""
    if not _NAME_RE.match(name) or len(name) > MAX_NAME:
        raise UsageError(
            f"invalid lab host name {name!r}: use a hostname label of 1-{MAX_NAME} characters, "
            "lower-case letters, digits and '-', starting with a letter and not ending with '-'"
        )
    if name in RESERVED_NAMES:
        raise UsageError(f"invalid lab host name {name!r}: the name is reserved by the lab")
    return name


def validate_addresses(addresses: Addresses) -> Addresses:
    """Explicit addresses must sit inside the lab networks and not on the controller."""
    if addresses.ipv4 not in LAB_NET4 or addresses.ipv4 in (
        CONTROLLER4,
        *(client.ipv4 for client in OUTSIDE_CLIENTS),
        LAB_NET4.network_address,
        LAB_NET4.broadcast_address,
    ):
        raise UsageError(f"IPv4 address {addresses.ipv4} is not a usable lab address ({LAB_NET4})")
    if addresses.ipv6 not in LAB_NET6 or addresses.ipv6 in (
            CONTROLLER6, LAB_NET6.network_address, *(client.ipv6 for client in OUTSIDE_CLIENTS)):
        raise UsageError(f"IPv6 address {addresses.ipv6} is not a usable lab address ({LAB_NET6})")
    return addresses


def netns_name(host: str) -> str:
    return f"{PREFIX}{host}"


def lab_link_name(host: str) -> str:
    return f"{PREFIX}{host}"
