"""The SPF grammar both `postwright dns` and `postwright verify` read records with."""

from __future__ import annotations

import ipaddress

import pytest

from postwright.records import spf
from postwright.records.spf import SpfSyntaxError, Term


def test_every_mechanism_and_modifier() -> None:
    record = ("v=spf1 +all -include:_spf.example.net ~a ?mx ptr ip4:198.51.100.0/24 "
              "ip6:2001:db8::/32 exists:mail.example.org redirect=example.net "
              "exp=explain.example.org")
    terms = spf.parse(record)
    assert [(t.qualifier, t.name, t.modifier) for t in terms] == [
        ("+", "all", False), ("-", "include", False), ("~", "a", False), ("?", "mx", False),
        ("", "ptr", False), ("", "ip4", False), ("", "ip6", False), ("", "exists", False),
        ("", "redirect", True), ("", "exp", True)]
    assert [t.result for t in terms[:5]] == ["pass", "fail", "softfail", "neutral", "pass"]
    assert [t.domain_spec for t in terms] == [
        None, "_spf.example.net", None, None, None, None, None, "mail.example.org",
        "example.net", "explain.example.org"]
    assert [t.text for t in terms] == record.split(" ")[1:]
    assert terms[5].network == ipaddress.ip_network("198.51.100.0/24")
    assert terms[6].network == ipaddress.ip_network("2001:db8::/32")
    assert [t.name for t in terms if t.counts_lookup] == [
        "include", "a", "mx", "ptr", "exists", "redirect"]


def test_term_is_a_small_frozen_record() -> None:
    (term,) = spf.parse("v=spf1 -ip4:198.51.100.7")
    assert term == Term("-ip4:198.51.100.7", "ip4", "-",
                        network=ipaddress.ip_network("198.51.100.7/32"))
    with pytest.raises(AttributeError):
        term.name = "ip6"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "spec", "cidr4", "cidr6"),
    [
        ("a", None, 32, 128),
        ("a/24", None, 24, 128),
        ("a//64", None, 32, 64),
        ("a/24//64", None, 24, 64),
        ("a:mail.example.org", "mail.example.org", 32, 128),
        ("mx:example.org/0//0", "example.org", 0, 0),
        ("mx:example.org//48", "example.org", 32, 48),
        ("a:%{l/}.example.org/28", "%{l/}.example.org", 28, 128),  # '/' as macro delimiter
    ],
)
def test_a_and_mx_cidr_forms(text: str, spec: str | None, cidr4: int, cidr6: int) -> None:
    (term,) = spf.parse(f"v=spf1 {text}")
    assert (term.domain_spec, term.cidr4, term.cidr6) == (spec, cidr4, cidr6)


def test_ip_networks_keep_host_bits_out() -> None:
    v4, v6 = spf.parse("v=spf1 ip4:198.51.100.7/24 ip6:::1")
    assert v4.network == ipaddress.ip_network("198.51.100.0/24")
    assert v6.network == ipaddress.ip_network("::1/128")
    assert v4.cidr4 is None
    assert v4.domain_spec is None


@pytest.mark.parametrize(
    "spec",
    [
        "%{i}.rbl.example.net",
        "%{ir}.%{v}._spf.%{d2}",
        "%{d}",
        "%{L-}.%{o}",
        "%{s}._x.example.org.",
        "%%.%_.%-.example.org",
        "_spf.example.org.",
    ],
)
def test_macros_and_names_in_domain_spec(spec: str) -> None:
    (term,) = spf.parse(f"v=spf1 exists:{spec}")
    assert term.domain_spec == spec


def test_names_are_case_insensitive() -> None:
    terms = spf.parse("V=SPF1 MX:Example.ORG -ALL Include:_SPF.example.net REDIRECT=x.example")
    assert [t.name for t in terms] == ["mx", "all", "include", "redirect"]
    assert terms[0].domain_spec == "Example.ORG"  # the spec is kept as written
    assert terms[1].result == "fail"


def test_spaces_and_empty_records() -> None:
    assert spf.parse("v=spf1") == []
    assert [t.name for t in spf.parse("v=spf1  mx   -all ")] == ["mx", "all"]


