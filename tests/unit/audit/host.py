"""A mail host as collect.sh would print it, built offline for the audit tests.

Stock hosts start from what Debian's own packages give (fixtures/<suite>/, made by
fixtures/make_fixtures.sh from the extracted .debs with their real postconf and doveconf);
role hosts from our templates rendered for the example inventory (tests/unit/render.py). The
tests then change the host the way an admin's hand would (a main.cf setting, a master.cf
service, a Dovecot line, a file mode) and judge what audit says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from postwright.audit.doveconf import flatten
from postwright.audit.facts import HostFacts, parse
from postwright.audit.registry import dovecot_params, postfix_params
from postwright.audit.run import judge
from postwright.contract import load_contract
from postwright.verify.model import Report
from tests.unit.test_postfix_templates import settings_of

FIXTURES = Path(__file__).parent / "fixtures"
MARK = "@@postwright-audit-test@@"
SUITE_OF = {"mx1": "bookworm", "mx2": "trixie"}  # inventories/example's lab_suite

LE = "/etc/letsencrypt/live/mail.example.test"
GOOD_CERT, GOOD_KEY = f"{LE}/fullchain.pem", f"{LE}/privkey.pem"
SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"
FP_GOOD = "AA:" * 31 + "01"
FP_OLD = "AA:" * 31 + "02"  # the certificate before the last renewal
FP_SNAKEOIL = "BB:" * 31 + "03"


def fixture(suite: str, name: str) -> str:
    return (FIXTURES / suite / name).read_text()


def master_lines(text: str) -> list[str]:
    """master.cf as `postconf -M` prints it: one line per service, -o options joined."""
    services: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and services:
            services[-1] += " " + " ".join(line.split())
        else:
            services.append(" ".join(line.split()))
    return services


def uncomment_service(text: str, name: str) -> str:
    """Switch on a service Debian's master.cf ships commented out, with its `-o` lines, as
    the admin of a first mail server does (its explanation comments stay comments)."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(rf"#{re.escape(name)}\s+inet\s", line):
            inside = True
            out.append(line[1:])
        elif inside and line.startswith("#  -o"):
            out.append(line[1:])
        elif inside and line.startswith("#  "):
            out.append(line)
        else:
            inside = False
            out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class CertFile:
    path: str
    sha256: str
    pubkey: str
    subject: str
    issuer: str
    verified: bool = True
    not_after: str = "Dec 31 12:00:00 2099 GMT"

    def block(self) -> list[str]:
        return [f"file cert {self.path}", "stat=644 root root",
                f"sha256 Fingerprint={self.sha256}", f"notAfter={self.not_after}",
                f"subject={self.subject}", f"issuer={self.issuer}",
                "X509v3 Subject Alternative Name: ", "    DNS:mail.example.test",
                f"pubkey={self.pubkey}", f"verify={'ok' if self.verified else 'failed'}"]


@dataclass
class KeyFile:
    path: str
    pubkey: str
    mode: str = "600"
    owner: str = "root"
    group: str = "root"
    dkim: bool = False

    def block(self) -> list[str]:
        return [f"file key {self.path}", f"stat={self.mode} {self.owner} {self.group}",
                f"pubkey={self.pubkey}", "keyinfo=Public-Key: (2048 bit)",
                *(["dkim"] if self.dkim else [])]


SNAKEOIL = CertFile(SNAKEOIL_CERT, FP_SNAKEOIL, "5a" * 32, "CN = debian", "CN = debian",
                    verified=False)
SNAKEOIL_KEYFILE = KeyFile(SNAKEOIL_KEY, "5a" * 32, mode="640", group="ssl-cert")


