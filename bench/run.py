"""Benchmarks (`make bench`): Postwright against peer tools, side by side on the same lab host.

1. provisioning: lab host boot, fresh converge of playbooks/site.yml, idempotent re-run;
2. verification: `postwright verify` (every port, TLS, policy, round trip, DNS) against the same
   work done with swaks (25, 465, 587) plus testssl (each TLS port);
3. a mode mismatch: `postwright probe` on port 465 against `swaks -tls` (a STARTTLS client).

Every target is a lab address on this machine. Prints wall-clock seconds and ratios.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from postwright.lab.network import routed_via_lab

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INVENTORY = REPO / "inventories/example"
HOST, IPV4, IPV6, NAME = "mx1", "198.51.100.10", "2001:db8::10", "mail.example.test"
RESOLVER = "198.51.100.53"
CA = Path.home() / ".local/share/postwright/lab-ca/ca.crt"  # trusted by `verify`


def timed(argv: list[str], *, check: bool = True, timeout: float = 900,
          env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=REPO, env={**os.environ, **(env or {})})
    elapsed = time.monotonic() - started
    if check and done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                 f"\n{done.stderr[-3000:]}")
    return elapsed, done


def row(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<52} {seconds:8.2f} s  {note}")


def provisioning() -> None:
    print("provisioning (playbooks/site.yml on a fresh lab host)")
    timed([str(BIN / "postwright"), "lab", "down"])
    # build the image first if it is not cached, so the boot below is timed from the cache
    timed([sys.executable, "-c", "from postwright.lab.image import ensure_image; "
           "from postwright.lab.plan import DEFAULT_SUITE, LabPaths; "
           "ensure_image(LabPaths.from_env(), DEFAULT_SUITE)"])
    boot, _ = timed([str(BIN / "postwright"), "lab", "up", HOST, "--ipv4", IPV4, "--ipv6", IPV6])
    row("lab up (mail host + DNS host with BIND, cached image)", boot)
    # every target below is a lab address: refuse to run if it would leave the machine
    for ip in (IPV4, IPV6, RESOLVER):
        if not routed_via_lab(ip):
            sys.exit(f"bench: {ip} is not routed into the lab; not sending anything")
    lab_inventory = timed([str(BIN / "postwright"), "lab", "inventory", "--path"])[1].stdout
    # Only the booted host, and only through the connection the lab names for it: the example
    # inventory's other hosts have none here, and Ansible would ask this machine's resolver.
    if "ansible_connection" not in Path(lab_inventory.strip()).read_text():
        sys.exit(f"bench: the lab inventory names no connection for {HOST}; not converging")
    playbook = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "-i", lab_inventory.strip(),
                "--limit", HOST, str(REPO / "playbooks/site.yml")]
    fresh, _ = timed(playbook)
    row("fresh converge", fresh, "target < 60 s")
    rerun, done = timed(playbook)
    changed = re.search(r"changed=(\d+)", done.stdout)
    row("idempotent re-run", rerun, f"changed={changed.group(1) if changed else '?'}; "
        "target < 10 s")


def password_file() -> Path:
    listing = timed([str(BIN / "ansible-inventory"), "-i", str(INVENTORY), "--host", HOST])[1]
    user = json.loads(listing.stdout)["mail_users"][0]
    handle = tempfile.NamedTemporaryFile("w", delete=False, suffix=".pw")  # noqa: SIM115
    handle.write(user["password"] + "\n")
    handle.close()
    return Path(handle.name)


def verification(secret: Path) -> None:
    print("verification of the lab host (same work, side by side)")
    ours, done = timed([str(BIN / "postwright"), "verify", NAME, "--resolver", RESOLVER,
                        "--ca-file", str(CA), "--user", "alice@example.test",
                        "--password-file", str(secret), "--json", "-"])
    report = json.loads(done.stdout)
    row("postwright verify (4 ports x 2 families, DNS, round trip)", ours,
        f"{len(report['results'])} checks")
    quick, done = timed([str(BIN / "postwright"), "verify", NAME, "--resolver", RESOLVER,
                         "--ca-file", str(CA), "--json", "-"])
    row("postwright verify without round trip (no --user)", quick,
        f"{len(json.loads(done.stdout)['results'])} checks")

    password = secret.read_text().strip()
    # Debian's swaks (20201014) cannot verify certificates, so it does less work than we do.
    swaks = [
        ["swaks", "-s", IPV4, "-p", "25", "-tls", "--to", "alice@example.test",
         "--from", "bench@sender.example"],
        ["swaks", "-s", IPV4, "-p", "465", "-tlsc", "--to", "alice@example.test", "--from",
         "alice@example.test", "-au", "alice@example.test", "-ap", password],
        ["swaks", "-s", IPV4, "-p", "587", "-tls", "--to", "alice@example.test", "--from",
         "alice@example.test", "-au", "alice@example.test", "-ap", password],
    ]
    testssl = [
        ["testssl", "--quiet", "--color", "0", "--nodns", "min", "-p", "-S", "-t", "smtp",
         f"{IPV4}:25"],
        ["testssl", "--quiet", "--color", "0", "--nodns", "min", "-p", "-S", "-t", "smtp",
         f"{IPV4}:587"],
        ["testssl", "--quiet", "--color", "0", "--nodns", "min", "-p", "-S", f"{IPV4}:465"],
        ["testssl", "--quiet", "--color", "0", "--nodns", "min", "-p", "-S", f"{IPV4}:993"],
    ]
    peers = 0.0
    for argv in swaks:
        seconds, _ = timed(argv)
        peers += seconds
        row(f"swaks port {argv[4]}", seconds)
    for argv in testssl:
        seconds, _ = timed(argv, check=False)  # testssl's exit code counts findings, not errors
        peers += seconds
        row(f"testssl {argv[-1]}", seconds)
    row("swaks + testssl, IPv4 only, no DNS checks", peers)
    print(f"  ratio peers / postwright: {peers / ours:.1f}x with round trip, "
          f"{peers / quick:.1f}x without (and postwright also covered IPv6, DNS, policy and, "
          "with the round trip, IMAP read-back)")


def mismatch() -> None:
    print("a STARTTLS client on implicit-TLS port 465")
    ours, done = timed([str(BIN / "postwright"), "probe", f"{IPV4}:465", "--json"])
    row("postwright probe: mode named", ours, json.loads(done.stdout)["mode"])
    theirs, done = timed(["swaks", "-s", IPV4, "-p", "465", "-tls", "--to", "alice@example.test",
                          "-q", "TLS"], check=False)
    row("swaks -tls (default 30 s timeout)", theirs, f"exit {done.returncode}")
    print(f"  ratio swaks / postwright: {theirs / ours:.0f}x")


def main() -> None:
    provisioning()
    secret = password_file()
    try:
        verification(secret)
        mismatch()
    finally:
        secret.unlink()
        timed([str(BIN / "postwright"), "lab", "down"])


if __name__ == "__main__":
    main()
