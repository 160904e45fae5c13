"""The lab: real Debian hosts booting systemd on this machine, on a private documentation-range
network with IPv4 and IPv6, reachable by Ansible, with no route to the outside.

`Lab.up` validates everything before it touches the machine, and removes what it made when a
step fails; `Lab.down` is safe to run at any time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from postwright.dns.names import domain
from postwright.errors import PostwrightError, UsageError
from postwright.lab import network
from postwright.lab.dns_server import DEFAULT_ZONES, setup_dns_server
from postwright.lab.image import ensure_image
from postwright.lab.inventory import InventoryHost, render_inventory
from postwright.lab.machine import HostRecord, Machine
from postwright.lab.plan import (
    DEFAULT_SUITE,
    DNS_HOST_NAME,
    DNS_HOST_NUMBER,
    FIRST_MAIL_NUMBER,
    LAST_HOST_NUMBER,
    Addresses,
    HostKind,
    LabPaths,
    validate_addresses,
    validate_name,
    validate_suite,
)
from postwright.lab.proxy import ensure_apt_proxy
from postwright.system import missing_tools

T = TypeVar("T")
REQUIRED_TOOLS = ("ip", "nsenter", "systemd-nspawn", "debootstrap", "tar", "zstd")


@dataclass(frozen=True)
class HostRequest:
    """A host the caller wants up; addresses None means "allocate the next free ones"."""

    name: str
    kind: HostKind = HostKind.MAIL
    addresses: Addresses | None = None
    suite: str = DEFAULT_SUITE


@dataclass(frozen=True)
class HostStatus:
    name: str
    kind: HostKind
    ipv4: str
    ipv6: str
    suite: str
    state: str
    leader_pid: int | None


def require_root() -> None:
    if os.geteuid() != 0:
        raise UsageError(
            "postwright lab must run as root: it creates network namespaces and boots "
            "containers (try: sudo postwright lab ...)"
        )


class Lab:
    def __init__(self, paths: LabPaths | None = None) -> None:
        self.paths = paths or LabPaths.from_env()

    # --- queries -------------------------------------------------------------------------

    def machines(self) -> list[Machine]:
        if not self.paths.hosts.is_dir():
            return []
        return [Machine(self.paths, d.name) for d in sorted(self.paths.hosts.iterdir())]

    def machine(self, name: str) -> Machine:
        machine = Machine(self.paths, validate_name(name))
        if machine.record is None:
            raise UsageError(f"there is no lab host named {name!r} (see `postwright lab status`)")
        return machine

    def status(self) -> list[HostStatus]:
        result = []
        for machine in self.machines():
            record = machine.record
            if record is None:
                continue
            result.append(HostStatus(
                name=record.name, kind=record.kind, ipv4=str(record.addresses.ipv4),
                ipv6=str(record.addresses.ipv6), suite=record.suite, state=machine.system_state(),
                leader_pid=machine.leader_pid(),
            ))
        return result

    # --- changes -------------------------------------------------------------------------

    def up(self, requests: Sequence[HostRequest],
           dns_zones: Sequence[str] = DEFAULT_ZONES) -> list[HostStatus]:
        """Bring up the requested hosts plus the lab DNS host (serving `dns_zones` and the lab's
        reverse zones); hosts already running stay as they are. Returns every host's status."""
        require_root()
        absent = missing_tools(REQUIRED_TOOLS)
        if absent:
            raise UsageError(f"missing tools: {', '.join(absent)} (run `make setup` first)")
        wanted = self._with_dns_host(requests)
        zones = tuple(domain("--dns-zone", zone) for zone in dns_zones)
        self.paths.hosts.mkdir(parents=True, exist_ok=True)
        with self._locked():
            new = self._plan_new_hosts(wanted)  # raises before anything is changed
            images = {suite: ensure_image(self.paths, suite) for suite in {r.suite for r in new}}
            ensure_apt_proxy()
            created_network = network.lab_network_up()
            try:
                self._create_all(new, images, zones)
            except BaseException:
                if created_network and not self.machines():
                    network.lab_network_down()
                raise
            finally:
                self._write_inventory()
        return self.status()

    def reboot(self, names: Sequence[str]) -> list[HostStatus]:
        """Reboot the named hosts (their disks stay as they are); returns every host's status."""
        require_root()
        with self._locked():
            machines = [self.machine(name) for name in names]
            try:
                _parallel(lambda machine: machine.reboot(), machines)
            finally:
                self._write_inventory()  # the hosts' init has a new PID
        return self.status()

    def down(self, names: Sequence[str] = ()) -> None:
        """Stop the named hosts, or everything the lab made when no name is given."""
        require_root()
        for name in names:
            validate_name(name)
        with self._locked():
            targets = [Machine(self.paths, n) for n in names] if names else self.machines()
            _parallel(lambda machine: machine.destroy(), targets)
            if not names:
                self._remove_strays()
            # The bridge stays while any lab host namespace is left (even one made from
            # another state directory): tearing it down would cut those hosts off.
            if not self.machines() and not network.host_namespaces():
                network.lab_network_down()
            if not self.machines():
                self.paths.inventory.unlink(missing_ok=True)
            else:
                self._write_inventory()

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _with_dns_host(requests: Sequence[HostRequest]) -> list[HostRequest]:
        for request in requests:
            validate_name(request.name)
            if request.addresses is not None:
                validate_addresses(request.addresses)
        names = [r.name for r in requests]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise UsageError(f"lab host named twice: {', '.join(sorted(duplicates))}")
        if DNS_HOST_NAME in names:
            return list(requests)
        dns = HostRequest(DNS_HOST_NAME, HostKind.DNS, Addresses.for_number(DNS_HOST_NUMBER))
        return [dns, *requests]

    def _plan_new_hosts(self, wanted: Sequence[HostRequest]) -> list[HostRecord]:
        """Decide addresses for the hosts not yet up; reject conflicts with hosts that are."""
        existing = {m.name: m.record for m in self.machines() if m.record is not None}
        taken = {str(ip): r.name for r in existing.values()
                 for ip in (r.addresses.ipv4, r.addresses.ipv6)}
        new: list[HostRecord] = []
        for request in wanted:
            current = existing.get(request.name)
            if current is not None:
                if request.addresses not in (None, current.addresses):
                    raise UsageError(
                        f"lab host {request.name} is already up with {current.addresses.ipv4} "
                        f"{current.addresses.ipv6}; take it down first to change its addresses")
                if request.suite != current.suite and request.kind is not HostKind.DNS:
                    raise UsageError(
                        f"lab host {request.name} is already up with Debian {current.suite}; "
                        f"take it down first to run it on {request.suite}")
                continue
            addresses = request.addresses or self._next_free(taken)
            for address in (str(addresses.ipv4), str(addresses.ipv6)):
                if address in taken:
                    raise UsageError(f"address {address} is already used by lab host "
                                     f"{taken[address]}")
                taken[address] = request.name
            new.append(HostRecord(request.name, request.kind, addresses,
                                  validate_suite(request.suite)))
        return new

    @staticmethod
    def _next_free(taken: dict[str, str]) -> Addresses:
        for number in range(FIRST_MAIL_NUMBER, LAST_HOST_NUMBER + 1):
            candidate = Addresses.for_number(number)
            if number != DNS_HOST_NUMBER and str(candidate.ipv4) not in taken:
                return candidate
        raise PostwrightError("the lab network has no free address left")

    def _create_all(self, records: Sequence[HostRecord], images: dict[str, Path],
                    zones: tuple[str, ...]) -> None:
        def create(record: HostRecord) -> None:
            machine = Machine(self.paths, record.name)
            machine.create(record, images[record.suite])
            if record.kind is HostKind.DNS:
                try:
                    setup_dns_server(machine, record.addresses, self.paths, zones)
                except BaseException:
                    machine.destroy()
                    raise

        failures = _parallel(create, records, collect=True)
        if failures:
            # a host that booted while another failed stays out of a half-made lab
            for record in records:
                Machine(self.paths, record.name).destroy()
            raise PostwrightError("lab up failed:\n" + "\n".join(failures))

    def _write_inventory(self) -> None:
        hosts = [
            InventoryHost(s.name, s.kind, s.ipv4, s.ipv6, s.suite, s.leader_pid)
            for s in self.status() if s.leader_pid is not None
        ]
        self.paths.inventory.parent.mkdir(parents=True, exist_ok=True)
        self.paths.inventory.write_text(render_inventory(hosts))

    def _remove_strays(self) -> None:
        """Lab host namespaces no process lives in any more (left by a killed run); a namespace
        with processes belongs to a running host and is never touched."""
        for host in network.host_namespaces():
            if not network.netns_has_processes(host):
                network.host_network_down(host)
        shutil.rmtree(self.paths.hosts, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.lock.parent.mkdir(parents=True, exist_ok=True)
        with self.paths.lock.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _parallel(
    action: Callable[[T], object], items: Iterable[T], collect: bool = False
) -> list[str]:
    """Run `action` on every item in threads; return (or raise) the failures."""
    items = list(items)
    if not items:
        return []
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(action, item) for item in items]
        for future in futures:
            try:
                future.result()
            except Exception as exc:
                failures.append(str(exc))
    if failures and not collect:
        raise PostwrightError("\n".join(failures))
    return failures
