"""The dovecot role's configuration, rendered offline for each dialect (Dovecot 2.3 and 2.4),
checked against the port/TLS contract.

Ports, TLS modes, the TLS floor and the cipher list come from contract/ports.yml, never from
this file. What this file does spell out are facts about Dovecot itself: the login service of
each protocol and the listeners Dovecot creates there by default (2.4.1 source:
src/*-login/*-login-settings.c; Pigeonhole for managesieve-login).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from postwright.contract import Contract, Service, TlsMode, load_contract
from tests.unit.render import REPO, ROLES, RenderedHost, find_task

CONTRACT_FILE = REPO / "contract" / "ports.yml"
DIALECTS = ("2.3", "2.4")
HOSTS = ("mx1", "mx2")

# Dovecot: the login service serving each protocol and the inet listeners it has by default.
LOGIN_SERVICE = {"imap": "imap-login", "pop3": "pop3-login", "sieve": "managesieve-login"}
BUILTIN_LISTENERS = {"imap-login": {"imap", "imaps"}, "pop3-login": {"pop3", "pop3s"},
                     "managesieve-login": {"sieve"}}
# Password schemes Dovecot 2.4 refuses unless auth_allow_weak_schemes = yes (2.4.1 source,
# src/lib-auth/password-scheme*.c); {CRYPT} is refused for DES and MD5 ($1$) hashes only.
WEAK_SCHEMES = {"MD5", "MD5-CRYPT", "SMD5", "HMAC-MD5", "PLAIN-MD4", "PLAIN-MD5", "LDAP-MD5",
                "DES-CRYPT", "LANMAN", "NTLM"}


# --- a reader for Dovecot's configuration syntax -------------------------------------------

@dataclass
class Section:
    """`kind name { ... }` (or the top level): settings and nested sections, in file order."""

    kind: str
    name: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    children: list[Section] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)

    def all(self, kind: str) -> list[Section]:
        return [s for s in self.children if s.kind == kind]

    def get(self, kind: str, name: str = "") -> Section | None:
        return next((s for s in self.children if s.kind == kind and s.name == name), None)

    def one(self, kind: str, name: str = "") -> Section:
        section = self.get(kind, name)
        assert section is not None, f"no `{kind} {name}` section in {self.kind} {self.name}"
        return section

    def walk(self) -> list[Section]:
        return [self, *(s for child in self.children for s in child.walk())]


def parse(text: str) -> Section:
    root = Section("(top)")
    stack = [root]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!include"):
            stack[-1].includes.append(line)
        elif line == "}":
            stack.pop()
            assert stack, f"line {number}: unbalanced '}}'"
        elif line.endswith("{"):
            words = line[:-1].split()
            section = Section(words[0], " ".join(words[1:]))
            stack[-1].children.append(section)
            stack.append(section)
        else:
            key, sep, value = line.partition("=")
            assert sep, f"line {number} is neither a setting nor a section: {raw!r}"
            assert key.strip() not in stack[-1].settings, f"line {number}: {key.strip()} twice"
            stack[-1].settings[key.strip()] = value.strip()
    assert len(stack) == 1, "a section is not closed"
    return root


# --- rendering ------------------------------------------------------------------------------

@cache
def _host(name: str) -> RenderedHost:
    return RenderedHost(name)


@cache
def _render(host: str, template: str, optional: tuple[str, ...] = ()) -> str:
    return _host(host).render("dovecot", template,
                              extra={"mail_optional_services": list(optional)})


def conf(host: str, dialect: str, optional: tuple[str, ...] = ()) -> Section:
    return parse(_render(host, f"{dialect}/dovecot.conf.j2", optional))


@cache
def _variables(host: str) -> dict[str, Any]:
    return _host(host).variables("dovecot")


def role_var(host: str, name: str) -> Any:
    return _host(host).evaluate(name, _variables(host))


@cache
def contract() -> Contract:
    return load_contract(CONTRACT_FILE)


def dovecot_services() -> list[Service]:
    return [s for s in contract().services.values() if s.daemon == "dovecot"]


OPTIONAL = tuple(s.name for s in dovecot_services() if s.optional)
# No optional service, each one alone, and all of them.
OPTIONAL_SETS = [(), *((name,) for name in OPTIONAL), OPTIONAL]


def listeners(config: Section, service: Service) -> Section | None:
    login = config.get("service", LOGIN_SERVICE[service.protocol])
    return None if login is None else login.get("inet_listener", service.name)


# --- listeners ------------------------------------------------------------------------------

@pytest.mark.parametrize("optional", OPTIONAL_SETS, ids=lambda o: "+".join(o) or "defaults")
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("host", HOSTS)
def test_listeners_follow_the_contract(host: str, dialect: str,
                                       optional: tuple[str, ...]) -> None:
    config = conf(host, dialect, optional)
    enabled = {s.name for s in contract().enabled_services(optional)}
    protocols = config.settings["protocols"].split()
    assert set(protocols) == {s.protocol for s in dovecot_services() if s.name in enabled} | {
        "lmtp"}
    for service in dovecot_services():
        listener = listeners(config, service)
        if service.name in enabled:
            assert listener is not None, f"{service.name}: no inet_listener"
            assert listener.settings["port"] == str(service.port), service.name
            assert (listener.settings.get("ssl") == "yes") == (
                service.tls is TlsMode.IMPLICIT), service.name
        else:
            # off: port 0, or its protocol is not run at all (no login process is started)
            assert (listener is not None and listener.settings["port"] == "0") or (
                service.protocol not in protocols), f"{service.name} would listen"


@pytest.mark.parametrize("optional", OPTIONAL_SETS, ids=lambda o: "+".join(o) or "defaults")
@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_builtin_listener_keeps_its_default_port(dialect: str,
                                                    optional: tuple[str, ...]) -> None:
    """Dovecot creates imap/imaps, pop3/pop3s and sieve listeners by itself: each one a login
    service runs must be named in the configuration, or it listens on Dovecot's port."""
    config = conf("mx1", dialect, optional)
    for protocol in config.settings["protocols"].split():
        if protocol in LOGIN_SERVICE:
            login = config.one("service", LOGIN_SERVICE[protocol])
            named = {listener.name for listener in login.all("inet_listener")}
            assert BUILTIN_LISTENERS[login.name] <= named, login.name


