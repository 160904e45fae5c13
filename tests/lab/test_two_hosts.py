"""Two full mail hosts from inventories/example: mx1 (example.test) and mx2 (example.net), the lab
DNS serving both domains. Mail submitted on one is delivered to the other over port 25 with
STARTTLS, DKIM-signed (the signature verifies against the record the lab DNS serves) and SPF-
checked by the receiver; the firewall leaves exactly the contract's ports reachable; and with a
smarthost set, mx1 relays through mx2 on 465 (implicit TLS) and on 587 (STARTTLS)."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import dkim
import dns.resolver
import pytest

from hostsuite.clients import IMAPS, SMTP, message
from hostsuite.conftest import LAB_CA
from postwright.contract import load_contract
from postwright.lab.network import routed_via_lab
from postwright.verify.portscan import COMMON_PORTS, scan
from tests.conftest import postwright
from tests.lab.playbook import EXAMPLE_HOSTS, converge, host_vars_inventory, on_host

pytestmark = pytest.mark.lab
LAB_DNS = "198.51.100.53"


@dataclass(frozen=True)
class Host:
    """A lab mail host as inventories/example/hosts.yml defines it."""

    ipv4: str
    ipv6: str
    name: str
    user: tuple[str, str]
    suite: str

    @property
    def domain(self) -> str:
        return self.user[0].split("@")[1]


HOSTS = {
    name: Host(v["mail_ipv4"], v["mail_ipv6"], v["mail_hostname"],
               (v["mail_users"][0]["address"], v["mail_users"][0]["password"]), v["lab_suite"])
    for name, v in EXAMPLE_HOSTS.items()
}
CONTRACT = load_contract()
CONTRACT_PORTS = {s.port for s in CONTRACT.enabled_services([])}
# A smarthost account on mx2 that may send for mx1's domain (inventory `send_as`).
RELAY_USER = ("relay@example.net", "lab-only-Relay-2026")


@pytest.fixture(scope="module")
def lab(clean_lab: None) -> Iterator[None]:
    for name, host in HOSTS.items():
        postwright("lab", "up", name, "--ipv4", host.ipv4, "--ipv6", host.ipv6,
                   "--suite", host.suite, "--dns-zone", "example.test", "--dns-zone", "example.net")
    for host in HOSTS.values():
        for ip in (host.ipv4, host.ipv6):
            assert routed_via_lab(ip), ip
    converge(limit="mx1,mx2")
    yield
    postwright("lab", "down")


@pytest.fixture(scope="module")
def context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(LAB_CA))


def submit(sender_host: str, recipient: str, context: ssl.SSLContext, port: int = 587) -> str:
    """Submit a message as the sender host's first user over STARTTLS; returns its subject."""
    host = HOSTS[sender_host]
    subject = f"two-host {uuid.uuid4().hex}"
    with SMTP(host.ipv4, port, host.name) as smtp:
        smtp.starttls(context=context)
        smtp.login(*host.user)
        smtp.send_message(message(host.user[0], recipient, subject))
    return subject


def receive(host_name: str, user: tuple[str, str], subject: str, context: ssl.SSLContext,
            wait: float = 20) -> bytes:
    """The raw message with `subject` in the user's INBOX, read over IMAPS."""
    host = HOSTS[host_name]
    deadline = time.monotonic() + wait
    while True:
        imap = IMAPS(host.ipv4, 993, host.name, context)
        try:
            imap.login(*user)
            imap.select("INBOX")
            found = imap.search(None, "SUBJECT", f'"{subject}"')[1][0].split()
            if found:
                data = imap.fetch(found[-1], "(RFC822)")[1][0]
                assert isinstance(data, tuple)
                return bytes(data[1])
        finally:
            imap.logout()
        assert time.monotonic() < deadline, f"{subject!r} did not reach {user[0]} in {wait} s"
        time.sleep(0.3)


