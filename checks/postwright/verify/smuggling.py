"""smtp.smuggling: does the MX take a non-standard end-of-data sequence for the end of DATA?

SMTP smuggling (CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim): an
outbound server passes a lone `<LF>.<CR><LF>` (or a relative) through inside a message; an
inbound server that takes it for the end of DATA reads the rest of the message as new SMTP
commands, i.e. as a second message whose forged sender passes SPF for the outbound server.
This tests the inbound side, as SEC Consult's scanner does. Per variant, one connection:
EHLO, STARTTLS when offered (opportunistic, as real senders do: the certificate's trust is
tls.cert.trusted's business, here it must not stop the test), MAIL FROM, RCPT TO, DATA, then
in one write a message whose text holds the variant followed by a complete second
transaction (MAIL FROM, RCPT TO, DATA, message) and the real `<CR><LF>.<CR><LF>`.

A server that answers more than once (250 for a first message, then the smuggled MAIL, RCPT
and DATA) ended the message at the variant: FAIL. One that refuses the message (Postfix
`smtpd_forbid_bare_newline = reject`: 5xx for a bare LF) or accepts exactly one (Postfix's
`normalize`, Exim >= 4.97.1, Sendmail 8.18) passes.

Safe against any host: only the host's own MX port is spoken to, and messages go only to the
recipient the user names (--smuggle-rcpt, else the --user address); with nobody named nothing
is sent and the check is skipped. The envelope sender is null (<>), as send.25's: every MX
must accept it and an SPF-checking MX has no domain of ours to reject. Both the message and
the smuggled one say "postwright smuggling probe" in From and Subject, so that the recipient
can delete them; with --user, imap.receive deletes them (verify/probemail.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from postwright.verify import dialects
from postwright.verify.dialects import DialogueError, Reply
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.probe import Mode, Probe, handshake
from postwright.verify.probemail import PROBE_HEADER, ProbeMail
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.tlsinfo import TlsInfo, inspecting_context
from postwright.verify.wire import Conn, ConnectionClosed, ReadTimeout

CHECK_ID = "smtp.smuggling"
# The end-of-data sequences servers have mistaken for <CR><LF>.<CR><LF> (SEC Consult, 2023).
VARIANTS: dict[str, bytes] = {
    "<LF>.<CR><LF>": b"\n.\r\n",
    "<LF>.<LF>": b"\n.\n",
    "<CR>.<CR><LF>": b"\r.\r\n",
    "<CR><LF>.<LF>": b"\r\n.\n",
}
SUBJECT = "postwright smuggling probe"
FROM = f"{SUBJECT} <postwright-probe@postwright.invalid>"
MIN_LISTEN = 1.0  # seconds to listen for replies to the smuggled commands, at least
REMEDY = ("Postfix: smtpd_forbid_bare_newline = normalize, with "
          "smtpd_forbid_bare_newline_exclusions = $mynetworks (the default from 3.9; 3.5.23, "
          "3.6.13, 3.7.9 and 3.8.4 and later have it); Exim >= 4.97.1; Sendmail 8.18 "
          "(srv_features 'O'); otherwise update the server software")
NOBODY = ("not tested: give --smuggle-rcpt ADDRESS or --user: the test sends a probe message "
          f"per end-of-data variant ({len(VARIANTS)}) to that address")


@dataclass
class Outcome:
    """What one variant's connection showed."""

    variant: str
    verdict: str = "error"  # smuggled | refused | one | error
    reply: str = ""  # the answer to the message
    extra: list[str] = field(default_factory=list)  # replies after it: the smuggled commands'
    accepted: int = 0  # messages the server accepted (one for the message, one smuggled)
    error: str = ""
    tls: str | None = None

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict, "reply": self.reply,
                               "accepted": self.accepted, "tls": self.tls}
        if self.extra:
            out["replies_after"] = self.extra
        if self.error:
            out["error"] = self.error
        return out


def connections(s: PortSession) -> int:
    """Greeted connections this check will want (opened early, alongside the probe's)."""
    recipient = s.probe_mail.recipient if s.probe_mail else None
    return len(VARIANTS) if recipient and s.wants(CHECK_ID) else 0


def message(pm: ProbeMail, recipient: str, variant: str, sequence: bytes, where: str) -> bytes:
    """The DATA text: the variant, the smuggled transaction, then the real end of data."""
    def headers(subject: str) -> bytes:
        return "\r\n".join([
            f"From: {FROM}",
            f"To: <{recipient}>",
            f"Subject: {subject}",
            f"Date: {email.utils.formatdate(localtime=False)}",
            f"Message-ID: <{pm.token}.{secrets.token_hex(4)}@postwright.invalid>",
            f"{PROBE_HEADER}: {pm.token}",
            "",
            "",
        ]).encode()

    outer = headers(f"{SUBJECT} {variant} via {where}: delete me") + (
        f"A test of `postwright verify` (smtp.smuggling): the next line ends with {variant}, "
        "followed by a second message, which a vulnerable server delivers on its own."
    ).encode()
    smuggled = headers(f"{SUBJECT}: SMUGGLED second message after {variant} via {where}: "
                       "delete me") + (
        f"A server that delivers this as a message of its own ended DATA at {variant}."
    ).encode()
    return (outer + sequence + f"MAIL FROM:<>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()
            + smuggled + b"\r\n.\r\n")