@dataclass
class Host:
    suite: str
    main: dict[str, str]  # main.cf as written (postconf -n)
    master: str  # master.cf text
    dovecot_n: list[str]  # doveconf -n
    dovecot: dict[str, str]  # effective top-level Dovecot settings the rules read
    dovecot_lines: list[str]  # FILE:LINE:NAME
    certs: dict[str, CertFile] = field(default_factory=dict)
    keys: dict[str, KeyFile] = field(default_factory=dict)
    served: dict[int, str | None] = field(default_factory=dict)
    ports: dict[int, str] = field(default_factory=dict)  # port -> listening process
    mailname: str = "mail.example.test"
    resolvers: tuple[str, ...] = ("198.51.100.53",)
    firewall: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()

    @property
    def dialect(self) -> str:
        return "2.3" if self.suite == "bookworm" else "2.4"

    # --- what an admin changes -------------------------------------------------------------

    def postconf_e(self, **settings: str) -> Host:
        self.main.update(settings)
        return self

    def dovecot_set(self, name: str, value: str) -> Host:
        """A Dovecot setting changed where it is written now."""
        self.dovecot[name] = value
        return self

    def serve_everywhere(self, fingerprint: str | None, daemon: str | None = None) -> Host:
        for service in load_contract().services.values():
            if service.port in self.ports and daemon in (None, service.daemon):
                self.served[service.port] = fingerprint
        return self

    # --- what collect.sh would print --------------------------------------------------------

    def _postconf_effective(self) -> list[str]:
        values = {**settings_of(fixture(self.suite, "postconf-defaults.txt")), **self.main}
        return [f"{name} = {values.get(name, '')}" for name in postfix_params()]

    def _doveconf_effective(self) -> list[str]:
        lines = [f"{name} = {self.dovecot[name]}" for name in dovecot_params()
                 if name in self.dovecot and not name.startswith("ssl_server")]
        if self.dialect == "2.4":
            lines += ["ssl_server {", f"  cert_file = {self.dovecot['ssl_server_cert_file']}",
                      f"  key_file = {self.dovecot['ssl_server_key_file']}", "}"]
        else:
            lines.append(f"ssl_key = {self.dovecot['ssl_key']}")
        return lines

    def _files(self) -> list[str]:
        lines: list[str] = []
        for cert in self.certs.values():
            lines += cert.block()
        for key in self.keys.values():
            lines += key.block()
        return lines

    def output(self) -> str:
        main_cf = [f"main.cf:{n}:{name}" for n, name in enumerate(self.main, start=20)]
        sections = {
            "version": ["1"],
            "postconf-version": [fixture(self.suite, "versions.txt").splitlines()[0]],
            "postconf-n": [f"{k} = {v}" for k, v in sorted(self.main.items())],
            "postconf-effective": self._postconf_effective(),
            "postconf-M": master_lines(self.master),
            "postconf-lines": [*main_cf, "config_directory=/etc/postfix"],
            "dovecot-version": [fixture(self.suite, "versions.txt").splitlines()[1]],
            "doveconf-n": self.dovecot_n,
            "doveconf-effective": self._doveconf_effective(),
            "dovecot-lines": self.dovecot_lines,
            "password-schemes": list(self.schemes),
            "files": self._files(),
            "dkim": [f"signer {s}" for s in self.signers],
            "sockets": [f"LISTEN 0 100 0.0.0.0:{port} 0.0.0.0:* users:((\"{proc}\",pid=1,fd=3))"
                        for port, proc in sorted(self.ports.items())],
            "served": [f"{port} {'sha256 Fingerprint=' + fp if fp else 'none'}"
                       for port, fp in sorted(self.served.items())],
            "mailname": [self.mailname],
            "resolvers": list(self.resolvers),
            "firewall": list(self.firewall),
            "end": [],
        }
        return "\n".join(f"{MARK} {name}\n" + "\n".join(lines)
                         for name, lines in sections.items()) + "\n"

    def facts(self) -> HostFacts:
        return parse(self.output(), MARK)

    def audit(self) -> Report:
        return judge(self.facts(), f"{self.suite} test host")


def _contract_ports() -> dict[int, str]:
    return {s.port: "master" if s.daemon == "postfix" else "dovecot"
            for s in load_contract().enabled_services()}


def stock(suite: str) -> Host:
    """Debian's postfix + dovecot-imapd as installed ("Internet Site", mail.example.test),
    nothing edited: only port 25 of Postfix, and IMAP on 143 and 993."""
    main = settings_of(fixture(suite, "main.cf"))
    dovecot_n = fixture(suite, "doveconf-n.txt").splitlines()
    effective = flatten(fixture(suite, "doveconf-defaults.txt").splitlines())
    if suite == "bookworm":
        effective["ssl_key"] = "</etc/dovecot/private/dovecot.key"
    cert = "/etc/dovecot/private/dovecot.pem"
    key = "/etc/dovecot/private/dovecot.key"
    host = Host(suite, main, fixture(suite, "master.cf"), dovecot_n, effective,
                fixture(suite, "dovecot-lines.txt").splitlines(),
                certs={SNAKEOIL_CERT: SNAKEOIL, cert: CertFile(cert, *_snakeoil_rest())},
                keys={SNAKEOIL_KEY: SNAKEOIL_KEYFILE,
                      key: KeyFile(key, SNAKEOIL_KEYFILE.pubkey, "640", "root", "ssl-cert")},
                ports={25: "master", 143: "dovecot", 993: "dovecot"})
    return host.serve_everywhere(FP_SNAKEOIL)