def lab_txt(name: bytes, timeout: float = 5) -> bytes:
    """dkimpy's DNS lookup, answered by the lab DNS server only."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(record.strings) for record in answer)


def headers(raw: bytes, name: str) -> list[str]:
    parsed: Message = message_from_bytes(raw)
    return [" ".join(str(value).split()) for value in parsed.get_all(name, [])]


@pytest.mark.parametrize(("sender", "receiver"), [("mx1", "mx2"), ("mx2", "mx1")])
def test_mail_crosses_between_the_hosts_signed_and_spf_checked(
    lab: None, context: ssl.SSLContext, sender: str, receiver: str
) -> None:
    recipient = HOSTS[receiver].user
    subject = submit(sender, recipient[0], context)
    raw = receive(receiver, recipient, subject, context)

    # delivered MX to MX over port 25 with STARTTLS (IPv4 or IPv6: Postfix picks), as the
    # receiver's Received header and the sender's log say
    source, target = HOSTS[sender], HOSTS[receiver]
    hop = next(r for r in headers(raw, "Received") if r.startswith(f"from {source.name} "))
    assert f"[{source.ipv4}]" in hop or f"[IPv6:{source.ipv6}]" in hop, hop
    assert "with ESMTPS" in hop
    assert "using TLSv1." in hop
    log = on_host(sender, "grep ' status=sent' /var/log/mail.log")
    assert f"relay={target.name}[{target.ipv4}]:25," in log \
        or f"relay={target.name}[{target.ipv6}]:25," in log, log

    # DKIM: signed for the sender's domain, and the signature verifies against the lab DNS
    domain = HOSTS[sender].domain
    signature = headers(raw, "DKIM-Signature")
    assert len(signature) == 1
    assert f"d={domain};" in signature[0]
    assert "s=mail;" in signature[0]
    assert dkim.verify(raw, dnsfunc=lab_txt)

    # SPF: the receiving host checked the sender's SPF record and it passed
    spf = headers(raw, "Received-SPF")
    assert len(spf) == 1, spf
    assert spf[0].startswith("Pass (mailfrom)"), spf
    assert f"client-ip={source.ipv4};" in spf[0] or f"client-ip={source.ipv6};" in spf[0]


def test_the_host_s_own_mail_leaves_signed_and_its_bounces_pass_spf(
        lab: None, context: ssl.SSLContext) -> None:
    """A message written on mx1 the way Postfix writes a bounce (null sender, From:
    MAILER-DAEMON@ the host name): mx2 receives it DKIM-signed for mx1's domain, and the SPF
    check of mx1's HELO name (the identity a bounce has) passes."""
    source, recipient = HOSTS["mx1"], HOSTS["mx2"].user
    subject = f"two-host bounce {uuid.uuid4().hex}"
    on_host("mx1", f"printf 'From: MAILER-DAEMON@{source.name}\\nTo: {recipient[0]}\\n"
                   f"Subject: {subject}\\n\\nundeliverable\\n'"
                   f" | /usr/sbin/sendmail -f '<>' {recipient[0]}")
    raw = receive("mx2", recipient, subject, context)
    signature = headers(raw, "DKIM-Signature")
    assert len(signature) == 1, signature
    assert f"d={source.domain};" in signature[0]
    assert dkim.verify(raw, dnsfunc=lab_txt)
    spf = headers(raw, "Received-SPF")
    assert len(spf) == 1, spf
    assert spf[0].startswith("Pass"), spf
    assert "identity=helo;" in spf[0], spf
    assert f"helo={source.name};" in spf[0], spf


def test_a_tampered_message_fails_dkim(lab: None, context: ssl.SSLContext) -> None:
    """The verification above can fail: the same message with its body changed does not verify."""
    subject = submit("mx1", HOSTS["mx2"].user[0], context)
    raw = receive("mx2", HOSTS["mx2"].user, subject, context)
    assert dkim.verify(raw, dnsfunc=lab_txt)
    assert not dkim.verify(raw.replace(subject.encode() + b"\r\n", b"changed\r\n"),
                           dnsfunc=lab_txt)


def test_dkim_private_keys_stay_on_the_host_and_are_0600(lab: None) -> None:
    for name, host in HOSTS.items():
        domain = host.domain
        stat = on_host(name, f"stat -c '%a %U %s' /etc/opendkim/keys/{domain}/mail.private")
        mode, owner, size = stat.split()
        assert (mode, owner) == ("600", "opendkim")
        assert int(size) > 1600
        key = f"/etc/opendkim/keys/{domain}/mail.private"
        bits = on_host(name, f"openssl rsa -noout -text -in {key} | head -1")
        assert "2048 bit" in bits


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_exactly_the_contract_ports_answer_from_outside(lab: None, family: str) -> None:
    for name, host in HOSTS.items():
        answering = scan(getattr(host, family), COMMON_PORTS, timeout=1.5)
        listening_ssh = {22} if ":22 " in on_host(name, "ss -Hltn", check=False) else set()
        assert answering == CONTRACT_PORTS | listening_ssh, (name, family)


