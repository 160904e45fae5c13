"""Configuration changes reach Postfix and Dovecot without racing them (roles/daemon): a reload
waits for a daemon that is still starting, a daemon that is down is started by a change that
only asked for a reload, and a converge that needs both a restart and a reload of one daemon
restarts it once. Slow starts are made real with a drop-in that delays each daemon's start, as
a loaded machine does."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from postwright.lab.network import routed_via_lab
from postwright.verify.portscan import scan
from tests.conftest import REPO, postwright
from tests.lab import playbook
from tests.lab.playbook import ANSIBLE_PLAYBOOK, on_host

pytestmark = pytest.mark.lab
IP, IP6 = "198.51.100.10", "2001:db8::10"
SLOW_START = 20  # seconds each daemon's start is held back by the drop-in
DROP_INS = {"postfix@-.service": "postfix@-.service.d", "dovecot.service": "dovecot.service.d"}


@pytest.fixture(scope="module")
def host(clean_lab: None) -> Iterator[None]:
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6)
    assert routed_via_lab(IP)
    assert routed_via_lab(IP6)
    playbook.converge(limit="mx1")
    yield
    postwright("lab", "down")


@pytest.fixture
def slow_starts(host: None) -> Iterator[None]:
    """Each daemon takes SLOW_START seconds more to start, for the length of one test."""
    for directory in DROP_INS.values():
        on_host("mx1", f"mkdir -p /run/systemd/system/{directory} && printf '[Service]\\n"
                       f"ExecStartPre=/bin/sleep {SLOW_START}\\n' "
                       f"> /run/systemd/system/{directory}/50-slow.conf")
    on_host("mx1", "systemctl daemon-reload")
    yield
    on_host("mx1", "rm -rf " + " ".join(f"/run/systemd/system/{d}" for d in DROP_INS.values())
                   + " && systemctl daemon-reload")


def apply_change(restart: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """The daemon role's handlers with a pending change for both daemons."""
    lab = postwright("lab", "inventory", "--path").stdout.strip()
    argv = [ANSIBLE_PLAYBOOK, f"--inventory={REPO / 'inventories/example'}",
            f"--inventory={lab}", "--limit", "mx1",
            "--extra-vars", f'{{"restart": {restart or []}}}'.replace("'", '"'),
            str(REPO / "tests/lab/playbooks/daemon_change.yml")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          cwd=REPO)


def states() -> list[str]:
    return on_host("mx1", "systemctl show --property=ActiveState --value "
                          + " ".join(DROP_INS)).split()


def master_pid() -> str:
    return on_host("mx1", "cat /var/spool/postfix/pid/master.pid").strip()


def postfix_status() -> int:
    """Exit status of `postfix status` (0: the master runs); it logs, it prints nothing."""
    return int(on_host("mx1", "postfix status; echo $?", check=False).split()[-1])


def serving() -> bool:
    return {25, 587, 993} <= scan(IP, [25, 587, 993], timeout=2)


def test_a_plain_reload_leaves_a_dead_postfix_down(host: None) -> None:
    """Why a handler cannot just send `systemctl reload postfix`: with the instance stopped the
    reload reports success and Postfix stays down (the wrapper unit is a oneshot)."""
    on_host("mx1", "systemctl stop postfix@-.service")
    try:
        assert on_host("mx1", "systemctl reload postfix; echo rc=$?").strip() == "rc=0"
        assert postfix_status() != 0
    finally:
        on_host("mx1", "systemctl restart postfix")
    wait_settled()


def test_a_reload_waits_for_daemons_still_starting(slow_starts: None) -> None:
    on_host("mx1", "systemctl restart --no-block postfix dovecot")
    time.sleep(1)
    assert "activating" in states()
    done = apply_change()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "RETRYING" in done.stdout  # it did wait for the start to finish
    assert states() == ["active", "active"]
    assert serving()


def test_a_reload_starts_a_daemon_that_is_down(host: None) -> None:
    """postfix.service stays `active` (a oneshot wrapper) when its instance dies; a reload would
    fail there, so the change starts the instance instead."""
    on_host("mx1", "systemctl stop postfix@-.service dovecot.service")
    assert not serving()
    done = apply_change()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert states() == ["active", "active"]
    assert postfix_status() == 0
    assert serving()


def test_a_converge_needing_a_restart_and_a_reload_restarts_postfix_once(host: None) -> None:
    """main.cf changes (restart) and an alias map changes (reload) in one converge: the real
    handlers turn that into one restart and no reload."""
    since = on_host("mx1", "date +%s").strip()
    playbook.converge(limit="mx1", extra={"postfix_message_size_limit": 10485760, "mail_aliases": [
        {"source": "postmaster@example.test", "destination": "alice@example.test"},
        {"source": "extra@example.test", "destination": "bob@example.test"}]})
    journal = on_host("mx1", f"journalctl --since=@{since} -o cat -u postfix@-.service")
    assert journal.count("Starting postfix@-.service") == 1, journal
    assert "Reloading postfix@-.service" not in journal, journal
    assert "10485760" in on_host("mx1", "postconf -h message_size_limit")
    assert on_host("mx1", "postmap -q extra@example.test "
                          "texthash:/etc/postfix/virtual_aliases").strip() == "bob@example.test"
    assert serving()
    playbook.converge(limit="mx1")  # back to the example inventory


def wait_settled(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while set(states()) != {"active"}:
        assert time.monotonic() < deadline, states()
        time.sleep(0.5)
