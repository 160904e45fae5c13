"""The lab's naming and address rules, inventory rendering, and bad input on the CLI."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from postwright.cli import main
from postwright.errors import UsageError
from postwright.lab.image import image_path
from postwright.lab.inventory import InventoryHost, render_inventory
from postwright.lab.machine import HostRecord
from postwright.lab.plan import (
    DEFAULT_SUITE,
    LAB_NET4,
    LAB_NET6,
    LAST_HOST_NUMBER,
    MAX_NAME,
    OUTSIDE_CLIENTS,
    SUITES,
    Addresses,
    HostKind,
    LabPaths,
    validate_addresses,
    validate_name,
    validate_suite,
)


@pytest.mark.parametrize("name", ["mx1", "a", "mail-2", "x" * MAX_NAME])
def test_valid_names_pass(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1mx", "MX1", "mx_1", "mx-", "-mx", "mx.example", "x" * (MAX_NAME + 1), "lab", "mx 1"],
)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(UsageError, match="lab host name"):
        validate_name(name)


def test_host_numbers_give_matching_dual_stack_addresses() -> None:
    addresses = Addresses.for_number(10)
    assert addresses.ipv4 == ipaddress.IPv4Address("198.51.100.10")
    assert addresses.ipv6 == ipaddress.IPv6Address("2001:db8::10")
    assert addresses.ipv4 in LAB_NET4
    assert addresses.ipv6 in LAB_NET6


@pytest.mark.parametrize(
    ("ipv4", "ipv6"),
    [
        ("192.0.2.10", "2001:db8::10"),  # outside the lab's IPv4 network
        ("198.51.100.1", "2001:db8::10"),  # the controller's own address
        ("198.51.100.10", "2001:db8:1::10"),  # outside the lab's IPv6 network
        ("198.51.100.255", "2001:db8::10"),  # broadcast
        ("198.51.100.251", "2001:db8::10"),  # an outside client of the controller
        ("198.51.100.10", "2001:db8::254"),  # an outside client of the controller
    ],
)
def test_addresses_outside_the_lab_are_rejected(ipv4: str, ipv6: str) -> None:
    with pytest.raises(UsageError, match="not a usable lab address"):
        validate_addresses(Addresses(ipaddress.IPv4Address(ipv4), ipaddress.IPv6Address(ipv6)))


def test_outside_clients_are_lab_addresses_no_host_can_take() -> None:
    numbers = {int(str(client.ipv4).rsplit(".", 1)[1]) for client in OUTSIDE_CLIENTS}
    assert len(numbers) == len(OUTSIDE_CLIENTS) >= 3
    assert min(numbers) > LAST_HOST_NUMBER
    assert max(numbers) < 255
    for client in OUTSIDE_CLIENTS:
        assert client.ipv4 in LAB_NET4
        assert client.ipv6 in LAB_NET6


def test_inventory_groups_hosts_by_kind_with_nsenter_connection() -> None:
    text = render_inventory([
        InventoryHost("mx1", HostKind.MAIL, "198.51.100.10", "2001:db8::10", "trixie", 4242),
        InventoryHost("ns1", HostKind.DNS, "198.51.100.53", "2001:db8::53", "bookworm", 4343),
    ])
    lab = yaml.safe_load(text)["all"]["children"]["lab"]
    assert lab["vars"]["ansible_connection"] == "postwright_nsenter"
    assert lab["children"]["lab_mail"]["hosts"]["mx1"]["ansible_nsenter_pid"] == 4242
    assert lab["children"]["lab_dns"]["hosts"]["ns1"]["lab_ipv6"] == "2001:db8::53"
    assert lab["children"]["lab_mail"]["hosts"]["mx1"]["lab_running_suite"] == "trixie"


@pytest.mark.parametrize("suite", list(SUITES))
def test_each_suite_has_its_own_cached_image(suite: str) -> None:
    paths = LabPaths(state=Path("/nonexistent/state"), cache=Path("/nonexistent/cache"))
    image = image_path(paths, suite)
    assert image.name.startswith(f"{suite}-")
    others = {image_path(paths, other) for other in SUITES if other != suite}
    assert image not in others


def test_a_host_record_keeps_its_suite_and_old_records_are_bookworm() -> None:
    record = HostRecord("mx2", HostKind.MAIL, Addresses.for_number(11), "trixie")
    assert HostRecord.from_json(record.to_json()) == record
    legacy = json.loads(record.to_json())
    del legacy["suite"]
    assert HostRecord.from_json(json.dumps(legacy)).suite == DEFAULT_SUITE == "bookworm"


def test_an_unknown_suite_is_refused_naming_the_supported_ones() -> None:
    with pytest.raises(UsageError, match=re.escape("bookworm (Debian 12), trixie (Debian 13)")):
        validate_suite("buster")


@pytest.fixture
def empty_lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "lab"
    monkeypatch.setenv("POSTWRIGHT_LAB_DIR", str(state))
    monkeypatch.setenv("POSTWRIGHT_CACHE_DIR", str(tmp_path / "cache"))
    return state


def _netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def test_up_without_root_fails_at_once_and_changes_nothing(
    empty_lab_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _netns()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", "up", "mx1"]) == 2
    assert "must run as root" in capsys.readouterr().err
    assert not empty_lab_dir.exists()
    assert _netns() == before


@pytest.mark.parametrize("bad", ["MX_1", "mail.example.test", "x-", "x" * 20])
def test_up_with_invalid_name_fails_at_once_and_changes_nothing(
    empty_lab_dir: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    before = _netns()
    assert main(["lab", "up", bad]) == 2
    assert f"invalid lab host name {bad!r}" in capsys.readouterr().err
    assert not empty_lab_dir.exists()
    assert _netns() == before


def test_up_with_address_outside_the_lab_fails_and_changes_nothing(
    empty_lab_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "up", "mx1", "--ipv4", "10.0.0.5", "--ipv6", "2001:db8::5"]) == 2
    assert "10.0.0.5" in capsys.readouterr().err
    assert not empty_lab_dir.exists()


def test_up_with_an_unknown_suite_fails_at_once_and_changes_nothing(
    empty_lab_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["lab", "up", "mx1", "--suite", "sid"])
    assert exited.value.code == 2
    assert "invalid choice: 'sid'" in capsys.readouterr().err
    assert not empty_lab_dir.exists()


def test_down_with_nothing_up_is_safe(empty_lab_dir: Path) -> None:
    assert main(["lab", "down"]) == 0
    assert main(["lab", "status"]) == 0
