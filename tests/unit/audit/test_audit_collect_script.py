"""collect.sh itself, run for real on this machine against stand-in postconf, doveconf, dovecot
and ss (put in front of PATH by the test's prelude) that name a real certificate, its key and a
passwd-file: what leaves the host are facts about them, never the key or a hash."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from postwright.audit import collect
from postwright.audit.facts import parse
from tests.unit.verify.pki import make_pki

SECRET_HASH = "$6$rounds=5000$saltsalt$" + "x" * 86
PLAIN_PASSWORD = "lab-only-plain-secret"  # noqa: S105 - a fixture's password, never used


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_collect_script_prints_facts_and_no_secret(tmp_path: Path) -> None:
    make_pki(tmp_path)
    cert, key = tmp_path / "good.pem", tmp_path / "good.key"
    key.chmod(0o644)  # world-readable: the mistake audit must see
    users = tmp_path / "users"
    users.write_text(f"alice@example.test:{{SHA512-CRYPT}}{SECRET_HASH}\n"
                     f"bob@example.test:{{PLAIN}}{PLAIN_PASSWORD}\n")
    conf = tmp_path / "postfix"
    conf.mkdir()
    (conf / "main.cf").write_text(f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_auth_only = no\n")
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "postconf", f"""case "$*" in
  "-h mail_version") echo 3.7.11 ;;
  "-h config_directory") echo {conf} ;;
  "-h myhostname") echo mail.example.test ;;
  "-n") echo "smtpd_tls_auth_only = no" ;;
  "-M") echo "smtp inet n - y - - smtpd" ;;
  "-xh smtpd_tls_cert_file") echo {cert} ;;
  "-xh smtpd_tls_key_file") echo {key} ;;
  -x*) for p in "$@"; do [ "$p" = -x ] || echo "$p = no"; done ;;
esac""")
    _stand_in(bin_dir, "doveconf", f"""case "$*" in
  "-n") printf 'passdb passwd-file {{\\n  passwd_file_path = {users}\\n}}\\nssl = yes\\n' ;;
  "ssl") echo "ssl = yes" ;;
  "ssl_cert") echo "ssl_cert = <{cert}" ;;
  "-P ssl_key") echo "ssl_key = <{key}" ;;
  *) exit 1 ;;
esac""")
    _stand_in(bin_dir, "dovecot", 'echo "2.3.19.1 (9b53102964)"')
    _stand_in(bin_dir, "ss", "echo 'LISTEN 0 100 0.0.0.0:25 0.0.0.0:* "
              "users:((\"master\",pid=1,fd=3))'")
    job = collect.script()
    text = job.text.replace("PORTS=", f"TEST_PATH='{bin_dir}'\nPORTS='' #", 1)
    done = subprocess.run(["sh", "-s"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout

    # nothing secret
    key_body = key.read_text().splitlines()[1]
    for secret in (key_body, "PRIVATE KEY", SECRET_HASH, PLAIN_PASSWORD, "saltsalt"):
        assert secret not in out

    facts = parse(out, job.mark)
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    public = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    on_disk = facts.file("cert", str(cert))
    assert on_disk is not None
    assert on_disk.sha256 == certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert on_disk.pubkey == hashlib.sha256(public).hexdigest()
    assert on_disk.verified is False  # the test CA is in no trust store
    assert on_disk.not_after is not None
    key_facts = facts.file("key", str(key))
    assert key_facts is not None
    assert key_facts.mode == 0o644
    assert key_facts.pubkey == on_disk.pubkey
    assert facts.password_schemes == {str(users): {"{SHA512-CRYPT}$6$": 1, "{PLAIN}": 1}}
    assert facts.postfix is not None
    assert facts.postfix.param("smtpd_tls_auth_only") == "no"
    assert facts.postfix.main_lines["smtpd_tls_auth_only"] == 2
    assert facts.dovecot is not None
    assert facts.dovecot.get("ssl_key") == f"<{key}"
    assert [s.port for s in facts.sockets] == [25]
