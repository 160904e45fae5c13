"""TSIG keys from BIND key files (what `tsig-keygen NAME` prints):

    key "NAME" {
        algorithm hmac-sha256;
        secret "BASE64";
    };

Comments (#, //, /* */) are allowed; a file may hold several keys. The secret is kept out of
repr() and of every message.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import dns.tsig

from postwright.errors import UsageError

ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
_TOKEN = re.compile(
    r'"(?P<string>(?:[^"\\]|\\.)*)"|(?P<comment>/\*.*?\*/|//[^\n]*|#[^\n]*)'
    r"|(?P<punct>[{};])|(?P<word>[^\s{};\"]+)|(?P<space>\s+)|(?P<bad>.)",
    re.DOTALL,
)


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: bytes = field(repr=False)

    def dnspython(self) -> dns.tsig.Key:
        return dns.tsig.Key(dns.name.from_text(self.name), self.secret,
                            ALGORITHMS[self.algorithm])


def _tokens(text: str, source: str) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        if match["bad"] is not None:
            raise UsageError(f"{source}: unexpected {match['bad']!r} in the key file")
        if match["string"] is not None:
            out.append('"' + match["string"])  # leading quote marks a string token
        elif match["punct"] is not None or match["word"] is not None:
            out.append(match[0])
    return out


def parse_key_file(text: str, source: str = "TSIG key file") -> list[TsigKey]:
    """All `key` statements in `text`; errors never contain the secret."""
    tokens = _tokens(text, source)
    keys: list[TsigKey] = []
    i = 0

    def expect(want: str) -> None:
        nonlocal i
        if i >= len(tokens) or tokens[i] != want:
            got = tokens[i] if i < len(tokens) else "end of file"
            got = "a quoted string" if got.startswith('"') else repr(got)
            raise UsageError(f"{source}: expected {want!r}, found {got}")
        i += 1

    while i < len(tokens):
        if tokens[i] != "key":
            raise UsageError(f"{source}: expected a `key` statement, found {tokens[i]!r}")
        i += 1
        if i >= len(tokens) or tokens[i] in "{};":
            raise UsageError(f"{source}: `key` needs a name")
        name = tokens[i].lstrip('"')
        i += 1
        expect("{")
        fields: dict[str, str] = {}
        while i < len(tokens) and tokens[i] != "}":
            option = tokens[i]
            i += 1
            if i >= len(tokens):
                break
            fields[option] = tokens[i].removeprefix('"')
            i += 1
            expect(";")
        expect("}")
        expect(";")
        keys.append(_key(name, fields, source))
    if not keys:
        raise UsageError(f"{source}: no `key` statement found")
    return keys


def _key(name: str, fields: dict[str, str], source: str) -> TsigKey:
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        raise UsageError(f"{source}: key name {name!r} is not a valid DNS name") from None
    algorithm = fields.get("algorithm", "").lower()
    if algorithm not in ALGORITHMS:
        raise UsageError(
            f"{source}: key {name!r} has algorithm {algorithm or 'none'!r}; "
            f"use one of {', '.join(a for a in ALGORITHMS if '.' not in a)}"
        )
    if "secret" not in fields:
        raise UsageError(f"{source}: key {name!r} has no secret")
    try:
        secret = base64.b64decode(fields["secret"], validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{source}: the secret of key {name!r} is not valid base64") from None
    if not secret:
        raise UsageError(f"{source}: the secret of key {name!r} is empty")
    unknown = set(fields) - {"algorithm", "secret"}
    if unknown:
        raise UsageError(
            f"{source}: key {name!r} has unknown option(s) {', '.join(sorted(unknown))}"
        )
    return TsigKey(name.rstrip(".").lower() + ".", algorithm, secret)


def load_key(path: Path, name: str | None = None) -> TsigKey:
    """The key called `name` in the file, or its only key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read TSIG key file {path}: {exc.strerror}") from exc
    keys = parse_key_file(text, str(path))
    if name is not None:
        wanted = name.rstrip(".").lower() + "."
        for key in keys:
            if key.name == wanted:
                return key
        raise UsageError(f"{path}: no key named {name!r} (keys: "
                         f"{', '.join(k.name for k in keys)})")
    if len(keys) > 1:
        raise UsageError(f"{path} holds several keys ({', '.join(k.name for k in keys)}); "
                         "choose one with --tsig-key-name")
    return keys[0]
