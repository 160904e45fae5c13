"""Domain names, DNS labels and reverse-DNS names, validated the same way everywhere.

Names are kept as lower-case text without the trailing dot (``mail.example.test``) in the
plan, and written absolute (``mail.example.test.``) in records. Parsing goes through
dnspython (length limits, escapes) and then an LDH check per label (RFC 1123 host names):
letters, digits and hyphens, no hyphen at either end, last label not all-numeric.
"""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.name
import dns.reversename

from postwright.errors import UsageError

_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Names that are not host names (SPF include targets such as _spf.example.net) may hold `_`.
_SERVICE_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_label(text: str) -> bool:
    """True when `text` is one LDH label (1..63 characters, no hyphen at either end)."""
    return bool(_LDH.match(text.lower()))


def domain(variable: str, value: object, *, min_labels: int = 2,
           underscore: bool = False) -> str:
    """Validate a host or domain name given in inventory variable `variable`.

    Returns the lower-case name without the trailing dot; raises UsageError naming the
    variable and the value. `underscore` also allows `_` (for names that are not hosts).
    """
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{variable}: expected a domain name, got {value!r}")
    text = value.strip()
    if not text.isascii():
        try:
            hint = text.encode("idna").decode("ascii")
        except UnicodeError:
            hint = "its xn-- form"
        raise UsageError(f"{variable}: {value!r} is not ASCII; write the A-label form ({hint})")
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise UsageError(f"{variable}: {value!r} is not a valid domain name ({exc})") from exc
    labels = [label.decode("ascii").lower() for label in name.labels if label]
    if len(labels) < min_labels:
        raise UsageError(
            f"{variable}: {value!r} needs at least {min_labels} labels (e.g. example.org)"
        )
    pattern = _SERVICE_LABEL if underscore else _LDH
    for label in labels:
        if not pattern.match(label):
            raise UsageError(
                f"{variable}: {value!r} has an invalid label {label!r} (letters, digits and "
                f"hyphens{', underscores' if underscore else ''} only, 1-63 characters, no "
                "hyphen at either end)"
            )
    if labels[-1].isdigit():
        raise UsageError(f"{variable}: {value!r} looks like an IP address, not a domain name")
    return ".".join(labels)


def absolute(name: str) -> str:
    """`name` with exactly one trailing dot."""
    return name.rstrip(".") + "."


def is_within(name: str, parent: str) -> bool:
    """True when `name` equals `parent` or is below it (case-insensitive, dots optional)."""
    child = dns.name.from_text(absolute(name))
    return child.is_subdomain(dns.name.from_text(absolute(parent)))


def address(variable: str, value: object, version: int) -> IPAddress:
    """Validate an IPv4 (`version` 4) or IPv6 (6) address usable for a public mail host."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{variable}: expected an IPv{version} address, got {value!r}")
    try:
        parsed = ipaddress.ip_address(value.strip())
    except ValueError:
        raise UsageError(f"{variable}: {value!r} is not an IP address") from None
    if parsed.version != version:
        other = "mail_ipv4" if parsed.version == 4 else "mail_ipv6"
        raise UsageError(
            f"{variable}: {value!r} is an IPv{parsed.version} address, not IPv{version}"
            + (f" (put it in {other})" if variable.startswith("mail_ip") else "")
        )
    if (
        parsed.is_unspecified
        or parsed.is_loopback
        or parsed.is_multicast
        or parsed.is_link_local
        or (isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None)
    ):
        raise UsageError(f"{variable}: {value!r} cannot be a mail host's address")
    return parsed


def reverse_name(ip: IPAddress) -> str:
    """The PTR owner name: 4.3.2.1.in-addr.arpa. or the 32-nibble ip6.arpa. name."""
    return str(dns.reversename.from_address(str(ip)))


def reverse_zone(ip: IPAddress) -> str:
    """The reverse zone the PTR lives in: the /24 for IPv4, the /64 for IPv6.

    A /24 (z.y.x.in-addr.arpa.) is the smallest classful reverse zone; a /64 (16 nibbles
    under ip6.arpa.) is the usual assignment to one VPS.
    """
    labels = reverse_name(ip).split(".")
    keep = 1 if ip.version == 4 else 16  # labels dropped from the left: 1 octet, 16 nibbles
    return ".".join(labels[keep:])
