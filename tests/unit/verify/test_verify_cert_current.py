"""tls.cert.current (--expect-cert): is the served leaf the certificate on disk?"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postwright.cli import main
from postwright.verify import ExpectedCert, Status, VerifyOptions, run_verify
from tests.unit.verify.pki import NAME

CHECK = "tls.cert.current"
SERVICES = ("smtp", "submission", "submissions", "imaps")


def renewed(path: Path) -> Path:
    """What a renewal writes: same name, new key and serial, valid from now (the fixture
    servers' certificate is valid from yesterday), with the CA after it as in a fullchain."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def fullchain(pki, path: Path) -> Path:
    path.write_bytes((pki.root / "good.pem").read_bytes() + Path(pki.ca).read_bytes())
    return path


def serial_of(pem: Path) -> str:
    serial = f"{x509.load_pem_x509_certificates(pem.read_bytes())[0].serial_number:X}"
    return serial.zfill(len(serial) + len(serial) % 2)


def test_the_expected_certificate_passes_on_every_port(good, pki, tmp_path: Path,
                                                       capsys) -> None:
    out = tmp_path / "report.json"
    chain = fullchain(pki, tmp_path / "fullchain.pem")
    code = main(["verify", "127.0.0.1", "--servername", NAME, "--ca-file", pki.ca,
                 "--domain", "example.test", "--no-dns", *good.args(),
                 "--expect-cert", str(chain), "--json", str(out)])
    capsys.readouterr()
    results = json.loads(out.read_text())["results"]
    current = {r["port"]: r for r in results if r["id"] == CHECK}
    assert set(current) == {good.ports[s] for s in SERVICES}
    serial = serial_of(chain)
    for result in current.values():
        assert result["status"] == "pass", result
        assert serial in result["summary"]
        assert result["evidence"]["served"]["sha256"] == result["evidence"]["expected"]["sha256"]
        assert result["evidence"]["expected"]["file"] == str(chain)
    assert [r for r in results if r["status"] == "fail"] == []
    assert code == 0


def test_an_older_certificate_still_served_fails_on_every_port(good, pki, tmp_path: Path,
                                                               capsys) -> None:
    disk = renewed(tmp_path / "renewed.pem")
    out = tmp_path / "report.json"
    code = main(["verify", "127.0.0.1", "--servername", NAME, "--ca-file", pki.ca,
                 "--domain", "example.test", "--no-dns", *good.args(),
                 "--expect-cert", str(disk), "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 1
    results = json.loads(out.read_text())["results"]
    failed = {r["port"]: r for r in results if r["status"] == "fail"}
    assert set(failed) == {good.ports[s] for s in SERVICES}
    assert {r["id"] for r in failed.values()} == {CHECK}
    served, expected = serial_of(pki.root / "good.pem"), serial_of(disk)
    for port, result in failed.items():
        summary = result["summary"]
        assert summary.startswith(f"port {port} serves serial {served} (not before ")
        assert f"but the expected certificate is serial {expected} (not before " in summary
        assert "older certificate than the one on disk" in summary
        assert "not reloaded after the certificate changed" in summary
        assert "renewal deploy hook" in summary
        assert "reload" in result["remedy"]
    daemons = {port: r["remedy"].split(" (")[0] for port, r in failed.items()}
    assert daemons[good.ports["smtp"]] == "reload Postfix"
    assert daemons[good.ports["imaps"]] == "reload Dovecot"
    # the rest of the certificate checks are not dragged down by the mismatch
    for check in ("tls.cert.trusted", "tls.cert.hostname", "tls.cert.expiry"):
        assert {r["status"] for r in results if r["id"] == check} == {"pass"}
    fail_lines = [line for line in text.splitlines() if line.lstrip().startswith("FAIL")]
    assert len(fail_lines) == 4
    assert all(CHECK in line and "not reloaded" in line for line in fail_lines)


def test_no_extra_connection_and_no_check_without_the_option(scripted, pki) -> None:
    port, server = scripted()

    def run(expect: ExpectedCert | None) -> list[Status]:
        opts = VerifyOptions("127.0.0.1", servername=NAME, ca_file=pki.ca, ports={"smtp": port},
                             services=["smtp"], dns=False, deadline=8, step_timeout=2,
                             domain="example.test", expect_cert=expect)
        return [r.status for r in run_verify(opts).find(CHECK)]

    assert run(None) == []
    before = server.connections
    assert run(ExpectedCert.load(str(pki.root / "good.pem"))) == [Status.PASS]
    # session + legacy, injection and pipelining tests (no smuggling recipient), both times
    assert server.connections - before == before == 4


def test_no_certificate_to_compare_is_a_skip(scripted, pki) -> None:
    port, _ = scripted(broken_starttls=True)
    opts = VerifyOptions("127.0.0.1", servername=NAME, ca_file=pki.ca, ports={"smtp": port},
                         services=["smtp"], dns=False, deadline=8, step_timeout=2,
                         expect_cert=ExpectedCert.load(str(pki.root / "good.pem")))
    report = run_verify(opts)
    [result] = report.find(CHECK)
    assert result.status is Status.SKIP
    assert "see tls.handshake" in result.summary
    assert report.find("tls.handshake")[0].status is Status.FAIL


def bad_file(kind: str, root: Path, pki) -> Path:
    if kind == "missing":
        return root / "missing.pem"
    if kind == "directory":
        return root
    if kind == "key":  # PEM, but the private key instead of the certificate
        return pki.root / "good.key"
    if kind == "der":  # a certificate, but not PEM
        der = x509.load_pem_x509_certificates((pki.root / "good.pem").read_bytes())[0]
        (root / "cert.der").write_bytes(der.public_bytes(serialization.Encoding.DER))
        return root / "cert.der"
    (root / "notes.txt").write_text("not a certificate\n")
    return root / "notes.txt"


@pytest.mark.parametrize(("kind", "words"), [
    ("missing", "cannot read it (No such file or directory)"),
    ("directory", "cannot read it (Is a directory)"),
    ("key", "no PEM certificate in it"),
    ("der", "no PEM certificate in it"),
    ("text", "no PEM certificate in it"),
])
def test_a_bad_expect_cert_file_exits_2_before_any_traffic(scripted, pki, tmp_path: Path,
                                                           kind: str, words: str,
                                                           capsys) -> None:
    port, server = scripted()
    bad = bad_file(kind, tmp_path, pki)
    code = main(["verify", "127.0.0.1", "--no-dns", "--port", f"smtp={port}", "--service",
                 "smtp", "--expect-cert", str(bad)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"postwright: error: --expect-cert {bad}: {words}" + (
        "; give the file the daemons serve (e.g. fullchain.pem, whose first certificate is "
        "the server's own)\n" if "PEM" in words else "\n")
    assert captured.out == ""
    assert server.connections == 0  # refused before anything was sent
