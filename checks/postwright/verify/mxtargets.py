"""What is wrong with the MX targets of a domain, beyond "there is an MX record".

Senders are strict where zone editors are lenient: an MX target must be a host name with its
own A/AAAA records. A target that is a CNAME is forbidden (RFC 2181 10.3, RFC 5321 5.1) and
some senders refuse it; a target written as an address ("1.2.3.4.") is a *name* whose labels
happen to be digits, which has no A record, so nobody can deliver to it. A null MX
(RFC 7505, a single `0 .`) says the domain receives no mail at all, and must stand alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from postwright.verify.resolver import Resolver

NULL = ""  # the exchange "." once its trailing dot is gone


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass
class Target:
    preference: int
    name: str
    cname: str | None = None  # what the name is an alias of (forbidden)
    addresses: list[str] = field(default_factory=list)
    literal: bool = False  # written as an IP address

    def problem(self) -> str | None:
        if self.literal:
            return (f"MX target {self.name} is an IP address written as a host name: senders "
                    f"look up the A record of the name '{self.name}' and find none")
        if self.cname:
            return (f"MX target {self.name} is a CNAME (to {self.cname}), which RFC 2181 10.3 "
                    "forbids: some senders refuse to deliver")
        if not self.addresses:
            return f"MX target {self.name} has no A/AAAA record: nobody can deliver to it"
        return None

    def evidence(self) -> dict[str, Any]:
        return {"preference": self.preference, "name": self.name, "cname": self.cname,
                "addresses": self.addresses, "literal": self.literal}


@dataclass
class MxSet:
    targets: list[Target]

    @property
    def null(self) -> bool:
        """A null MX: the domain says it accepts no mail (RFC 7505)."""
        return any(t.name == NULL for t in self.targets)

    @property
    def null_alone(self) -> bool:
        return self.null and len(self.targets) == 1

    def problems(self) -> list[str]:
        found = [p for t in self.targets if t.name != NULL and (p := t.problem())]
        if self.null and not self.null_alone:
            found.insert(0, "a null MX (`0 .`) next to other MX records: RFC 7505 forbids "
                         "the mix, senders may treat the domain as receiving no mail")
        return found

    def names(self) -> list[str]:
        return [t.name for t in self.targets if t.name != NULL]


async def _inspect(resolver: Resolver, target: Target) -> None:
    if target.name == NULL:
        return
    if _is_address(target.name):
        target.literal = True
        return
    alias = await resolver.query(target.name, "CNAME")
    if alias.records:
        target.cname = alias.records[0].target.to_text().rstrip(".")
    target.addresses = await resolver.addresses(target.name)


async def inspect_mx(resolver: Resolver, exchanges: list[tuple[int, str]]) -> MxSet:
    """Look every target up (concurrently; each lookup bounded by the resolver's timeout)."""
    mx = MxSet([Target(pref, name) for pref, name in sorted(exchanges)])
    await asyncio.gather(*(_inspect(resolver, t) for t in mx.targets))
    return mx