def _snakeoil_rest() -> tuple[str, str, str, str, bool]:
    return (SNAKEOIL.sha256, SNAKEOIL.pubkey, SNAKEOIL.subject, SNAKEOIL.issuer, False)


def hand_built(suite: str) -> Host:
    """The stock host configured by hand the right way, the way Debian's files invite:
    submission and submissions switched on with the -o lines master.cf ships for them, SASL
    through Dovecot, a CA-issued certificate for both daemons, TLS 1.2+, smuggling settings,
    `ssl = required`. Audit must find nothing that fails here (the baseline of the mistakes)."""
    host = stock(suite)
    master = uncomment_service(host.master, "submission")
    host.master = uncomment_service(master, "submissions")
    host.postconf_e(smtpd_tls_cert_file=GOOD_CERT, smtpd_tls_key_file=GOOD_KEY,
                    smtpd_tls_auth_only="yes", smtpd_tls_protocols=">=TLSv1.2",
                    smtpd_tls_mandatory_protocols=">=TLSv1.2", smtpd_sasl_type="dovecot",
                    smtpd_sasl_path="private/auth", smtpd_forbid_bare_newline="normalize",
                    smtpd_forbid_unauth_pipelining="yes")
    host.dovecot_set("ssl", "required")
    if host.dialect == "2.3":
        host.dovecot_set("ssl_cert", f"<{GOOD_CERT}").dovecot_set("ssl_key", f"<{GOOD_KEY}")
    else:
        host.dovecot_set("ssl_server_cert_file", GOOD_CERT)
        host.dovecot_set("ssl_server_key_file", GOOD_KEY)
    host.certs = {GOOD_CERT: CertFile(GOOD_CERT, FP_GOOD, "7c" * 32, "CN = mail.example.test",
                                      "C = US, O = Let's Encrypt, CN = R11")}
    host.keys = {GOOD_KEY: KeyFile(GOOD_KEY, "7c" * 32)}
    host.ports = {**host.ports, **_contract_ports()}
    return host.serve_everywhere(FP_GOOD)


def rendered(inventory_host: str) -> Host:
    """A host our roles provisioned: main.cf, master.cf and dovecot.conf as the roles render
    them for the example inventory, on the Debian release the inventory gives the host."""
    from tests.unit.render import RenderedHost
    from tests.unit.test_postfix_templates import render

    suite = SUITE_OF[inventory_host]
    main = settings_of(render(inventory_host, "main.cf.j2"))
    dialect = "2.3" if suite == "bookworm" else "2.4"
    conf = RenderedHost(inventory_host).render("dovecot", f"{dialect}/dovecot.conf.j2")
    conf_lines = conf.splitlines()
    top = flatten(conf_lines)
    effective = flatten(fixture(suite, "doveconf-defaults.txt").splitlines())
    effective.update({k: v for k, v in top.items() if "/" not in k})
    names = set(dovecot_params()) | {"ssl_cert", "ssl_key", "ssl_server_cert_file",
                                     "ssl_server_key_file"}
    lines = [f"/etc/dovecot/dovecot.conf:{n}:{line.split('=')[0].strip()}"
             for n, line in enumerate(conf_lines, start=1)
             if "=" in line and line.split("=")[0].strip() in names]
    cert, key = main["smtpd_tls_cert_file"], main["smtpd_tls_key_file"]
    users = next(v for k, v in top.items() if k.endswith(("passwd_file_path", "args")))
    # the firewall role's ruleset, as collect.sh's summary of `nft list ruleset` keeps it
    ruleset = RenderedHost(inventory_host).render("firewall", "nftables.conf.j2")
    firewall = tuple(line.strip() for line in ruleset.splitlines()
                     if re.search(r"hook input|policy|dport", line))
    host = Host(suite, main, render(inventory_host, "master.cf.j2"), conf_lines, effective,
                lines, certs={cert: CertFile(cert, FP_GOOD, "7c" * 32,
                                             "CN = mail.example.test",
                                             "CN = Postwright lab CA")},
                keys={key: KeyFile(key, "7c" * 32),
                      "/etc/opendkim/keys/example.test/mail.private": KeyFile(
                          "/etc/opendkim/keys/example.test/mail.private", "d1" * 32,
                          owner="opendkim", group="opendkim", dkim=True)},
                ports=_contract_ports(), resolvers=("127.0.0.1",), firewall=firewall,
                schemes=(f"{users.split()[-1]} 2 {{SHA512-CRYPT}}$6$",),
                signers=("opendkim",))
    return host.serve_everywhere(FP_GOOD)
