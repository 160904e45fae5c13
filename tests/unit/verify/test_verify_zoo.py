"""`postwright verify` against the zoo: one misconfiguration each, the exact finding each."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from postwright.cli import main
from postwright.verify import Status, VerifyOptions, run_verify
from tests.unit.verify.runs import NAME, one, verify_one
from tests.unit.verify.servers import PASSWORD, USER, free_port


def test_a_correct_host_passes_everything(good, pki, tmp_path: Path, capsys) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    out = tmp_path / "report.json"
    junit = tmp_path / "report.xml"
    code = main(["verify", "127.0.0.1", "--servername", NAME, "--ca-file", pki.ca,
                 "--domain", "example.test", "--no-dns", *good.args(), "--user", USER,
                 "--password-file", str(secret), "--json", str(out), "--junit", str(junit),
                 "--receive-wait", "5"])
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    bad = [r for r in data["results"] if r["status"] not in ("pass",)]
    assert bad == []
    assert code == 0
    ids = {(r["id"], r["port"]) for r in data["results"]}
    p = good.ports
    for check in ("port.mode", "tls.handshake", "tls.cert.trusted", "tls.cert.hostname",
                  "tls.cert.expiry", "tls.protocol.legacy_refused"):
        for service in ("smtp", "submission", "submissions", "imaps"):
            assert (check, p[service]) in ids, (check, service)
    assert {("auth.before_tls", p["smtp"]), ("auth.before_tls", p["submission"]),
            ("auth.on_mx", p["smtp"]), ("submission.requires_tls", p["submission"]),
            ("relay.open", p["smtp"]), ("relay.open", p["submission"]),
            ("relay.open", p["submissions"]), ("send.25", p["smtp"]),
            ("send.587", p["submission"]), ("send.465", p["submissions"]),
            ("imap.receive", p["imaps"]), ("names.consistency", p["smtp"])} <= ids
    receive = next(r for r in data["results"] if r["id"] == "imap.receive")
    messages = receive["evidence"]["messages"]
    assert len(messages) == 3
    assert all(m["spf"] == "pass" and m["dmarc"] == "pass" for m in messages.values())
    assert all(0 <= m["latency_s"] < 5 for m in messages.values())
    assert good.imap.expunged
    assert good.imap.expunged == good.imap.deleted
    # the smuggling probe wrote to the --user mailbox: one message per variant, all deleted
    assert {("smtp.smuggling", p["smtp"]), ("smtp.pipelining", p["smtp"])} <= ids
    assert receive["evidence"]["probe_messages"]["deleted"] == 4
    assert "4 smtp.smuggling probe messages" in receive["summary"]
    assert not [m for m in good.imap._visible().values() if b"X-Postwright-Probe" in m]
    assert PASSWORD not in text
    assert PASSWORD not in out.read_text()
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "0"  # noqa: S314
    assert data["duration_s"] < 6
    assert "127.0.0.1:" in text
    assert "PASS" in text


def test_json_shape_and_exit_code_of_a_failing_host(scripted, capsys) -> None:
    port, _ = scripted(open_relay=True)
    code = main(["verify", "127.0.0.1", "--no-dns", "--port", f"smtp={port}", "--service",
                 "smtp", "--json", "-", "--timeout", "2"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(data) == {"target", "duration_s", "results"}
    assert data["target"] == "127.0.0.1"
    assert isinstance(data["duration_s"], float)
    for result in data["results"]:
        assert set(result) == {"id", "status", "ip", "port", "summary", "evidence", "remedy"}
        assert result["status"] in ("pass", "warn", "fail", "skip", "error")
        assert isinstance(result["evidence"], dict)
        if result["status"] == "skip":
            assert result["summary"]
    relay = next(r for r in data["results"] if r["id"] == "relay.open")
    assert relay["status"] == "fail"
    assert relay["summary"].startswith("OPEN RELAY")
    assert "reject_unauth_destination" in relay["remedy"]
    sends = [r for r in data["results"] if r["id"].startswith("send.")]
    assert sends
    assert all(r["status"] == "skip" for r in sends)
    assert all("--user" in r["summary"] for r in sends)


@pytest.mark.parametrize("argv", [
    ["verify", "127.0.0.1", "--port", "smtp=x"],
    ["verify", "127.0.0.1", "--port", "nosuch=25"],
    ["verify", "127.0.0.1", "--service", "nosuch", "--no-dns"],
    ["verify", "127.0.0.1", "--resolver", "dns.example:53"],
    ["verify", "127.0.0.1", "--password-file", "/nonexistent"],
    ["verify", "127.0.0.1", "--deadline", "0"],
])
def test_usage_errors_exit_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    assert "postwright: error:" in capsys.readouterr().err


def test_user_without_password_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("POSTWRIGHT_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["verify", "127.0.0.1", "--no-dns", "--user", USER]) == 2
    assert "never on the command line" in capsys.readouterr().err


def test_implicit_tls_on_the_starttls_port(scripted, pki) -> None:
    port, _ = scripted(implicit=pki.server_context())
    report = verify_one("submission", port, pki.ca)
    mode = one(report, "port.mode")
    assert mode.status is Status.FAIL
    assert mode.evidence["mode"] == "implicit-tls"
    assert mode.evidence["expected"] == "starttls"
    assert mode.evidence["elapsed_s"] < 1.0
    assert "will wait for a banner and time out" in mode.summary
    assert one(report, "tls.handshake").status is Status.PASS
    assert one(report, "auth.before_tls").status is Status.SKIP
    assert report.exit_code == 1


def test_starttls_on_the_implicit_port(scripted, pki) -> None:
    port, _ = scripted()
    report = verify_one("submissions", port, pki.ca)
    mode = one(report, "port.mode")
    assert mode.status is Status.FAIL
    assert mode.evidence["mode"] == "starttls"
    assert "smtpd_tls_wrappermode=yes" in mode.remedy


def test_starttls_advertised_but_handshake_fails(scripted, pki) -> None:
    port, _ = scripted(broken_starttls=True)
    report = verify_one("smtp", port, pki.ca)
    assert one(report, "port.mode").status is Status.PASS
    handshake = one(report, "tls.handshake")
    assert handshake.status is Status.FAIL
    # the fixture sends a handshake_failure alert and closes: the alert, the close, or (when
    # our ClientHello reaches the closed socket first, as under load) a reset may reach us first
    assert handshake.summary.removeprefix(f"TLS on port {port} failed: ") in (
        "the server closed the connection during the TLS handshake",
        "the server closed the connection (TCP reset) during the TLS handshake",
        "the server closed the connection while we were still sending during the TLS handshake",
        "the server refused the handshake (no cipher or version in common) (sslv3 alert "
        "handshake failure)"), handshake.summary
    assert one(report, "tls.cert.trusted").status is Status.SKIP


def test_auth_before_tls(scripted, pki) -> None:
    port, _ = scripted(auth_before_tls=True)
    report = verify_one("submission", port, pki.ca)
    auth = one(report, "auth.before_tls")
    assert auth.status is Status.FAIL
    assert "AUTH PLAIN LOGIN" in auth.summary
    assert "smtpd_tls_auth_only" in auth.remedy
    assert one(report, "submission.requires_tls").status is Status.PASS


def test_auth_on_the_mx_port_after_starttls(scripted, pki) -> None:
    port, _ = scripted(auth_after_tls=True)
    report = verify_one("smtp", port, pki.ca)
    auth = one(report, "auth.on_mx")
    assert auth.status is Status.FAIL
    assert auth.evidence["stage"] == "after STARTTLS"
    assert one(report, "auth.before_tls").status is Status.PASS


def test_submission_accepts_mail_before_starttls(scripted, pki) -> None:
    port, _ = scripted(mail_before_tls=250)
    report = verify_one("submission", port, pki.ca)
    check = one(report, "submission.requires_tls")
    assert check.status is Status.FAIL
    assert "accepts MAIL FROM" in check.summary


@pytest.mark.parametrize(("which", "check", "status", "words"), [
    ("selfsigned", "tls.cert.trusted", Status.FAIL, "self-signed certificate"),
    ("expired", "tls.cert.expiry", Status.FAIL, "EXPIRED 3 days ago (not after "),
    ("wrongname", "tls.cert.hostname", Status.FAIL, "do not cover mail.example.test"),
    ("soon", "tls.cert.expiry", Status.WARN, "expires in 5 days (not after "),
])
def test_certificate_problems(scripted, pki, which: str, check: str, status: Status,
                              words: str) -> None:
    port, server = scripted(starttls=pki.server_context(which))
    report = verify_one("smtp", port, pki.ca)
    result = one(report, check)
    assert result.status is status
    assert words in result.summary
    others = {"tls.cert.trusted", "tls.cert.expiry", "tls.cert.hostname"} - {check}
    assert all(one(report, o).status is Status.PASS for o in others)
    assert one(report, "relay.open").status is Status.PASS  # the session went on after TLS
    extra = 1 if which == "selfsigned" else 0  # one more connection to read an untrusted cert
    # session + legacy, injection and pipelining tests (no smuggling recipient)
    assert server.connections == 4 + extra


def test_tls_1_0_accepted(scripted, pki) -> None:
    port, _ = scripted(implicit=pki.server_context(legacy=True))
    report = verify_one("submissions", port, pki.ca)
    legacy = one(report, "tls.protocol.legacy_refused")
    assert legacy.status is Status.FAIL
    assert legacy.evidence["version"] in ("TLSv1", "TLSv1.1")
    assert one(report, "tls.handshake").status is Status.PASS


def test_open_relay(scripted, pki) -> None:
    port, _ = scripted(open_relay=True)
    relay = one(verify_one("smtp", port, pki.ca), "relay.open")
    assert relay.status is Status.FAIL
    assert relay.evidence["steps"][-1].startswith("RCPT TO:<postwright-relay-probe@relay-test.")


def test_421_on_connect(scripted, pki) -> None:
    port, _ = scripted(greeting="421 4.7.0 Too many connections")
    report = verify_one("smtp", port, pki.ca)
    mode = one(report, "port.mode")
    assert mode.status is Status.FAIL
    assert mode.evidence["mode"] == "rejected"
    assert one(report, "relay.open").status is Status.SKIP
    assert "rejected" in one(report, "relay.open").summary


def test_connection_dropped_mid_data(scripted, pki) -> None:
    port, _ = scripted(drop_in_data=True)
    report = verify_one("smtp", port, pki.ca, user=USER, password=PASSWORD)
    send = one(report, "send.25")
    assert send.status is Status.FAIL
    assert send.evidence["stage"] == "message"
    assert "dropped the message" in send.summary


def test_closed_port() -> None:
    report = verify_one("smtp", free_port())
    mode = one(report, "port.mode")
    assert mode.status is Status.FAIL
    assert mode.evidence["mode"] == "closed"
    assert one(report, "tls.handshake").status is Status.SKIP


def test_global_deadline_bounds_a_run_against_tarpits(loop) -> None:
    from tests.unit.verify.servers import serve, tarpit

    port, server = serve(loop, tarpit)
    try:
        opts = VerifyOptions("127.0.0.1", ports={"smtp": port, "submission": port},
                             services=["smtp", "submission"], dns=False, deadline=1.0,
                             step_timeout=5)
        report = run_verify(opts)
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    assert report.duration_s < 2.5
    modes = report.find("port.mode")
    assert len(modes) == 2
    assert all(r.status is Status.ERROR and "deadline" in r.summary for r in modes)
    assert report.exit_code == 3  # nothing *failed*, but the run could not finish (EXIT_ERROR)


def test_reset_during_the_handshake_in_plain_words(scripted, pki) -> None:
    port, _ = scripted(reset_in_handshake=True)
    report = verify_one("submission", port, pki.ca)
    handshake = one(report, "tls.handshake")
    assert handshake.status is Status.FAIL
    assert handshake.summary == (f"TLS on port {port} failed: the server closed the connection "
                                 "(TCP reset) during the TLS handshake")
    words = " ".join(r.summary for r in report.results)
    assert re.search(r"[A-Z]\w*(Error|Exception)\b", words) is None  # no Python class names


def test_expiry_days_are_calendar_days(tmp_path: Path) -> None:
    import datetime as dt

    from postwright.verify.tlsinfo import CertFacts
    from tests.unit.verify.pki import leaf_der

    now = dt.datetime(2026, 3, 10, 0, 30, tzinfo=dt.UTC)
    for not_after, days in [(dt.datetime(2026, 3, 7, 23, 59, tzinfo=dt.UTC), -3),
                            (dt.datetime(2026, 3, 7, 0, 31, tzinfo=dt.UTC), -3),
                            (dt.datetime(2026, 3, 10, 0, 10, tzinfo=dt.UTC), 0),
                            (dt.datetime(2026, 3, 15, 0, 1, tzinfo=dt.UTC), 5)]:
        assert CertFacts.from_der(leaf_der(not_after), now).days_left == days, not_after
