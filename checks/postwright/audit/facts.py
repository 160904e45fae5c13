"""The facts collect.sh prints, parsed into small typed records. Parsing never raises on odd
input: a section that is missing or unreadable leaves its facts empty, and the rules then say
"could not check" instead of guessing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from postwright.audit.doveconf import flatten


def version_tuple(text: str) -> tuple[int, ...]:
    """'3.7.11' -> (3, 7, 11); '2.3.19.1 (9b53102964)' -> (2, 3, 19, 1)."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def split_sections(output: str, mark: str) -> dict[str, list[str]]:
    """Lines under each `MARK name` header (the nonce makes a header unambiguous)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(mark + " "):
            current = sections.setdefault(line[len(mark) + 1:].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def _assignments(lines: list[str]) -> dict[str, str]:
    """`name = value` lines (postconf, doveconf -h output we format the same way)."""
    values: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.strip() and not line.startswith((" ", "\t", "#")):
            values[name.strip()] = value.strip()
    return values


# --- Postfix ---------------------------------------------------------------------------------

# Service names Debian's /etc/services gives port numbers that master.cf uses by name.
_SERVICE_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "ssmtp": 465,
                  "urd": 465}


@dataclass(frozen=True)
class MasterService:
    """One master.cf entry as `postconf -M` prints it, with its `-o name=value` overrides."""

    name: str
    type: str
    command: str
    options: dict[str, str]
    line: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.type}"

    @property
    def port(self) -> int | None:
        """The TCP port of an inet service ('465', 'submissions', '127.0.0.1:submission')."""
        if self.type != "inet":
            return None
        port = self.name.rpartition(":")[2]
        return int(port) if port.isdigit() else _SERVICE_PORTS.get(port)

    @property
    def loopback_only(self) -> bool:
        host = self.name.rpartition(":")[0].strip("[]")
        return host in ("127.0.0.1", "::1", "localhost")


def parse_master(lines: list[str]) -> list[MasterService]:
    """`postconf -M` (one line per service, -o options inline; values in { } may hold spaces)."""
    services = []
    for line in lines:
        words = re.findall(r"\{[^}]*\}|\S+", line)
        if len(words) < 8 or line.startswith("#"):
            continue
        options: dict[str, str] = {}
        args = words[8:]
        command = words[7]
        i = 0
        while i < len(args):
            if args[i] == "-o" and i + 1 < len(args):
                name, _, value = args[i + 1].strip("{} ").partition("=")
                options[name.strip()] = value.strip()
                i += 2
            else:
                i += 1
        services.append(MasterService(words[0], words[1], command, options))
    return services


@dataclass
class PostfixFacts:
    version: tuple[int, ...]
    explicit: dict[str, str]  # postconf -n: what main.cf sets
    effective: dict[str, str]  # postconf -x NAMES: what Postfix uses (defaults included)
    services: list[MasterService]
    main_lines: dict[str, int] = field(default_factory=dict)  # main.cf line of each setting
    config_directory: str = "/etc/postfix"

    @property
    def main_cf(self) -> str:
        return f"{self.config_directory}/main.cf"

    @property
    def master_cf(self) -> str:
        return f"{self.config_directory}/master.cf"

    def param(self, name: str) -> str | None:
        """The effective main.cf value (None when this Postfix does not know the name)."""
        return self.effective.get(name)

    def expand(self, value: str) -> str:
        """$name and ${name} of main.cf parameters in a master.cf -o value."""
        def sub(match: re.Match[str]) -> str:
            return self.effective.get(match.group(1) or match.group(2), match.group(0))
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, value)

    def service_value(self, service: MasterService, name: str) -> tuple[str | None, bool]:
        """(value, overridden): the -o override if the service has one, else main.cf's."""
        if name in service.options:
            return self.expand(service.options[name]), True
        return self.param(name), False

    def smtpd_inet(self) -> list[MasterService]:
        return [s for s in self.services if s.type == "inet" and s.command == "smtpd"]

    def listener(self, port: int) -> MasterService | None:
        """The smtpd that serves a port; behind postscreen that is the `smtpd pass` service."""
        inet = [s for s in self.services if s.type == "inet" and s.port == port
                and not s.loopback_only]
        if not inet:
            return None
        if inet[0].command == "postscreen":
            return next((s for s in self.services if s.type == "pass"
                         and s.command == "smtpd"), None)
        return inet[0]


