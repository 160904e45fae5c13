"""Lab networking: one bridge in a private namespace, one namespace per host, no way out.

Layout:
    root ns  pwlab0 198.51.100.1 2001:db8::1 ──veth── uplink ┐
                                                             br0  (in netns pw-lab)
    netns pw-NAME  host0 198.51.100.N 2001:db8::N ──veth── pw-NAME ┘

The uplink also holds the outside clients' addresses (.251-.254, ::251-::254; see plan.py).

Hosts get no default route and this module never enables forwarding, so a host reaches only the
lab bridge: the other hosts and the controller (its apt proxy).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from pathlib import Path

from postwright.errors import PostwrightError
from postwright.lab.plan import (
    BRIDGE,
    CONTROLLER4,
    CONTROLLER6,
    GUEST_IFACE,
    LAB_NET4,
    LAB_NET6,
    LAB_NETNS,
    OUTSIDE_CLIENTS,
    PREFIX,
    UPLINK_LAB,
    UPLINK_ROOT,
    Addresses,
    lab_link_name,
    netns_name,
)
from postwright.system import run

NETNS_DIR = Path("/run/netns")


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def conflicting_routes() -> list[str]:
    """Routes of this machine (outside the lab uplink) that overlap the lab networks. Using
    the lab networks then would hijack real traffic, so `lab up` refuses instead."""
    conflicts = []
    for family, lab_net in (("-4", LAB_NET4), ("-6", LAB_NET6)):
        routes = json.loads(run(["ip", "-j", family, "route", "show"]).stdout or "[]")
        for route in routes:
            dst = route.get("dst", "")
            if route.get("dev") == UPLINK_ROOT or dst in ("", "default"):
                continue
            try:
                overlaps = ipaddress.ip_network(dst, strict=False).overlaps(lab_net)
            except ValueError:
                continue
            if overlaps:
                conflicts.append(f"{dst} dev {route.get('dev')}")
    return conflicts


def lab_network_up() -> bool:
    """Create the lab bridge and the controller's uplink; return True when it was created now."""
    if netns_exists(LAB_NETNS):
        _outside_clients_up()  # a lab network made before they existed
        return False
    conflicts = conflicting_routes()
    if conflicts:
        raise PostwrightError(
            f"the lab networks {LAB_NET4} / {LAB_NET6} overlap this machine's own routes "
            f"({'; '.join(conflicts)}); the lab will not shadow them")
    run(["ip", "netns", "add", LAB_NETNS])
    try:
        _ip_batch(
            f"link add {UPLINK_ROOT} type veth peer name {UPLINK_LAB} netns {LAB_NETNS}",
            f"addr add {CONTROLLER4}/{LAB_NET4.prefixlen} dev {UPLINK_ROOT}",
            # nodad: the address is usable at once instead of after duplicate detection
            f"addr add {CONTROLLER6}/{LAB_NET6.prefixlen} dev {UPLINK_ROOT} nodad",
            f"link set {UPLINK_ROOT} up",
        )
        _outside_clients_up()
        _ip_batch(
            "link set lo up",
            f"link add {BRIDGE} type bridge",
            f"link set {BRIDGE} up",
            f"link set {UPLINK_LAB} master {BRIDGE} up",
            netns=LAB_NETNS,
        )
    except Exception:
        lab_network_down()
        raise
    return True


def _outside_clients_up() -> None:
    """Give the uplink the outside clients' addresses too (`replace`: idempotent). A client
    that does not bind one keeps the controller's address: the IPv4 route names it as source,
    and the IPv6 ones are deprecated (preferred_lft 0), which source selection avoids."""
    _ip_batch(*(f"addr replace {client.ipv4}/32 dev {UPLINK_ROOT}" for client in OUTSIDE_CLIENTS),
              *(f"addr replace {client.ipv6}/128 dev {UPLINK_ROOT} nodad preferred_lft 0"
                for client in OUTSIDE_CLIENTS))


def lab_network_down() -> None:
    """Remove the uplink and the bridge namespace; safe when they do not exist."""
    _quiet("ip", "link", "del", UPLINK_ROOT)
    if netns_exists(LAB_NETNS):
        run(["ip", "netns", "del", LAB_NETNS])
    release_netns_dir()


def host_network_up(host: str, addresses: Addresses) -> None:
    """Create the host's namespace, wire it to the bridge and give it its two addresses."""
    ns, link = netns_name(host), lab_link_name(host)
    run(["ip", "netns", "add", ns])
    try:
        _ip_batch(
            f"link add {link} type veth peer name {GUEST_IFACE} netns {ns}",
            f"link set {link} master {BRIDGE} up",
            netns=LAB_NETNS,
        )
        _ip_batch(
            "link set lo up",
            f"addr add {addresses.ipv4}/{LAB_NET4.prefixlen} dev {GUEST_IFACE}",
            f"addr add {addresses.ipv6}/{LAB_NET6.prefixlen} dev {GUEST_IFACE} nodad",
            f"link set {GUEST_IFACE} up",
            netns=ns,
        )
    except Exception:
        host_network_down(host)
        raise


def host_network_down(host: str) -> None:
    """Delete the host's namespace (its veth pair goes with it); safe when it is gone."""
    _quiet("ip", "-n", LAB_NETNS, "link", "del", lab_link_name(host))
    if netns_exists(netns_name(host)):
        run(["ip", "netns", "del", netns_name(host)])


def host_namespaces() -> list[str]:
    """Names of the lab hosts that have a namespace (from any lab state directory)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(ns.name.removeprefix(PREFIX) for ns in NETNS_DIR.iterdir()
                  if ns.name.startswith(PREFIX) and ns.name != LAB_NETNS)


def netns_has_processes(host: str) -> bool:
    return bool(run(["ip", "netns", "pids", netns_name(host)], check=False).stdout.strip())


def routed_via_lab(ip: str) -> bool:
    """True when this machine sends packets for `ip` into the lab (and nowhere else)."""
    route = json.loads(run(["ip", "-j", "route", "get", ip], check=False).stdout or "[{}]")
    return bool(route) and route[0].get("dev") == UPLINK_ROOT


def release_netns_dir() -> None:
    """`ip netns add` bind-mounts /run/netns onto itself; undo that once no namespace is left,
    so a lab that is down leaves no mount behind."""
    if NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        _quiet("umount", str(NETNS_DIR))


def _ip_batch(*commands: str, netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    run(argv, input_text="\n".join(commands) + "\n")


def _quiet(*argv: str) -> None:
    with contextlib.suppress(OSError):
        subprocess.run(list(argv), capture_output=True, check=False, timeout=30)
