"""Diff logic, UPDATE construction and push, against an in-memory server (no network)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import pytest

from postwright.dns.diff import ServerRRset, compare, diff_server, managed_keys, parse_server
from postwright.dns.inventory import MailHostPlan
from postwright.dns.records import Record, compute_records
from postwright.dns.render import render_zones
from postwright.dns.tsig import TsigKey
from postwright.dns.update import (
    UpdateRefused,
    build_updates,
    preflight_message,
    push,
    update_sections,
)
from postwright.errors import PostwrightError, UsageError

from .conftest import FakeServer, make_plan

KEY = TsigKey("postwright-update.", "hmac-sha256", bytes(range(32)))
SERVER_KEY = dns.tsig.Key("postwright-update.", base64.b64encode(bytes(range(32))).decode(),
                          dns.tsig.HMAC_SHA256)
SPF_KEY = ("example.test.", "TXT")


def observed_from(records: list[Record]) -> dict[tuple[str, str], ServerRRset | None]:
    seen: dict[tuple[str, str], ServerRRset | None] = {}
    for record in records:
        old = seen.get(record.key)
        seen[record.key] = ServerRRset(record.ttl, (*(old.rdatas if old else ()), record.rdata))
    return seen


def test_identical_server_is_equal() -> None:
    records = compute_records(make_plan())
    assert compare(records, observed_from(records)).equal


def test_missing_extra_different_and_ttl() -> None:
    records = compute_records(make_plan(mail_ipv6=None))
    seen = observed_from(records)
    seen[("example.test.", "MX")] = None
    seen[("mail.example.test.", "AAAA")] = ServerRRset(300, ("2001:db8::99",))
    seen[("mail.example.test.", "A")] = ServerRRset(3600, ("198.51.100.10",))
    seen[("_dmarc.example.test.", "TXT")] = ServerRRset(300, ('"v=DMARC1; p=none"',))
    result = compare(records, seen)
    found = {(d.kind, d.name, d.type) for d in result.differences}
    assert found == {
        ("missing", "example.test.", "MX"),
        ("extra", "mail.example.test.", "AAAA"),
        ("different", "mail.example.test.", "A"),
        ("different", "_dmarc.example.test.", "TXT"),
    }
    text = "\n".join(d.describe() for d in result.differences)
    assert "TTL 3600 -> 300" in text
    assert "+ 'v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test'" in text
    assert "- 'v=DMARC1; p=none'" in text
    assert "extra     mail.example.test. AAAA: server has 2001:db8::99" in text


def test_txt_split_and_name_case_do_not_matter() -> None:
    records = compute_records(make_plan(dns_spf="v=spf1 mx ip4:198.51.100.0/24 -all"))
    seen = observed_from(records)
    seen[SPF_KEY] = ServerRRset(300, ('"v=spf1 mx " "ip4:198.51.100.0/24 -all"',))
    seen[("example.test.", "MX")] = ServerRRset(300, ("10 MAIL.Example.TEST.",))
    assert compare(records, seen).equal


def test_foreign_txt_values_are_left_alone() -> None:
    records = compute_records(make_plan())
    seen = observed_from(records)
    foreign = '"google-site-verification=abc123"'
    seen[SPF_KEY] = ServerRRset(300, (foreign,))  # our SPF missing, a foreign token present
    (diff,) = compare(records, seen).differences
    assert (diff.kind, diff.actual) == ("missing", ())
    seen[SPF_KEY] = ServerRRset(300, (foreign, '"v=spf1 a -all"'))
    (diff,) = compare(records, seen).differences
    assert (diff.kind, diff.actual) == ("different", ('"v=spf1 a -all"',))
    (update,) = build_updates(compare(records, seen), KEY).values()
    lines = update_sections(update)
    assert lines == ['example.test. 0 NONE TXT "v=spf1 a -all"',
                     'example.test. 300 IN TXT "v=spf1 mx -all"']


def test_update_messages_replace_delete_and_are_signed() -> None:
    records = compute_records(make_plan(mail_ipv6=None, mail_domains=["example.test",
                                                                      "example.org"]))
    seen = observed_from(records)
    seen[("example.org.", "MX")] = ServerRRset(300, ("10 old-mail.example.org.",))
    seen[("mail.example.test.", "AAAA")] = ServerRRset(300, ("2001:db8::99",))
    updates = build_updates(compare(records, seen), KEY)
    assert set(updates) == {"example.test.", "example.org."}
    assert update_sections(updates["example.org."]) == [
        "example.org. ANY MX",
        "example.org. 300 IN MX 10 mail.example.test.",
    ]
    assert update_sections(updates["example.test."]) == ["mail.example.test. ANY AAAA"]
    message = updates["example.org."]
    assert message.zone[0].name == dns.name.from_text("example.org.")
    assert message.zone[0].rdtype == dns.rdatatype.SOA
    wire = message.to_wire()
    verified = dns.message.from_wire(wire, keyring={SERVER_KEY.name: SERVER_KEY})
    assert verified.had_tsig
    assert verified.keyname == dns.name.from_text("postwright-update.")
    wrong = dns.tsig.Key("postwright-update.", base64.b64encode(b"x" * 32).decode())
    with pytest.raises(dns.tsig.BadSignature):
        dns.message.from_wire(message.to_wire(), keyring={wrong.name: wrong})


def test_preflight_changes_nothing() -> None:
    message = preflight_message("example.test.", KEY)
    assert update_sections(message) == []
    (prereq,) = message.prerequisite
    assert (str(prereq.name), prereq.rdtype, prereq.rdclass) == (
        "example.test.", dns.rdatatype.SOA, dns.rdataclass.ANY)


def _old_server(fake_server_factory: Callable[..., FakeServer], **server: object) -> FakeServer:
    """A server publishing an older state: TTL 600, an AAAA, SPF '?all', a foreign TXT."""
    old = make_plan(dns_ttl=600, dns_spf="v=spf1 mx ?all")
    texts = {z.origin: z.text for z in render_zones(old, serial=1)}
    texts["example.test."] += 'example.test. 600 IN TXT "google-site-verification=abc"\n'
    return fake_server_factory(texts, **server)


def _plan() -> MailHostPlan:
    return make_plan(mail_ipv6=None, dns_ttls={"MX": 3600})


def test_push_makes_the_server_match_and_is_idempotent(
        fake_server_factory: Callable[..., FakeServer]) -> None:
    server = _old_server(fake_server_factory, key=SERVER_KEY)
    records = compute_records(_plan())
    before = diff_server(records, server.ask)
    assert not before.equal
    assert ("extra", "mail.example.test.", "AAAA") in {
        (d.kind, d.name, d.type) for d in before.differences}
    assert before.skipped_zones == ()  # this server serves the reverse zones too
    done = push(before, server.send, KEY)
    assert set(done.zones) == {"example.test.", "100.51.198.in-addr.arpa."}
    after = diff_server(records, server.ask)
    assert after.equal, [d.describe() for d in after.differences]
    zone = server.zones[dns.name.from_text("example.test.")]
    apex_txt = {r.to_text() for r in zone.get_rdataset("example.test.", "TXT")}
    assert apex_txt == {'"google-site-verification=abc"', '"v=spf1 mx -all"'}
    assert zone.get_rdataset("mail.example.test.", "AAAA") is None
    assert zone.get_rdataset("example.test.", "MX").ttl == 3600
    # a second push has nothing to send
    sent = len(server.messages)
    assert build_updates(after, KEY) == {}
    push(after, server.send, KEY)
    assert len(server.messages) == sent


@pytest.mark.parametrize(
    ("server_key", "refuse", "why"),
    [
        (dns.tsig.Key("postwright-update.", base64.b64encode(b"other" * 8).decode(),
                      dns.tsig.HMAC_SHA256), None, "BADSIG (wrong secret)"),
        (dns.tsig.Key("another-key.", base64.b64encode(bytes(range(32))).decode(),
                      dns.tsig.HMAC_SHA256), None, "BADKEY"),
        (None, None, "BADKEY"),
        (SERVER_KEY, "REFUSED", "REFUSED (the key may not update this zone"),
    ],
)
def test_refused_key_pushes_nothing(fake_server_factory: Callable[..., FakeServer],
                                    server_key: dns.tsig.Key | None, refuse: str | None,
                                    why: str) -> None:
    server = _old_server(fake_server_factory, key=server_key, refuse=refuse)
    result = diff_server(compute_records(_plan()), server.ask)
    with pytest.raises(UpdateRefused) as caught:
        push(result, server.send, KEY)
    message = str(caught.value)
    assert why in message
    assert "TSIG key postwright-update. (hmac-sha256)" in message
    assert base64.b64encode(KEY.secret).decode() not in message
    assert server.updates_applied == 0
    assert len(server.messages) == 1  # only the first preflight was sent
    assert not server.messages[0].update  # and it held no change


def test_reverse_zone_not_served_is_skipped_forward_is_an_error(
        fake_server_factory: Callable[..., FakeServer]) -> None:
    plan = make_plan()
    forward_only = {z.origin: z.text for z in render_zones(plan, serial=1) if not z.reverse}
    server = fake_server_factory(forward_only)
    result = diff_server(compute_records(plan), server.ask)
    assert result.equal
    assert set(result.skipped_zones) == {"100.51.198.in-addr.arpa.",
                                         "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."}
    other = fake_server_factory({"example.org.": render_zones(
        make_plan(mail_domains=["example.org"], mail_hostname="mail.example.org",
                  dns_primary_ns="ns1.example.org"), serial=1)[0].text})
    with pytest.raises(PostwrightError, match=r"not authoritative for zone example\.test"):
        diff_server(compute_records(plan), other.ask)


def test_managed_keys_include_the_other_address_family() -> None:
    keys = managed_keys(compute_records(make_plan(mail_ipv6=None, dns_mta_sts_mode="testing")))
    assert ("mail.example.test.", "AAAA") in keys
    assert ("mta-sts.example.test.", "AAAA") in keys
    assert keys[("mail.example.test.", "AAAA")] == "example.test."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["ns1.example.test", "192.0.2.53:dns", "[::1]5353",
                                  "127.0.0.1:0", "127.0.0.1:70000"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--server"):
        parse_server(text)


def test_cname_on_a_managed_name_is_reported(
        fake_server_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    plan = make_plan(mail_ipv6=None)
    text = render_zones(plan, serial=1)[0].text.replace(
        "mail.example.test. 300 IN A 198.51.100.10", "mail.example.test. 300 IN CNAME x.test.")
    # a CNAME owns its name alone: the server's zone has no other record there
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("mail.example.test. 300 IN TXT"))
    server = fake_server_factory({"example.test.": text})
    records = [r for r in compute_records(plan) if r.publisher == "dns"]

    def ask(query: dns.message.Message) -> dns.message.Message:
        response = server.ask(query)
        if query.question[0].name == dns.name.from_text("mail.example.test."):
            response.answer.append(dns.rrset.from_text("mail.example.test.", 300, "IN",
                                                       "CNAME", "x.test."))
        return response

    with pytest.raises(PostwrightError, match=r"mail\.example\.test\. is a CNAME"):
        diff_server(records, ask)
