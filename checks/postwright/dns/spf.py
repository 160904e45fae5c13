"""SPF (RFC 7208) syntax check and DNS-lookup count for the record we publish.

RFC 7208 4.6.4 limits an SPF evaluation to 10 terms that cause DNS lookups: the mechanisms
`include`, `a`, `mx`, `ptr`, `exists` and the `redirect` modifier. The full count is
recursive (an `include:` target's own terms count too), which needs the network; offline we
can only count the terms in the record itself. That is a lower bound: a record we accept can
still exceed the limit through its includes (`postwright verify` checks the live record).
"""

from __future__ import annotations

from postwright.dns import names
from postwright.errors import UsageError
from postwright.records import spf as grammar
from postwright.records.spf import LOOKUP_TERMS as LOOKUP_TERMS
from postwright.records.spf import MAX_LOOKUPS, MODIFIERS


def _bad(record: str, why: str) -> UsageError:
    return UsageError(f"dns_spf: {record!r} is not a valid SPF record: {why}")


def lookup_terms(record: str) -> int:
    """Validate `record` and return how many DNS-lookup terms it holds (not recursive).

    The grammar is postwright.records.spf; on top of it we publish only the modifiers we
    know, and literal domains must be valid names (macros are expanded by the receiver).
    """
    lookups = 0
    try:
        for term in grammar.terms(record):
            if term.modifier and term.name not in MODIFIERS:
                raise _bad(record, f"unknown modifier {term.text!r} (known: redirect=, exp=)")
            spec = term.domain_spec
            if spec is not None and "%" not in spec:
                try:
                    names.domain("dns_spf", spec, underscore=True)
                except UsageError:
                    raise _bad(record, f"bad domain in {term.text!r}") from None
            if term.counts_lookup:
                lookups += 1
    except grammar.SpfSyntaxError as exc:
        raise _bad(record, str(exc)) from None
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
