"""Output tokens promised to replies that have not been metered yet, pure.

The allowance (:mod:`gateway.core.allowance`) is what the nearest cost cap or budget still pays for, as
the accounting observer last metered it. Replies can run in parallel (out-of-band ``response.create``,
``conversation: "none"``), so each new reply's bound is what is left *after* the bounds of the replies
already promised: a reply the upstream has started counts its own ``max_output_tokens`` (as the
upstream reported it in ``response.created``) until its ``response.done``; a ``response.create`` the
gateway forwarded counts its bound until the upstream starts a reply for it or, if the upstream refused
it, for :data:`PENDING_TTL_S`. The upstream starts replies in the order it was asked for them, out of
band and in the conversation apart (server VAD starts conversation replies of its own, never out-of-band
ones), so each ``response.created`` takes the oldest promise of its kind.
"""

from __future__ import annotations

from collections import deque
from typing import Final

#: how long a forwarded ``response.create`` that no ``response.created`` followed still counts (the upstream
#: answers one within a round trip; an unanswered one was refused with an ``error``)
PENDING_TTL_S: Final = 5.0


class ReplyReservations:
    """The output-token bounds of replies asked for or running, not yet metered (one per session, made at first use)."""

    __slots__ = ("_pending", "_pending_out_of_band", "_running")

    def __init__(self) -> None:
        #: (forwarded at, bound) of each ``response.create`` sent on and not yet started, oldest first: replies in
        #: the conversation, and out of band
        self._pending: deque[tuple[float, int]] = deque()
        self._pending_out_of_band: deque[tuple[float, int]] = deque()
        #: the bound of each running reply, by response id
        self._running: dict[str, int] = {}

    def asked(self, tokens: int, now: float, *, out_of_band: bool) -> None:
        """A ``response.create`` bounded at ``tokens`` went upstream."""
        (self._pending_out_of_band if out_of_band else self._pending).append((now, tokens))

    def started(self, response_id: str, tokens: int, *, out_of_band: bool) -> None:
        """The upstream started a reply bounded at ``tokens``: it counts until it ends (the oldest promise of its
        kind was for it, or it is the upstream's own)."""
        pending = self._pending_out_of_band if out_of_band else self._pending
        if pending:
            pending.popleft()
        self._running[response_id] = tokens

    def ended(self, response_id: str) -> None:
        """A reply ended: its usage is the meter's now."""
        self._running.pop(response_id, None)

    def total(self, now: float) -> int:
        """Output tokens promised now (promises older than :data:`PENDING_TTL_S` are dropped)."""
        promised = sum(self._running.values())
        for pending in (self._pending, self._pending_out_of_band):
            while pending and now - pending[0][0] > PENDING_TTL_S:
                pending.popleft()
            promised += sum(tokens for _, tokens in pending)
        return promised

    def clear(self) -> None:
        """The upstream these replies ran on is gone (a handoff completed): nothing of it is promised any more."""
        self._pending.clear()
        self._pending_out_of_band.clear()
        self._running.clear()