def _postfix(sections: dict[str, list[str]]) -> PostfixFacts | None:
    version = "".join(sections.get("postconf-version", [])).strip()
    if not version:
        return None
    explicit = _assignments(sections.get("postconf-n", []))
    effective = _assignments(sections.get("postconf-effective", []))
    lines: dict[str, int] = {}
    master_lines: dict[str, int] = {}
    directory = "/etc/postfix"
    for line in sections.get("postconf-lines", []):
        if line.startswith("config_directory="):
            directory = line.partition("=")[2].strip() or directory
            continue
        where, _, name = line.rpartition(":")
        kind, _, number = where.partition(":")
        if number.isdigit():
            (lines if kind == "main.cf" else master_lines)[name.strip()] = int(number)
    services = [MasterService(s.name, s.type, s.command, s.options, master_lines.get(s.key))
                for s in parse_master(sections.get("postconf-M", []))]
    return PostfixFacts(version_tuple(version), explicit, effective, services, lines, directory)


# --- Dovecot ---------------------------------------------------------------------------------

@dataclass
class DovecotFacts:
    version: tuple[int, ...]
    settings: dict[str, str]  # flattened doveconf -n, then the effective values asked for
    lines: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # name -> file, line

    @property
    def dialect(self) -> str:
        """'2.3' or '2.4': the configuration syntax this Dovecot reads."""
        return "2.4" if self.version >= (2, 4) else "2.3"

    def get(self, name: str) -> str | None:
        return self.settings.get(name)


def _dovecot(sections: dict[str, list[str]]) -> DovecotFacts | None:
    version = "".join(sections.get("dovecot-version", [])).strip()
    if not version:
        return None
    settings = flatten(sections.get("doveconf-n", []))
    for name, value in flatten(sections.get("doveconf-effective", [])).items():
        # 2.4 answers `doveconf ssl_server_cert_file` with an empty top level when the file
        # is set (it lives in the ssl_server group): an empty answer never hides a value
        if value or name not in settings:
            settings[name] = value
    lines: dict[str, list[tuple[str, int]]] = {}
    for line in sections.get("dovecot-lines", []):
        path, _, rest = line.partition(":")
        number, _, name = rest.partition(":")
        places = lines.setdefault(name.strip(), [])
        if number.isdigit() and (path, int(number)) not in places:
            places.append((path, int(number)))
    return DovecotFacts(version_tuple(version), settings, lines)


# --- certificates, keys, sockets, host -------------------------------------------------------

@dataclass
class FileFacts:
    """A certificate or private key a daemon names: facts about it, never its content."""

    path: str
    kind: str  # cert | key
    missing: bool = False
    mode: int | None = None
    owner: str = ""
    group: str = ""
    sha256: str = ""  # certificate fingerprint, AA:BB:.. upper case
    pubkey: str = ""  # sha256 of the DER public key (certificate's or key's)
    not_after: datetime | None = None
    subject: str = ""
    issuer: str = ""
    names: str = ""  # subjectAltName
    verified: bool | None = None  # the host's trust store accepts the chain in the file
    keyinfo: str = ""
    dkim: bool = False

    @property
    def self_signed(self) -> bool:
        return bool(self.subject) and self.subject == self.issuer


def _normal_fingerprint(text: str) -> str:
    return text.partition("=")[2].strip().upper()


