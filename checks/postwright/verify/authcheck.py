"""AUTH policy of one port: no login before TLS, never AUTH on the MX port, and submission
refusing mail before STARTTLS. These are what keep passwords off the wire and away from
password-guessing on port 25."""

from __future__ import annotations

from postwright.verify import dialects
from postwright.verify.dialects import Caps, Greeting
from postwright.verify.explain import plain
from postwright.verify.model import Status
from postwright.verify.session import NETWORK_ERRORS, PortSession
from postwright.verify.wire import Conn


def before_tls(s: PortSession, greeting: Greeting, caps: Caps) -> None:
    if not s.wants("auth.before_tls"):
        return
    found = dialects.auth_before_tls(greeting.protocol, caps)
    if found:
        s.col.add("auth.before_tls", Status.FAIL,
                  f"port {s.ep.port} offers login before TLS: {', '.join(found)}; "
                  "a client may send the password in cleartext",
                  evidence={"capabilities": caps.lines},
                  remedy="offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes; "
                  "Dovecot: disable_plaintext_auth = yes / auth_allow_cleartext = no)")
    else:
        s.col.add("auth.before_tls", Status.PASS,
                  f"no login offered before TLS on port {s.ep.port}",
                  evidence={"capabilities": caps.lines})


def on_mx(s: PortSession, caps: Caps, stage: str, *, final: bool) -> None:
    """Judge AUTH on the MX port at `stage`; `final` passes the check when none is offered."""
    if not s.wants("auth.on_mx"):
        return
    if dialects.smtp_auth(caps) is not None:
        s.col.add("auth.on_mx", Status.FAIL,
                  f"port {s.ep.port} ({s.service.name}) advertises AUTH {stage}: "
                  "the MX port must never offer login (password guessing target)",
                  evidence={"auth": dialects.smtp_auth(caps), "stage": stage},
                  remedy="remove smtpd_sasl_auth_enable from the smtp service (port 25) in "
                  "Postfix; enable it only on submission/submissions")
    elif final:
        s.col.add("auth.on_mx", Status.PASS,
                  f"no AUTH on port {s.ep.port}, before or after TLS",
                  evidence={"capabilities": caps.lines})


async def requires_tls(s: PortSession, conn: Conn) -> None:
    """submission.requires_tls: MAIL FROM in plaintext must get 530 (RFC 3207)."""
    if not s.wants("submission.requires_tls"):
        return
    command = f"MAIL FROM:<{s.sender}>"
    try:
        reply = await dialects.smtp(conn, command, s.step)
        if reply.code < 400:
            await dialects.smtp(conn, "RSET", s.step)
    except NETWORK_ERRORS as exc:
        s.col.add("submission.requires_tls", Status.ERROR,
                  f"MAIL FROM before STARTTLS could not be tested: {plain(exc)}")
        return
    evidence = {"command": command, "reply": str(reply)}
    if reply.code == 530:
        s.col.add("submission.requires_tls", Status.PASS,
                  f"MAIL FROM before STARTTLS refused with {reply}", evidence=evidence)
    elif reply.code >= 400:
        s.col.add("submission.requires_tls", Status.WARN,
                  f"MAIL FROM before STARTTLS refused, but with {reply.code} instead of "
                  "530 (RFC 3207: 530 5.7.0 Must issue a STARTTLS command first)",
                  evidence=evidence, remedy="Postfix: smtpd_tls_security_level = encrypt "
                  "on the submission service")
    else:
        s.col.add("submission.requires_tls", Status.FAIL,
                  f"port {s.ep.port} accepts MAIL FROM ({s.sender or '<>'}) before STARTTLS "
                  f"({reply}): submission without encryption is possible",
                  evidence=evidence, remedy="Postfix: -o smtpd_tls_security_level=encrypt"
                  " on the submission service in master.cf")
