"""`doveconf -n` flattened into `path = value` pairs.

Top-level settings keep their names. Settings inside a named section are keyed by the path of
sections, e.g. `service imap-login/inet_listener imaps/port`; settings inside an unnamed
section are also given the joined name Dovecot 2.4 prints them under that way
(`ssl_server { cert_file = X }` is the setting `ssl_server_cert_file`).
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^(\S+)(?:\s+(.*?))?\s*\{$")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def flatten(lines: list[str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    stack: list[tuple[str, str]] = []  # (kind, name) of the open sections
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        section = _SECTION.match(line)
        if section and "=" not in line.split("{")[0]:
            stack.append((section.group(1), _unquote(section.group(2) or "")))
            continue
        name, sep, value = line.partition("=")
        if not sep:
            continue
        name, value = name.strip(), _unquote(value)
        if value.startswith("# hidden"):
            continue  # doveconf's stand-in for a secret: not a value
        if not stack:
            settings[name] = value
            continue
        path = "/".join(f"{k} {n}".strip() for k, n in stack)
        settings[f"{path}/{name}"] = value
        if len(stack) == 1 and not stack[0][1]:
            settings[f"{stack[0][0]}_{name}"] = value
    return settings
