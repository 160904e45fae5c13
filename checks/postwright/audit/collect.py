"""Run collect.sh on the host in one round trip, read-only, within a deadline.

Transports: `ssh [-p PORT] HOST sudo -n sh -s` (BatchMode: a password prompt fails at once
instead of hanging), an Ansible inventory host (`ansible NAME -m ansible.builtin.script`, run
from the repository root so that ansible.cfg finds the lab's connection plugin), or the local
machine. The script's prelude carries the contract's ports and the settings the rules read,
so neither is spelled out in the script.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from postwright.audit.registry import dovecot_params, postfix_params
from postwright.contract import load_contract
from postwright.errors import PostwrightError
from postwright.verify.model import EXIT_ERROR

SCRIPT = Path(__file__).with_name("collect.sh")
REPO = Path(__file__).resolve().parents[3]


def _ansible() -> str:
    """The ansible of the environment postwright runs in (a virtualenv's bin need not be on
    PATH), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible"
    return str(beside) if beside.exists() else shutil.which("ansible") or "ansible"


class CollectError(PostwrightError):
    """The host could not be read: nothing is judged (verify's "could not check" code)."""

    exit_code = EXIT_ERROR


@dataclass(frozen=True)
class Script:
    text: str
    mark: str  # the section marker of this run


def script() -> Script:
    mark = f"@@postwright-audit-{secrets.token_hex(8)}@@"
    ports = " ".join(f"{s.port}/{s.protocol}/{s.tls.value}"
                     for s in load_contract().services.values())
    prelude = "\n".join([
        f"MARK={shlex.quote(mark)}",
        f"PORTS={shlex.quote(ports)}",
        f"POSTFIX_PARAMS={shlex.quote(' '.join(postfix_params()))}",
        f"DOVECOT_PARAMS={shlex.quote(' '.join(dovecot_params()))}",
    ])
    return Script(prelude + "\n" + SCRIPT.read_text(), mark)


@dataclass(frozen=True)
class Transport:
    """How to reach the host: argv that runs `sh` reading the script on stdin, or an Ansible
    host (the script travels as a file)."""

    description: str
    argv: tuple[str, ...] = ()
    ansible_inventory: str | None = None
    ansible_host: str | None = None


def ssh(host: str, *, port: int | None = None, user: str | None = None,
        connect_timeout: float = 10.0) -> Transport:
    target = f"{user}@{host}" if user else host
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(connect_timeout))}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]
    if port:
        argv += ["-p", str(port)]
    argv += ["--", target, "sudo -n sh -s"]
    return Transport(f"ssh {target}", tuple(argv))


def local() -> Transport:
    sudo = () if os.geteuid() == 0 else ("sudo", "-n")
    return Transport("this machine", (*sudo, "sh", "-s"))


def ansible(inventory: str, host: str) -> Transport:
    return Transport(f"ansible host {host}", ansible_inventory=inventory, ansible_host=host)


def _run(argv: list[str], *, stdin: str | None, deadline: float, what: str,
         cwd: Path | None = None, env: dict[str, str] | None = None,
         ok_codes: tuple[int, ...] = (0,)) -> str:
    try:
        # a session of its own: on the deadline the whole group goes, so that no child left
        # holding the output pipe (ssh's ProxyCommand, a hung sudo) keeps us waiting
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
                                start_new_session=True)
    except FileNotFoundError:
        raise CollectError(f"cannot reach {what}: {argv[0]} is not installed") from None
    try:
        stdout, stderr = proc.communicate(stdin, timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise CollectError(f"{what} did not answer within {deadline:.0f} s (--deadline); "
                           "nothing was judged") from None
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if done.returncode not in ok_codes:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        if "password is required" in done.stderr or "a terminal is required" in done.stderr:
            why += " (audit needs passwordless sudo for the read-only commands, or root)"
        raise CollectError(f"cannot read {what}: {why}")
    return done.stdout


def collect(transport: Transport, deadline: float) -> tuple[str, str]:
    """(output, mark) of collect.sh on the host; CollectError on any failure or timeout."""
    job = script()
    if transport.ansible_host is None:
        return _run(list(transport.argv), stdin=job.text, deadline=deadline,
                    what=transport.description), job.mark
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as handle:
        handle.write(job.text)
    try:
        # privilege comes from the inventory (ansible_become for a non-root login), as in the
        # admin's playbooks: forcing --become would break hosts reached as root without sudo
        argv = [_ansible(), str(transport.ansible_host), "-i", str(transport.ansible_inventory),
                "-m", "ansible.builtin.script", "-a",
                f"{handle.name} executable=/bin/sh"]
        # the json callback: one document holding the script's stdout, whatever ansible.cfg
        # says about ad-hoc output
        env = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
        output = _run(argv, stdin=None, deadline=deadline, what=transport.description,
                      cwd=REPO, env=env, ok_codes=(0, 2, 4))
    finally:
        os.unlink(handle.name)
    return ansible_stdout(output, transport.ansible_host or "", transport.description), job.mark


def ansible_stdout(output: str, host: str, what: str) -> str:
    """The script's stdout from the json callback's document."""
    try:
        result = json.loads(output[output.find("{"):])["plays"][0]["tasks"][0]["hosts"][host]
    except (ValueError, KeyError, IndexError, TypeError):
        raise CollectError(f"cannot read {what}: ansible printed no result for {host} "
                           "(is it in the inventory?)") from None
    if result.get("unreachable") or result.get("failed") or result.get("rc", 0) != 0:
        why = result.get("msg") or result.get("stderr") or "failed"
        raise CollectError(f"cannot read {what}: {str(why).strip()}")
    return str(result.get("stdout", ""))
