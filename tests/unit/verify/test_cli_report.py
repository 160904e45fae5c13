"""The command line around verify: exit codes, the terminal report, --list-checks, the
registry the expectations derive from, and the speed of a run against dropped ports."""

from __future__ import annotations

import io
import json
import re
import socket
import time
from pathlib import Path

import pytest

from postwright.cli import main
from postwright.contract import load_contract
from postwright.errors import UsageError
from postwright.verify import Report, Status, VerifyOptions, run_verify
from postwright.verify.model import EXIT_ERROR, EXIT_FAIL, CheckResult
from postwright.verify.registry import all_checks, check_ids, port_check_ids
from postwright.verify.report import Progress, render_text
from postwright.verify.resolver import parse_resolver
from tests.unit.verify.servers import PASSWORD, USER, serve, tarpit

NAME = "mail.example.test"


@pytest.mark.parametrize(("spec", "words"), [
    ("1.2.3.4:abc", "the port must be a number from 1 to 65535, not 'abc'"),
    ("1.2.3.4:0", "not '0'"),
    ("[2001:db8::1]:x", "not 'x'"),
    ("[2001:db8::1]53", "[IPv6]:port"),
    ("ns1.example:53", "an address, not a name"),
])
def test_parse_resolver_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_resolver(spec)


def test_parse_resolver_forms() -> None:
    assert parse_resolver("192.0.2.53") == ("192.0.2.53", 53)
    assert parse_resolver("192.0.2.53:5353") == ("192.0.2.53", 5353)
    assert parse_resolver("2001:db8::53") == ("2001:db8::53", 53)
    assert parse_resolver("[2001:db8::53]:5353") == ("2001:db8::53", 5353)


