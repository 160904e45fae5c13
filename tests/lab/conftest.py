"""Lab fixtures: the tests own the lab (they take down whatever is up before they start)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwright.lab.machine import ProcStat
from tests.conftest import postwright

NETNS_DIR = Path("/run/netns")


def lab_netns() -> list[str]:
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith("pw-")) \
        if NETNS_DIR.is_dir() else []


def live_nspawn_processes() -> list[int]:
    """systemd-nspawn processes that are alive (zombies wait for PID 1 to reap them)."""
    stats = ((int(p.name), ProcStat.read(int(p.name))) for p in Path("/proc").glob("[0-9]*"))
    return [pid for pid, stat in stats
            if stat is not None and stat.comm == "systemd-nspawn" and stat.state != "Z"]


def lab_mounts() -> list[str]:
    lab_dir = os.environ.get("POSTWRIGHT_LAB_DIR", "/var/lib/postwright/lab")
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if lab_dir in line or "/run/netns" in line]


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
