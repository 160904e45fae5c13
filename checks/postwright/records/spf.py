"""The SPF record grammar (RFC 7208 4.5, 4.6, 5, 6, 7.1), shared by both sides.

`postwright dns` checks the record it is about to publish and `postwright verify` evaluates
the record a domain publishes; both read terms through `parse`, so a record one side accepts
is the record the other side evaluates. This module is syntax only: no DNS, no macro
expansion, no results beyond the qualifier table. What each side adds stays with it: the
publisher's stricter domain names and ban on unknown modifiers (postwright.dns.spf), the
evaluation of check_host() (postwright.verify.spfeval).

Terms are separated by spaces (RFC 7208 4.6.1 `1*SP`). Mechanism and modifier names are
case-insensitive and kept lower-cased in `Term.name`. Unknown modifiers are valid syntax
(RFC 7208 6: a receiver ignores them); their value is kept unchecked. `redirect=` and `exp=`
may appear once each.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

VERSION = "v=spf1"
MAX_LOOKUPS = 10  # RFC 7208 4.6.4: terms that cause DNS lookups, per evaluation
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
MODIFIERS = frozenset({"redirect", "exp"})  # the known ones; others are ignored by receivers
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
RESULT_OF = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral", "": "pass"}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A macro (RFC 7208 7.1): %{letter [digits] [r] [delimiters]}. Groups: letter, digits,
# reverse, delimiters; the evaluator expands with the same pattern.
MACRO = re.compile(r"%\{([slodiphcrtvSLODIPHCRTV])([0-9]*)([rR]?)([-.+,/_=]*)\}")
_TOKEN = re.compile(
    rf"(?P<macro>{MACRO.pattern}|%[%_-])|(?P<literal>[\x21-\x24\x26-\x7e])|(?P<bad>.)", re.S
)
_TOPLABEL = re.compile(r"[a-zA-Z0-9]*[a-zA-Z][a-zA-Z0-9]*|[a-zA-Z0-9]+-[a-zA-Z0-9-]*[a-zA-Z0-9]")
_TERM = re.compile(r"([-+~?]?)([a-zA-Z][a-zA-Z0-9_.-]*)(.*)", re.S)
_DUAL_CIDR = re.compile(r"(?:/([0-9]+))?(?://([0-9]+))?\Z")


class SpfSyntaxError(ValueError):
    """The record breaks the grammar; the message says where and why in plain words."""


@dataclass(frozen=True)
class Term:
    """One directive (qualifier + mechanism) or modifier, as written in the record.

    `domain_spec` is the target of include/exists/redirect/exp (always present) and of
    a/mx/ptr (None: the domain being checked); for an unknown modifier it is its value.
    `network` is set for ip4/ip6; `cidr4`/`cidr6` for a/mx (32 and 128 when not written).
    """

    text: str
    name: str
    qualifier: str = ""
    modifier: bool = False
    domain_spec: str | None = None
    network: IpNetwork | None = None
    cidr4: int | None = None
    cidr6: int | None = None

    @property
    def result(self) -> str:
        """What a matching mechanism returns: pass, fail, softfail or neutral."""
        return RESULT_OF[self.qualifier]

    @property
    def counts_lookup(self) -> bool:
        """True for the terms RFC 7208 4.6.4 counts: include a mx ptr exists redirect=."""
        if self.modifier:
            return self.name == "redirect"
        return self.name in LOOKUP_TERMS


def _domain_spec(term: str, spec: str) -> str:
    """Check `spec` against `domain-spec = macro-string domain-end`; return it."""
    why = f"bad domain-spec in {term!r}" if "%" in spec else f"bad domain in {term!r}"
    tokens = list(_TOKEN.finditer(spec))
    if not tokens or any(t["bad"] is not None for t in tokens):
        raise SpfSyntaxError(why)
    if tokens[-1]["macro"] is not None:  # domain-end = macro-expand
        return spec
    literal_end = ""  # domain-end = "." toplabel [ "." ], after the last macro
    for token in reversed(tokens):
        if token["macro"] is not None:
            break
        literal_end = token[0] + literal_end
    _, dot, top = literal_end.removesuffix(".").rpartition(".")
    if not dot or not _TOPLABEL.fullmatch(top):
        raise SpfSyntaxError(why)
    return spec


def _cidr(term: str, text: str | None, limit: int, family: str) -> int:
    if text is None:
        return limit
    if int(text) > limit:
        raise SpfSyntaxError(f"bad {family} prefix length in {term!r}")
    return int(text)


def _a_or_mx(term: str, name: str, qual: str, rest: str) -> Term:
    """`a`/`mx` [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ]."""
    cidr = _DUAL_CIDR.search(rest)  # every part optional: it matches, if only at the end
    spec = rest[: cidr.start()] if cidr else rest
    if cidr is None or (spec and (not spec.startswith(":") or len(spec) == 1)):
        raise SpfSyntaxError(f"cannot parse term {term!r}")
    return Term(term, name, qual, domain_spec=_domain_spec(term, spec[1:]) if spec else None,
                cidr4=_cidr(term, cidr[1], 32, "IPv4"), cidr6=_cidr(term, cidr[2], 128, "IPv6"))


def _ip(term: str, name: str, qual: str, rest: str) -> Term:
    """`ip4` ":" ip4-network [ ip4-cidr ], `ip6` ":" ip6-network [ ip6-cidr ]."""
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{term!r} needs an address")
    try:
        net = ipaddress.ip_network(rest[1:], strict=False)
    except ValueError:
        raise SpfSyntaxError(f"bad network in {term!r}") from None
    if net.version != int(name[2]):
        raise SpfSyntaxError(f"{term!r} holds an IPv{net.version} network")
    return Term(term, name, qual, network=net)


def _mechanism(term: str, name: str, qual: str, rest: str) -> Term:
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {term!r}")
    if name in ("a", "mx"):
        return _a_or_mx(term, name, qual, rest)
    if name in ("ip4", "ip6"):
        return _ip(term, name, qual, rest)
    if name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) == 1:
            raise SpfSyntaxError(f"{term!r} needs ':domain'")
        return Term(term, name, qual, domain_spec=_domain_spec(term, rest[1:]))
    if rest and (name == "all" or not rest.startswith(":")):  # all, ptr [ ":" domain-spec ]
        raise SpfSyntaxError(f"unknown term {term!r}")
    return Term(term, name, qual, domain_spec=_domain_spec(term, rest[1:]) if rest else None)


def terms(record: str) -> Iterator[Term]:
    """The terms of `record` in order, each checked as it is reached.

    Raises SpfSyntaxError at the first thing that breaks the grammar: a caller that
    consumes lazily sees the terms before the broken one (`parse` takes them all).
    """
    parts = record.split(" ")
    if parts[0].lower() != VERSION:
        raise SpfSyntaxError(f"it must start with {VERSION!r}")
    seen: set[str] = set()
    for text in (p for p in parts[1:] if p):
        match = _TERM.fullmatch(text)
        if not match:
            raise SpfSyntaxError(f"cannot parse term {text!r}")
        qual, name, rest = match[1], match[2].lower(), match[3]
        if not rest.startswith("="):
            yield _mechanism(text, name, qual, rest)
            continue
        if qual:
            raise SpfSyntaxError(f"modifier {text!r} cannot take a qualifier")
        if name not in MODIFIERS:  # unknown-modifier = name "=" macro-string: ignored
            yield Term(text, name, modifier=True, domain_spec=rest[1:])
            continue
        if name in seen:
            raise SpfSyntaxError(f"modifier {name}= given twice")
        seen.add(name)
        yield Term(text, name, modifier=True, domain_spec=_domain_spec(text, rest[1:]))


def parse(record: str) -> list[Term]:
    """All terms of `record` (without the version); SpfSyntaxError if any is malformed."""
    return list(terms(record))
