"""DNS records pushed to the lab's real authoritative server (BIND 9) with TSIG-signed dynamic
updates, read back with dnspython, compared by `dns diff`, and refused with a wrong key."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.tsigkeyring
import dns.update
import pytest

from postwright.lab.dns_server import KEY_NAME
from postwright.lab.network import routed_via_lab
from tests.conftest import REPO, postwright

pytestmark = pytest.mark.lab
SOURCE = ["-i", str(REPO / "inventories/example"), "--host", "mx1"]
TSIG_KEY = Path("/var/lib/postwright/lab/tsig.key")


@pytest.fixture(scope="module")
def server(clean_lab: None) -> Iterator[str]:
    postwright("lab", "up", "dnst1")
    hosts = {h["name"]: h for h in json.loads(postwright("lab", "status", "--json").stdout)}
    ip = str(hosts["ns1"]["ipv4"])
    assert routed_via_lab(ip)
    yield ip
    postwright("lab", "down")


@pytest.fixture(scope="module")
def pushed(server: str) -> str:
    done = postwright("dns", "push", *SOURCE, "--server", server,
                      "--tsig-key-file", str(TSIG_KEY))
    assert "the server now matches" in done.stdout, done.stdout
    return server


def ask(server: str, name: str, rtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    return dns.query.udp(query, server, timeout=3)


def answer(server: str, name: str, rtype: str) -> tuple[int, list[str]]:
    reply = ask(server, name, rtype)
    assert reply.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(reply.rcode())
    rrsets = [r for r in reply.answer if r.rdtype == dns.rdatatype.from_text(rtype)]
    assert rrsets, f"no {rtype} for {name}"
    return rrsets[0].ttl, sorted(rdata.to_text() for rdata in rrsets[0])


@pytest.mark.parametrize(
    ("name", "rtype", "expected"),
    [
        ("example.test", "MX", ["10 mail.example.test."]),
        ("mail.example.test", "A", ["198.51.100.10"]),
        ("mail.example.test", "AAAA", ["2001:db8::10"]),
        ("_dmarc.example.test", "TXT",
         ['"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test"']),
        (dns.reversename.from_address("198.51.100.10").to_text(), "PTR", ["mail.example.test."]),
        (dns.reversename.from_address("2001:db8::10").to_text(), "PTR", ["mail.example.test."]),
    ],
)
def test_pushed_records_are_served_with_the_default_ttl(
    pushed: str, name: str, rtype: str, expected: list[str]
) -> None:
    assert answer(pushed, name, rtype) == (300, expected)


def test_spf_is_served(pushed: str) -> None:
    ttl, values = answer(pushed, "example.test", "TXT")
    assert ttl == 300
    assert '"v=spf1 mx -all"' in values


def test_diff_reports_nothing_and_a_second_push_sends_nothing(pushed: str) -> None:
    assert "all records match" in postwright("dns", "diff", *SOURCE, "--server", pushed).stdout
    again = postwright("dns", "push", *SOURCE, "--server", pushed,
                       "--tsig-key-file", str(TSIG_KEY))
    assert "nothing pushed" in again.stdout


def _update_a_record_by_hand(server: str, secret: str, address: str) -> int:
    update = dns.update.UpdateMessage(
        "example.test", keyring=dns.tsigkeyring.from_text({KEY_NAME: secret}),
        keyalgorithm="hmac-sha256")
    update.replace("mail", 300, "A", address)
    return dns.query.tcp(update, server, timeout=5).rcode()


def _secret() -> str:
    return TSIG_KEY.read_text().split('secret "', 1)[1].split('"', 1)[0]


def test_a_record_changed_by_hand_is_the_one_difference(pushed: str, tmp_path: Path) -> None:
    assert _update_a_record_by_hand(pushed, _secret(), "198.51.100.99") == dns.rcode.NOERROR
    diff = postwright("dns", "diff", *SOURCE, "--server", pushed, check=False)
    assert diff.returncode == 1
    different = [line for line in diff.stdout.splitlines()
                 if line.split()[:1] and line.split()[0] in ("missing", "extra", "different")]
    assert len(different) == 1, diff.stdout
    assert "mail.example.test" in different[0]
    assert " A" in different[0]
    assert "198.51.100.99" in different[0]

    # a key the server does not know is refused, and nothing is pushed
    wrong = tmp_path / "wrong.key"
    fake = base64.b64encode(b"0" * 32).decode()
    wrong.write_text(f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n\tsecret "{fake}";\n}};\n')
    refused = postwright("dns", "push", *SOURCE, "--server", pushed, "--tsig-key-file",
                         str(wrong), check=False)
    assert refused.returncode != 0
    assert "TSIG" in refused.stderr or "refused" in refused.stderr.lower(), refused.stderr
    assert fake not in refused.stdout + refused.stderr
    assert answer(pushed, "mail.example.test", "A") == (300, ["198.51.100.99"])

    # the right key repairs exactly that record
    postwright("dns", "push", *SOURCE, "--server", pushed, "--tsig-key-file", str(TSIG_KEY))
    assert answer(pushed, "mail.example.test", "A") == (300, ["198.51.100.10"])


def test_zone_files_pass_named_checkzone(tmp_path: Path) -> None:
    postwright("dns", "records", *SOURCE, "--format", "json", "--out", str(tmp_path))
    zones = sorted(tmp_path.glob("*.zone"))
    assert len(zones) == 3  # example.test and the two reverse zones
    for zone in zones:
        origin = zone.name.removesuffix(".zone")
        done = subprocess.run(["named-checkzone", "-i", "local", origin, str(zone)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
