"""A finding's fix in the daemon's own syntax, for the version installed.

Postfix changes are `postconf` commands (`-e` for main.cf, `-P` for a master.cf service's
`-o` override), which both supported releases (3.7, 3.10) understand and which leave the rest
of the file as the admin wrote it. Dovecot has no such editor: the fix is the line to write,
named with the setting name of the installed release (2.3 and 2.4 renamed several).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postwright.audit.facts import DovecotFacts, MasterService, PostfixFacts

POSTFIX_RELOAD = "postfix reload"


def quote(text: str) -> str:
    """Single quotes always (shlex leaves plain words bare): the command reads the same way
    whatever the value, and a copy-paste into any shell keeps it one argument."""
    return "'" + text.replace("'", "'\\''") + "'"

DOVECOT_RELOAD = "systemctl reload dovecot"


@dataclass(frozen=True)
class Fix:
    """Where the cause is written and what to change there."""

    file: str
    setting: str  # as written there: `name = value`, or `service/type -o name=value`
    change: str  # a command to run, or the line to write
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def text(self) -> str:
        return f"{self.where} {self.setting} -> {self.change}"

    def evidence(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "setting": self.setting,
                "change": self.change}


def postfix_main(pf: PostfixFacts, name: str, want: str) -> Fix:
    """main.cf `name = want` (the setting as it stands, or its default when not written)."""
    current = pf.explicit.get(name)
    setting = f"{name} = {current}" if current is not None else \
        f"{name} (not set: default {pf.param(name) or 'empty'})"
    command = f"postconf -e {quote(f'{name} = {want}')} && {POSTFIX_RELOAD}"
    return Fix(pf.main_cf, setting, command, pf.main_lines.get(name))


def postfix_service(pf: PostfixFacts, service: MasterService, name: str, want: str) -> Fix:
    """A master.cf service's `-o name=want` (added, or replacing the one it has)."""
    current = service.options.get(name)
    setting = f"{service.key} -o {name}={current}" if current is not None else \
        f"{service.key} has no -o {name}"
    command = f"postconf -P {quote(f'{service.key}/{name}={want}')} && {POSTFIX_RELOAD}"
    return Fix(pf.master_cf, setting, command, service.line)


def postfix_tls_floor(pf: PostfixFacts, minimum: str, protocols: tuple[str, ...]) -> str:
    """The protocol-list value that sets the floor: '>=TLSv1.2' from Postfix 3.6 on, the
    exclusion list before it."""
    if pf.version >= (3, 6):
        return f">={minimum}"
    older = [p for p in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1") if p not in protocols]
    return ", ".join(f"!{p}" for p in older)


# Dovecot's setting names by release: the same concern, two spellings.
DOVECOT_NAMES: dict[str, dict[str, str]] = {
    "2.3": {"ssl": "ssl", "min_protocol": "ssl_min_protocol",
            "cleartext": "disable_plaintext_auth", "cert": "ssl_cert", "key": "ssl_key"},
    "2.4": {"ssl": "ssl", "min_protocol": "ssl_min_protocol",
            "cleartext": "auth_allow_cleartext", "cert": "ssl_server_cert_file",
            "key": "ssl_server_key_file"},
}
# The value each concern must have, by release (2.3 says "disable", 2.4 "allow").
DOVECOT_WANT: dict[str, dict[str, str]] = {
    "2.3": {"ssl": "required", "cleartext": "yes"},
    "2.4": {"ssl": "required", "cleartext": "no"},
}
# Where Debian's packaged configuration keeps each concern, when no file on the host sets it.
DEBIAN_FILES = {"ssl": "/etc/dovecot/conf.d/10-ssl.conf",
                "min_protocol": "/etc/dovecot/conf.d/10-ssl.conf",
                "cleartext": "/etc/dovecot/conf.d/10-auth.conf",
                "cert": "/etc/dovecot/conf.d/10-ssl.conf", "key": "/etc/dovecot/conf.d/10-ssl.conf"}


def dovecot_name(dc: DovecotFacts, concern: str) -> str:
    return DOVECOT_NAMES[dc.dialect][concern]


def dovecot_setting(dc: DovecotFacts, concern: str, want: str) -> Fix:
    """`name = want` in the file that sets it now (the last one Dovecot reads), else in the
    Debian file for that concern."""
    name = dovecot_name(dc, concern)
    places = dc.lines.get(name, [])
    current = dc.get(name)
    setting = f"{name} = {current}" if current is not None else f"{name} (not set)"
    if places:
        path, line = places[-1]
        return Fix(path, setting, f"write `{name} = {want}` there; {DOVECOT_RELOAD}", line)
    return Fix(DEBIAN_FILES.get(concern, "/etc/dovecot/dovecot.conf"), setting,
               f"add `{name} = {want}`; {DOVECOT_RELOAD}")
