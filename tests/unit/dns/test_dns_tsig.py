"""BIND key files -> TSIG keys; the secret never shows up in repr or errors."""

from __future__ import annotations

import base64
from pathlib import Path

import dns.name
import dns.tsig
import pytest

from postwright.dns.tsig import load_key, parse_key_file
from postwright.errors import UsageError

SECRET = base64.b64encode(bytes(range(32))).decode()  # contains '/' and '+' characters
TSIG_KEYGEN = f'key "postwright-update" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n'


def test_tsig_keygen_output() -> None:
    (key,) = parse_key_file(TSIG_KEYGEN)
    assert (key.name, key.algorithm, key.secret) == ("postwright-update.", "hmac-sha256",
                                                     bytes(range(32)))
    assert SECRET not in repr(key)
    assert "secret" not in repr(key)
    tsig_key = key.dnspython()
    assert tsig_key.name == dns.name.from_text("postwright-update")
    assert tsig_key.algorithm == dns.tsig.HMAC_SHA256
    assert tsig_key.secret == bytes(range(32))


def test_comments_unquoted_name_and_several_keys(tmp_path: Path) -> None:
    text = (
        "# made by tsig-keygen\n"
        "/* a block\n comment */\n"
        f'key lab.example {{ algorithm HMAC-SHA512; secret "{SECRET}"; }}; // trailing\n'
        + TSIG_KEYGEN
    )
    keys = parse_key_file(text)
    assert [(k.name, k.algorithm) for k in keys] == [("lab.example.", "hmac-sha512"),
                                                     ("postwright-update.", "hmac-sha256")]
    path = tmp_path / "keys.conf"
    path.write_text(text)
    assert load_key(path, "lab.example").algorithm == "hmac-sha512"
    with pytest.raises(UsageError, match=r"several keys .* --tsig-key-name"):
        load_key(path)
    with pytest.raises(UsageError, match="no key named 'other'"):
        load_key(path, "other")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no `key` statement"),
        ('key "k" { algorithm hmac-sha256; };', "has no secret"),
        (f'key "k" {{ algorithm rot13; secret "{SECRET}"; }};', "algorithm 'rot13'"),
        ('key "k" { algorithm hmac-sha256; secret "not*base64"; };', "not valid base64"),
        (f'key "k" {{ algorithm hmac-sha256; secret "{SECRET}" }};', "expected ';'"),
        (f'key "k" {{ algorithm hmac-sha256; secret "{SECRET}"; }}', "expected ';'"),
        (f'server 1.2.3.4 {{ keys "k"; }}; key "k" {{ secret "{SECRET}"; }};', "`key` statement"),
        (f'key "k" {{ algorithm hmac-sha256; secret "{SECRET}"; extra 1; }};', "unknown option"),
    ],
)
def test_bad_key_files(text: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_key_file(text, "keyfile")
    assert why in str(caught.value)
    assert SECRET not in str(caught.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read TSIG key file"):
        load_key(tmp_path / "nope.key")
