"""Render a role's templates offline, with Ansible's own templating engine.

The variables are put together as a converge of playbooks/site.yml would see them: the role
defaults of the play's roles, then the inventory (host and group variables), then the role
vars, then the facts the mail role pins with set_fact, then the test's extra variables (at
extra-vars precedence). Templates render through ansible-core's Templar with the template
module's options, so filters (password_hash, dict2items, ...), lookups, `ansible_managed` and
`{% include %}` of sibling templates behave as in a real run. No host is contacted.

Reusable for any role:

    host = RenderedHost("mx1")  # from tests.unit.render import RenderedHost
    text = host.render("dovecot", "2.4/dovecot.conf.j2", extra={"mail_optional_services": ["imap"]})
    text = host.render("postfix", "main.cf.j2", play_roles=("mail", "tls", "dkim", "postfix"))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, generate_ansible_template_vars, trust_as_template
from ansible.vars.manager import VariableManager

# As the ansible-playbook command does first: find ansible.builtin and the installed collections.
init_plugin_loader()

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
EXAMPLE_INVENTORY = REPO / "inventories" / "example"

# Roles whose variables a role sees in playbooks/site.yml: its own, its dependency `mail`,
# and the roles run before it in the same play (their defaults and vars stay visible).
DEFAULT_PLAY_ROLES: Mapping[str, tuple[str, ...]] = {
    "dovecot": ("mail", "base", "tls", "dkim", "dovecot"),
    "postfix": ("mail", "base", "tls", "dkim", "dovecot", "postfix"),
}

# The template module's defaults (ansible.builtin.template: trim_blocks yes, lstrip_blocks no).
_TEMPLATE_OVERRIDES = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


@cache
def _role_file(role: str, kind: str) -> Mapping[str, Any]:
    path = ROLES / role / kind / "main.yml"
    if not path.is_file():
        return {}
    data = DataLoader().load_from_file(str(path), trusted_as_template=True)  # as Ansible does
    return dict(data or {})


class RenderedHost:
    """One inventory host, its variables as a converge would see them, and a renderer."""

    def __init__(self, name: str, inventory: Path = EXAMPLE_INVENTORY) -> None:
        self.name = name
        self._loader = DataLoader()
        self._loader.set_basedir(str(REPO))
        self._inventory = InventoryManager(loader=self._loader, sources=[str(inventory)])
        host = self._inventory.get_host(name)
        if host is None:
            raise LookupError(f"{name} is not in {inventory}")
        manager = VariableManager(loader=self._loader, inventory=self._inventory)
        self._host_vars = dict(manager.get_vars(host=host, include_hostvars=False))

    def variables(self, role: str, extra: Mapping[str, Any] | None = None,
                  play_roles: Sequence[str] | None = None) -> dict[str, Any]:
        """Every variable a task of `role` sees, lowest precedence first."""
        roles = tuple(play_roles or DEFAULT_PLAY_ROLES.get(role, ("mail", role)))
        merged: dict[str, Any] = {}
        for name in roles:
            merged.update(_role_file(name, "defaults"))
        merged.update(self._host_vars)
        for name in roles:
            merged.update(_role_file(name, "vars"))
        merged.update(role_path=str(ROLES / role), role_name=role)
        merged.update(extra or {})
        # The mail role's first task pins the parsed contract with set_fact (above role vars);
        # evaluate the same task's arguments once, as that task does.
        merged.update(self._set_facts(merged, "mail", "Load the port contract"))
        merged.update(extra or {})  # extra vars outrank set_fact
        return merged

    def template(self, text: str, variables: Mapping[str, Any]) -> Any:
        """Evaluate an expression or a template string as a task argument would be."""
        return Templar(loader=self._loader, variables=dict(variables)).template(
            trust_as_template(text))

    def evaluate(self, expression: str, variables: Mapping[str, Any]) -> Any:
        """The value of a bare expression (as in `when:` or `assert: that:`)."""
        return Templar(loader=self._loader, variables=dict(variables)).evaluate_expression(
            trust_as_template(expression))

    def render(self, role: str, template: str, extra: Mapping[str, Any] | None = None,
               play_roles: Sequence[str] | None = None) -> str:
        """The text the template module would write for `roles/<role>/templates/<template>`."""
        variables = self.variables(role, extra, play_roles)
        source = ROLES / role / "templates" / template
        variables.update(generate_ansible_template_vars(
            path=template, fullpath=str(source), dest_path=f"/{template}"))
        searchpath = [str(ROLES / role / "templates"), str(source.parent)]
        templar = Templar(loader=self._loader, variables=variables).copy_with_new_env(
            searchpath=searchpath)
        text = templar.template(trust_as_template(source.read_text()),
                                escape_backslashes=False, overrides=_TEMPLATE_OVERRIDES)
        return str(text or "")

    def _set_facts(self, variables: Mapping[str, Any], role: str,
                   task_name: str) -> dict[str, Any]:
        task = find_task(role, task_name)
        args = task["ansible.builtin.set_fact"]
        templar = Templar(loader=self._loader, variables=dict(variables))
        return {key: templar.template(trust_as_template(value) if isinstance(value, str) else value)
                for key, value in args.items()}


def _walk(tasks: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for task in tasks:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key, []))


@cache
def _tasks(path: Path) -> list[Any]:
    return list(yaml.safe_load(path.read_text()) or [])


def find_task(role: str, name: str, tasks_file: str = "main.yml") -> dict[str, Any]:
    """The task called `name` in roles/<role>/tasks/<tasks_file> (blocks included)."""
    path = ROLES / role / "tasks" / tasks_file
    for task in _walk(_tasks(path)):
        if task.get("name") == name:
            return task
    raise LookupError(f"no task named {name!r} in {path}")
