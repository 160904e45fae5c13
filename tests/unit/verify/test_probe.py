"""The port-mode classifier against the zoo: each case names its exact finding."""

from __future__ import annotations

import asyncio
import json

import pytest

from postwright.cli import main
from postwright.contract import load_contract
from postwright.verify.diagnosis import diagnose
from postwright.verify.model import Status
from postwright.verify.probe import Endpoint, Mode, Probe, classify
from tests.unit.verify.servers import Loop, banner_then_close, free_port, serve, tarpit


def probe(port: int, service: str, timeout: float = 3.0, ca: str | None = None) -> Probe:
    svc = load_contract().service(service)
    ep = Endpoint("127.0.0.1", port, svc.protocol, "mail.example.test", ca, "[127.0.0.1]")
    result = asyncio.run(classify(ep, timeout))
    if result.conn:
        result.conn.abort()
    return result


def test_implicit_tls_where_starttls_expected_is_named_within_a_second(scripted, pki) -> None:
    port, _ = scripted(implicit=pki.server_context())
    result = probe(port, "submission", ca=pki.ca)
    diag = diagnose(result, load_contract().service("submission"))
    assert result.mode is Mode.IMPLICIT
    assert result.elapsed < 1.0
    assert result.connections == 2  # the silent greeting connection + the ClientHello race
    assert result.protocol == "smtp"  # the greeting inside TLS
    assert diag.status is Status.FAIL
    assert "speaks implicit TLS but the contract expects STARTTLS" in diag.summary
    assert "Go net/smtp SendMail" in diag.summary


def test_starttls_where_implicit_expected(scripted) -> None:
    port, _ = scripted()
    result = probe(port, "submissions")
    diag = diagnose(result, load_contract().service("submissions"))
    assert result.mode is Mode.STARTTLS
    assert result.elapsed < 1.0
    assert result.connections == 1
    assert diag.status is Status.FAIL
    assert "contract expects implicit TLS" in diag.summary
    assert "wrong version number" in diag.summary


def test_plain_smtp_without_starttls(scripted) -> None:
    port, _ = scripted(starttls=None)
    result = probe(port, "smtp")
    assert result.mode is Mode.PLAIN
    assert diagnose(result, load_contract().service("smtp")).status is Status.FAIL


def test_tarpit_is_classified_at_the_timeout_not_hanging(loop: Loop) -> None:
    port, server = serve(loop, tarpit)
    try:
        result = probe(port, "smtp", timeout=1.0)
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    assert result.mode is Mode.SILENT
    assert 0.9 <= result.elapsed < 1.6
    assert result.connections == 2
    diag = diagnose(result, load_contract().service("smtp"))
    assert diag.status is Status.FAIL
    assert "tarpit" in diag.summary


def test_slow_banner_within_the_timeout_is_a_normal_starttls_port(scripted) -> None:
    port, _ = scripted(greet_delay=1.2)
    result = probe(port, "smtp", timeout=4.0)
    assert result.mode is Mode.STARTTLS
    assert 1.2 <= result.elapsed < 2.5
    assert result.banner == "220 mail.example.test ESMTP scripted"
    assert diagnose(result, load_contract().service("smtp")).status is Status.PASS


def test_421_on_connect(scripted) -> None:
    port, _ = scripted(greeting="421 4.3.2 Service not available, closing channel")
    result = probe(port, "smtp")
    diag = diagnose(result, load_contract().service("smtp"))
    assert result.mode is Mode.REJECTED
    assert diag.status is Status.FAIL
    assert "421 4.3.2" in diag.summary


def test_closed_port() -> None:
    result = probe(free_port(), "smtp")
    assert result.mode is Mode.CLOSED
    assert result.elapsed < 0.5
    assert "connection refused" in diagnose(result, load_contract().service("smtp")).summary


def test_something_else_on_an_smtp_port(loop: Loop) -> None:
    port, server = serve(loop, banner_then_close)
    try:
        smtp_result = probe(port, "smtp")
        imap_result = probe(port, "imaps")
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    assert smtp_result.mode is Mode.NOT_SMTP
    assert smtp_result.protocol == "ssh"
    assert imap_result.mode is Mode.NOT_IMAP
    assert "answers SSH, not IMAP" in diagnose(
        imap_result, load_contract().service("imaps")).summary


@pytest.mark.parametrize("which", ["good", "selfsigned"])
def test_probe_cli_json_shape(scripted, pki, capsys, which: str) -> None:
    port, server = scripted(implicit=pki.server_context(which))
    code = main(["probe", f"127.0.0.1:{port}", "--json", "--servername", "mail.example.test",
                 "--ca-file", pki.ca, "--timeout", "3"])
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"host", "port", "mode", "tls", "banner", "diagnosis"}
    assert data["mode"] == "implicit-tls"
    assert data["port"] == port
    assert data["banner"].startswith("220 mail.example.test")
    assert data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert data["tls"]["trusted"] is (which == "good")
    assert data["tls"]["hostname_match"] is True
    assert server.connections <= 3
    assert code == 0  # no contract entry for an ephemeral port: nothing to mismatch


def test_probe_cli_starttls_reads_the_certificate(scripted, pki, capsys) -> None:
    port, server = scripted(starttls=pki.server_context("expired"))
    assert main(["probe", f"127.0.0.1:{port}", "--json", "--ca-file", pki.ca,
                 "--servername", "mail.example.test"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "starttls"
    assert data["tls"]["trusted"] is True  # the chain is fine; expiry is reported apart
    assert data["tls"]["cert"]["days_left"] < 0
    assert server.connections == 1


def test_probe_cli_usage_errors(capsys) -> None:
    assert main(["probe", "no-port-here"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["probe", "127.0.0.1:70000"]) == 2
