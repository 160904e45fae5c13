"""ACME mode of the tls role against a real ACME server in the lab: Debian's pebble on the DNS
host, validating HTTP-01 for real (it looks the mail hostname up on the lab DNS and fetches the
challenge from certbot on port 80 of the mail host).

The order matters and is the story of a host: a CA that refuses leaves the host as it was;
a CA that works issues the certificate and every port serves it; a forced renewal reaches every
port through the deploy hook; without the hook the verify suite names the stale ports
(`tls.cert.current`); the next converge puts the hook back and heals the host."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwright.lab.network import routed_via_lab
from postwright.verify import ExpectedCert, Status, VerifyOptions, run_verify
from tests.conftest import postwright
from tests.lab.playbook import converge, on_host, run_site

pytestmark = pytest.mark.lab
IP, IP6, NAME = "198.51.100.10", "2001:db8::10", "mail.example.test"
ACME_IP = "198.51.100.53"  # pebble runs on the lab DNS host, next to the DNS it validates with
DIRECTORY = f"https://{ACME_IP}:14000/dir"
LINEAGE = f"/etc/letsencrypt/live/{NAME}"
SERVED = "/etc/postwright/tls/fullchain.pem"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-postwright-install-and-reload"
TLS_PORTS = {25, 465, 587, 993}
RENEW = ("REQUESTS_CA_BUNDLE=/etc/postwright/acme-directory-ca.pem "
         "certbot renew --force-renewal --no-random-sleep-on-renew")


def pebble_config(*, refuse: bool) -> str:
    """pebble.json; `refuse` makes the CA reject every new account (external account binding
    required and none given), a CA that says no."""
    return json.dumps({"pebble": {
        "listenAddress": f"{ACME_IP}:14000", "managementListenAddress": f"{ACME_IP}:15000",
        "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
        "externalAccountBindingRequired": refuse}})


def start_pebble(*, refuse: bool) -> None:
    on_host("ns1", "systemctl stop pebble 2>/dev/null; systemctl reset-failed pebble 2>/dev/null;"
                   f" echo '{pebble_config(refuse=refuse)}' > /etc/pebble/pebble.json", check=False)
    # -dnsserver: validate against the lab DNS; NOSLEEP/NONCEREJECT: no random delays or nonces
    # rejected on purpose, so the test is deterministic.
    on_host("ns1", "systemd-run --unit=pebble --setenv=PEBBLE_VA_NOSLEEP=1 "
                   "--setenv=PEBBLE_WFE_NONCEREJECT=0 pebble -config /etc/pebble/pebble.json "
                   f"-dnsserver {ACME_IP}:53 && for i in $(seq 100); do "
                   "ss -Hltn 'sport = 14000' | grep -q . && exit 0; sleep 0.1; done; exit 1")


@pytest.fixture(scope="module")
def acme(clean_lab: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """mx1 and a pebble CA on ns1; returns a directory with pebble's HTTPS certificate."""
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6)
    assert routed_via_lab(IP)
    assert routed_via_lab(ACME_IP)
    on_host("ns1", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q pebble >/dev/null && "
                   "mkdir -p /etc/pebble && openssl req -x509 -newkey rsa:2048 -nodes -days 30 "
                   f"-subj /CN={ACME_IP} -addext subjectAltName=IP:{ACME_IP} "
                   "-keyout /etc/pebble/key.pem -out /etc/pebble/cert.pem 2>/dev/null")
    work = tmp_path_factory.mktemp("acme")
    (work / "pebble-https.pem").write_text(on_host("ns1", "cat /etc/pebble/cert.pem"))
    yield work
    postwright("lab", "down")


def acme_vars(work: Path) -> dict[str, object]:
    return {"tls_mode": "acme", "tls_acme_directory": DIRECTORY,
            "tls_acme_ca_bundle": str(work / "pebble-https.pem"),
            "tls_acme_email": "postmaster@example.test"}


def pebble_root(work: Path) -> Path:
    """Pebble makes a new root at every start; fetch it from its management interface."""
    context = ssl.create_default_context(cafile=str(work / "pebble-https.pem"))
    with urllib.request.urlopen(f"https://{ACME_IP}:15000/roots/0", context=context,
                                timeout=10) as answer:
        root = work / "pebble-root.pem"
        root.write_bytes(answer.read())
    return root


