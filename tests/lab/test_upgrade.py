"""The upgrade users fear most, walked on a real host as docs/upgrade-debian13.md tells it: a
Debian 12 mail host provisioned and holding mail is dist-upgraded to Debian 13 (Postfix 3.7 ->
3.10, Dovecot 2.3 -> 2.4, whose configuration language is incompatible), rebooted, and
re-converged with the same inventory. Every message is still there, users log in with their old
passwords, the DKIM key and its DNS record are unchanged, `postwright verify` passes and a second
converge changes nothing. Slow (the upgrade downloads Debian 13 through the lab's apt proxy)."""

from __future__ import annotations

import hashlib
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from hostsuite.clients import IMAPS, SMTP, message
from hostsuite.conftest import LAB_CA
from postwright.lab.network import routed_via_lab
from tests.conftest import REPO, postwright
from tests.lab import playbook
from tests.lab.playbook import EXAMPLE_HOSTS, on_host

pytestmark = [pytest.mark.lab, pytest.mark.slow]
MX1 = EXAMPLE_HOSTS["mx1"]
IP, IP6, NAME = MX1["mail_ipv4"], MX1["mail_ipv6"], MX1["mail_hostname"]
USERS = [(u["address"], u["password"]) for u in MX1["mail_users"]]
LAB_DNS = "198.51.100.53"
DKIM_KEY = "/etc/opendkim/keys/example.test/mail.private"
UPGRADE_SCRIPT = REPO / "docs" / "upgrade-debian13.sh"


@pytest.fixture(scope="module")
def context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(LAB_CA))


def deliver(context: ssl.SSLContext) -> dict[str, str]:
    """One message to each user, submitted as the first; returns subject by recipient."""
    subjects = {}
    with SMTP(IP, 587, NAME) as smtp:
        smtp.starttls(context=context)
        smtp.login(*USERS[0])
        for address, _ in USERS:
            subjects[address] = f"before the upgrade {uuid.uuid4().hex}"
            smtp.send_message(message(USERS[0][0], address, subjects[address]))
    return subjects


def inbox_subjects(user: tuple[str, str], context: ssl.SSLContext) -> set[str]:
    imap = IMAPS(IP, 993, NAME, context)
    try:
        imap.login(*user)
        imap.select("INBOX", readonly=True)
        found = imap.search(None, "ALL")[1][0].split()
        subjects = set()
        for number in found:
            data = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0]
            assert isinstance(data, tuple)
            subjects.add(data[1].decode().split(":", 1)[1].strip())
        return subjects
    finally:
        imap.logout()


def dkim_record() -> str:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    answer = resolver.resolve("mail._domainkey.example.test", "TXT", lifetime=5)
    return "".join(b"".join(r.strings).decode() for r in answer)


def wait_for_mail(subjects: dict[str, str], context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 30
    for address, password in USERS:
        while subjects[address] not in inbox_subjects((address, password), context):
            assert time.monotonic() < deadline, f"{subjects[address]} did not reach {address}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def before(clean_lab: None, context: ssl.SSLContext) -> Iterator[dict[str, object]]:
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6, "--suite", "bookworm")
    assert routed_via_lab(IP)
    assert routed_via_lab(IP6)
    playbook.converge(limit="mx1")
    assert on_host("mx1", "dpkg-query -W -f '${Version}' dovecot-core").startswith("1:2.3.")
    subjects = deliver(context)
    wait_for_mail(subjects, context)
    yield {
        "subjects": subjects,
        "dkim_key": hashlib.sha256(on_host("mx1", f"cat {DKIM_KEY}").encode()).hexdigest(),
        "dkim_record": dkim_record(),
    }
    postwright("lab", "down")


@pytest.fixture(scope="module")
def upgraded(before: dict[str, object]) -> str:
    """The documented procedure: dist-upgrade, reboot, converge with the same inventory."""
    script = UPGRADE_SCRIPT.read_text()
    on_host("mx1", f"cat > /root/upgrade-debian13.sh <<'EOF'\n{script}\nEOF")
    postwright("lab", "shell", "mx1", "--", "sh", "/root/upgrade-debian13.sh", timeout=1500)
    postwright("lab", "reboot", "mx1")
    return playbook.converge(limit="mx1")


def test_the_host_runs_debian_13_with_dovecot_2_4_and_postfix_3_10(upgraded: str) -> None:
    assert on_host("mx1", "cut -d. -f1 /etc/debian_version").strip() == "13"
    assert on_host("mx1", "dpkg-query -W -f '${Version}' dovecot-core").startswith("1:2.4.")
    assert on_host("mx1", "postconf -h mail_version").startswith("3.10.")
    first_setting = on_host("mx1", "grep -v -e '^#' -e '^$' /etc/dovecot/dovecot.conf | head -1")
    assert first_setting.startswith("dovecot_config_version")


def test_every_message_is_still_readable_with_the_old_passwords(
    before: dict[str, object], upgraded: str, context: ssl.SSLContext
) -> None:
    subjects = before["subjects"]
    assert isinstance(subjects, dict)
    for address, password in USERS:
        assert subjects[address] in inbox_subjects((address, password), context)


def test_mail_still_flows_after_the_upgrade(upgraded: str, context: ssl.SSLContext) -> None:
    subjects = deliver(context)
    wait_for_mail(subjects, context)


def test_the_dkim_key_and_its_record_are_unchanged(before: dict[str, object],
                                                   upgraded: str) -> None:
    key = hashlib.sha256(on_host("mx1", f"cat {DKIM_KEY}").encode()).hexdigest()
    assert key == before["dkim_key"]
    assert dkim_record() == before["dkim_record"]


def test_verify_passes_on_the_upgraded_host(upgraded: str, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text(USERS[0][1])
    done = postwright("verify", NAME, "--resolver", LAB_DNS, "--ca-file", str(LAB_CA),
                      "--dkim-selector", "mail", "--user", USERS[0][0],
                      "--password-file", str(password), check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_a_second_converge_changes_nothing(upgraded: str) -> None:
    recap = playbook.converge(limit="mx1").split("PLAY RECAP")[-1]
    assert "changed=0" in recap, recap
