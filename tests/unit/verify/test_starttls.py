"""STARTTLS on every protocol: the go-ahead as real servers word it, and the pipelining
injection test (CVE-2011-0411), against loopback servers speaking like Dovecot and Postfix."""

from __future__ import annotations

from typing import Any

import pytest

from postwright.verify import Report, Status, VerifyOptions, run_verify
from tests.unit.verify.servers import Dovecotish, Loop, serve

NAME = "mail.example.test"
SERVICE = {"imap": "imap", "pop3": "pop3", "sieve": "sieve"}


def verify(service: str, port: int, ca: str) -> Report:
    return run_verify(VerifyOptions("127.0.0.1", servername=NAME, ca_file=ca,
                                    ports={service: port}, services=[service], dns=False,
                                    deadline=8, step_timeout=2, domain="example.test"))


def status(report: Report, check: str) -> Status:
    [result] = report.find(check)
    return result.status


@pytest.fixture
def dovecot(loop: Loop, pki: Any) -> Any:
    servers: list[Any] = []

    def start(**kwargs: Any) -> tuple[int, Dovecotish]:
        server = Dovecotish(starttls=pki.server_context(), **kwargs)
        port, handle = serve(loop, server)
        servers.append(handle)
        return port, server

    yield start
    for handle in servers:
        loop.loop.call_soon_threadsafe(handle.close)


@pytest.mark.parametrize(("protocol", "caps_in_greeting", "untagged_first"), [
    ("imap", True, False),  # Dovecot's default: capabilities in the greeting
    ("imap", False, False),  # capabilities from CAPABILITY only
    ("imap", False, True),  # untagged lines before every tagged completion
    ("imap", True, True),
    ("pop3", True, False),
    ("sieve", True, False),
])
def test_dovecot_starttls_go_ahead_is_accepted(dovecot, pki, protocol: str,
                                               caps_in_greeting: bool,
                                               untagged_first: bool) -> None:
    port, _ = dovecot(protocol=protocol, caps_in_greeting=caps_in_greeting,
                      untagged_first=untagged_first)
    report = verify(SERVICE[protocol], port, pki.ca)
    bad = [r.to_dict() for r in report.results if r.status is not Status.PASS and r.port]
    assert bad == []
    [mode] = report.find("port.mode")
    assert mode.evidence["mode"] == "starttls"
    assert "STARTTLS refused" not in " ".join(r.summary for r in report.results)
    assert {r.id for r in report.results} >= {"tls.handshake", "tls.cert.trusted",
                                              "auth.before_tls", "tls.starttls.injection"}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "sieve"])
def test_starttls_injection_in_dovecot_like_servers(dovecot, pki, protocol: str) -> None:
    port, _ = dovecot(protocol=protocol, injectable=True)
    report = verify(SERVICE[protocol], port, pki.ca)
    [result] = report.find("tls.starttls.injection")
    assert result.status is Status.FAIL
    assert "CVE-2011-0411" in result.summary
    assert result.evidence["answer_inside_tls"]
    assert status(report, "tls.handshake") is Status.PASS  # the main session is unharmed


def test_starttls_injection_smtp(scripted, pki) -> None:
    vulnerable, _ = scripted(injectable=True)
    fixed, _ = scripted()
    for service in ("smtp", "submission"):
        bad = verify(service, vulnerable, pki.ca)
        [result] = bad.find("tls.starttls.injection")
        assert result.status is Status.FAIL, result
        assert result.evidence["answer_inside_tls"] == "250 2.0.0 Ok"
        assert result.evidence["sent"] == ["STARTTLS", "NOOP"]
        assert bad.exit_code == 1
        good = verify(service, fixed, pki.ca)
        assert status(good, "tls.starttls.injection") is Status.PASS


def test_no_injection_test_on_implicit_tls_ports(scripted, pki) -> None:
    port, _ = scripted(implicit=pki.server_context())
    report = verify("submissions", port, pki.ca)
    assert report.find("tls.starttls.injection") == []


@pytest.mark.parametrize(("answer", "hang_up", "words"), [
    (b"554 5.5.1 Error: improper command pipelining after STARTTLS\r\n", True, "554 5.5.1"),
    (b"220 2.0.0 Ready to start TLS\r\n", True, "hung up before our handshake began"),
    # Dovecot 2.4: the pipelined command is read as the start of the handshake, answered with
    # a TLS alert at once, and the connection stays open
    (b"220 2.0.0 Ready to start TLS\r\n\x15\x03\x03\x00\x02\x02\x50", False,
     "broke off with a TLS alert before our handshake began"),
    # ...or, when the command's bytes read as the header of a long record, waits for the rest
    # of it: the handshake never completes
    (b"220 2.0.0 Ready to start TLS\r\n", False, "did not complete the TLS handshake"),
])
def test_a_server_refusing_pipelined_starttls_passes(loop, pki, answer: bytes, hang_up: bool,
                                                      words: str) -> None:
    """Some servers answer STARTTLS with pipelined input behind it with an error, or hang up
    in the handshake: that is safe, and the ordinary session (no pipelining) gets its TLS."""
    from tests.unit.verify.servers import Scripted, serve

    class Strict(Scripted):
        async def __call__(self, reader, writer) -> None:  # type: ignore[override]
            original = reader.readline

            async def readline() -> bytes:
                line = await original()
                if line.upper().startswith(b"STARTTLS") and reader._buffer:
                    writer.write(answer)
                    await writer.drain()
                    if not hang_up:
                        await reader.read()  # until the client goes
                    writer.transport.abort()
                    return b""
                return line

            reader.readline = readline  # type: ignore[method-assign]
            await super().__call__(reader, writer)

    port, handle = serve(loop, Strict(starttls=pki.server_context()))
    try:
        report = verify("smtp", port, pki.ca)
    finally:
        loop.loop.call_soon_threadsafe(handle.close)
    [result] = report.find("tls.starttls.injection")
    assert result.status is Status.PASS, result
    assert words in result.summary
    assert status(report, "tls.handshake") is Status.PASS


@pytest.mark.parametrize(("protocol", "offered"), [
    ("imap", "AUTH=PLAIN, LOGIN (no LOGINDISABLED)"),
    ("pop3", "USER, SASL PLAIN"),  # RFC 2449: USER is USER/PASS, a cleartext password
    ("sieve", "SASL PLAIN"),
])
def test_login_before_tls_on_dovecot_ports(dovecot, pki, protocol: str, offered: str) -> None:
    port, _ = dovecot(protocol=protocol, plaintext_auth=True)
    report = verify(SERVICE[protocol], port, pki.ca)
    [result] = report.find("auth.before_tls")
    assert result.status is Status.FAIL
    assert f"offers login before TLS: {offered};" in result.summary
    assert "disable_plaintext_auth" in result.remedy