def on_disk(work: Path, path: str) -> Path:
    """A copy of a certificate file of mx1, for --expect-cert."""
    copy = work / "on-disk.pem"
    copy.write_text(on_host("mx1", f"cat {path}"))
    return copy


def served_on_every_port(work: Path, expected: Path) -> dict[tuple[str, int], Status]:
    """Run the verify suite's TLS checks with --expect-cert; status of tls.cert.current per
    (address, port), after asserting the chain is trusted everywhere."""
    report = run_verify(VerifyOptions(NAME, resolver=ACME_IP, ca_file=str(pebble_root(work)),
                                      expect_cert=ExpectedCert.load(expected), dns=False))
    trusted = {(r.ip, r.port): r.status for r in report.find("tls.cert.trusted")}
    assert set(trusted.values()) == {Status.PASS}, report.find("tls.cert.trusted")
    return {(str(r.ip), int(r.port or 0)): r.status for r in report.find("tls.cert.current")}


def every_port(status: Status) -> dict[tuple[str, int], Status]:
    return {(ip, port): status for ip in (IP, IP6) for port in TLS_PORTS}


def test_a_refusing_ca_fails_clearly_and_leaves_the_host_as_it_was(acme: Path) -> None:
    start_pebble(refuse=True)
    done = run_site(limit="mx1", extra=acme_vars(acme))
    assert done.returncode != 0
    assert f"ACME: {DIRECTORY} did not issue a certificate for {NAME}" in done.stdout
    assert "Nothing was changed; the host still serves its previous certificate" in done.stdout
    assert "external account" in done.stdout.lower()  # certbot's reason, passed on
    # no lineage; the daemons run and serve the placeholder that is on disk
    assert on_host("mx1", f"test -e {LINEAGE} || echo absent").strip() == "absent"
    report = run_verify(VerifyOptions(NAME, resolver=ACME_IP, dns=False,
                                      expect_cert=ExpectedCert.load(on_disk(acme, SERVED))))
    assert {r.status for r in report.find("tls.cert.current")} == {Status.PASS}


def test_the_ca_issues_and_every_port_serves_the_certificate(acme: Path) -> None:
    start_pebble(refuse=False)
    converge(limit="mx1", extra=acme_vars(acme))
    assert "Pebble" in on_host("mx1", f"openssl x509 -noout -issuer -in {LINEAGE}/cert.pem")
    issued = on_disk(acme, f"{LINEAGE}/cert.pem")
    assert served_on_every_port(acme, issued) == every_port(Status.PASS)
    assert on_host("mx1", "stat -c %a /etc/postwright/tls/privkey.pem").strip() == "600"
    # port 80 is open for HTTP-01 renewals; a second converge changes nothing
    assert "tcp dport 80 accept" in on_host("mx1", "nft list table inet postwright")
    assert "changed=0" in converge(limit="mx1", extra=acme_vars(acme)).split("PLAY RECAP")[-1]


def test_a_forced_renewal_reaches_every_port(acme: Path) -> None:
    before = on_host("mx1", f"openssl x509 -noout -serial -in {LINEAGE}/cert.pem")
    on_host("mx1", RENEW)
    assert on_host("mx1", f"openssl x509 -noout -serial -in {LINEAGE}/cert.pem") != before
    renewed = on_disk(acme, f"{LINEAGE}/cert.pem")
    assert served_on_every_port(acme, renewed) == every_port(Status.PASS)


def test_without_the_deploy_hook_verify_names_the_stale_ports(acme: Path) -> None:
    on_host("mx1", f"rm {HOOK} && {RENEW}")
    renewed = on_disk(acme, f"{LINEAGE}/cert.pem")
    assert served_on_every_port(acme, renewed) == every_port(Status.FAIL)
    # the command line says which check failed and why
    done = postwright("verify", NAME, "--resolver", ACME_IP, "--no-dns", "--ca-file",
                      str(pebble_root(acme)), "--expect-cert", str(renewed), check=False)
    assert done.returncode == 1
    assert "tls.cert.current" in done.stdout
    assert "deploy hook" in done.stdout


def test_the_next_converge_restores_the_hook_and_heals_the_host(acme: Path) -> None:
    output = converge(limit="mx1", extra=acme_vars(acme))
    assert "Install the lineage's certificate and reload Postfix and Dovecot" in output
    assert on_host("mx1", f"test -x {HOOK} && echo present").strip() == "present"
    current = on_disk(acme, f"{LINEAGE}/cert.pem")
    assert served_on_every_port(acme, current) == every_port(Status.PASS)
