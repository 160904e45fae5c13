"""On-host facts of a provisioned mail host, checked against the port contract."""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

import pytest

from hostsuite.clients import tls_handshake
from hostsuite.conftest import MailHost
from postwright.contract import AuthRule, Contract, Service, TlsMode


@pytest.mark.parametrize("unit", ["postfix.service", "dovecot.service"])
def test_mail_services_are_running_and_enabled(host: Any, unit: str) -> None:
    assert host.service(unit).is_enabled
    assert host.service(unit).is_running


def test_the_postfix_master_runs(host: Any) -> None:
    """Debian 12 runs the master in postfix@-.service behind a oneshot postfix.service, which
    stays active when the master dies; `postfix status` asks the master itself."""
    assert host.run("postfix status").rc == 0


def test_every_enabled_port_listens_on_ipv4_and_ipv6(host: Any, enabled: list[Service]) -> None:
    for service in enabled:
        for spec in (f"tcp://0.0.0.0:{service.port}", f"tcp://:::{service.port}"):
            assert host.socket(spec).is_listening, f"{service.name} not listening on {spec}"


def test_disabled_ports_do_not_listen(host: Any, contract: Contract,
                                      enabled: list[Service]) -> None:
    listening = {int(s.rsplit(":", 1)[1]) for s in host.socket.get_listening_sockets()
                 if s.startswith("tcp://")}
    for service in set(contract.services.values()) - set(enabled):
        assert service.port not in listening, f"{service.name} ({service.port}) should be off"


def test_private_key_is_root_only(host: Any) -> None:
    key = host.file(host.check_output("postconf -h smtpd_tls_key_file"))
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_password_file_holds_hashes_only(host: Any, mail: MailHost) -> None:
    users = host.file("/etc/dovecot/users")
    assert (users.user, users.group, users.mode) == ("root", "dovecot", 0o640)
    content = host.check_output("cat /etc/dovecot/users")
    for address, password in (mail.user(i) for i in range(len(mail.users))):
        assert f"{address}:{{SHA512-CRYPT}}$6$" in content
        assert password not in content


def _settings(output: str) -> dict[str, str]:
    """`key = value` lines (postconf, doveconf) as a dict."""
    pairs = (line.split(" = ", 1) for line in output.splitlines() if " = " in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_postfix_tls_floor_matches_the_contract(host: Any, contract: Contract) -> None:
    main_cf = _settings(host.check_output(
        "postconf smtpd_tls_protocols smtpd_tls_mandatory_protocols smtpd_sasl_auth_enable "
        "smtpd_tls_auth_only && postfix check && echo check = ok"))
    assert main_cf["smtpd_tls_protocols"] == f">={contract.min_protocol}"
    assert main_cf["smtpd_tls_mandatory_protocols"] == f">={contract.min_protocol}"
    assert main_cf["smtpd_sasl_auth_enable"] == "no"  # never AUTH unless a port turns it on
    assert main_cf["smtpd_tls_auth_only"] == "yes"
    assert main_cf["check"] == "ok"


def test_postfix_listeners_follow_the_contract(host: Any, enabled: list[Service]) -> None:
    master_cf = _settings(host.check_output("postconf -P"))
    main_cf = _settings(host.check_output("postconf smtpd_tls_wrappermode "
                                          "smtpd_tls_security_level smtpd_sasl_auth_enable"))
    for service in (s for s in enabled if s.daemon == "postfix"):
        def param(name: str, port: int = service.port) -> str:
            return master_cf.get(f"{port}/inet/{name}", main_cf[name])

        assert (param("smtpd_tls_wrappermode") == "yes") == (service.tls is TlsMode.IMPLICIT)
        assert param("smtpd_tls_security_level") == (
            "encrypt" if service.tls_required else "may"), service.name
        assert param("smtpd_sasl_auth_enable") == (
            "yes" if service.auth is AuthRule.REQUIRED else "no"), service.name


def test_dovecot_tls_and_auth_policy(host: Any, contract: Contract) -> None:
    # Dovecot 2.4 (Debian 13) replaced disable_plaintext_auth = yes by auth_allow_cleartext = no
    no_cleartext = (("disable_plaintext_auth", "yes")
                    if host.check_output("dovecot --version").startswith("2.3.")
                    else ("auth_allow_cleartext", "no"))
    dovecot = _settings(host.check_output(f"doveconf ssl ssl_min_protocol {no_cleartext[0]}"))
    assert dovecot == {"ssl": "required", "ssl_min_protocol": contract.min_protocol,
                       no_cleartext[0]: no_cleartext[1]}


def test_served_certificate_equals_the_file_on_disk(
    host: Any, mail: MailHost, enabled: list[Service], tls_context: ssl.SSLContext
) -> None:
    """Catches "renewed but not reloaded": every TLS port, every address, serves the file."""
    cert_file = host.check_output("postconf -h smtpd_tls_cert_file")
    pem = host.check_output(f"openssl x509 -in {cert_file}")
    on_disk = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem + "\n")).hexdigest()
    for ip in mail.addresses:
        for service in enabled:
            with tls_handshake(ip, service, mail.name, tls_context) as tls:
                der = tls.getpeercert(binary_form=True)
            assert der is not None
            served = hashlib.sha256(der).hexdigest()
            assert served == on_disk, f"{service.name} on {ip} serves another certificate"
