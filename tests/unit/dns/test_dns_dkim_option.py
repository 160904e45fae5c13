"""`--dkim-public-key DOMAIN=FILE`: DKIM keys fetched from the host, named on the command line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postwright.cli import main
from postwright.dns import dkim
from postwright.dns.inventory import with_dkim_public_keys

from .conftest import DUAL, make_plan

# What `opendkim-genkey -s mail -d example.test` writes to mail.txt (key shortened)
OPENDKIM_TXT = ('mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n'
                '\t  "p=MIIBIjANBgkq" "hkiG9w0BAQ==" )  ; ----- DKIM key mail for example.test\n')
OPENDKIM_VALUE = "v=DKIM1; h=sha256; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQ=="


@pytest.fixture
def mail_txt(tmp_path: Path) -> Path:
    path = tmp_path / "fetched" / "mail.txt"
    path.parent.mkdir()
    path.write_text(OPENDKIM_TXT)
    return path


def _vars_file(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "mx1.yml"
    path.write_text(yaml.safe_dump({**DUAL, **extra}))
    return path


def _dkim_records(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list)
    return {d["name"]: d["value"] for d in data if "_domainkey" in d["name"]}


def test_option_adds_the_dkim_txt_record(tmp_path: Path, mail_txt: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    vars_file = _vars_file(tmp_path)
    assert main(["dns", "records", "-v", str(vars_file), "--format", "json"]) == 0
    assert _dkim_records(capsys) == {}
    assert main(["dns", "records", "-v", str(vars_file), "--format", "json",
                 "--dkim-public-key", f"example.test={mail_txt}"]) == 0
    assert _dkim_records(capsys) == {"mail._domainkey.example.test.": OPENDKIM_VALUE}


def test_option_overrides_the_inventory_key(tmp_path: Path, mail_txt: Path,
                                            rsa_public_pem: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    vars_file = _vars_file(tmp_path, dns_dkim_public_keys={"example.test": str(rsa_public_pem)})
    assert main(["dns", "records", "-v", str(vars_file), "--format", "json"]) == 0
    assert _dkim_records(capsys) == {
        "mail._domainkey.example.test.": dkim.record_value(rsa_public_pem)}
    assert main(["dns", "records", "-v", str(vars_file), "--format", "json",
                 "--dkim-public-key", f"EXAMPLE.test.={mail_txt}"]) == 0
    assert _dkim_records(capsys) == {"mail._domainkey.example.test.": OPENDKIM_VALUE}


def test_option_keeps_other_domains_and_takes_relative_paths_from_cwd(
        tmp_path: Path, mail_txt: Path, rsa_public_pem: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plan = make_plan(mail_domains=["example.test", "example.org"],
                     dns_dkim_public_keys={"example.org": str(rsa_public_pem)})
    monkeypatch.chdir(mail_txt.parent)
    changed = with_dkim_public_keys(plan, [("example.test", "mail.txt")])
    assert changed.dkim_public_keys == (("example.org", rsa_public_pem),
                                        ("example.test", mail_txt))
    assert plan.dkim_public_keys == (("example.org", rsa_public_pem),)  # frozen, not edited
    assert with_dkim_public_keys(plan, []) is plan


def test_option_with_an_ansible_inventory(tmp_path: Path, mail_txt: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The dns_records role's call: real ansible-inventory, key fetched to the controller."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(textwrap.dedent("""\
        all:
          hosts:
            mx1:
              mail_hostname: mail.example.test
              mail_domains: [example.test]
              mail_ipv4: 198.51.100.10
        """))
    assert main(["dns", "records", "-i", str(inventory), "--format", "json",
                 "--dkim-public-key", f"example.test={mail_txt}"]) == 0
    assert _dkim_records(capsys) == {"mail._domainkey.example.test.": OPENDKIM_VALUE}


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("other.test={key}", "'other.test' is not in mail_domains (example.test)"),
        ("example.test={private}", "this is a private key; give the public key file instead"),
        ("example.test={missing}", "cannot read (No such file or directory)"),
        ("example.test={garbage}", "not a DKIM key record"),
        ("example.test", "expected DOMAIN=FILE, got 'example.test'"),
        ("example.test=", "expected DOMAIN=FILE"),
        ("=/some/file", "expected DOMAIN=FILE"),
        ("bad_label.test={key}", "'bad_label.test' has an invalid label 'bad_label'"),
    ],
)
def test_bad_option_exits_2(tmp_path: Path, mail_txt: Path, spec: str, why: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    private = tmp_path / "mail.private"
    private.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello\n")
    arg = spec.format(key=mail_txt, private=private, missing=tmp_path / "missing.txt",
                      garbage=garbage)
    assert main(["dns", "records", "-v", str(_vars_file(tmp_path)),
                 "--dkim-public-key", arg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("postwright: error: --dkim-public-key: "), err
    assert why in err, err


def test_same_domain_twice_is_refused(tmp_path: Path, mail_txt: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dns", "records", "-v", str(_vars_file(tmp_path)),
                 "--dkim-public-key", f"example.test={mail_txt}",
                 "--dkim-public-key", f"Example.Test={mail_txt}"]) == 2
    assert "--dkim-public-key: example.test given twice" in capsys.readouterr().err


def test_diff_and_push_accept_the_option() -> None:
    from postwright.cli import build_parser

    for verb in (["diff"], ["push", "--tsig-key-file", "k"]):
        args = build_parser().parse_args(["dns", *verb, "-v", "x.yml", "--server", "192.0.2.53",
                                          "--dkim-public-key", "example.test=a.txt",
                                          "--dkim-public-key", "example.org=b.txt"])
        assert args.dkim_public_key == ["example.test=a.txt", "example.org=b.txt"]
