"""RFC 2136 dynamic updates, signed with TSIG, that make a server match our records.

`push` is idempotent: it diffs first and sends only the RRsets that differ, one UPDATE per
zone. Before anything is changed, every zone to change gets a preflight UPDATE that holds
only a prerequisite ("the zone's SOA exists") and no changes: a server that rejects the key
(NOTAUTH with BADKEY/BADSIG/BADTIME) or refuses the zone to it (REFUSED, e.g. BIND's
allow-update) rejects that too, and then nothing has been pushed. A per-name refusal
(BIND's update-policy is checked record by record) can only show in the real UPDATE; each
UPDATE is atomic, so that zone stays unchanged, but zones sent before it keep their changes.

Per RRset: a differing or missing RRset is replaced as a whole; an extra one is deleted.
TXT RRsets can hold values that are not ours (see diff.py), so there we delete our stale
values and add the missing ones one by one instead of replacing the RRset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.tsig
import dns.update

from postwright.dns.diff import Difference, DiffResult, canonical
from postwright.dns.tsig import TsigKey
from postwright.errors import PostwrightError

Send = Callable[[dns.message.Message], dns.message.Message]


class UpdateRefused(PostwrightError):
    """The server did not accept an UPDATE (key unknown, bad signature, not allowed)."""


def _message(zone: str, key: TsigKey | None) -> dns.update.UpdateMessage:
    if key is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(zone, keyring=key.dnspython())


def _rdata(rtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=dns.name.root,
                               relativize=False)


def _apply(update: dns.update.UpdateMessage, diff: Difference) -> None:
    name = dns.name.from_text(diff.name)
    ttl = diff.expected_ttl or 0  # only read where something is expected, so never 0
    if diff.type == "TXT":
        ttl_changes = diff.actual_ttl is not None and diff.actual_ttl != diff.expected_ttl
        want = {canonical("TXT", v) for v in diff.expected}
        have = {canonical("TXT", v) for v in diff.actual}
        for value in diff.actual:
            if ttl_changes or canonical("TXT", value) not in want:
                update.delete(name, _rdata("TXT", value))
        for value in diff.expected:
            if ttl_changes or canonical("TXT", value) not in have:
                update.add(name, ttl, _rdata("TXT", value))
        return
    if not diff.expected:
        update.delete(name, diff.type)
        return
    rdataset = dns.rdataset.from_rdata_list(
        ttl, [_rdata(diff.type, v) for v in diff.expected]
    )
    update.replace(name, rdataset)


def build_updates(result: DiffResult, key: TsigKey | None) -> dict[str, dns.update.UpdateMessage]:
    """zone -> the UPDATE message that removes its differences (zones without none left out)."""
    updates: dict[str, dns.update.UpdateMessage] = {}
    for diff in result.differences:
        if diff.zone not in updates:
            updates[diff.zone] = _message(diff.zone, key)
        _apply(updates[diff.zone], diff)
    return updates


def preflight_message(zone: str, key: TsigKey | None) -> dns.update.UpdateMessage:
    """An UPDATE that changes nothing: prerequisite `zone SOA exists`, no updates."""
    message = _message(zone, key)
    message.present(dns.name.from_text(zone), "SOA")
    return message


def tcp_sender(host: str, port: int, timeout: float) -> Send:
    def send(message: dns.message.Message) -> dns.message.Message:
        return dns.query.tcp(message, host, port=port, timeout=timeout)

    return send


def _explain(zone: str, key: TsigKey | None, why: str) -> str:
    named = f"TSIG key {key.name} ({key.algorithm})" if key else "an unsigned update"
    return f"zone {zone.rstrip('.')}: the server refused {named}: {why}"


def send_checked(send: Send, zone: str, message: dns.message.Message,
                 key: TsigKey | None) -> None:
    """Send one UPDATE; raise UpdateRefused with a clear reason unless it says NOERROR."""
    try:
        response = send(message)
    except dns.tsig.PeerBadKey as exc:
        raise UpdateRefused(_explain(zone, key, "BADKEY (the server does not know this key "
                                     "name/algorithm)")) from exc
    except dns.tsig.PeerBadSignature as exc:
        raise UpdateRefused(_explain(zone, key, "BADSIG (wrong secret)")) from exc
    except dns.tsig.PeerBadTime as exc:
        raise UpdateRefused(_explain(zone, key, "BADTIME (check both clocks)")) from exc
    except (dns.tsig.PeerError, dns.message.UnknownTSIGKey, dns.tsig.BadSignature,
            dns.tsig.BadKey, dns.tsig.BadAlgorithm, dns.tsig.BadTime) as exc:
        raise UpdateRefused(_explain(zone, key, f"TSIG error {type(exc).__name__}")) from exc
    except dns.exception.FormError as exc:
        if key is not None and "TSIG" in str(exc):
            raise UpdateRefused(_explain(zone, key, "its answer was not signed (it does not "
                                         "accept this key)")) from exc
        raise PostwrightError(f"zone {zone.rstrip('.')}: malformed answer ({exc})") from exc
    except (dns.exception.DNSException, OSError) as exc:
        raise PostwrightError(
            f"zone {zone.rstrip('.')}: the update got no answer ({type(exc).__name__}: {exc})"
        ) from exc
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    reasons = {
        dns.rcode.NOTAUTH: "NOTAUTH (key not accepted, or server not authoritative)",
        dns.rcode.REFUSED: "REFUSED (the key may not update this zone: check update-policy "
        "or allow-update)",
        dns.rcode.NOTZONE: "NOTZONE (a name is outside the zone)",
    }
    raise UpdateRefused(_explain(zone, key, reasons.get(rcode, dns.rcode.to_text(rcode))))


@dataclass(frozen=True)
class PushResult:
    zones: tuple[str, ...]  # zones that were updated
    changes: int  # RRsets changed


def push(result: DiffResult, send: Send, key: TsigKey | None) -> PushResult:
    """Preflight every zone to change, then send one UPDATE per zone."""
    updates = build_updates(result, key)
    for zone in updates:
        send_checked(send, zone, preflight_message(zone, key), key)
    for zone, message in updates.items():
        send_checked(send, zone, message, key)
    return PushResult(tuple(updates), len(result.differences))


def update_sections(message: dns.update.UpdateMessage) -> list[str]:
    """The update section as text lines (for --dry-run and tests)."""
    return [line for rrset in message.update for line in rrset.to_text().splitlines()]


