"""The Ansible inventory of the running lab hosts.

It carries only how to reach each host (the nsenter connection and the PID of the host's
systemd) and its lab addresses; what a host *is* (domains, users) comes from a separate
inventory such as inventories/example, which Ansible merges by host name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from postwright.lab.plan import CONTROLLER4, CONTROLLER6, HostKind

GROUPS = {HostKind.MAIL: "lab_mail", HostKind.DNS: "lab_dns"}
# community.docker.nsenter with pipelining: playbooks/connection_plugins (ansible.cfg names the
# directory)
CONNECTION = "postwright_nsenter"


@dataclass(frozen=True)
class InventoryHost:
    name: str
    kind: HostKind
    ipv4: str
    ipv6: str
    suite: str
    leader_pid: int


def render_inventory(hosts: Iterable[InventoryHost]) -> str:
    """YAML inventory: groups lab_mail and lab_dns under `lab`, nsenter connection vars."""
    children: dict[str, dict[str, Any]] = {group: {"hosts": {}} for group in GROUPS.values()}
    for host in sorted(hosts, key=lambda h: h.name):
        children[GROUPS[host.kind]]["hosts"][host.name] = {
            "ansible_nsenter_pid": host.leader_pid,
            "lab_ipv4": host.ipv4,
            "lab_ipv6": host.ipv6,
            "lab_running_suite": host.suite,
        }
    document = {
        "all": {
            "children": {
                "lab": {
                    "children": children,
                    "vars": {
                        "ansible_connection": CONNECTION,
                        "ansible_python_interpreter": "/usr/bin/python3",
                        "lab_controller_ipv4": str(CONTROLLER4),
                        "lab_controller_ipv6": str(CONTROLLER6),
                    },
                }
            }
        }
    }
    header = "# Written by `postwright lab`; rewritten on every up/down. Do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
