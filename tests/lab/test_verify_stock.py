"""`postwright verify` against a mail host built by hand from Debian's stock packages, not by our
roles, on Debian 12 and 13: Postfix and Dovecot's IMAP installed as Debian ships them, with the
classic hand edits of a first mail server applied by the test - submission (587) and submissions
(465) switched on by their service lines alone, so 465 speaks plaintext (no wrapper mode) and 587
does not require TLS, and Debian's self-signed snakeoil certificate left in place (and whatever
Debian's defaults get wrong: Postfix still accepts TLS 1.0 and 1.1). The host's DNS
is right (published by `postwright dns push`). Verify must name each mistake, on every port and
address it affects, and report nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from postwright.contract import load_contract
from tests.conftest import postwright
from tests.lab.playbook import on_host
from tests.lab.stock import IP, IP6, LAB_DNS, NAME, boot_stock_host

pytestmark = pytest.mark.lab
CA = "/root/.local/share/postwright/lab-ca/ca.crt"  # not the snakeoil's issuer: nobody's is
PORTS = {name: s.port for name, s in load_contract().services.items()}

# the hand edits: the two submission services by their lines alone
HAND_EDITS = " && ".join([
    "postconf -M submission/inet='submission inet n - y - - smtpd'",
    "postconf -M submissions/inet='submissions inet n - y - - smtpd'",
    "systemctl restart postfix dovecot",
])


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def stock_host(request: pytest.FixtureRequest, clean_lab: None) -> Iterator[str]:
    boot_stock_host(request.param)
    on_host("mx1", HAND_EDITS)
    yield request.param
    postwright("lab", "down")


def test_verify_names_each_classic_mistake_and_nothing_else(stock_host: str) -> None:
    # the smuggling probe's messages go to root on the host (Postfix's local delivery)
    done = postwright("verify", NAME, "--resolver", LAB_DNS, "--ca-file", CA, "--dnsbl", "",
                      "--smuggle-rcpt", f"root@{NAME}", "--json", "-", check=False)
    report = json.loads(done.stdout)
    found = {(r["id"], r["port"]) for r in report["results"]
             if r["status"] not in ("pass", "info", "skip")}
    smtp, submission, submissions = PORTS["smtp"], PORTS["submission"], PORTS["submissions"]
    imap, imaps = PORTS["imap"], PORTS["imaps"]
    postfix_ports = (smtp, submission, submissions)  # 465 judged through the STARTTLS it offers
    expected = {
        # 465 speaks plaintext SMTP: a client that starts with TLS, as it must there, hangs
        ("port.mode", submissions),
        # 587 takes MAIL FROM before STARTTLS (no smtpd_tls_security_level=encrypt)
        ("submission.requires_tls", submission),
        # the snakeoil certificate: self-signed, and made out to the machine, not to NAME
        *{(check, port) for check in ("tls.cert.trusted", "tls.cert.hostname")
          for port in (*postfix_ports, imap, imaps)},
        # stock Postfix (smtpd_tls_protocols = !SSLv2, !SSLv3) still accepts TLS 1.0 and 1.1;
        # Dovecot's own minimum is TLS 1.2
        *{("tls.protocol.legacy_refused", port) for port in postfix_ports},
        # the certificate's name disagrees with banner, EHLO and PTR (all NAME): judged once
        # per address, on the MX port
        ("names.consistency", smtp),
        # Postfix < 3.9 (Debian 12's 3.7) has the fixes for SMTP smuggling and unauthorised
        # pipelining but leaves them off (smtpd_forbid_bare_newline, _unauth_pipelining = no):
        # a smuggled second message is accepted, pipelined commands are answered (a warning)
        *({("smtp.smuggling", smtp), ("smtp.pipelining", smtp)} if stock_host == "bookworm"
          else set()),
    }
    assert found == expected, (sorted(found, key=str), sorted(expected, key=str))
    assert done.returncode == 1  # failures, and nothing that could not be checked
    # both address families were judged
    assert {r["ip"] for r in report["results"] if r["id"] == "port.mode"} == {IP, IP6}
