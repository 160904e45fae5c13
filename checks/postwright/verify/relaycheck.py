"""relay.open: does the port take mail for a foreign domain without authentication?

Only MAIL FROM and RCPT TO are sent, never DATA, so nothing is ever relayed. A temporary
refusal (4xx) is still a refusal: Debian's Postfix answers `454 4.7.1 Relay access denied`
by default (defer_unauth_destination), which keeps a misconfigured host's legitimate mail
queued instead of bounced. It passes, with the code explained.
"""

from __future__ import annotations

from typing import Any

from postwright.verify import dialects
from postwright.verify.dialects import Reply
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.wire import Conn

RELAY_RCPT = "postwright-relay-probe@relay-test.invalid"


async def relay(s: PortSession, conn: Conn) -> None:
    if not s.wants("relay.open"):
        return
    steps: list[str] = []
    rcpt: Reply | None = None
    try:
        mail = await dialects.smtp(conn, f"MAIL FROM:<{s.sender}>", s.step)
        steps.append(f"MAIL FROM:<{s.sender}> -> {mail}")
        if mail.code < 400:
            rcpt = await dialects.smtp(conn, f"RCPT TO:<{RELAY_RCPT}>", s.step)
            steps.append(f"RCPT TO:<{RELAY_RCPT}> -> {rcpt}")
        await dialects.smtp(conn, "RSET", s.step)  # never DATA: nothing is ever sent
    except NETWORK_ERRORS as exc:
        s.col.add("relay.open", Status.ERROR,
                  f"the relay test broke off: {plain(exc)}",
                  evidence={"steps": steps, "transcript": conn.transcript[-6:]})
        return
    judge(s, mail, rcpt, steps)


def judge(s: PortSession, mail: Reply, rcpt: Reply | None, steps: list[str]) -> None:
    evidence: dict[str, Any] = {"steps": steps, "authenticated": False}
    final = rcpt or mail
    stage = "RCPT TO" if rcpt else "MAIL FROM"
    if final.code < 300:
        s.col.add("relay.open", Status.FAIL,
                  f"OPEN RELAY: port {s.ep.port} accepts mail for {RELAY_RCPT} "
                  "without authentication; spammers will use it within hours",
                  evidence=evidence, remedy="Postfix: smtpd_relay_restrictions = "
                  "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination;"
                  " keep mynetworks to localhost")
    elif final.code < 400:  # 3xx to RCPT is not SMTP; the server is confused, not open
        s.col.add("relay.open", Status.WARN,
                  f"unexpected reply to {stage} for a foreign domain: {final}",
                  evidence=evidence, remedy="read the server's log for this session")
    elif final.code < 500 and rcpt is None:
        s.col.add("relay.open", Status.WARN,
                  f"relay not tested: MAIL FROM was refused temporarily ({mail})",
                  evidence=evidence, remedy="read the server's log for this session")
    elif final.code < 500:
        evidence["temporary"] = True
        why = (" (Postfix: defer_unauth_destination, Debian's default)"
               if final.code == 454 or "relay access" in final.text.lower() else "")
        s.col.add("relay.open", Status.PASS,
                  f"relay refused (temporarily: {final}) at {stage}: a 4xx refusal keeps "
                  "a sender retrying instead of bouncing, and relaying without "
                  f"authentication is not possible either way{why}", evidence=evidence)
    else:
        s.col.add("relay.open", Status.PASS,
                  f"relay refused at {stage}: {final}", evidence=evidence)
