"""What a relay strategy and the session it serves see of each other (no I/O here).

A :class:`~gateway.relay.session.RelaySession` owns the protocol decisions; a strategy only moves
bytes between the two sockets and the session's small synchronous surface:

* the strategy hands the session every frame and close from either side, and the client's
  writability (back-pressure), and ends the session when moving bytes failed;
* the session hands the strategy the frames to send each way through its two sinks,
  ``to_client`` and ``to_upstream``.

Two strategies exist: push mode (:mod:`gateway.relay.push`, frames relayed in the sockets'
callbacks) and pull mode (:mod:`gateway.relay.pull`, one pump task per direction).
"""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.core.errors import GatewayError, UpstreamDropped
from gateway.core.ports import Closed, Frame, FrameSocket

log = logging.getLogger("voice_gateway.relay")


class RelaySurface(Protocol):
    """The session as a strategy drives it: synchronous calls, one per thing that happened."""

    @property
    def session_id(self) -> str: ...

    @property
    def finished(self) -> bool: ...

    def client_frame(self, frame: Frame) -> None: ...

    def upstream_frame(self, frame: Frame) -> None: ...

    def retired_upstream_frame(self, frame: Frame) -> None:
        """A frame from an upstream a handoff replaced, while it closes (only its usage counts)."""
        ...

    def client_closed(self, closed: Closed) -> None: ...

    def upstream_closed(self, closed: Closed) -> None: ...

    def client_writable(self, writable: bool) -> None: ...

    def end(self, error: GatewayError) -> None: ...


class Strategy(Protocol):
    """Moves bytes for one session: two synchronous sinks, a start and a stop."""

    def to_client(self, frame: Frame) -> None:
        """Send (or queue for sending) one frame to the client."""

    def to_upstream(self, frame: Frame) -> None:
        """Send (or queue for sending) one frame to the upstream."""

    def start(self) -> None:
        """Begin delivering frames from both sockets to the session."""

    async def stop(self, *, grace: bool) -> None:
        """Stop delivering; with ``grace``, frames being sent (an error the core reported) go out first."""

    def can_relay(self, upstream: FrameSocket) -> bool:
        """Whether :meth:`replace_upstream` can move bytes with ``upstream`` (push mode needs a push socket)."""

    def replace_upstream(self, upstream: FrameSocket) -> None:
        """A handoff: send to ``upstream`` from now on (``to_upstream`` is rebound); the old one's frames and
        close are ignored. Nothing is read from it until :meth:`start_upstream`."""

    def start_upstream(self) -> None:
        """Deliver the new upstream's frames (those it queued may be handled before this returns)."""


def moving_failed(session: RelaySurface, side: str, exc: BaseException) -> None:
    """A socket failed under a strategy: log it and end the session as an upstream drop (1014)."""
    log.error("%s relay failed", side, exc_info=exc, extra={"session_id": session.session_id})
    session.end(UpstreamDropped())
