"""send.25 / send.465 / send.587 and imap.receive: real messages, read back, then deleted.

imap.receive also deletes the smtp.smuggling probe's messages when they went to the --user
mailbox (verify/probemail.py): they carry a token of their own, never counted here.

A password is only ever sent inside TLS to a server whose certificate verified (and whose
name matched, when there is a name to match). send.25 behaves like an MTA: opportunistic
STARTTLS without verification, no AUTH, null sender.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import email.utils
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from postwright.contract import Service, TlsMode
from postwright.verify import dialects
from postwright.verify.dialects import DialogueError
from postwright.verify.explain import plain
from postwright.verify.imap import Imap, ImapError
from postwright.verify.model import Collector, Status
from postwright.verify.probe import Endpoint, handshake
from postwright.verify.probemail import PROBE_HEADER, ProbeMail
from postwright.verify.registry import send_check_id
from postwright.verify.tlsinfo import TlsInfo, inspecting_context
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

HEADER = "X-Postwright-Token"
_ERRORS = (OSError, ReadTimeout, ConnectionClosed, DialogueError, ssl.SSLError, TimeoutError,
           ImapError)
_VERDICT = re.compile(r"\b(spf|dkim|dmarc|arc)=(\w+)", re.IGNORECASE)


class StageError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


@dataclass
class Sent:
    ip: str
    port: int
    service: str
    sent_at: float


@dataclass
class RoundTrip:
    user: str
    password: str = field(repr=False)
    address: str  # the user's mail address
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    sent: list[Sent] = field(default_factory=list)
    probes: ProbeMail | None = None  # other checks' messages to this mailbox, to delete


def _message(rt: RoundTrip, sender: str, ip: str, port: int) -> str:
    lines = [
        f"From: {sender}",
        f"To: <{rt.address}>",
        f"Subject: postwright verify round trip via {ip} port {port}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: <{rt.token}.{port}.{secrets.token_hex(4)}@postwright.invalid>",
        f"{HEADER}: {rt.token}",
        f"X-Postwright-Via: {ip} {port}",
        "",
        "This is a test message from `postwright verify`; it deletes it once read back.",
    ]
    return "\r\n".join(lines)


async def _tls(conn: Conn, ep: Endpoint, timeout: float, verify: bool) -> None:
    info = TlsInfo()
    try:
        if verify:
            if not await handshake(conn, ep, timeout, info):
                raise StageError("tls", f"certificate not trusted ({info.verify_error}); "
                                 "refusing to send the password")
            if ep.servername and not info.hostname_match:
                raise StageError("tls", f"certificate does not cover {ep.servername}; "
                                 "refusing to send the password")
        else:
            await handshake(conn, ep, timeout, info, inspecting_context())
    except (ssl.SSLError, ReadTimeout, OSError) as exc:
        raise StageError("tls", plain(exc, during="the TLS handshake")) from None


async def send(ep: Endpoint, service: Service, rt: RoundTrip, timeout: float,
               greeting: float | None = None) -> dict[str, Any]:
    """One message over this port; raises StageError naming the failing stage. The greeting
    may take `greeting` seconds (postscreen, greet_pause), every other reply `timeout`."""
    auth = service.auth.value == "required"
    try:
        conn = await Conn.open(ep.ip, ep.port, timeout)
    except (OSError, TimeoutError) as exc:
        raise StageError("connect", plain(exc)) from None
    try:
        return await _transaction(conn, ep, service, rt, timeout, auth,
                                  max(timeout, greeting or 0.0))
    except StageError:
        raise
    except _ERRORS as exc:
        raise StageError("session", f"{plain(exc)} (last: {conn.transcript[-2:]})") from None
    finally:
        await dialects.goodbye(conn, "smtp")


async def _transaction(conn: Conn, ep: Endpoint, service: Service, rt: RoundTrip,
                       timeout: float, auth: bool, wait: float) -> dict[str, Any]:
    if service.tls is TlsMode.IMPLICIT:
        await _tls(conn, ep, timeout, verify=auth)
    greeting = await dialects.read_greeting(conn, await conn.readline(wait), wait)
    if greeting.code != 220:
        raise StageError("banner", greeting.text)
    caps = await dialects.capabilities(conn, greeting, ep.ehlo_name, timeout)
    if service.tls is TlsMode.STARTTLS:
        if dialects.starttls_offered("smtp", caps):
            await dialects.request_starttls(conn, "smtp", timeout)
            await _tls(conn, ep, timeout, verify=auth)
            caps = await dialects.capabilities(conn, greeting, ep.ehlo_name, timeout)
        elif auth:
            raise StageError("starttls", "STARTTLS not offered; refusing to send the password")
    if auth:
        blob = base64.b64encode(f"\0{rt.user}\0{rt.password}".encode()).decode()
        reply = await dialects.smtp(conn, f"AUTH PLAIN {blob}", timeout, secret=True)
        if reply.code != 235:
            raise StageError("auth", str(reply))
    sender = rt.address if auth else ""
    reply = await dialects.smtp(conn, f"MAIL FROM:<{sender}>", timeout)
    if reply.code != 250:
        raise StageError("mail", str(reply))
    reply = await dialects.smtp(conn, f"RCPT TO:<{rt.address}>", timeout)
    if reply.code not in (250, 251):
        raise StageError("rcpt", str(reply))
    reply = await dialects.smtp(conn, "DATA", timeout)
    if reply.code != 354:
        raise StageError("data", str(reply))
    header_from = f"<{rt.address}>" if auth else "Postwright verify <verify@postwright.invalid>"
    body = _message(rt, header_from, ep.ip, ep.port)
    stuffed = "\r\n".join("." + ln if ln.startswith(".") else ln for ln in body.split("\r\n"))
    try:
        await conn.send_raw(stuffed.encode() + b"\r\n.\r\n")
        reply = await dialects.read_smtp_reply(conn, timeout)
    except (ConnectionClosed, ReadTimeout, OSError) as exc:
        raise StageError("message", f"no answer to the end of DATA ({plain(exc)}): the "
                         "server dropped the message; it was not accepted") from None
    if reply.code != 250:
        raise StageError("message", str(reply))
    rt.sent.append(Sent(ep.ip, ep.port, service.name, time.monotonic()))
    return {"reply": str(reply), "tls": conn.tls.version() if conn.tls else None,
            "authenticated": auth}


async def send_checks(col: Collector, ep: Endpoint, service: Service, rt: RoundTrip,
                      timeout: float, *, greeting: float | None = None) -> None:
    check = send_check_id(service)
    col.expect(check)
    started = time.monotonic()
    try:
        evidence = await send(ep, service, rt, timeout, greeting)
    except StageError as exc:
        col.add(check, Status.FAIL, f"sending over port {ep.port} failed at {exc}",
                ip=ep.ip, port=ep.port, evidence={"stage": exc.stage},
                remedy="swaks reproduces it: swaks --server "
                f"{ep.ip}:{ep.port} --to {rt.address}"
                + (" -tlsc" if service.tls is TlsMode.IMPLICIT else " -tls")
                + (f" -a -au {rt.user}" if service.auth.value == "required" else ""))
        return
    evidence["elapsed_s"] = round(time.monotonic() - started, 3)
    col.add(check, Status.PASS, f"message accepted on port {ep.port}: {evidence['reply']}",
            ip=ep.ip, port=ep.port, evidence=evidence)


def verdicts(header_block: bytes) -> dict[str, Any]:
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block)
    found: dict[str, Any] = {}
    for value in msg.get_all("Authentication-Results") or []:
        for method, result in _VERDICT.findall(str(value)):
            found.setdefault(method.lower(), result.lower())
    for value in msg.get_all("Received-SPF") or []:
        found.setdefault("spf", str(value).split()[0].lower() if str(value).split() else "")
        found["received_spf"] = " ".join(str(value).split())[:200]
    found["via"] = str(msg.get("X-Postwright-Via", ""))
    return found


async def receive(col: Collector, ep: Endpoint, rt: RoundTrip, timeout: float,
                  wait: float) -> None:
    """Read the sent messages back over IMAPS, measure latency, delete them."""
    col.expect("imap.receive")
    if not rt.sent:
        col.add("imap.receive", Status.FAIL, "no message was accepted, nothing to read back",
                ip=ep.ip, port=ep.port)
        return
    try:
        conn = await Conn.open(ep.ip, ep.port, timeout)
    except (OSError, TimeoutError) as exc:
        col.add("imap.receive", Status.FAIL, f"IMAPS connect failed: {plain(exc)}", ip=ep.ip,
                port=ep.port)
        return
    try:
        await _tls(conn, ep, timeout, verify=True)
        imap = Imap(conn, timeout)
        await imap.greeting()
        await imap.login(rt.user, rt.password)
        await imap.ok("SELECT INBOX")
        found = await _poll(imap, rt, wait)
        deleted = await imap.delete([uid for uid, _ in found.values()])
        probes = await _delete_probes(imap, rt.probes, wait)
    except (StageError, *_ERRORS) as exc:
        why = str(exc) if isinstance(exc, StageError | ImapError) else plain(exc)
        col.add("imap.receive", Status.FAIL, f"reading back over IMAPS failed: {why}",
                ip=ep.ip, port=ep.port, remedy="check the mailbox login and Dovecot's log")
        return
    finally:
        await dialects.goodbye(conn, "imap")
    expected = {f"{s.ip} {s.port}": s for s in rt.sent}
    missing = sorted(set(expected) - set(found))
    evidence: dict[str, Any] = {"deleted_with": deleted, "messages": {}}
    also = ""
    if probes is not None:
        evidence["probe_messages"] = probes
        if probes["deleted"]:
            also = f" (and {probes['deleted']} smtp.smuggling probe messages)"
    for via, (_, (arrived, verdict)) in found.items():
        sent = expected.get(via)
        latency = round(arrived - sent.sent_at, 3) if sent else None
        evidence["messages"][via] = {"latency_s": latency, **verdict}
    if missing:
        col.add("imap.receive", Status.FAIL, f"{len(missing)} of {len(expected)} messages did "
                f"not arrive within {wait:.0f} s: sent via {', '.join(missing)}", ip=ep.ip,
                port=ep.port, evidence=evidence, remedy="read the mail log (journalctl -u "
                "postfix) for the message; check the queue with `postqueue -p`")
        return
    worst = max((m["latency_s"] or 0.0) for m in evidence["messages"].values())
    col.add("imap.receive", Status.PASS, f"all {len(expected)} messages read back over IMAPS "
            f"(slowest {worst:.1f} s) and deleted{also}", ip=ep.ip, port=ep.port,
            evidence=evidence)


async def _delete_probes(imap: Imap, probes: ProbeMail | None,
                         wait: float) -> dict[str, Any] | None:
    """Delete the smuggling probe's messages: once no port check may send more, as many as
    the server accepted, or what has arrived within `wait` (and before the run's end)."""
    if probes is None:
        return None
    give_up = time.monotonic() + wait
    if probes.settle_by is not None:
        give_up = min(give_up, probes.settle_by)
    settled = await probes.settled(give_up - time.monotonic())
    uids: list[int] = []
    while probes.accepted:
        await imap.ok("NOOP")
        uids = await imap.search_header(PROBE_HEADER, probes.token)
        if len(uids) >= probes.accepted or time.monotonic() > give_up:
            break
        await asyncio.sleep(0.25)
    await imap.delete(uids)
    return {"accepted": probes.accepted, "deleted": len(uids), "all_sent": settled}


async def _poll(imap: Imap, rt: RoundTrip,
                wait: float) -> dict[str, tuple[int, tuple[float, dict[str, Any]]]]:
    found: dict[str, tuple[int, tuple[float, dict[str, Any]]]] = {}
    seen: set[int] = set()
    give_up = time.monotonic() + wait
    while True:
        await imap.ok("NOOP")
        for uid in await imap.search_header(HEADER, rt.token):
            if uid in seen:
                continue
            seen.add(uid)
            verdict = verdicts(await imap.fetch_header(uid))
            found[verdict.pop("via")] = (uid, (time.monotonic(), verdict))
        if len(found) >= len(rt.sent) or time.monotonic() > give_up:
            return found
        await asyncio.sleep(0.25)
