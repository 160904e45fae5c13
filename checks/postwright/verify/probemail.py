"""Probe messages a port check delivers to the test mailbox, so that the round trip deletes them.

smtp.smuggling sends real messages to a recipient the user named. When that recipient is the
--user mailbox, imap.receive (which is logged in there anyway) deletes them after its own:
they carry PROBE_HEADER with this run's token, which is not the round trip's token, so they
never count as round-trip messages. The port checks run alongside the round trip, so the
reader waits (bounded) until every port check that may send one has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field

PROBE_HEADER = "X-Postwright-Probe"


@dataclass
class ProbeMail:
    recipient: str | None  # None: nobody named, nothing is sent
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    accepted: int = 0  # messages the server accepted (the reader looks for this many)
    pending: int = 0  # port checks that may still send one
    settle_by: float | None = None  # monotonic time after which the reader stops waiting
    _idle: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def expect_sender(self) -> None:
        """A port check that may send probe messages is starting (call before it runs)."""
        self.pending += 1
        self._idle.clear()

    def sender_done(self) -> None:
        self.pending = max(0, self.pending - 1)
        if self.pending == 0:
            self._idle.set()

    async def settled(self, timeout: float) -> bool:
        """Wait until no port check may send another probe message; False on timeout."""
        if self.pending == 0:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                await self._idle.wait()
                return True
        return False
