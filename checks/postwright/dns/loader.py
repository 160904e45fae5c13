"""Where host variables come from: an Ansible inventory or a plain YAML/JSON vars file."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from postwright.dns.inventory import MailHostPlan, plan_from_vars
from postwright.errors import UsageError
from postwright.system import run


def ansible_inventory_command() -> str:
    """The venv's ansible-inventory (next to this Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-inventory")
    if found is None:
        raise UsageError(
            "ansible-inventory is not installed; install the `ansible` package or give the "
            "variables in a plain file with -v/--vars"
        )
    return found


def inventory_hostvars(sources: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """All hosts' merged variables, as `ansible-inventory --list` reports them."""
    if not sources:
        raise UsageError("give an inventory with -i")
    argv = [ansible_inventory_command()]
    for source in sources:
        if not Path(source).exists():
            raise UsageError(f"inventory {source} does not exist")
        argv += ["-i", str(source)]
    done = run([*argv, "--list"], timeout=120)
    try:
        listing = json.loads(done.stdout)
        hostvars: dict[str, dict[str, Any]] = listing["_meta"]["hostvars"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the output of ansible-inventory --list: {exc!r}") from exc
    return hostvars


def _base_dir(source: str | Path) -> Path:
    path = Path(source).resolve()
    return path if path.is_dir() else path.parent


def pick_host(hostvars: dict[str, dict[str, Any]], host: str | None) -> str:
    """`host` when given; otherwise the only host that has mail_hostname."""
    if host is not None:
        if host not in hostvars:
            known = ", ".join(sorted(hostvars)) or "none"
            raise UsageError(f"host {host!r} is not in the inventory (hosts: {known})")
        return host
    mail_hosts = sorted(name for name, hv in hostvars.items() if "mail_hostname" in hv)
    if len(mail_hosts) != 1:
        found = ", ".join(mail_hosts) or "none"
        raise UsageError(f"choose the mail host with --host (hosts with mail_hostname: {found})")
    return mail_hosts[0]


def plan_from_inventory(sources: Sequence[str | Path], host: str | None = None) -> MailHostPlan:
    """MailHostPlan of `host` (or the single mail host) in the Ansible inventory `sources`.

    Relative DKIM key paths are taken from the first inventory's directory.
    """
    hostvars = inventory_hostvars(sources)
    name = pick_host(hostvars, host)
    return plan_from_vars(hostvars[name], base_dir=_base_dir(sources[0]), name=name)


def plan_from_vars_file(path: str | Path) -> MailHostPlan:
    """MailHostPlan from a YAML (or JSON) file holding one host's variables."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read vars file {source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"vars file {source} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"vars file {source}: expected a mapping of variables")
    return plan_from_vars(data, base_dir=_base_dir(source), name=source.stem)