async def smuggling(s: PortSession, probe: Probe) -> None:
    if not s.wants(CHECK_ID) or probe.mode not in (Mode.STARTTLS, Mode.PLAIN) \
            or not probe.greeting:
        return
    pm = s.probe_mail
    if pm is None or not pm.recipient:
        s.col.add(CHECK_ID, Status.SKIP, NOBODY, evidence={"sent": []})
        return
    outcomes = await asyncio.gather(*(_variant(s, pm, pm.recipient, name, seq)
                                      for name, seq in VARIANTS.items()))
    judge(s, pm.recipient, outcomes)


def judge(s: PortSession, recipient: str, outcomes: list[Outcome]) -> None:
    evidence: dict[str, Any] = {"recipient": recipient,
                                "variants": {o.variant: o.evidence() for o in outcomes}}
    delivered = sum(o.accepted for o in outcomes)
    evidence["delivered"] = delivered
    note = (f"; {delivered} probe message{'s' if delivered != 1 else ''} (subject "
            f"'{SUBJECT} ...') delivered to {recipient}" if delivered else "")
    smuggled = [o for o in outcomes if o.verdict == "smuggled"]
    if smuggled:
        how = ", ".join(f"{o.variant} (answered {o.reply}, then {' / '.join(o.extra)})"
                        for o in smuggled)
        s.col.add(CHECK_ID, Status.FAIL,
                  f"SMTP smuggling (CVE-2023-51764 and relatives): port {s.ep.port} ended the "
                  f"message at {how}: it read the rest of the message as new commands, so "
                  "mail relayed through another provider can carry a second message with a "
                  f"forged sender that passes SPF{note}", evidence=evidence, remedy=REMEDY)
        return
    failed = [o for o in outcomes if o.verdict == "error"]
    if failed:
        s.col.add(CHECK_ID, Status.ERROR,
                  "could not test SMTP smuggling with "
                  + "; ".join(f"{o.variant}: {o.error}" for o in failed) + note,
                  evidence=evidence,
                  remedy="give --smuggle-rcpt an address this host accepts mail for"
                  if any("RCPT TO" in o.error for o in failed) else "")
        return
    parts = [f"{o.variant} refused ({o.reply})" if o.verdict == "refused"
             else f"{o.variant} one message" for o in outcomes]
    s.col.add(CHECK_ID, Status.PASS,
              "no end-of-data variant smuggles a second message: " + ", ".join(parts) + note,
              evidence=evidence)


async def _variant(s: PortSession, pm: ProbeMail, recipient: str, name: str,
                   sequence: bytes) -> Outcome:
    out = Outcome(name)
    conn: Conn | None = None
    try:
        conn, greeting = await s.spare()
        out.tls = await _ehlo_and_tls(s, conn, greeting)
        await _expect(conn, "MAIL FROM:<>", (250,), s.step)
        await _expect(conn, f"RCPT TO:<{recipient}>", (250, 251), s.step)
        sent = time.monotonic()
        await _expect(conn, "DATA", (354,), s.step)
        round_trip = time.monotonic() - sent
        await conn.send_raw(message(pm, recipient, name, sequence, f"{s.ep.ip} port {s.ep.port}"))
        try:
            first = await dialects.read_smtp_reply(conn, s.step)
        except (ConnectionClosed, ReadTimeout) as exc:
            raise DialogueError(f"no answer to the message ({plain(exc)})") from None
        out.reply = str(first)
        out.accepted = int(first.code < 300)
        extra = await _more(conn, min(s.step, max(MIN_LISTEN, 4 * round_trip)), s.step)
        out.extra = [str(r) for r in extra]
        if extra:
            out.verdict = "smuggled"
            codes = [r.code for r in extra]
            out.accepted += int(354 in codes and codes[-1] < 300)
        else:
            out.verdict = "one" if first.code < 300 else "refused"
        await dialects.goodbye(conn, "smtp")
    except NETWORK_ERRORS as exc:
        out.error = plain(exc)
    finally:
        if conn:
            conn.abort()
        pm.accepted += out.accepted
    return out


async def _ehlo_and_tls(s: PortSession, conn: Conn, greeting: dialects.Greeting) -> str | None:
    caps = await dialects.capabilities(conn, greeting, s.ep.ehlo_name, s.step)
    if not dialects.starttls_offered("smtp", caps):
        return None
    await dialects.request_starttls(conn, "smtp", s.step)
    try:
        await handshake(conn, s.ep, s.step, TlsInfo(), inspecting_context())
    except (ssl.SSLError, OSError, ReadTimeout) as exc:
        raise DialogueError(plain(exc, during="the TLS handshake")) from None
    await dialects.capabilities(conn, greeting, s.ep.ehlo_name, s.step, after_tls=True)
    return conn.tls.version() if conn.tls else None


async def _expect(conn: Conn, command: str, codes: tuple[int, ...], timeout: float) -> Reply:
    reply = await dialects.smtp(conn, command, timeout)
    if reply.code not in codes:
        raise DialogueError(f"{command.split(':')[0]} refused: {reply}")
    return reply


async def _more(conn: Conn, listen: float, step: float) -> list[Reply]:
    """Replies after the message's: to the smuggled MAIL, RCPT, DATA and message, if any.
    Listens `listen` seconds for the first; once a 354 came, the last gets a whole step."""
    replies: list[Reply] = []
    until = time.monotonic() + listen
    while len(replies) < 4:
        wait = step if replies and replies[-1].code == 354 else until - time.monotonic()
        if wait <= 0:
            break
        try:
            replies.append(await dialects.read_smtp_reply(conn, wait))
        except (ReadTimeout, ConnectionClosed):
            break
    return replies
