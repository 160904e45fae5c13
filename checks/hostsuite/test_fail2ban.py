"""fail2ban on a host we own: a client that keeps failing to log in loses every public port, on
IPv4 and IPv6, until its ban ends; the management address and other clients keep working.

The failing clients connect from the lab's outside-client addresses (OUTSIDE_CLIENTS). The
controller's own addresses are the hosts' management addresses, which the inventory exempts; the
test fails logins from one of them as often as from an attacker and expects no ban.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from hostsuite.clients import IMAPS, SMTP, SMTPS, message
from hostsuite.conftest import MailHost
from postwright.contract import Service
from postwright.lab.plan import CONTROLLER4, CONTROLLER6, OUTSIDE_CLIENTS

WRONG = "not-the-password"
SSH_PORT = 22  # the firewall's default, which the example inventory keeps


@dataclass(frozen=True)
class Client:
    """Who fails logins on which service, and which jail should notice."""

    jail: str
    service: str
    source: str

    def target(self, mail: MailHost) -> str:
        """The host's address in the client's family."""
        ip = mail.ipv6 if ":" in self.source else mail.ipv4
        assert ip, f"{mail.name} has no address in the family of {self.source}"
        return ip


def login(mail: MailHost, client: Client, context: ssl.SSLContext, password: str) -> None:
    """One login from the client's address with one mechanism (smtplib's login() would try
    PLAIN, then LOGIN: two failures); raises the client library's error when refused."""
    address, _ = mail.user()
    ip = client.target(mail)
    if client.service == "imaps":
        imap = IMAPS(ip, 993, mail.name, context, source=client.source)
        try:
            imap.login(address, password)
        finally:
            imap.logout()
        return
    smtp: smtplib.SMTP
    if client.service == "submissions":
        smtp = SMTPS(ip, 465, mail.name, context, source=client.source)
    else:
        smtp = SMTP(ip, 587, mail.name, source=client.source)
        smtp.starttls(context=context)
    with smtp:
        smtp.ehlo()
        smtp.user, smtp.password = address, password
        smtp.auth("PLAIN", smtp.auth_plain)


def fail_login(mail: MailHost, client: Client, context: ssl.SSLContext) -> bool:
    """A wrong password: True when the server refused it, False when the connection was cut
    (the client got banned while its other attempts were still under way)."""
    try:
        with pytest.raises((imaplib.IMAP4.error, smtplib.SMTPAuthenticationError),
                           match=r"(?i)authentication ?failed"):
            login(mail, client, context, WRONG)
    except (OSError, smtplib.SMTPServerDisconnected, imaplib.IMAP4.abort):
        return False
    return True


def reachable(ip: str, port: int, source: str) -> bool:
    """Whether a TCP connection from `source` is accepted (a ban rejects it at once)."""
    try:
        socket.create_connection((ip, port), 3, (source, 0)).close()
    except OSError:
        return False
    return True


def bans(host: Any, *jails: str) -> dict[str, float]:
    """The jails' banned addresses -> when each ban ends, on this machine's monotonic clock
    (read through the host's own clock; the calls' delay makes it err early, never late)."""
    asked = time.monotonic()
    now = dt.datetime.strptime(host.check_output("date '+%Y-%m-%d %H:%M:%S'"), "%Y-%m-%d %H:%M:%S")
    found = {}
    for jail in jails:
        # one line per ban: "ADDRESS \t START + BANTIME = END"
        for line in host.check_output(f"fail2ban-client get {jail} banip --with-time").splitlines():
            if "=" in line:
                address, end = line.split()[0], line.rsplit("=", 1)[1].strip()
                remaining = dt.datetime.strptime(end, "%Y-%m-%d %H:%M:%S") - now
                found[address] = asked + remaining.total_seconds()
    return found


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"after {seconds:.0f} s: {what}"
        time.sleep(0.5)


def test_failed_logins_ban_the_client_on_every_port_until_the_ban_ends(
    host: Any, mail: MailHost, enabled: list[Service], tls_context: ssl.SSLContext
) -> None:
    maxretry = int(host.check_output("fail2ban-client get postfix-sasl maxretry"))
    v6 = mail.ipv6 is not None
    attackers = [
        Client("postfix-sasl", "submissions", str(OUTSIDE_CLIENTS[0].ipv4)),
        Client("postfix-sasl", "submission",
               str(OUTSIDE_CLIENTS[1].ipv6 if v6 else OUTSIDE_CLIENTS[1].ipv4)),
        Client("dovecot", "imaps", str(OUTSIDE_CLIENTS[2].ipv4)),
    ]
    # over IPv6 where the host has it: the suite's other clients use IPv4, and Postfix's AUTH
    # rate limit counts per address
    manager = Client("postfix-sasl", "submissions", str(CONTROLLER6 if v6 else CONTROLLER4))
    bystander = str(OUTSIDE_CLIENTS[3].ipv4)

    with ThreadPoolExecutor(max_workers=16) as pool:
        attempts = {client: [pool.submit(fail_login, mail, client, tls_context)
                             for _ in range(maxretry)] for client in [*attackers, manager]}
        refused = {client: [attempt.result() for attempt in futures]
                   for client, futures in attempts.items()}
    assert all(refused.pop(manager)), "the management address lost a connection"
    assert all(any(answers) for answers in refused.values()), refused

    def banned() -> dict[str, float]:
        return bans(host, "postfix-sasl", "dovecot")

    wait_for(lambda: {c.source for c in attackers} <= banned().keys(), 30,
             f"not every client failing {maxretry} logins was banned: {banned()}")
    ends = banned()
    assert manager.source not in ends, "the management address was banned"
    longest = max(ends.values()) - time.monotonic()
    assert longest < 300, (
        f"a ban lasts {longest:.0f} s: this test waits for bans to lift, so it needs the short "
        "fail2ban_bantime and fail2ban_bantime_maxtime of the lab inventory")

    # a banned client loses every public port, the others keep them. Each look must fall inside
    # the ban: a port found open after the ban ended says nothing about the firewall.
    ports = [service.port for service in enabled]
    for client in attackers:
        ip = client.target(mail)
        open_ports = [p for p in ports if reachable(ip, p, client.source)]
        left = ends[client.source] - time.monotonic()
        assert left > 1, (f"the ban of {client.source} ended {-left:.0f} s before the test "
                          "looked at every port: fail2ban_bantime is too short for this machine")
        assert open_ports == [], (client, host.check_output("nft list table inet f2b-table"))
    assert all(reachable(mail.ipv4 or mail.ip, p, bystander) for p in ports)
    # SSH too (no sshd listens in the lab, so the rule is read rather than tried)
    rules = host.check_output("nft list table inet f2b-table")
    assert f"tcp dport {{ {', '.join(map(str, sorted({*ports, SSH_PORT})))} }}" in rules, rules
    # the bystander delivers and logs in, the manager still logs in
    address, password = mail.user()
    with SMTP(mail.ipv4 or mail.ip, 25, mail.name, source=bystander) as smtp:
        smtp.send_message(message("someone@sender.example", address, "fail2ban bystander"))
    login(mail, Client("dovecot", "imaps", bystander), tls_context, password)
    login(mail, manager, tls_context, password)

    # each ban ends when fail2ban said, not before
    for client in attackers:
        end = ends[client.source]
        wait_for(partial(reachable, client.target(mail), ports[0], client.source),
                 end - time.monotonic() + 20, f"the ban of {client.source} did not lift")
        assert time.monotonic() >= end - 3, f"{client.source} was unbanned early"
        assert all(reachable(client.target(mail), p, client.source) for p in ports), client
