"""Lab fixtures: the tests own the lab (they take down whatever is up before they start)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwright.lab.machine import CGROUP_PREFIX, ProcStat
from postwright.lab.plan import PREFIX
from tests.conftest import postwright

NETNS_DIR = Path("/run/netns")


def lab_state_dir() -> str:
    return os.environ.get("POSTWRIGHT_LAB_DIR", "/var/lib/postwright/lab")


def lab_netns() -> list[str]:
    """The lab's namespaces (its `pw-` prefix); other software's namespaces are not ours."""
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX)) \
        if NETNS_DIR.is_dir() else []


def live_nspawn_processes() -> list[int]:
    """The lab's systemd-nspawn processes that are alive (zombies wait for PID 1 to reap them):
    those booting a root file system under the lab's state directory. Containers that other
    software runs on the machine are not ours to count."""
    ours = f"--directory={lab_state_dir()}/".encode()
    alive = []
    for entry in Path("/proc").glob("[0-9]*"):
        stat = ProcStat.read(int(entry.name))
        if stat is None or stat.comm != "systemd-nspawn" or stat.state == "Z":
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(ours) for arg in argv):
            alive.append(int(entry.name))
    return alive


def lab_mounts() -> list[str]:
    """Mounts the lab made: under its state directory, its own namespaces' bind mounts, and
    /run/netns itself once no namespace of anyone is left there (`ip netns` made it)."""
    netns_ours = f"{NETNS_DIR}/{PREFIX}"
    netns_dir_left = NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if (lab_state_dir() in mount_point or mount_point.startswith(netns_ours)
                or (netns_dir_left and mount_point == str(NETNS_DIR))):
            mounts.append(line)
    return mounts


def lab_cgroups() -> list[str]:
    """The cgroups the lab made for its hosts, in any hierarchy."""
    return sorted(str(d) for d in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PREFIX}*")) + \
        sorted(str(d) for d in Path("/sys/fs/cgroup").glob(f"{CGROUP_PREFIX}*"))


def wait_until(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():  # type: ignore[operator]
        time.sleep(0.1)


@pytest.fixture(scope="session")
def clean_lab() -> Iterator[None]:
    """Start from a lab that is down, and leave it down."""
    assert os.geteuid() == 0, "lab tests need root (they boot containers)"
    postwright("lab", "down")
    yield
    postwright("lab", "down")
