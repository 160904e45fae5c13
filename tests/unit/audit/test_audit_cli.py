"""`postwright audit`: the command line, the transport's failures (a fake ssh on PATH that
fails or hangs: a clear error within the deadline, exit code 3), and the link from verify's
network findings to their causes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from postwright.audit import collect
from postwright.audit.link import CAUSES
from postwright.audit.registry import RULES, rule_ids
from postwright.cli import main
from postwright.verify.model import EXIT_ERROR
from postwright.verify.registry import check_ids
from tests.unit.audit.host import MARK, Host, hand_built
from tests.unit.audit.test_audit_rules import no_wrappermode


def saved(host: Host, tmp_path: Path) -> Path:
    path = tmp_path / "host.out"
    path.write_text(f"{MARK}\n{host.output()}")
    return path


def test_list_rules_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--list-rules"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [r.id for r in RULES]


def test_help_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = capsys.readouterr().out
    for words in ("read-only", "Nothing on the host is changed", "--verify-report",
                  "exit codes", "--ansible-inventory"):
        assert words in out


def test_no_host_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 2
    assert "exactly one of HOST" in capsys.readouterr().err


def test_report_json_junit_and_exit_code(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    host = hand_built("trixie")
    no_wrappermode(host)
    junit = tmp_path / "audit.xml"
    code = main(["audit", "mail.example.test", "--from-output", str(saved(host, tmp_path)),
                 "--json", "-", "--junit", str(junit)])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    [bad] = [r for r in report["results"] if r["status"] == "fail"]
    assert bad["id"] == "audit.postfix.wrappermode"
    assert bad["port"] == 465
    assert bad["evidence"]["file"] == "/etc/postfix/master.cf"
    assert '<testcase classname="postfix" name="audit.postfix.wrappermode">' in \
        junit.read_text()


def test_terminal_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = hand_built("bookworm")
    no_wrappermode(host)
    main(["audit", "mx", "--from-output", str(saved(host, tmp_path))])
    out = capsys.readouterr().out
    assert out.startswith("postwright audit mx")
    assert ("-> /etc/postfix/master.cf submissions/inet has no -o smtpd_tls_wrappermode -> "
            "postconf -P 'submissions/inet/smtpd_tls_wrappermode=yes' && postfix reload") in out


def test_verify_findings_are_linked_to_their_cause(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    host = hand_built("bookworm")
    no_wrappermode(host)
    verify = tmp_path / "verify.json"
    verify.write_text(json.dumps({"target": "mx", "duration_s": 1, "results": [
        {"id": "port.mode", "status": "fail", "ip": "192.0.2.1", "port": 465,
         "summary": "port 465 speaks plaintext + STARTTLS", "evidence": {}, "remedy": ""},
        {"id": "port.mode", "status": "pass", "ip": "192.0.2.1", "port": 25,
         "summary": "ok", "evidence": {}, "remedy": ""},
    ]}))
    assert main(["audit", "mx", "--from-output", str(saved(host, tmp_path)),
                 "--verify-report", str(verify)]) == 1
    out = capsys.readouterr().out
    linked = out.split("network findings (postwright verify) and their causes")[1]
    assert "FAIL  port.mode port 465: port 465 speaks plaintext + STARTTLS" in linked
    assert ("cause: /etc/postfix/master.cf submissions/inet has no -o smtpd_tls_wrappermode"
            " -> postconf -P 'submissions/inet/smtpd_tls_wrappermode=yes'") in linked
    assert "port 25" not in linked


def test_every_linked_id_exists() -> None:
    assert set(CAUSES) <= check_ids()
    assert {rule for rules in CAUSES.values() for rule in rules} <= rule_ids()


def _fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    ssh = tmp_path / "ssh"
    ssh.write_text(f"#!/bin/sh\n{body}\n")
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")


def test_ssh_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _fake_ssh(tmp_path, monkeypatch, "echo 'ssh: connect to host mx port 22: Connection "
              "refused' >&2; exit 255")
    assert main(["audit", "mx"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "cannot read ssh mx: ssh: connect to host mx port 22: Connection refused" in err
    assert "Traceback" not in err


def test_sudo_password_prompt_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _fake_ssh(tmp_path, monkeypatch, "echo 'sudo: a password is required' >&2; exit 1")
    assert main(["audit", "mx", "--user", "admin"]) == EXIT_ERROR
    assert "passwordless sudo" in capsys.readouterr().err


def test_a_hanging_host_ends_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """ssh that never answers (and a child holding the output pipe): the whole process group
    goes at the deadline."""
    _fake_ssh(tmp_path, monkeypatch, "sleep 30 & sleep 30")
    started = time.monotonic()
    assert main(["audit", "mx", "--deadline", "1"]) == EXIT_ERROR
    assert time.monotonic() - started < 5
    assert "did not answer within 1 s" in capsys.readouterr().err


def test_ssh_argv_is_batch_mode_and_read_only() -> None:
    transport = collect.ssh("mx", port=2222, user="admin", connect_timeout=5)
    assert transport.argv[-2:] == ("admin@mx", "sudo -n sh -s")
    assert "BatchMode=yes" in transport.argv
    assert "ConnectTimeout=5" in transport.argv
    assert transport.argv[transport.argv.index("-p"):][:2] == ("-p", "2222")


def test_the_script_parses_and_carries_the_contract() -> None:
    job = collect.script()
    done = subprocess.run(["sh", "-n"], input=job.text, text=True, capture_output=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "PORTS='25/smtp/starttls 465/smtp/implicit 587/smtp/starttls" in job.text
    assert job.mark in job.text
    assert job.mark != collect.script().mark
    # never a key's content: every `openssl pkey` reading a key writes only its public half
    for line in job.text.splitlines():
        if "openssl pkey -in" in line:
            assert "-pubout" in line


def test_ansible_result_is_read_from_the_json_callback() -> None:
    doc = {"plays": [{"tasks": [{"hosts": {"mx1": {"rc": 0, "stdout": "facts\n"}}}]}]}
    assert collect.ansible_stdout("noise\n" + json.dumps(doc), "mx1", "x") == "facts\n"
    unreachable = {"plays": [{"tasks": [{"hosts": {"mx1": {"unreachable": True,
                                                            "msg": "no route"}}}]}]}
    with pytest.raises(collect.CollectError, match="no route"):
        collect.ansible_stdout(json.dumps(unreachable), "mx1", "x")
    with pytest.raises(collect.CollectError, match="no result for mx1"):
        collect.ansible_stdout("{}", "mx1", "x")
