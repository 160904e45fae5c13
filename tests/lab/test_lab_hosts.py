"""The lab boots real hosts: systemd running, dual-stack reachable, Ansible can reach them,
and `lab down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwright.lab.machine import CGROUP_PREFIX
from tests.conftest import postwright
from tests.lab.conftest import (
    NETNS_DIR,
    lab_cgroups,
    lab_mounts,
    lab_netns,
    live_nspawn_processes,
    wait_until,
)

pytestmark = pytest.mark.lab
ANSIBLE = Path(sys.executable).parent / "ansible"


@pytest.fixture(scope="module")
def foreign_netns() -> Iterator[str]:
    """A namespace some other software on the machine made; the lab must leave it alone."""
    name = f"other-software-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def lab(clean_lab: None, foreign_netns: str) -> Iterator[dict[str, dict[str, object]]]:
    postwright("lab", "up", "labt1")
    hosts = {h["name"]: h for h in json.loads(postwright("lab", "status", "--json").stdout)}
    yield hosts
    postwright("lab", "down")


def test_up_boots_the_host_and_the_dns_host(lab: dict[str, dict[str, object]]) -> None:
    assert set(lab) == {"labt1", "ns1"}
    assert lab["ns1"]["kind"] == "dns"
    assert lab["labt1"]["kind"] == "mail"


@pytest.mark.parametrize("name", ["labt1", "ns1"])
def test_systemd_is_running_inside(lab: dict[str, dict[str, object]], name: str) -> None:
    done = postwright("lab", "shell", name, "--", "systemctl", "is-system-running", check=False)
    assert done.stdout.strip() == "running", done.stdout + done.stderr


@pytest.mark.parametrize("name", ["labt1", "ns1"])
@pytest.mark.parametrize("unit", ["systemd-sysusers.service", "ldconfig.service"])
def test_first_boot_work_was_done_in_the_image(lab: dict[str, dict[str, object]], name: str,
                                                unit: str) -> None:
    """The image is stamped up to date, so no host redoes (or can fail at) first-boot work."""
    done = postwright("lab", "shell", name, "--", "systemctl", "show", "--property=ConditionResult",
                      "--property=Result", unit)
    assert done.stdout.split() == ["Result=success", "ConditionResult=no"], done.stdout


def test_each_host_runs_in_a_cgroup_of_its_own(lab: dict[str, dict[str, object]]) -> None:
    """Hosts sharing one cgroup tree made and removed each other's unit cgroups (units failed at
    random with 219/CGROUP): each host's systemd must sit in its own."""
    trees = {}
    for name in ("labt1", "ns1"):
        lines = Path(f"/proc/{lab[name]['leader_pid']}/cgroup").read_text().splitlines()
        paths = {line.split(":", 2)[2] for line in lines
                 if line.split(":")[1] in ("name=systemd", "")}
        assert paths, lines
        assert all(f"/{CGROUP_PREFIX}{name}/" in path for path in paths), paths
        trees[name] = paths
    assert not trees["labt1"] & trees["ns1"]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_host_answers_ping_from_the_controller(lab: dict[str, dict[str, object]],
                                               family: str) -> None:
    address = str(lab["labt1"][family])
    done = subprocess.run(["ping", "-c", "1", "-W", "2", address], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_host_reaches_the_dns_host_but_has_no_route_out(lab: dict[str, dict[str, object]]) -> None:
    ping = postwright("lab", "shell", "labt1", "--", "ping", "-c", "1", "-W", "2",
                      str(lab["ns1"]["ipv6"]), check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    routes = postwright("lab", "shell", "labt1", "--", "ip", "route", "show", "default").stdout
    routes6 = postwright("lab", "shell", "labt1", "--", "ip", "-6", "route", "show",
                         "default").stdout
    assert routes.strip() == ""
    assert routes6.strip() == ""


def test_ansible_reaches_every_host_through_the_generated_inventory(
    lab: dict[str, dict[str, object]],
) -> None:
    inventory = postwright("lab", "inventory", "--path").stdout.strip()
    done = subprocess.run([str(ANSIBLE), "-i", inventory, "lab", "-m", "ansible.builtin.ping",
                           "-o"], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == 2, done.stdout


def test_second_up_is_safe_and_keeps_the_host(lab: dict[str, dict[str, object]]) -> None:
    postwright("lab", "up", "labt1")
    again = {h["name"]: h for h in json.loads(postwright("lab", "status", "--json").stdout)}
    assert again["labt1"]["leader_pid"] == lab["labt1"]["leader_pid"]


def test_down_leaves_no_namespace_process_or_mount(lab: dict[str, dict[str, object]],
                                                   foreign_netns: str) -> None:
    assert live_nspawn_processes()  # the counting below can see the lab's hosts
    postwright("lab", "down")
    wait_until(lambda: not live_nspawn_processes())
    assert lab_netns() == []
    # what other software made stays: its namespace and the /run/netns mount it needs
    assert (NETNS_DIR / foreign_netns).exists()
    assert any(line.split()[4] == f"{NETNS_DIR}/{foreign_netns}"
               for line in Path("/proc/self/mountinfo").read_text().splitlines())
    assert live_nspawn_processes() == []
    assert lab_mounts() == []
    assert lab_cgroups() == []
    assert "the lab is down" in postwright("lab", "status").stdout
    postwright("lab", "down")  # down with nothing up is safe
