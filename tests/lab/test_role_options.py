"""Role options that change what the host serves: optional services of the port contract
switched on and off from the inventory (IMAP on 143 with STARTTLS and LOGINDISABLED before TLS,
POP3S on 995), and postscreen in front of port 25."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from hostsuite.clients import IMAP, POP3S, SMTP, TIMEOUT, message
from hostsuite.conftest import LAB_CA
from postwright.contract import load_contract
from postwright.lab.network import routed_via_lab
from postwright.verify.portscan import scan
from tests.conftest import postwright
from tests.lab import playbook

pytestmark = pytest.mark.lab
IP, IP6, NAME = "198.51.100.10", "2001:db8::10", "mail.example.test"
USER = ("alice@example.test", "lab-only-Alice-2026")  # inventories/example/hosts.yml
PORTS = {name: s.port for name, s in load_contract().services.items()}


def converge(optional: list[str], **extra: object) -> str:
    return playbook.converge(limit="mx1", extra={"mail_optional_services": optional, **extra})


@pytest.fixture(scope="module")
def host(clean_lab: None) -> Iterator[None]:
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6)
    assert routed_via_lab(IP)
    assert routed_via_lab(IP6)
    converge(["imap", "pop3s"])
    yield
    postwright("lab", "down")


@pytest.fixture(scope="module")
def context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(LAB_CA))


def is_open(port: int) -> bool:
    """Whether the port answers; the firewall drops what is closed, so a timeout is closed."""
    return port in scan(IP, [port], timeout=2)


def test_imap_143_refuses_login_before_starttls(host: None, context: ssl.SSLContext) -> None:
    imap = IMAP(IP, PORTS["imap"], NAME)
    try:
        assert "LOGINDISABLED" in imap.capabilities
        assert "STARTTLS" in imap.capabilities
        with pytest.raises(IMAP.error):
            imap.login(*USER)
        imap.starttls(context)
        assert imap.login(*USER)[0] == "OK"
    finally:
        imap.logout()


def test_pop3s_995_accepts_a_login(host: None, context: ssl.SSLContext) -> None:
    pop = POP3S(IP, PORTS["pop3s"], NAME, context)
    try:
        pop.user(USER[0])
        assert pop.pass_(USER[1]).startswith(b"+OK")
    finally:
        pop.quit()


def test_services_not_switched_on_stay_closed(host: None) -> None:
    assert not is_open(PORTS["pop3"])
    assert not is_open(PORTS["sieve"])


def test_switching_them_off_closes_the_ports_again(host: None) -> None:
    assert is_open(PORTS["imap"])
    assert is_open(PORTS["pop3s"])
    recap = converge([])
    assert "failed=0" in recap
    assert not is_open(PORTS["imap"])
    assert not is_open(PORTS["pop3s"])


def test_postscreen_lets_a_patient_client_deliver_and_rejects_a_pregreeting_one(
    host: None, context: ssl.SSLContext
) -> None:
    converge([], postfix_postscreen=True)
    with SMTP(IP, PORTS["smtp"], NAME) as smtp:  # waits for the whole banner, as MTAs do
        smtp.starttls(context=context)
        smtp.send_message(message("someone@sender.example", USER[0], "through postscreen"))

    # postscreen remembers a client that passed; the bot comes from our other address family
    with socket.create_connection((IP6, PORTS["smtp"]), timeout=TIMEOUT) as raw:
        stream = raw.makefile("rwb")
        stream.write(b"EHLO bot.example\r\n")  # talks before the banner is complete
        stream.flush()
        replies = [_reply(stream)]
        if replies[0].startswith(b"220"):  # a complete banner first; postscreen may skip it
            replies.append(_reply(stream))
        for command in (b"MAIL FROM:<bot@sender.example>", f"RCPT TO:<{USER[0]}>".encode()):
            stream.write(command + b"\r\n")
            stream.flush()
            replies.append(_reply(stream))
    assert replies[-3].startswith(b"250"), replies  # EHLO answered by postscreen itself
    assert replies[-1].startswith(b"550"), replies  # RCPT refused: the bot never reaches smtpd


def _reply(stream: BinaryIO) -> bytes:
    """The last line of one (possibly multi-line) SMTP reply."""
    while True:
        line = stream.readline()
        if not line or line[3:4] != b"-":
            return line


def test_an_unsupported_release_stops_the_play_before_any_change(host: None) -> None:
    """A host that reports Debian 11 (its release files rewritten for the test): the play stops
    in the validation play, names what it found and what is supported, and changes nothing."""
    # The whole file is rewritten: Ansible takes the codename from PRETTY_NAME as well as from
    # VERSION_CODENAME, so editing one field leaves the host half Debian 12.
    bullseye = ('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\\nNAME="Debian GNU/Linux"\\n'
                'VERSION_ID="11"\\nVERSION="11 (bullseye)"\\nVERSION_CODENAME=bullseye\\n'
                'ID=debian\\n')
    fake = ("mv /etc/os-release /root/os-release.pw"
            " && cp /etc/debian_version /root/debian_version.pw"
            f" && printf '{bullseye}' > /etc/os-release"
            " && echo 11.11 > /etc/debian_version")
    restore = ("mv /root/os-release.pw /etc/os-release && "
               "mv /root/debian_version.pw /etc/debian_version")
    size = playbook.on_host("mx1", "postconf -h message_size_limit").strip()
    playbook.on_host("mx1", fake)
    try:
        done = playbook.run_site(limit="mx1", extra={"postfix_message_size_limit": 1048576})
    finally:
        playbook.on_host("mx1", restore)
    assert done.returncode != 0
    assert "runs Debian 11.11 (bullseye)" in done.stdout, done.stdout[-3000:]
    assert "Debian 12 and 13 (bookworm, trixie) only. Nothing was changed." in done.stdout
    assert "changed=0" in done.stdout.split("PLAY RECAP")[-1]
    assert playbook.on_host("mx1", "postconf -h message_size_limit").strip() == size


def test_a_configuration_postfix_refuses_never_replaces_the_running_one(host: None) -> None:
    """A misspelt parameter in the site's own settings: the play stops at the install step with
    Postfix's complaint, the live main.cf and master.cf and the running master are untouched;
    spelt right, the same setting is installed and in force."""
    live = ("sha256sum /etc/postfix/main.cf /etc/postfix/master.cf;"
            " cat /var/spool/postfix/pid/master.pid")
    before = playbook.on_host("mx1", live)
    done = playbook.run_site(limit="mx1", extra={
        "mail_optional_services": [], "postfix_postscreen": True,
        "postfix_main_extra": {"delay_warning_tim": "4h"}})
    assert done.returncode != 0
    assert "unused parameter: delay_warning_tim=4h" in done.stdout, done.stdout[-3000:]
    assert playbook.on_host("mx1", live) == before
    playbook.on_host("mx1", "postfix status")  # raises unless the master runs

    converge([], postfix_postscreen=True, postfix_main_extra={"delay_warning_time": "4h"})
    assert playbook.on_host("mx1", "postconf -h delay_warning_time").strip() == "4h"


def test_the_validator_refuses_a_parameter_set_twice(host: None) -> None:
    """Postfix itself would keep the last of the two lines without a word."""
    staged = "/var/lib/postwright/postfix-staged"
    twice = playbook.on_host("mx1", f"cp {staged}/main.cf /tmp/main.cf"
                             " && echo 'message_size_limit = 1' >> /tmp/main.cf"
                             f" && /usr/local/sbin/postwright-postfix-validate {staged} main.cf"
                             " /tmp/main.cf 2>&1; echo rc=$?")
    assert "main.cf would set these more than once: message_size_limit" in twice
    assert twice.strip().endswith("rc=1")
