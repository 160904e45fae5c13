"""smtp.smuggling and smtp.pipelining on the MX port, against scripted loopback servers: one
that ends DATA at a bare end-of-data variant (vulnerable), one that rejects bare LF, one that
normalizes it (Postfix's default), one that enforces pipelining synchronisation and one that
does not."""

from __future__ import annotations

import time

import pytest

from postwright.cli import main
from postwright.verify import Status, VerifyOptions, run_verify
from postwright.verify.smuggling import NOBODY, SUBJECT, VARIANTS
from tests.unit.verify.runs import NAME, one, verify_one
from tests.unit.verify.servers import USER, Mailbox


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_server_ending_data_at_a_variant_fails_naming_it(scripted, pki, variant: str) -> None:
    mailbox = Mailbox()
    port, _ = scripted(smuggle_ends=(VARIANTS[variant],), mailbox=mailbox)
    report = verify_one("smtp", port, pki.ca, smuggle_rcpt=USER)
    result = one(report, "smtp.smuggling")
    assert result.status is Status.FAIL
    # a server fooled by <LF>.<LF> is fooled by <CR><LF>.<LF> too: it holds the same bytes
    guilty = {v for v, seq in VARIANTS.items() if VARIANTS[variant] in seq}
    assert f"ended the message at {variant} (answered 250" in result.summary
    assert not any(f"at {v} " in result.summary or f", {v} (" in result.summary
                   for v in set(VARIANTS) - guilty)  # only the guilty variants are named
    assert "smtpd_forbid_bare_newline = normalize" in result.remedy
    assert "Exim >= 4.97.1" in result.remedy
    seen = result.evidence["variants"]
    assert {v for v in VARIANTS if seen[v]["verdict"] == "smuggled"} == guilty
    assert {seen[v]["accepted"] for v in guilty} == {2}  # the message and the smuggled one
    assert {seen[v]["verdict"] for v in set(VARIANTS) - guilty} == {"one"}
    # one message per variant, and one more per guilty variant: the recipient is told
    delivered = len(VARIANTS) + len(guilty)
    assert result.evidence["delivered"] == delivered
    assert f"{delivered} probe messages (subject '{SUBJECT} ...') delivered to {USER}" \
        in result.summary
    assert len(mailbox.messages) == delivered
    smuggled = [m for m in mailbox.messages if b"SMUGGLED second message" in
                m.split(b"\r\n\r\n", 1)[0]]
    assert len(smuggled) == len(guilty)
    assert one(report, "smtp.pipelining").status is Status.PASS  # the session is unharmed


def test_a_normalizing_server_passes_with_one_message_per_variant(scripted, pki) -> None:
    mailbox = Mailbox()
    port, server = scripted(mailbox=mailbox)
    report = verify_one("smtp", port, pki.ca, smuggle_rcpt=USER)
    result = one(report, "smtp.smuggling")
    assert result.status is Status.PASS, result.summary
    for variant in VARIANTS:
        assert f"{variant} one message" in result.summary
    assert f"4 probe messages (subject '{SUBJECT} ...') delivered to {USER}" in result.summary
    assert all(v["tls"] for v in result.evidence["variants"].values())  # STARTTLS was used
    assert len(mailbox.messages) == 4
    assert all(f"Subject: {SUBJECT}".encode() in m for m in mailbox.messages)
    assert sum(c == "MAIL FROM:<>" for c in server.commands) == 4  # one message each


def test_a_server_rejecting_bare_lf_passes(scripted, pki) -> None:
    mailbox = Mailbox()
    port, _ = scripted(bare_lf="reject", mailbox=mailbox)
    report = verify_one("smtp", port, pki.ca, smuggle_rcpt=USER)
    result = one(report, "smtp.smuggling")
    assert result.status is Status.PASS, result.summary
    assert "<LF>.<CR><LF> refused (550 5.5.2 Error: bare <LF> received)" in result.summary
    assert "<CR>.<CR><LF> one message" in result.summary  # a bare CR is no line end there
    assert len(mailbox.messages) == 1