def test_a_listener_outside_the_contract_is_dropped(lab: None) -> None:
    """A daemon listening on a port the contract does not name answers on the host itself, but
    the firewall drops it from the network (no answer at all, not even a refusal)."""
    on_host("mx1", "systemd-run --unit=pw-stray --property=Type=exec "
                   "python3 -m http.server 8080 --bind ::")
    try:
        inside = on_host("mx1", "for i in $(seq 50); do ss -Hltn 'sport = 8080' | grep -q . "
                                "&& break; sleep 0.1; done; python3 -c \"import socket; "
                                "socket.create_connection(('198.51.100.10', 8080), 2); "
                                "print('inside: open')\"")
        assert "inside: open" in inside
        for ip in (HOSTS["mx1"].ipv4, HOSTS["mx1"].ipv6):
            assert scan(ip, [8080], timeout=2) == set()
    finally:
        on_host("mx1", "systemctl stop pw-stray", check=False)


def test_the_rules_are_persisted_and_loaded_at_boot(lab: None) -> None:
    rules = on_host("mx1", "cat /etc/nftables.conf")
    assert "policy drop;" in rules
    assert on_host("mx1", "systemctl is-enabled nftables").strip() == "enabled"
    active = on_host("mx1", "nft list table inet postwright")
    for port in CONTRACT_PORTS:
        assert f"tcp dport {port} accept" in active


@pytest.fixture(scope="module")
def smarthost_inventory(lab: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mx2 gets a smarthost account allowed to send as @example.test (and keeps its users)."""
    mx2 = EXAMPLE_HOSTS["mx2"]
    mx2_users = [*mx2["mail_users"], {"address": RELAY_USER[0], "password": RELAY_USER[1],
                                      "send_as": ["@example.test"]}]
    path = host_vars_inventory(tmp_path_factory.mktemp("relay") / "relay.yml",
                               {"mx2": {"mail_users": mx2_users}})
    converge(limit="mx2", inventories=[path])
    return path


@pytest.mark.parametrize(("port", "mode"), [(465, "implicit TLS"), (587, "STARTTLS")])
def test_outbound_mail_goes_through_the_smarthost(
    smarthost_inventory: Path, context: ssl.SSLContext, tmp_path: Path, port: int, mode: str
) -> None:
    relay = {"host": "mail.example.net", "port": port,
             "username": RELAY_USER[0], "password": RELAY_USER[1]}
    mx1 = host_vars_inventory(tmp_path / "mx1.yml", {"mx1": {"postfix_relayhost": relay}})
    output = converge(limit="mx1", inventories=[smarthost_inventory, mx1])
    assert RELAY_USER[1] not in output  # no_log: the relay password is never printed
    main_cf = on_host("mx1", "postconf -h relayhost smtp_tls_wrappermode smtp_tls_security_level")
    assert main_cf.split() == [f"[mail.example.net]:{port}", "yes" if port == 465 else "no",
                               "secure"], mode
    assert on_host("mx1", "stat -c %a /etc/postfix/sasl_passwords").strip() == "600"

    subject = submit("mx1", HOSTS["mx2"].user[0], context)
    raw = receive("mx2", HOSTS["mx2"].user, subject, context)
    # Taken as submitted mail: mx2's submission cleanup dropped mx1's hop (the MX route over
    # port 25 would have left it, "with ESMTPS"); mx2's log below names the login.
    hops = [r for r in headers(raw, "Received") if r.startswith("from mail.example.test ")]
    assert hops == [], hops
    # either address family of the smarthost, but always this port
    sent = on_host("mx1", f"grep -E 'relay=mail.example.net\\[[0-9a-f.:]+\\]:{port},' "
                          "/var/log/mail.log | grep -c status=sent")
    assert int(sent) >= 1
    verified = on_host("mx1", "grep -cE 'Verified TLS connection established to "
                              f"mail.example.net\\[[0-9a-f.:]+\\]:{port}' /var/log/mail.log")
    assert int(verified) >= 1
    service = "submissions" if port == 465 else "submission"
    accepted = on_host("mx2", f"grep 'postfix/{service}/smtpd' /var/log/mail.log "
                              f"| grep -c 'sasl_username={RELAY_USER[0]}'")
    assert int(accepted) >= 1
