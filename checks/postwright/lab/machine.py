"""One lab host: a systemd-nspawn container booting systemd in its own network namespace.

The host has no systemd (PID 1 is not systemd here), so containers run with `--register=no
--keep-unit`, detached from the calling process; the container's init is found as the
`systemd` child of the nspawn process and Ansible enters it with nsenter.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from postwright.errors import PostwrightError
from postwright.lab import network
from postwright.lab.plan import (
    CONTROLLER4,
    DEFAULT_SUITE,
    DNS_HOST_NUMBER,
    Addresses,
    HostKind,
    LabPaths,
    netns_name,
)
from postwright.lab.proxy import proxy_url
from postwright.system import run

BOOT_TIMEOUT = 60.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "postwright-lab-"  # each host's cgroup: <hierarchy>/postwright-lab-NAME
STOP_TIMEOUT = 15.0
NSENTER = ("nsenter", "--mount", "--uts", "--ipc", "--net", "--pid")


@dataclass(frozen=True)
class HostRecord:
    """What the lab remembers about a host it created (host.json)."""

    name: str
    kind: HostKind
    addresses: Addresses
    suite: str = DEFAULT_SUITE

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "kind": self.kind.value,
                "ipv4": str(self.addresses.ipv4),
                "ipv6": str(self.addresses.ipv6),
                "suite": self.suite,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> HostRecord:
        data = json.loads(text)
        return cls(
            name=data["name"],
            kind=HostKind(data["kind"]),
            addresses=Addresses(
                ipv4=ipaddress.IPv4Address(data["ipv4"]),
                ipv6=ipaddress.IPv6Address(data["ipv6"]),
            ),
            suite=data.get("suite", DEFAULT_SUITE),  # hosts made before suites were recorded
        )


class Machine:
    """A lab host on disk and, when running, its nspawn process."""

    def __init__(self, paths: LabPaths, name: str) -> None:
        self.name = name
        self.dir = paths.hosts / name
        self.rootfs = self.dir / "rootfs"
        self._record_file = self.dir / "host.json"
        self._pid_file = self.dir / "nspawn.pid"
        self.console_log = self.dir / "console.log"

    # --- state -----------------------------------------------------------------------------

    @property
    def record(self) -> HostRecord | None:
        try:
            return HostRecord.from_json(self._record_file.read_text())
        except (OSError, ValueError, KeyError):
            return None

    def nspawn_pid(self) -> int | None:
        """PID of this host's systemd-nspawn process, if it is still alive. The pid file holds
        the pid and the process start time, so a reused pid is never mistaken for ours."""
        try:
            pid, start_time = (int(word) for word in self._pid_file.read_text().split())
        except (OSError, ValueError):
            return None
        proc = ProcStat.read(pid)
        alive = proc is not None and proc.state != "Z" and proc.start_time == start_time
        return pid if alive else None

    def leader_pid(self) -> int | None:
        """PID (in the controller's PID namespace) of the container's systemd."""
        parent = self.nspawn_pid()
        return _child_named(parent, "systemd") if parent else None

    def system_state(self, timeout: float = 5) -> str:
        """`systemctl is-system-running` inside the host, or `stopped`."""
        leader = self.leader_pid()
        if leader is None:
            return "stopped"
        try:
            done = subprocess.run(
                [*NSENTER, f"--target={leader}", "--", "systemctl", "is-system-running"],
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return "unresponsive"
        return done.stdout.strip() or "starting"

    def exec(self, *argv: str, timeout: float = 60,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host."""
        leader = self.leader_pid()
        if leader is None:
            raise PostwrightError(f"lab host {self.name} is not running")
        return run([*NSENTER, f"--target={leader}", "--", *argv], timeout=timeout, check=check)

    # --- lifecycle -------------------------------------------------------------------------

    def create(self, record: HostRecord, image: Path) -> None:
        """Unpack the image, wire the network, boot systemd and wait until it is running.
        On failure everything this call made is removed again."""
        try:
            self.dir.mkdir(parents=True)
            self._record_file.write_text(record.to_json())
            self.rootfs.mkdir()
            run(["tar", "--numeric-owner", "--zstd", "-C", str(self.rootfs), "-xf", str(image)],
                timeout=300)
            self._customise(record)
            network.host_network_up(self.name, record.addresses)
            self._boot()
            self._wait_running()
            # for tools that find the host's init by file (e.g. molecule's host_vars)
            (self.dir / "leader.pid").write_text(f"{self.leader_pid()}\n")
        except BaseException:
            self.destroy()
            raise

    def reboot(self) -> None:
        """Power the host off and boot it again from the same root file system, as a VPS
        reboots (e.g. after a distribution upgrade)."""
        self._stop()
        self._remove_cgroups()
        self._boot()
        # A unit may fail after a reboot for reasons that are the test's to judge (Dovecot 2.4
        # with a 2.3 configuration after a distribution upgrade): booted is enough here.
        self._wait_running(degraded_ok=True)
        (self.dir / "leader.pid").write_text(f"{self.leader_pid()}\n")

    def destroy(self) -> None:
        """Power the host off, remove its namespace and its files; safe to call at any point."""
        self._stop()
        self._remove_cgroups()
        network.host_network_down(self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        # nspawn keeps a mount-propagation directory per machine on the controller
        shutil.rmtree(Path("/run/systemd/nspawn/propagate") / self.name, ignore_errors=True)

    def _customise(self, record: HostRecord) -> None:
        etc = self.rootfs / "etc"
        (etc / "hostname").write_text(f"{self.name}\n")
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        (etc / "hosts").write_text(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{record.addresses.ipv4}\t{self.name}\n{record.addresses.ipv6}\t{self.name}\n"
        )
        # Mail hosts resolve through the lab DNS host; the DNS host answers for itself.
        dns = Addresses.for_number(DNS_HOST_NUMBER)
        resolvers = ["127.0.0.1"] if record.kind is HostKind.DNS else [str(dns.ipv4), str(dns.ipv6)]
        resolv = etc / "resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_text("".join(f"nameserver {ip}\n" for ip in resolvers)
                          + "options timeout:1 attempts:2\n")
        (etc / "apt/apt.conf.d/01postwright-proxy").write_text(
            f'// the lab has no route out; packages come through the controller {CONTROLLER4}\n'
            f'Acquire::http::Proxy "{proxy_url()}";\n'
        )

    def _boot(self) -> None:
        argv = [
            "systemd-nspawn",
            f"--directory={self.rootfs}",
            f"--machine={self.name}",
            "--boot",
            # no machined/systemd on the controller: do not register, stay in our cgroup
            "--register=no",
            "--keep-unit",
            f"--network-namespace-path=/run/netns/{netns_name(self.name)}",
            # As on a VPS, the host's own services manage its network namespace: nftables.service
            # loads the firewall at boot and fail2ban adds its bans (nspawn keeps CAP_NET_ADMIN
            # only for the networks it makes itself).
            "--capability=CAP_NET_ADMIN",
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            "--console=pipe",
        ]
        # nspawn gives the container the cgroup it is started in. Started in ours, every host
        # shared one cgroup tree: their systemds made and removed the same unit cgroups
        # (system.slice/X.service) under each other, and units failed at random with
        # 219/CGROUP. So the nspawn process enters a cgroup of its own first, then execs.
        procs = [str(d / "cgroup.procs") for d in self._make_cgroups()]
        enter = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 1; shift; done'
        wrapper = ["sh", "-c", f'{enter}; shift; exec "$@"', "sh", *procs, "--", *argv]
        with self.console_log.open("wb") as log:
            process = subprocess.Popen(
                wrapper, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = ProcStat.read(process.pid)
        start_time = proc.start_time if proc else 0
        self._pid_file.write_text(f"{process.pid} {start_time}\n")

    def _cgroups(self) -> list[Path]:
        """This host's own cgroup in each hierarchy nspawn uses (name=systemd and cgroup2 on
        a hybrid machine, cgroup2 alone on a unified one)."""
        roots = [CGROUP_ROOT / "systemd", CGROUP_ROOT / "unified"]
        if not any((root / "cgroup.procs").exists() for root in roots):
            roots = [CGROUP_ROOT]
        return [root / f"{CGROUP_PREFIX}{self.name}" for root in roots
                if (root / "cgroup.procs").exists()]

    def _make_cgroups(self) -> list[Path]:
        cgroups = self._cgroups()
        for cgroup in cgroups:
            cgroup.mkdir(exist_ok=True)
        return cgroups

    def _remove_cgroups(self) -> None:
        """Remove the host's cgroups, deepest first, once its processes are gone."""
        for cgroup in self._cgroups():
            if not cgroup.is_dir():
                continue
            for path in sorted([cgroup, *(d for d in cgroup.rglob("*") if d.is_dir())],
                               key=lambda d: len(d.parts), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()

    def _wait_running(self, degraded_ok: bool = False) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = "starting"
        while time.monotonic() < deadline:
            if self.nspawn_pid() is None:
                raise PostwrightError(
                    f"lab host {self.name} exited while booting:\n{self._console_tail()}")
            state = self.system_state(timeout=5) if self.leader_pid() else "starting"
            if state in ("running", "degraded"):
                break
            time.sleep(0.1)
        else:
            raise PostwrightError(
                f"lab host {self.name} did not finish booting in {BOOT_TIMEOUT:.0f} s "
                f"(systemd says {state!r}):\n{self._console_tail()}")
        if state == "degraded" and not degraded_ok:
            raise PostwrightError(f"lab host {self.name} booted with failed units:\n"
                                  f"{self._failed_units_report()}")

    def _failed_units_report(self) -> str:
        """The failed units and the end of each one's journal: what a person debugging a failed
        boot would look at first."""
        failed = self.exec("systemctl", "--failed", "--plain", "--no-legend", check=False).stdout
        report = [failed.rstrip()]
        for line in failed.splitlines():
            unit = line.split()[0] if line.split() else ""
            if not unit:
                continue
            journal = self.exec("journalctl", "--boot", "--no-pager", "--lines=30",
                                f"--unit={unit}", check=False)
            report.append(f"--- journal of {unit} ---\n{journal.stdout.rstrip()}")
        return "\n".join(report)

    def _stop(self) -> None:
        pid = self.nspawn_pid()
        if pid is None:
            return
        # First SIGTERM: nspawn asks the container's systemd for a clean poweroff.
        # A second SIGTERM makes nspawn terminate the container at once; SIGKILL is last.
        for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGTERM, 5.0),
                           (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if _wait_gone(pid, grace):
                return
        raise PostwrightError(f"lab host {self.name}: systemd-nspawn {pid} does not stop")

    def _console_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console output)"


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat we rely on."""

    comm: str
    state: str
    ppid: int
    start_time: int  # clock ticks since boot: tells a process apart from a later one with its pid

    @classmethod
    def read(cls, pid: int) -> ProcStat | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        return cls(comm=text[text.index("(") + 1 : text.rindex(")")], state=fields[0],
                   ppid=int(fields[1]), start_time=int(fields[19]))


def _child_named(parent: int, comm: str) -> int | None:
    for entry in Path("/proc").glob("[0-9]*"):
        proc = ProcStat.read(int(entry.name))
        if proc is not None and proc.ppid == parent and proc.comm == comm:
            return int(entry.name)
    return None


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)  # our own child when booted by this process
            if reaped == pid:
                return True
        except ChildProcessError:
            pass
        proc = ProcStat.read(pid)
        if proc is None or proc.state == "Z":
            return True
        time.sleep(0.1)
    return False
