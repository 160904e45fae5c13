"""Run the real site playbook against lab hosts, and commands on them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, postwright

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
# The mail hosts of inventories/example/hosts.yml, by name: what the lab tests build and expect.
EXAMPLE_HOSTS: dict[str, dict[str, Any]] = yaml.safe_load(
    (REPO / "inventories/example/hosts.yml").read_text())["all"]["children"]["mailservers"]["hosts"]


def run_site(*, limit: str, inventories: Sequence[Path] = (),
             extra: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    """playbooks/site.yml over the example inventory, the lab's, then `inventories` (later ones
    win per host, as in Ansible), limited to `limit`."""
    lab = postwright("lab", "inventory", "--path").stdout.strip()
    sources = [REPO / "inventories/example", Path(lab), *inventories]
    argv = [ANSIBLE_PLAYBOOK, *(f"--inventory={s}" for s in sources), "--limit", limit,
            str(REPO / "playbooks/site.yml")]
    if extra:
        argv += ["--extra-vars", json.dumps(extra)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False,
                          cwd=REPO)


def converge(*, limit: str, inventories: Sequence[Path] = (),
             extra: dict[str, object] | None = None) -> str:
    """run_site that must succeed; returns its output."""
    done = run_site(limit=limit, inventories=inventories, extra=extra)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def host_vars_inventory(path: Path, host_vars: dict[str, dict[str, object]]) -> Path:
    """An inventory file that only sets variables of existing hosts."""
    path.write_text(json.dumps({"all": {"hosts": host_vars}}))
    return path


def on_host(name: str, command: str, *, check: bool = True) -> str:
    """Run a shell command on a lab host; returns its stdout."""
    return postwright("lab", "shell", name, "--", "sh", "-c", command, check=check).stdout