@pytest.mark.parametrize("dialect", DIALECTS)
def test_switching_on_an_optional_service_adds_its_listener(dialect: str) -> None:
    imap = contract().service("imap")
    assert imap.optional
    assert not imap.enabled
    before, after = conf("mx1", dialect), conf("mx1", dialect, ("imap",))
    assert listeners(before, imap).settings["port"] == "0"  # type: ignore[union-attr]
    assert listeners(after, imap).settings == {"port": str(imap.port)}  # type: ignore[union-attr]
    # the other listeners stay as they were
    for service in dovecot_services():
        if service.name != "imap":
            old, new = listeners(before, service), listeners(after, service)
            assert (old and old.settings) == (new and new.settings), service.name


# --- TLS and authentication -----------------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("host", HOSTS)
def test_tls_follows_the_contract(host: str, dialect: str) -> None:
    settings = conf(host, dialect).settings
    tls = yaml.safe_load(CONTRACT_FILE.read_text())["tls"]
    cert, key = role_var(host, "tls_cert_file"), role_var(host, "tls_key_file")
    assert settings["ssl"] == "required"
    assert settings["ssl_min_protocol"] == contract().min_protocol == tls["min_protocol"]
    assert settings["ssl_cipher_list"] == tls["tls12_ciphers"]
    if dialect == "2.3":
        assert (settings["ssl_cert"], settings["ssl_key"]) == (f"<{cert}", f"<{key}")
        assert settings["ssl_prefer_server_ciphers"] == "yes"
        assert settings["ssl_dh"] == f"<{role_var(host, 'dovecot_dh_file')}"
    else:
        assert (settings["ssl_server_cert_file"], settings["ssl_server_key_file"]) == (cert, key)
        assert settings["ssl_server_prefer_ciphers"] == "server"
        assert settings["ssl_server_dh_file"] == role_var(host, "dovecot_dh_file")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_cleartext_authentication(dialect: str) -> None:
    settings = conf("mx1", dialect).settings
    if dialect == "2.3":
        assert settings["disable_plaintext_auth"] == "yes"
    else:
        assert settings["auth_allow_cleartext"] == "no"
    assert settings["auth_mechanisms"].split() == ["plain", "login"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("host", HOSTS)
def test_postfix_sockets_are_in_its_chroot_and_owned_by_postfix(host: str, dialect: str) -> None:
    config = conf(host, dialect)
    for service, variable, mode in (("lmtp", "dovecot_postfix_lmtp_socket", "0600"),
                                    ("auth", "dovecot_postfix_auth_socket", "0660")):
        path = role_var(host, variable)
        assert path.startswith("/var/spool/postfix/private/"), variable
        listener = config.one("service", service).one("unix_listener", path)
        assert listener.settings == {"mode": mode, "user": "postfix", "group": "postfix"}
    primary = role_var(host, "mail_domains")[0]
    lmtp = config.one("protocol", "lmtp").settings
    assert lmtp == {"postmaster_address": f"postmaster@{primary}"}


# --- one file, and the same meaning in both dialects ----------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_validated_file_is_the_whole_configuration(dialect: str) -> None:
    """doveconf checks dovecot.conf before it replaces the live one (validate:); that covers
    everything only if the file includes nothing."""
    assert all(not s.includes for s in conf("mx1", dialect).walk())
    task = find_task("dovecot", "Write dovecot.conf (checked by doveconf before it replaces "
                                "the live file)")
    assert task["ansible.builtin.template"]["validate"] == "doveconf -n -c %s"
    assert task["ansible.builtin.template"]["src"] == "{{ dovecot_config_dialect }}/dovecot.conf.j2"


def _dialect_free(config: Section) -> dict[str, Any]:
    """What both dialects must say alike: everything but TLS, auth and storage settings."""
    shared = ("protocols", "auth_mechanisms", "mail_privileged_group", "first_valid_uid",
              "last_valid_uid", "log_timestamp", "ssl", "ssl_min_protocol", "ssl_cipher_list")
    sections = [(s.kind, s.name, s.settings, [(c.kind, c.name, c.settings) for c in s.walk()])
                for s in config.children if s.kind in ("namespace", "service", "protocol")]
    return {"settings": {k: config.settings[k] for k in shared}, "sections": sections,
            "listen": config.settings["listen"].replace(",", " ").split()}


@pytest.mark.parametrize("optional", [(), OPTIONAL], ids=["defaults", "all"])
@pytest.mark.parametrize("host", HOSTS)
def test_both_dialects_configure_the_same_server(host: str, optional: tuple[str, ...]) -> None:
    assert _dialect_free(conf(host, "2.3", optional)) == _dialect_free(conf(host, "2.4", optional))


def test_2_3_users_mailboxes_and_storage() -> None:
    settings = conf("mx1", "2.3").settings
    config = conf("mx1", "2.3")
    users, root, owner = (role_var("mx1", v) for v in
                          ("dovecot_users_file", "dovecot_mail_root", "dovecot_vmail_user"))
    assert config.one("passdb").settings == {
        "driver": "passwd-file", "args": f"scheme=SHA512-CRYPT {users}"}
    assert config.one("userdb").settings == {
        "driver": "static", "args": f"uid={owner} gid={owner} home={root}/%d/%n"}
    assert settings["mail_location"] == "maildir:~/Maildir"
    assert settings["auth_username_format"] == "%Lu"


# --- the 2.4 dialect ------------------------------------------------------------------------

@pytest.mark.parametrize("host", HOSTS)
def test_2_4_starts_with_dovecot_config_version(host: str) -> None:
    text = _render(host, "2.4/dovecot.conf.j2")
    version = role_var(host, "dovecot_config_version")
    assert re.fullmatch(r"2\.4\.\d+", version)
    assert text.startswith(f"dovecot_config_version = {version}\n")
    storage = role_var(host, "dovecot_storage_version")
    assert conf(host, "2.4").settings["dovecot_storage_version"] == storage


def test_2_4_users_mailboxes_and_storage() -> None:
    config = conf("mx1", "2.4")
    users, root, owner = (role_var("mx1", v) for v in
                          ("dovecot_users_file", "dovecot_mail_root", "dovecot_vmail_user"))
    passdb = config.one("passdb", "passwd-file")
    assert passdb.settings == {"passwd_file_path": users,
                               "default_password_scheme": "SHA512-CRYPT"}
    userdb = config.one("userdb", "static")
    assert userdb.settings == {}
    assert userdb.one("fields").settings == {
        "uid": owner, "gid": owner, "home": f"{root}/%{{user | domain}}/%{{user | username}}"}
    settings = config.settings
    assert settings["auth_username_format"] == "%{user | lower}"
    # The 2.3 layout, so that mail stored before an upgrade stays where 2.4 looks: Maildir++
    # folders, INBOX in ~/Maildir itself, index and control files beside the mails.
    assert (settings["mail_driver"], settings["mail_path"],
            settings["mailbox_list_layout"]) == ("maildir", "~/Maildir", "maildir++")
    for moved in ("mail_inbox_path", "mail_index_path", "mail_control_path", "mail_home"):
        assert moved not in settings


def test_2_4_has_no_2_3_settings_or_variables() -> None:
    config = conf("mx1", "2.4", OPTIONAL)
    removed = {"disable_plaintext_auth", "ssl_cert", "ssl_key", "ssl_prefer_server_ciphers",
               "ssl_dh", "mail_location", "auth_debug", "service_count", "idle_kill"}
    for section in config.walk():
        assert not removed & set(section.settings), section.kind
        assert section.kind not in ("plugin",), "2.4 has no plugin {} section"
        if section.kind in ("passdb", "userdb"):
            assert section.name, f"2.4 needs named {section.kind} sections"
            assert "args" not in section.settings
        for key, value in section.settings.items():
            if key != "log_timestamp":  # strftime, not a Dovecot variable
                assert not re.search(r"%[A-Za-z]", value), f"2.3 variable in {key} = {value}"


# --- the password file ----------------------------------------------------------------------

def test_password_file_schemes_are_accepted_by_both_dialects() -> None:
    passwords = {"sha": "$6$rounds=5000$abcdefgh$" + "x" * 86, "blf": "$2y$05$" + "y" * 53,
                 "yes": "$y$j9T$F5Jx5fExrKuJdvmOtlN1Q.$" + "z" * 43}
    users = [{"address": f"{name}@example.test", "password_hash": value}
             for name, value in passwords.items()]
    users.append({"address": "plain@example.test", "password": "lab-only-plain"})
    text = _host("mx1").render("dovecot", "users.j2", extra={"mail_users": users})
    lines = dict(line.split(":", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines["sha@example.test"] == "{SHA512-CRYPT}" + passwords["sha"]
    assert lines["blf@example.test"] == "{BLF-CRYPT}" + passwords["blf"]
    assert lines["yes@example.test"] == "{CRYPT}" + passwords["yes"]
    assert lines["plain@example.test"].startswith("{SHA512-CRYPT}$6$rounds=")
    schemes = {re.match(r"\{([A-Z0-9-]+)\}", value).group(1) for value in lines.values()}  # type: ignore[union-attr]
    assert schemes == {"SHA512-CRYPT", "BLF-CRYPT", "CRYPT"}
    assert not schemes & WEAK_SCHEMES
    assert not (ROLES / "dovecot" / "templates" / "2.4" / "users.j2").exists()  # one file


def test_an_unchanged_password_keeps_its_hash() -> None:
    """Existing SHA512-CRYPT hashes stay as they are (same salt), whatever the dialect."""
    users = [{"address": "alice@example.test", "password": "lab-only-Alice-2026"}]
    fast = {"dovecot_password_rounds": 1000}  # the rounds are not what this test is about
    first = _host("mx1").render("dovecot", "users.j2", extra={**fast, "mail_users": users})
    current = {"content": base64.b64encode(first.encode()).decode()}
    again = _host("mx1").render("dovecot", "users.j2", extra={
        **fast, "mail_users": users, "dovecot_current_users": current})
    assert again == first
    changed = _host("mx1").render("dovecot", "users.j2", extra={
        **fast, "mail_users": [{**users[0], "password": "another"}],
        "dovecot_current_users": current})
    old, new = first.splitlines()[-1], changed.splitlines()[-1]
    assert new.startswith("alice@example.test:{SHA512-CRYPT}$6$rounds=1000$")
    assert new != old


# --- choosing the dialect from the installed package -----------------------------------------

VERSION_TASKS = ("Check the installed Dovecot is a version this role configures",
                 "Choose the configuration dialect of the installed Dovecot")


def _version_outcome(dpkg_stdout: str, dpkg_stderr: str = "") -> tuple[str, bool, str, str]:
    """(dovecot_version, assert passes, fail_msg, dialect or '') as the tasks compute them."""
    host = _host("mx1")
    variables = host.variables("dovecot", {"dovecot_package_version": {
        "stdout": dpkg_stdout, "stderr": dpkg_stderr, "rc": 0 if dpkg_stdout else 1}})
    check = find_task("dovecot", VERSION_TASKS[0])["ansible.builtin.assert"]
    choose = find_task("dovecot", VERSION_TASKS[1])["ansible.builtin.set_fact"]
    version = host.evaluate("dovecot_version", variables)
    passes = all(host.evaluate(that, variables) for that in check["that"])
    message = host.template(check["fail_msg"], variables)
    dialect = host.template(choose["dovecot_config_dialect"], variables) if passes else ""
    return version, passes, message, dialect


@pytest.mark.parametrize(("dpkg", "version", "dialect"), [
    ("1:2.3.19.1+dfsg1-2.1+deb12u6", "2.3.19.1", "2.3"),  # Debian 12 bookworm
    ("1:2.4.1+dfsg1-6+deb13u7", "2.4.1", "2.4"),  # Debian 13 trixie
    ("1:2.4.2+dfsg1-1ubuntu2", "2.4.2", "2.4"),
    ("2.3.21", "2.3.21", "2.3"),  # no epoch
])
def test_the_dialect_follows_the_installed_dovecot(dpkg: str, version: str, dialect: str) -> None:
    assert _version_outcome(dpkg) == (version, True, _version_outcome(dpkg)[2], dialect)
    assert (ROLES / "dovecot" / "templates" / dialect / "dovecot.conf.j2").is_file()


@pytest.mark.parametrize(("dpkg", "found"), [
    ("1:2.3.13+dfsg1-2+deb11u1", "1:2.3.13+dfsg1-2+deb11u1"),  # Debian 11: too old
    ("1:2.2.27-3+deb9u7", "1:2.2.27-3+deb9u7"),
    ("1:2.5.0-1", "1:2.5.0-1"),  # not known yet
    ("", "not installed (dpkg-query: no packages found matching dovecot-core)"),
])
def test_an_unsupported_dovecot_stops_the_role(dpkg: str, found: str) -> None:
    stderr = "" if dpkg else "dpkg-query: no packages found matching dovecot-core\n"
    _, passes, message, dialect = _version_outcome(dpkg, stderr)
    assert not passes
    assert not dialect
    assert message.startswith(f"the installed dovecot-core is {found};")
    assert "2.3.19" in message
    assert "2.4.x" in message


def test_the_version_is_checked_before_any_file_is_written() -> None:
    tasks = yaml.safe_load((ROLES / "dovecot" / "tasks" / "main.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    names = [t["name"] for t in block]
    first_write = min(i for i, t in enumerate(block) if not {
        "ansible.builtin.command", "ansible.builtin.assert", "ansible.builtin.set_fact"} & set(t))
    assert names.index(VERSION_TASKS[0]) < names.index(VERSION_TASKS[1]) < first_write
    read = block[names.index("Read the installed Dovecot version")]
    assert read["check_mode"] is False
    assert read["changed_when"] is False


def test_role_metadata_names_both_releases() -> None:
    meta = yaml.safe_load((ROLES / "dovecot" / "meta" / "main.yml").read_text())
    platform = meta["galaxy_info"]["platforms"][0]
    assert platform == {"name": "Debian", "versions": ["bookworm", "trixie"]}
    specs = yaml.safe_load((ROLES / "dovecot" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLES / "dovecot" / "defaults" / "main.yml").read_text())
    assert set(defaults) <= set(options), "every default is documented in argument_specs"


def test_contract_file_is_the_one_the_role_reads() -> None:
    assert Path(role_var("mx1", "mail_contract_file")).resolve() == CONTRACT_FILE.resolve()