def test_bad_resolver_port_exits_2_without_traceback(capsys) -> None:
    assert main(["verify", "127.0.0.1", "--resolver", "1.2.3.4:abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("postwright: error: --resolver '1.2.3.4:abc': the port must be")
    assert "Traceback" not in err


def test_errors_exit_3_failures_exit_1(loop, scripted, capsys) -> None:
    port, server = serve(loop, tarpit)
    try:
        code = main(["verify", "127.0.0.1", "--no-dns", "--port", f"smtp={port}", "--service",
                     "smtp", "--deadline", "1"])
    finally:
        loop.loop.call_soon_threadsafe(server.close)
    assert "deadline" in capsys.readouterr().out
    assert code == EXIT_ERROR == 3
    relay, _ = scripted(open_relay=True)
    assert main(["verify", "127.0.0.1", "--no-dns", "--port", f"smtp={relay}", "--service",
                 "smtp", "--timeout", "2"]) == EXIT_FAIL == 1
    capsys.readouterr()


def test_exit_codes_are_documented(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text
    assert "3  no check failed, but at least one could not be carried out" in text
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert "| 3 | nothing failed, but a check could not be carried out" in readme


def test_probe_exits_1_when_advertised_starttls_fails(scripted, pki, capsys) -> None:
    broken, _ = scripted(broken_starttls=True)
    assert main(["probe", f"127.0.0.1:{broken}", "--ca-file", pki.ca, "--timeout", "2"]) == 1
    assert "STARTTLS is advertised, but the TLS handshake failed" in capsys.readouterr().out
    fine, _ = scripted()
    assert main(["probe", f"127.0.0.1:{fine}", "--ca-file", pki.ca, "--timeout", "2"]) == 0
    capsys.readouterr()


def _result(check: str, status: Status, summary: str, **kw: object) -> CheckResult:
    return CheckResult(check, status, summary, "192.0.2.1", 25, remedy="do this", **kw)  # type: ignore[arg-type]


def test_terminal_report_is_short_for_passes_and_full_for_problems() -> None:
    report = Report("mx.example", 1.25, [
        _result("port.mode", Status.PASS, "port 25 greets in plaintext SMTP and offers "
                "STARTTLS: a client configured for implicit TLS fails at once"),
        _result("relay.open", Status.FAIL, "OPEN RELAY: port 25 accepts mail for x"),
        _result("tls.protocol.legacy_refused", Status.ERROR, "could not reach it: timeout"),
        _result("auth.on_mx", Status.WARN, "something odd: see here"),
        CheckResult("imap.receive", Status.PASS, "all 1 messages read back", "192.0.2.1", 993,
                    evidence={"messages": {"192.0.2.1 25": {
                        "latency_s": 0.4, "spf": "pass", "dkim": "fail", "dmarc": "none"}}}),
    ])
    out = io.StringIO()
    render_text(report, out, colour=False)
    text = out.getvalue()
    lines = text.splitlines()
    assert "  PASS  port.mode                    port 25 greets in plaintext SMTP and offers " \
           "STARTTLS" in lines
    assert "implicit TLS fails at once" not in text  # a pass is one short line
    assert "OPEN RELAY: port 25 accepts mail for x" in text
    assert text.count("-> do this") == 3  # remedies of the warn, fail and error only
    assert "        via 192.0.2.1 25: spf=pass dkim=fail dmarc=none (0.4 s)" in lines
    assert lines[-1] == "2 pass, 1 warn, 1 fail, 1 error in 1.2 s"
    verbose = io.StringIO()
    render_text(report, verbose, colour=False, verbose=True)
    assert "implicit TLS fails at once" in verbose.getvalue()
    assert verbose.getvalue().count("-> do this") == 4
    assert '"latency_s": 0.4' in verbose.getvalue()


def test_progress_only_on_a_terminal(scripted, capsys, monkeypatch) -> None:
    port, _ = scripted()
    args = ["verify", "127.0.0.1", "--no-dns", "--port", f"smtp={port}", "--service", "smtp",
            "--timeout", "2"]
    main(args)
    assert "checking…" not in capsys.readouterr().err  # pytest's stdout is no TTY
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    main(args)
    err = capsys.readouterr().err
    assert re.search(rf"checking… \d+ done, last: port\.mode 127\.0\.0\.1:{port}\r", err)
    assert err.endswith("\r\x1b[K")  # cleared before the report
    progress = Progress(io.StringIO())
    progress(CheckResult("dns.mx", Status.PASS, "ok"))
    assert progress.done == 1


def test_list_checks_comes_from_the_registry(capsys) -> None:
    assert main(["verify", "--list-checks"]) == 0
    text = capsys.readouterr().out
    for check in all_checks():
        assert check.id in text
    assert "tls.starttls.injection" in text
    assert "[smtp, submission, imap, pop3, sieve]" in text  # the STARTTLS services
    assert main(["verify"]) == 2


def test_registry_ids_are_unique_and_cover_every_port() -> None:
    ids = [c.id for c in all_checks()]
    assert len(ids) == len(set(ids))
    contract = load_contract()
    smtp = port_check_ids(contract.service("smtp"))
    assert smtp[:1] == ["port.mode"]
    assert {"auth.on_mx", "relay.open", "tls.starttls.injection"} <= set(smtp)
    assert "submission.requires_tls" in port_check_ids(contract.service("submission"))
    assert "tls.starttls.injection" not in port_check_ids(contract.service("imaps"))
    assert "tls.cert.current" in port_check_ids(contract.service("imaps"),
                                                options=frozenset({"--expect-cert"}))
    assert {"send.25", "send.465", "send.587", "imap.receive"} <= check_ids()


def test_every_reported_id_is_registered(good, pki, tmp_path: Path, capsys) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    out = tmp_path / "r.json"
    main(["verify", "127.0.0.1", "--servername", NAME, "--ca-file", pki.ca, "--domain",
          "example.test", "--no-dns", *good.args(), "--user", USER, "--password-file",
          str(secret), "--json", str(out), "--receive-wait", "5"])
    capsys.readouterr()
    reported = {r["id"] for r in json.loads(out.read_text())["results"]}
    assert reported <= check_ids()
    assert "tls.starttls.injection" in reported


def _dropping(sockets: list[socket.socket]) -> int:
    """A loopback port whose SYNs are dropped: a listener with a full accept queue (Linux),
    which is what a firewall's DROP looks like from outside."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    sockets += [listener, socket.create_connection(("127.0.0.1", port), timeout=2)]
    probe = socket.socket()
    sockets.append(probe)
    probe.settimeout(0.1)
    with pytest.raises(TimeoutError):
        probe.connect(("127.0.0.1", port))
    return port


def test_dropped_optional_ports_cost_little(good, pki, sockets) -> None:
    optional = [s.name for s in load_contract().services.values() if s.optional]
    ports = {**good.ports, **{name: _dropping(sockets) for name in optional}}
    started = time.monotonic()
    report = run_verify(VerifyOptions("127.0.0.1", servername=NAME, ca_file=pki.ca,
                                      ports=ports, services=list(ports), dns=False,
                                      domain="example.test"))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert [r.to_dict() for r in report.results
            if r.status in (Status.FAIL, Status.ERROR)] == []
    optional_ports = {ports[name] for name in optional}
    assert [r for r in report.results if r.port in optional_ports] == []  # off: not reported
    assert {r.port for r in report.find("port.mode")} == set(good.ports.values())
