"""SPF (RFC 7208) syntax check and DNS-lookup count for the record we publish.

RFC 7208 4.6.4 limits an SPF evaluation to 10 terms that cause DNS lookups: the mechanisms
`include`, `a`, `mx`, `ptr`, `exists` and the `redirect` modifier. The full count is
recursive (an `include:` target's own terms count too), which needs the network; offline we
can only count the terms in the record itself. That is a lower bound: a record we accept can
still exceed the limit through its includes (`postwright verify` checks the live record).
"""

from __future__ import annotations

import ipaddress
import re

from postwright.dns import names
from postwright.errors import UsageError

MAX_LOOKUPS = 10
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_MODIFIERS = frozenset({"redirect", "exp"})
_NEEDS_DOMAIN = frozenset({"include", "exists", "redirect", "exp"})
_TERM = re.compile(r"^(?P<qual>[-+~?]?)(?P<name>[a-zA-Z][a-zA-Z0-9_.-]*)(?P<rest>.*)$")


def _bad(record: str, why: str) -> UsageError:
    return UsageError(f"dns_spf: {record!r} is not a valid SPF record: {why}")


def _domain_spec(record: str, term: str, spec: str) -> None:
    if "%" in spec:  # macros (RFC 7208 7) are expanded by the receiver: check characters only
        if not re.fullmatch(r"[\x21-\x7e]+", spec):
            raise _bad(record, f"bad domain-spec in {term!r}")
        return
    try:
        names.domain("dns_spf", spec, underscore=True)
    except UsageError:
        raise _bad(record, f"bad domain in {term!r}") from None


def _a_or_mx(record: str, term: str, rest: str) -> None:
    """`a`/`mx` [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ]."""
    match = re.fullmatch(r"(?::(?P<spec>[^/]+))?(?:/(?P<v4>\d+))?(?://(?P<v6>\d+))?", rest)
    if not match:
        raise _bad(record, f"cannot parse term {term!r}")
    if match["spec"]:
        _domain_spec(record, term, match["spec"])
    if match["v4"] and int(match["v4"]) > 32:
        raise _bad(record, f"bad IPv4 prefix length in {term!r}")
    if match["v6"] and int(match["v6"]) > 128:
        raise _bad(record, f"bad IPv6 prefix length in {term!r}")


def _ip(record: str, term: str, rest: str, version: int) -> None:
    if not rest.startswith(":"):
        raise _bad(record, f"{term!r} needs an address")
    try:
        net = ipaddress.ip_network(rest[1:], strict=False)
    except ValueError:
        raise _bad(record, f"bad network in {term!r}") from None
    if net.version != version:
        raise _bad(record, f"{term!r} holds an IPv{net.version} network")


def lookup_terms(record: str) -> int:
    """Validate `record` and return how many DNS-lookup terms it holds (not recursive)."""
    parts = record.split(" ")
    if not parts or parts[0].lower() != "v=spf1":
        raise _bad(record, "it must start with 'v=spf1'")
    lookups = 0
    seen_modifiers: set[str] = set()
    for term in (p for p in parts[1:] if p):
        match = _TERM.match(term)
        if not match:
            raise _bad(record, f"cannot parse term {term!r}")
        qual, name, rest = match["qual"], match["name"].lower(), match["rest"]
        if rest.startswith("="):
            if qual or name not in _MODIFIERS:
                raise _bad(record, f"unknown modifier {term!r} (known: redirect=, exp=)")
            if name in seen_modifiers:
                raise _bad(record, f"modifier {name}= given twice")
            seen_modifiers.add(name)
            _domain_spec(record, term, rest[1:])
        elif name not in _MECHANISMS:
            raise _bad(record, f"unknown mechanism {term!r}")
        elif name == "all":
            if rest:
                raise _bad(record, f"unknown term {term!r}")
        elif name in ("a", "mx"):
            _a_or_mx(record, term, rest)
        elif name in ("ip4", "ip6"):
            _ip(record, term, rest, int(name[2]))
        elif name == "ptr":
            if rest and not rest.startswith(":"):
                raise _bad(record, f"unknown term {term!r}")
            if rest:
                _domain_spec(record, term, rest[1:])
        else:  # include, exists
            if not rest.startswith(":") or len(rest) == 1:
                raise _bad(record, f"{term!r} needs ':domain'")
            _domain_spec(record, term, rest[1:])
        if name in LOOKUP_TERMS:
            lookups += 1
    return lookups


def validate(record: str) -> str:
    """Return `record` when it is valid SPF with at most 10 lookup terms; else UsageError."""
    count = lookup_terms(record)
    if count > MAX_LOOKUPS:
        raise UsageError(
            f"dns_spf: {record!r} has {count} DNS-lookup terms (include, a, mx, ptr, exists, "
            f"redirect); RFC 7208 allows at most {MAX_LOOKUPS}, receivers return permerror"
        )
    return record
