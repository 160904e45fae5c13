"""TXT record values: splitting into <=255-byte character-strings and quoting.

A TXT rdata is a sequence of character-strings of at most 255 bytes each; receivers of SPF,
DKIM and DMARC records join them without separators (RFC 7208 3.3, RFC 6376 3.6.2.2). So a
long value (a 2048-bit DKIM key is about 400 characters) is cut every 255 bytes and written
as several quoted strings in one rdata.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.txtbase

from postwright.errors import UsageError

MAX_STRING = 255


def split(value: str) -> list[str]:
    """Cut `value` (printable ASCII) into pieces of at most 255 bytes."""
    check(value)
    if not value:
        return [""]
    return [value[i : i + MAX_STRING] for i in range(0, len(value), MAX_STRING)]


def check(value: str, variable: str = "TXT value") -> None:
    """Reject what cannot go into our TXT records: non-ASCII or control characters."""
    if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UsageError(f"{variable}: {value!r} must be printable ASCII")


def quote(piece: str) -> str:
    """One character-string in zone-file presentation form."""
    return '"' + piece.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rdata(value: str) -> str:
    """Presentation form of a TXT rdata holding `value`: "part1" "part2" ..."""
    return " ".join(quote(piece) for piece in split(value))


def strings(rdata_text: str) -> tuple[bytes, ...]:
    """Parse TXT presentation form back into its character-strings (via dnspython)."""
    parsed = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rdata_text)
    assert isinstance(parsed, dns.rdtypes.txtbase.TXTBase)  # noqa: S101 - TXT parses to TXTBase
    return tuple(parsed.strings)


def join(strings: Sequence[bytes | str]) -> str:
    """The value a receiver sees: all character-strings concatenated."""
    return "".join(s.decode("ascii", "backslashreplace") if isinstance(s, bytes) else s
                   for s in strings)
