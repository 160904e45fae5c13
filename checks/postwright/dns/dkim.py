"""The DKIM public-key record (RFC 6376 3.6.1) from a key file.

The file is either a PEM public key (RSA as SubjectPublicKeyInfo or PKCS#1, or Ed25519 per
RFC 8463) or a ready DKIM TXT value, e.g. what `opendkim-genkey` writes to `mail.txt`
(quoted strings are joined; text outside quotes such as `mail._domainkey IN TXT (` is
ignored) or `rspamadm dkim_keygen` prints. Private keys are refused: only the public half
belongs on the controller.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postwright.errors import UsageError

MIN_RSA_BITS = 1024  # RFC 8301: verifiers must reject shorter keys; 2048 is recommended


def value_from_public_key(pem: bytes, source: str = "key") -> str:
    """"v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" (or k=ed25519 with the raw key)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"{source}: not a PEM public key ({exc})") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UsageError(f"{source}: RSA key of {key.key_size} bits; DKIM needs >= 1024 "
                             "(RFC 8301), 2048 recommended")
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"
    raise UsageError(f"{source}: DKIM keys are RSA or Ed25519, not {type(key).__name__}")


def value_from_txt(text: str, source: str = "key") -> str:
    """Normalise a DKIM TXT value written as a bare value or as quoted zone-file strings."""
    quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    value = "".join(quoted) if quoted else "".join(text.split())
    value = re.sub(r"\s*;\s*", "; ", value.strip()).strip("; ")
    tags = dict(
        (part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip())
        for part in value.split(";")
        if "=" in part
    )
    if tags.get("v", "DKIM1") != "DKIM1" or not tags.get("p"):
        raise UsageError(f"{source}: not a DKIM key record (needs v=DKIM1 and p=...)")
    p = re.sub(r"\s+", "", tags["p"])
    try:
        base64.b64decode(p, validate=True)
    except ValueError as exc:
        raise UsageError(f"{source}: p= is not base64") from exc
    return value


def record_value(path: Path, variable: str = "dns_dkim_public_keys") -> str:
    """The TXT value to publish at <selector>._domainkey.<domain> for the key in `path`."""
    source = f"{variable}: {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{source}: cannot read ({exc.strerror})") from exc
    if b"PRIVATE KEY" in data:
        raise UsageError(f"{source}: this is a private key; give the public key file instead")
    if b"-----BEGIN" in data:
        return value_from_public_key(data, source)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: neither a PEM public key nor a DKIM TXT value") from None
    return value_from_txt(text, source)
