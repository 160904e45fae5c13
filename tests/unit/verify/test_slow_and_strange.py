"""Servers that are slow to greet, answer in another protocol, or refuse relaying only for
now: each must get the verdict a mail admin would give, not a timeout's."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from postwright.contract import load_contract
from postwright.verify import Status, VerifyOptions, run_verify
from postwright.verify.diagnosis import diagnose
from postwright.verify.probe import Endpoint, Mode, Probe, classify
from tests.unit.verify.servers import PASSWORD, USER, Loop, http_server, serve

NAME = "mail.example.test"


async def _probe(port: int, service: str, **kwargs: Any) -> Probe:
    ep = Endpoint("127.0.0.1", port, load_contract().service(service).protocol, NAME, None,
                  "[127.0.0.1]")
    result = await classify(ep, 2.0, **kwargs)
    if result.conn:
        result.conn.abort()
    return result


def test_slow_greeters_are_greeters(scripted) -> None:
    """Sendmail's greet_pause (silence, then 220) and postscreen (220- at once, the final
    220 after postscreen_greet_wait): with a 2 s reply timeout, all wait for the greeting."""
    pause6, _ = scripted(greet_delay=6)
    pause10, _ = scripted(greet_delay=10)
    postscreen, _ = scripted(multiline_pause=6)

    async def main() -> list[Probe]:
        return list(await asyncio.gather(*(_probe(p, "smtp", greeting=15)
                                           for p in (pause6, pause10, postscreen))))

    started = time.monotonic()
    results = asyncio.run(main())
    assert time.monotonic() - started < 12  # concurrently, each as long as its own pause
    for result, pause in zip(results, (6, 10, 6), strict=True):
        assert result.mode is Mode.STARTTLS, result.detail
        assert pause <= result.elapsed < pause + 1.5
        assert diagnose(result, load_contract().service("smtp")).status is Status.PASS
    assert results[2].banner is not None
    assert len(results[2].banner.splitlines()) == 2  # both lines of the multi-line 220
    assert results[2].connections == 1  # 220- came at once: no ClientHello race


def test_a_silent_port_is_a_tarpit_only_after_the_greeting_budget(loop: Loop) -> None:
    from tests.unit.verify.servers import tarpit

    port, server = serve(loop, tarpit)
    try:
        result = asyncio.run(_probe(port, "smtp", greeting=3.0))
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    assert result.mode is Mode.SILENT
    assert 2.9 <= result.elapsed < 3.6
    assert "no greeting in 3 s" in result.detail


def test_verify_passes_slow_greeters_and_sends_through_them(scripted, pki) -> None:
    """postscreen on 25 (220- at once, 220 after 6 s) and a Sendmail-like 10 s greet_pause on
    587: every check passes, the messages go through, and the later tests' connections
    waited for their greetings alongside the first one, not after it."""
    smtp, _ = scripted(multiline_pause=6)
    submission, _ = scripted(greet_delay=10, auth_after_tls=True)
    report = run_verify(VerifyOptions(
        "127.0.0.1", servername=NAME, ca_file=pki.ca,
        ports={"smtp": smtp, "submission": submission}, services=["smtp", "submission"],
        dns=False, deadline=25, step_timeout=2, domain="example.test", user=USER,
        password=PASSWORD, receive_wait=1))
    checked = [r for r in report.results if r.port in (smtp, submission)
               and r.id != "imap.receive"]
    assert {(r.id, r.port): r.summary for r in checked if r.status is not Status.PASS} == {}
    assert {r.port for r in report.find("tls.starttls.injection")} == {smtp, submission}
    assert report.find("send.25")[0].status is Status.PASS
    assert report.find("send.587")[0].status is Status.PASS
    assert report.duration_s < 16  # 10 s pause once (+ the TLS and policy steps), not twice


def test_http_on_the_submission_port_is_named(loop: Loop) -> None:
    port, server = serve(loop, http_server)
    try:
        result = asyncio.run(_probe(port, "submission"))
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    diag = diagnose(result, load_contract().service("submission"))
    assert result.mode is Mode.NOT_SMTP
    assert result.protocol == "http"
    assert "HTTP/1.1 400 Bad Request" in result.detail
    assert result.elapsed < 2.0
    assert diag.status is Status.FAIL
    assert f"port {port} on 127.0.0.1 answers HTTP, not SMTP" in diag.summary
    assert "tarpit" not in diag.summary


@pytest.mark.parametrize(("reply", "hint"), [
    ("454 4.7.1 <x@relay-test.invalid>: Relay access denied", True),  # Debian's default
    ("450 4.1.2 <x@relay-test.invalid>: Recipient address rejected: Domain not found", False),
])
def test_a_temporary_relay_refusal_is_a_refusal(scripted, pki, reply: str,
                                                hint: bool) -> None:
    port, _ = scripted(relay_reply=reply)
    report = run_verify(VerifyOptions("127.0.0.1", servername=NAME, ca_file=pki.ca,
                                      ports={"smtp": port}, services=["smtp"], dns=False,
                                      deadline=8, step_timeout=2, domain="example.test"))
    [relay] = report.find("relay.open")
    assert relay.status is Status.PASS
    assert relay.summary.startswith(f"relay refused (temporarily: {reply}) at RCPT TO: ")
    assert ("defer_unauth_destination" in relay.summary) is hint
    assert relay.evidence["temporary"] is True
    assert report.exit_code == 0


def test_probe_cli_waits_past_its_reply_timeout_for_a_greeting(scripted, pki, capsys) -> None:
    from postwright.cli import main

    port, _ = scripted(multiline_pause=2.0)
    code = main(["probe", f"127.0.0.1:{port}", "--json", "--ca-file", pki.ca, "--servername",
                 NAME, "--timeout", "1", "--deadline", "5"])
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "starttls"
    assert data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert code == 0


def test_a_greeting_that_never_ends_is_stuck_not_a_refusal(scripted) -> None:
    port, _ = scripted(multiline_pause=30)
    result = asyncio.run(_probe(port, "smtp", greeting=2.5))
    assert result.mode is Mode.SILENT
    assert result.detail.startswith("the greeting began ('220-mail.example.test")
    assert "did not end within the 2.5 s allowed" in result.detail
    assert 2.4 <= result.elapsed < 3.5