def _files(lines: list[str]) -> dict[tuple[str, str], FileFacts]:
    files: dict[tuple[str, str], FileFacts] = {}
    current: FileFacts | None = None
    san_next = False
    for line in lines:
        if line.startswith("file "):
            _, kind, path = line.split(" ", 2)
            current = files.setdefault((kind, path), FileFacts(path, kind))
            continue
        if current is None:
            continue
        text = line.strip()
        if san_next:
            current.names, san_next = text, False
        elif text == "missing":
            current.missing = True
        elif text == "dkim":
            current.dkim = True
        elif text.startswith("stat="):
            mode, _, owner = text[5:].partition(" ")
            current.mode = int(mode, 8) if mode.isdigit() else None
            current.owner, _, current.group = owner.partition(" ")
        elif text.lower().startswith("sha256 fingerprint="):
            current.sha256 = _normal_fingerprint(text)
        elif text.startswith("notAfter="):
            current.not_after = _openssl_date(text.partition("=")[2])
        elif text.startswith("subject="):
            current.subject = text.partition("=")[2].strip()
        elif text.startswith("issuer="):
            current.issuer = text.partition("=")[2].strip()
        elif text.startswith("X509v3 Subject Alternative Name"):
            san_next = True
        elif text.startswith("pubkey="):
            digest = text[7:].strip()
            # sha256 of nothing: openssl could not read the file
            current.pubkey = "" if digest.startswith("e3b0c442") else digest
        elif text.startswith("verify="):
            current.verified = text == "verify=ok"
        elif text.startswith("keyinfo="):
            current.keyinfo = text[8:].strip()
    return files


def _openssl_date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class Socket:
    address: str
    port: int
    process: str  # the first process name ss shows (master, dovecot, ...), or ""


def _sockets(lines: list[str]) -> list[Socket]:
    found = []
    for line in lines:
        words = line.split()
        local = next((w for w in words[3:5] if ":" in w), None) if len(words) > 4 else None
        if local is None:
            continue
        address, _, port = local.rpartition(":")
        process = re.search(r'users:\(\("([^"]+)"', line)
        if port.isdigit():
            found.append(Socket(address.strip("[]"), int(port),
                                process.group(1) if process else ""))
    return found


def _served(lines: list[str]) -> dict[int, str | None]:
    served: dict[int, str | None] = {}
    for line in lines:
        port, _, rest = line.partition(" ")
        if port.isdigit():
            served[int(port)] = _normal_fingerprint(rest) if "=" in rest else None
    return served


def _schemes(lines: list[str]) -> dict[str, dict[str, int]]:
    """'FILE COUNT {SCHEME}$id$' -> {file: {scheme: count}} (no scheme: the passdb default)."""
    schemes: dict[str, dict[str, int]] = {}
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[1].isdigit():
            scheme = words[2] if len(words) > 2 else ""
            schemes.setdefault(words[0], {})[scheme] = int(words[1])
    return schemes


@dataclass
class HostFacts:
    postfix: PostfixFacts | None
    dovecot: DovecotFacts | None
    files: dict[tuple[str, str], FileFacts]
    sockets: list[Socket]
    served: dict[int, str | None]  # port -> fingerprint of the certificate served on 127.0.0.1
    password_schemes: dict[str, dict[str, int]]
    mailname: str
    resolvers: list[str]
    firewall: list[str]
    dkim_signers: list[str]
    collected_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def file(self, kind: str, path: str) -> FileFacts | None:
        return self.files.get((kind, path))

    def listening(self, port: int) -> list[Socket]:
        return [s for s in self.sockets if s.port == port]


def parse(output: str, mark: str) -> HostFacts:
    sections = split_sections(output, mark)
    return HostFacts(
        postfix=_postfix(sections),
        dovecot=_dovecot(sections),
        files=_files(sections.get("files", [])),
        sockets=_sockets(sections.get("sockets", [])),
        served=_served(sections.get("served", [])),
        password_schemes=_schemes(sections.get("password-schemes", [])),
        mailname="".join(sections.get("mailname", [])).strip(),
        resolvers=[r.strip() for r in sections.get("resolvers", []) if r.strip()],
        firewall=[f for f in sections.get("firewall", []) if f.strip()],
        dkim_signers=[s.split()[-1] for s in sections.get("dkim", []) if s.strip()],
    )