def test_without_a_recipient_nothing_is_sent(scripted, pki) -> None:
    mailbox = Mailbox()
    port, server = scripted(mailbox=mailbox)
    report = verify_one("smtp", port, pki.ca)
    result = one(report, "smtp.smuggling")
    assert result.status is Status.SKIP
    assert result.summary == NOBODY
    assert "give --smuggle-rcpt ADDRESS or --user" in result.summary
    assert mailbox.messages == []
    assert not [c for c in server.commands if c.startswith(("DATA", "MAIL FROM:<>"))]


def test_user_is_the_default_recipient(scripted, pki, tmp_path, capsys) -> None:
    """--user (without --smuggle-rcpt) names the recipient; the round trip fails here (no
    IMAPS), which does not matter to the smuggling check."""
    mailbox = Mailbox()
    port, _ = scripted(mailbox=mailbox)
    secret = tmp_path / "pw"
    secret.write_text("x\n")
    main(["verify", "127.0.0.1", "--servername", NAME, "--ca-file", pki.ca, "--no-dns",
          "--domain", "example.test", "--port", f"smtp={port}", "--service", "smtp",
          "--user", USER, "--password-file", str(secret), "--receive-wait", "0.5",
          "--deadline", "8", "--timeout", "2", "--json", "-"])
    out = capsys.readouterr().out
    assert '"smtp.smuggling"' in out
    assert f"delivered to {USER}" in out
    assert any(f"To: <{USER}>".encode() in m for m in mailbox.messages)


def test_smuggle_rcpt_must_be_an_address(capsys) -> None:
    assert main(["verify", "127.0.0.1", "--smuggle-rcpt", "alice"]) == 2


def test_a_server_that_never_answers_the_message_is_bounded(scripted, pki) -> None:
    port, _ = scripted(hang_after_data=True)
    started = time.monotonic()
    report = run_verify(VerifyOptions(
        "127.0.0.1", servername=NAME, ca_file=pki.ca, ports={"smtp": port}, services=["smtp"],
        dns=False, deadline=8, step_timeout=1, domain="example.test", smuggle_rcpt=USER))
    elapsed = time.monotonic() - started
    result = one(report, "smtp.smuggling")
    assert result.status is Status.ERROR
    assert "no answer to the message" in result.summary
    assert elapsed < 4  # the variants run side by side, each one step after the message


def test_pipelining_enforced_passes(scripted, pki) -> None:
    port, _ = scripted()
    result = one(verify_one("smtp", port, pki.ca), "smtp.pipelining")
    assert result.status is Status.PASS
    assert "554 5.5.0 Error: SMTP protocol synchronization" in result.summary
    assert result.evidence["sent_in_one_write"][1] == "NOOP"


def test_lenient_pipelining_warns(scripted, pki) -> None:
    port, _ = scripted(lenient_pipelining=True)
    report = verify_one("smtp", port, pki.ca)
    result = one(report, "smtp.pipelining")
    assert result.status is Status.WARN
    assert "RFC 5321 allows" in result.summary
    assert "smtpd_forbid_unauth_pipelining = yes" in result.summary
    assert "smtpd_forbid_unauth_pipelining = yes" in result.remedy
    assert len(result.evidence["replies"]) == 2
    assert report.exit_code == 0  # a warning, not a failure


def test_the_checks_run_only_on_the_mx_port(scripted, pki) -> None:
    port, _ = scripted(auth_after_tls=True)
    report = run_verify(VerifyOptions(
        "127.0.0.1", servername=NAME, ca_file=pki.ca, ports={"submission": port},
        services=["submission"], dns=False, deadline=8, step_timeout=2,
        domain="example.test", smuggle_rcpt=USER))
    assert report.find("smtp.smuggling") == []
    assert report.find("smtp.pipelining") == []