def test_unknown_modifiers_are_syntax_not_errors() -> None:
    (term,) = spf.parse("v=spf1 foo.bar=%{x}anything")
    assert (term.name, term.modifier, term.domain_spec) == ("foo.bar", True, "%{x}anything")
    assert not term.counts_lookup
    assert not spf.parse("v=spf1 a=b")[0].counts_lookup  # a modifier, not the a mechanism


def test_terms_yields_up_to_the_broken_one() -> None:
    terms = spf.terms("v=spf1 mx a bogus -all")
    assert [next(terms).name, next(terms).name] == ["mx", "a"]
    with pytest.raises(SpfSyntaxError, match="unknown mechanism 'bogus'"):
        next(terms)


@pytest.mark.parametrize(
    ("record", "why"),
    [
        # version
        ("", "it must start with 'v=spf1'"),
        ("spf1 mx", "it must start with 'v=spf1'"),
        ("v=spf10 mx", "it must start with 'v=spf1'"),
        ("v=spf1\tmx", "it must start with 'v=spf1'"),
        # term shape
        ("v=spf1 --all", "cannot parse term '--all'"),
        ("v=spf1 -1abc", "cannot parse term '-1abc'"),
        ("v=spf1 mx/24/", "cannot parse term 'mx/24/'"),
        ("v=spf1 a:", "cannot parse term 'a:'"),
        ("v=spf1 mx\t-all", "cannot parse term"),
        # mechanisms
        ("v=spf1 -al", "unknown mechanism '-al'"),
        ("v=spf1 inclde:example.net", "unknown mechanism 'inclde:example.net'"),
        ("v=spf1 all:example.org", "unknown term 'all:example.org'"),
        ("v=spf1 ptr/24", "unknown term 'ptr/24'"),
        ("v=spf1 include", "'include' needs ':domain'"),
        ("v=spf1 exists:", "'exists:' needs ':domain'"),
        # addresses and prefix lengths
        ("v=spf1 ip4", "'ip4' needs an address"),
        ("v=spf1 ip4:198.51.100.300", "bad network in 'ip4:198.51.100.300'"),
        ("v=spf1 ip6:2001:db8::/129", "bad network in 'ip6:2001:db8::/129'"),
        ("v=spf1 ip4:2001:db8::1", "'ip4:2001:db8::1' holds an IPv6 network"),
        ("v=spf1 ip6:198.51.100.1", "'ip6:198.51.100.1' holds an IPv4 network"),
        ("v=spf1 a/33", "bad IPv4 prefix length in 'a/33'"),
        ("v=spf1 mx//129", "bad IPv6 prefix length in 'mx//129'"),
        # domain-spec
        ("v=spf1 include:localhost", "bad domain in 'include:localhost'"),
        ("v=spf1 include:example.123", "bad domain in 'include:example.123'"),
        ("v=spf1 a:example.org/x", "bad domain in 'a:example.org/x'"),
        ("v=spf1 redirect=", "bad domain in 'redirect='"),
        ("v=spf1 ptr:", "bad domain in 'ptr:'"),
        ("v=spf1 exists:%{x}.example.org", "bad domain-spec in 'exists:%{x}.example.org'"),
        ("v=spf1 exists:%.example.org", "bad domain-spec in 'exists:%.example.org'"),
        ("v=spf1 exists:%{i}example", "bad domain-spec in 'exists:%{i}example'"),
        ("v=spf1 exists:%{i}.\u00e9x", "bad domain-spec"),
        # modifiers
        ("v=spf1 -redirect=example.org", "modifier '-redirect=example.org' cannot take a "
         "qualifier"),
        ("v=spf1 redirect=a.example redirect=b.example", "modifier redirect= given twice"),
        ("v=spf1 exp=a.example EXP=b.example", "modifier exp= given twice"),
    ],
)
def test_syntax_errors_say_why(record: str, why: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        spf.parse(record)
    assert why in str(caught.value)
    assert isinstance(caught.value, ValueError)
