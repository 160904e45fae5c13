"""`postwright dns records|diff|push` end to end, the server replaced by the in-memory one."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from postwright.cli import main
from postwright.dns import cli as dns_cli
from postwright.dns.render import render_zones

from .conftest import DUAL, FakeServer, make_plan
from .test_dns_diff_update import SERVER_KEY

SECRET = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def vars_file(tmp_path: Path) -> Path:
    path = tmp_path / "mx1.yml"
    path.write_text(yaml.safe_dump(DUAL))
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "update.key"
    path.write_text(f'key "postwright-update" {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n')
    return path


def test_records_json_table_and_zone_files(vars_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dns", "records", "-v", str(vars_file), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["type"] for d in data} == {"A", "AAAA", "MX", "TXT", "SRV", "PTR"}
    assert main(["dns", "records", "-v", str(vars_file)]) == 0
    assert "Publish at your DNS host (zone example.test):" in capsys.readouterr().out
    out = tmp_path / "zones"
    assert main(["dns", "records", "-v", str(vars_file), "--format", "zone", "--out",
                 str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone", "100.51.198.in-addr.arpa.zone",
        "example.test.zone"]
    assert main(["dns", "records", "-v", str(vars_file), "--format", "zone"]) == 0
    printed = capsys.readouterr().out
    assert "; ---- example.test.zone\n" in printed
    assert "$ORIGIN 100.51.198.in-addr.arpa." in printed


def test_records_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({**DUAL, "dns_ttl": 30}))
    assert main(["dns", "records", "-v", str(path)]) == 2
    assert "dns_ttl: TTL 30 is out of range (60..604800 seconds)" in capsys.readouterr().err


def test_diff_then_push_then_diff(vars_file: Path, key_file: Path,
                                  fake_server_factory: Callable[..., FakeServer],
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    old = make_plan(dns_ttl=600, mail_ipv6=None, dns_primary_ns_ipv6=None)
    server = fake_server_factory({z.origin: z.text for z in render_zones(old, serial=1)},
                                 key=SERVER_KEY)
    contacted: list[tuple[str, int]] = []

    def fake_udp(host: str, port: int, timeout: float = 5) -> Callable[..., object]:
        contacted.append((host, port))
        return server.ask

    def fake_tcp(host: str, port: int, timeout: float) -> Callable[..., object]:
        contacted.append((host, port))
        return server.send

    monkeypatch.setattr(dns_cli, "udp_query", fake_udp)
    monkeypatch.setattr(dns_cli, "tcp_sender", fake_tcp)
    common = ["-v", str(vars_file), "--server", "[::1]:5353"]
    assert main(["dns", "diff", *common]) == 1
    out = capsys.readouterr().out
    assert "missing   mail.example.test. AAAA" in out
    assert "different example.test. MX: TTL 600 -> 300" in out
    # the old server has no ip6.arpa zone (it was IPv4-only): skipped, not an error
    assert ("skipped   0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. (not served by this server; "
            "set PTR records at your provider)") in out
    assert "100.51.198.in-addr.arpa. (not served" not in out
    assert main(["dns", "push", *common, "--tsig-key-file", str(key_file), "--dry-run"]) == 0
    assert "; update for zone example.test. (signed with postwright-update.)" in (
        capsys.readouterr().out)
    assert server.updates_applied == 0
    assert main(["dns", "push", *common, "--tsig-key-file", str(key_file)]) == 0
    pushed = capsys.readouterr()
    assert "the server now matches" in pushed.out
    assert SECRET not in pushed.out + pushed.err
    assert main(["dns", "diff", *common]) == 0
    assert "all records match (values and TTLs)" in capsys.readouterr().out
    assert main(["dns", "push", *common, "--tsig-key-file", str(key_file)]) == 0
    assert "already up to date, nothing pushed" in capsys.readouterr().out
    assert set(contacted) == {("::1", 5353)}


def test_push_with_refused_key_exits_1(vars_file: Path, key_file: Path,
                                       fake_server_factory: Callable[..., FakeServer],
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    server = fake_server_factory({z.origin: z.text for z in render_zones(
        make_plan(dns_ttl=600), serial=1)})  # knows no key at all
    monkeypatch.setattr(dns_cli, "udp_query", lambda *_a, **_k: server.ask)
    monkeypatch.setattr(dns_cli, "tcp_sender", lambda *_a, **_k: server.send)
    code = main(["dns", "push", "-v", str(vars_file), "--server", "127.0.0.1",
                 "--tsig-key-file", str(key_file)])
    err = capsys.readouterr().err
    assert code == 1
    assert "the server refused TSIG key postwright-update. (hmac-sha256): BADKEY" in err
    assert SECRET not in err
    assert server.updates_applied == 0
