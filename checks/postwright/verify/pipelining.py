"""smtp.pipelining: does the MX refuse commands sent before it answered EHLO?

RFC 2920 lets a client pipeline only once the server has advertised PIPELINING, and even
then EHLO (like DATA and NOOP) must end a group: whatever follows it waits for its reply.
Spam bots ignore this and write a whole dialogue at once; Postfix's
`smtpd_forbid_unauth_pipelining = yes` (the default from 3.9) "disconnects remote SMTP
clients that violate RFC 2920 (or 5321) command pipelining constraints", answering
`554 5.5.0 Error: SMTP protocol synchronization`; Exim's smtp_enforce_sync does likewise.

The probe, on a connection of its own, after the 220 greeting (talking before it is
postscreen's pregreet test, a different matter): `EHLO name<CR><LF>NOOP<CR><LF>` in one
write, so that the NOOP is waiting in the server's input when it reads the EHLO, before any
EHLO reply (and so before any PIPELINING advertisement) has been seen. A server that refuses
(4xx/5xx) or hangs up, at the EHLO or at the NOOP, or never answers the NOOP, enforces the
synchronisation: PASS. One that answers both with 250 is lenient: WARN, not FAIL, since RFC
5321 allows a server to accept it, but a bot-friendly one.
"""

from __future__ import annotations

from typing import Any

from postwright.verify import dialects
from postwright.verify.dialects import Reply
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.probe import Mode, Probe
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

CHECK_ID = "smtp.pipelining"
REMEDY = ("Postfix: smtpd_forbid_unauth_pipelining = yes (the default from 3.9); Exim: "
          "smtp_enforce_sync = true (its default)")


def connections(s: PortSession) -> int:
    return 1 if s.wants(CHECK_ID) else 0


async def pipelining(s: PortSession, probe: Probe) -> None:
    if not s.wants(CHECK_ID) or probe.mode not in (Mode.STARTTLS, Mode.PLAIN) \
            or not probe.greeting:
        return
    sent = [f"EHLO {s.ep.ehlo_name}", "NOOP"]
    conn: Conn | None = None
    try:
        conn, _ = await s.spare()
        await conn.send_raw("".join(f"{c}\r\n" for c in sent).encode())
        verdict = await _replies(conn, s.step)
        await dialects.goodbye(conn, "smtp")
    except NETWORK_ERRORS as exc:
        s.col.add(CHECK_ID, Status.ERROR, f"could not test command pipelining: {plain(exc)}",
                  evidence={"transcript": conn.transcript if conn else []})
        return
    finally:
        if conn:
            conn.abort()
    refused, why, replies = verdict
    evidence: dict[str, Any] = {"sent_in_one_write": sent, "replies": replies}
    if refused:
        s.col.add(CHECK_ID, Status.PASS, f"commands pipelined before the EHLO reply are "
                  f"refused: {why}", evidence=evidence)
        return
    s.col.add(CHECK_ID, Status.WARN,
              f"port {s.ep.port} answered a NOOP sent together with EHLO, before its EHLO reply "
              f"(and its PIPELINING advertisement) ({' / '.join(replies)}): RFC 5321 allows "
              "this leniency, but spam bots rely on it; Postfix 3.9+ "
              "(smtpd_forbid_unauth_pipelining = yes) hangs up on them instead",
              evidence=evidence, remedy=REMEDY)


async def _replies(conn: Conn, step: float) -> tuple[bool, str, list[str]]:
    """(refused, why, the replies) for EHLO and NOOP written at once."""
    replies: list[str] = []
    for command in ("EHLO", "NOOP"):
        try:
            reply: Reply = await dialects.read_smtp_reply(conn, step)
        except ConnectionClosed:
            return True, f"the server hung up before answering {command}", replies
        except ReadTimeout:
            if command == "EHLO":
                raise
            return True, f"the pipelined NOOP was never answered ({step:.0f} s)", replies
        replies.append(str(reply))
        if reply.code >= 400:
            return True, f"{command} answered {reply}", replies
    return False, "", replies
