"""The lab's authoritative DNS: BIND 9 on the DNS host, serving the lab's forward zones and the
reverse zones of both lab networks, updatable with RFC 2136 signed by a TSIG key.

Zones start empty (SOA, NS and the name server's own addresses); `postwright dns push` (or the
dns_records role) fills them, exactly as it would fill a real provider's server. The TSIG key
is copied to the controller so the tests and the demo can push.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from postwright.dns.names import reverse_zone
from postwright.errors import PostwrightError
from postwright.lab.machine import Machine
from postwright.lab.plan import LAB_NET4, LAB_NET6, Addresses, LabPaths

KEY_NAME = "postwright-lab"
DEFAULT_ZONES = ("example.test",)
ZONE_DIR = "/var/lib/bind"
SERIAL = 1


def lab_reverse_zones() -> list[str]:
    return [reverse_zone(ip).rstrip(".") for ip in (LAB_NET4.network_address,
                                                     LAB_NET6.network_address)]


def tsig_key_path(paths: LabPaths) -> Path:
    return paths.state / "tsig.key"


def setup_dns_server(machine: Machine, addresses: Addresses, paths: LabPaths,
                     forward_zones: tuple[str, ...] = DEFAULT_ZONES) -> None:
    """Install BIND on the DNS host and serve the lab zones; wait until it answers."""
    machine.exec("sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive "
                 "apt-get install -y -q --no-install-recommends bind9 bind9-utils", timeout=600)
    key = machine.exec("tsig-keygen", "-a", "hmac-sha256", KEY_NAME).stdout
    etc = machine.rootfs / "etc/bind"
    (etc / f"{KEY_NAME}.key").write_text(key)
    primary = f"ns1.{forward_zones[0]}."
    zones = [*forward_zones, *lab_reverse_zones()]
    (etc / "named.conf.options").write_text(_options())
    (etc / "named.conf.local").write_text(
        f'include "/etc/bind/{KEY_NAME}.key";\n'
        + "".join(_zone_stanza(zone) for zone in zones))
    for zone in zones:
        glue = zone == forward_zones[0]
        (machine.rootfs / ZONE_DIR.lstrip("/") / f"{zone}.zone").write_text(
            _empty_zone(zone, primary, addresses if glue else None))
    machine.exec("sh", "-c", f"chown bind:bind {ZONE_DIR}/*.zone && chmod 0640 "
                 f"/etc/bind/{KEY_NAME}.key && chgrp bind /etc/bind/{KEY_NAME}.key && "
                 "named-checkconf -z && systemctl restart named")
    controller_key = tsig_key_path(paths)
    controller_key.write_text(key)
    controller_key.chmod(0o600)
    _wait_answering(str(addresses.ipv4))


def _options() -> str:
    return """// Written by `postwright lab`: an authoritative-only server for the lab.
options {
    directory "/var/cache/bind";
    listen-on { any; };
    listen-on-v6 { any; };
    recursion no;
    allow-query { any; };
    allow-transfer { none; };
    dnssec-validation no;
    notify no;
};
"""


def _zone_stanza(zone: str) -> str:
    return (f'zone "{zone}" {{\n    type primary;\n    file "{ZONE_DIR}/{zone}.zone";\n'
            f"    update-policy {{ grant {KEY_NAME} zonesub ANY; }};\n}};\n")


def _empty_zone(zone: str, primary: str, glue: Addresses | None) -> str:
    lines = [
        f"$ORIGIN {zone}.",
        "$TTL 300",
        f"@ IN SOA {primary} hostmaster.{zone}. {SERIAL} 3600 600 86400 300",
        f"@ IN NS {primary}",
    ]
    if glue is not None:
        lines += [f"{primary} IN A {glue.ipv4}", f"{primary} IN AAAA {glue.ipv6}"]
    return "\n".join(lines) + "\n"


def _wait_answering(ip: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, 53), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise PostwrightError(f"the lab DNS server on {ip} does not answer on port 53")
