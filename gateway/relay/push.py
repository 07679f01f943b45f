"""Push mode of the relay: frames go from one socket's callback to the other's send, no task wake-ups.

Used when both sockets implement :class:`gateway.core.ports.PushSocket`. Back-pressure crosses
over: a client that stops reading pauses reading from the upstream (and starts the slow-client
clock the shared tick checks); an upstream that stops reading pauses reading from the client.
Nothing raised here may reach the socket library: a failure ends the session like a failed pump.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.core.errors import UpstreamDropped
from gateway.core.ports import Closed, Frame, PushSocket
from gateway.core.session import FORWARD, Emit

if TYPE_CHECKING:
    from gateway.relay.session import RelaySession

log = logging.getLogger("voice_gateway.relay")


class PushRelay:
    """The callbacks one push-mode session attaches to its two sockets."""

    def __init__(self, session: RelaySession, client: PushSocket, upstream: PushSocket) -> None:
        self.session = session
        self.client = client
        self.upstream = upstream

    def start(self, held: list[Frame]) -> None:
        """Run frames held from before the session, then attach both sockets (queued frames flow now)."""
        for frame in held:
            self.on_client_frame(frame)
        try:
            if not self.session.finished:
                self.upstream.attach(self.on_upstream_frame, self.on_upstream_closed, self.on_upstream_writable)
            if not self.session.finished:
                self.client.attach(self.on_client_frame, self.on_client_closed, self.on_client_writable)
        except Exception as exc:
            self._failed("attach", exc)

    def stop(self) -> None:
        """Read on after the end so both closing handshakes complete (later frames are dropped)."""
        for sock in (self.client, self.upstream):
            try:
                sock.resume_reading()
            except Exception as exc:
                log.debug("resume_reading failed at the end", exc_info=exc)

    # --- frames ----------------------------------------------------------------------------------

    def on_client_frame(self, frame: Frame) -> None:
        session = self.session
        if session.finished:
            return
        try:
            action = session.core.from_client(frame, session.clock())
            if action is FORWARD:
                self.upstream.send_now(frame)
            else:
                self._dispatch(action)
        except Exception as exc:
            self._failed("client", exc)

    def on_upstream_frame(self, frame: Frame) -> None:
        session = self.session
        if session.finished:
            return
        try:
            clock = session.clock
            now = clock()
            session._last_upstream = now
            action = session.core.from_upstream(frame, now)
            if action is FORWARD:
                self.client.send_now(frame)
            else:
                self._dispatch(action)
            probe = session.limits.delay_probe
            if probe is not None and now >= session._next_probe:
                session._next_probe = now + 1.0
                probe(clock() - now)
        except Exception as exc:
            self._failed("upstream", exc)

    def _dispatch(self, emit: Emit) -> None:
        for frame in emit.to_upstream:
            self.upstream.send_now(frame)
        for frame in emit.to_client:
            self.client.send_now(frame)
        if emit.close is not None:
            self.session._report(emit.close, reported=bool(emit.to_client))

    def _failed(self, side: str, exc: Exception) -> None:
        log.error("%s push handler failed", side, exc_info=exc, extra={"session_id": self.session.info.session_id})
        self.session.terminate(UpstreamDropped())

    # --- closes and back-pressure ------------------------------------------------------------------

    def on_client_closed(self, closed: Closed) -> None:
        self.session._client_closed(closed)

    def on_upstream_closed(self, closed: Closed) -> None:
        self.session._upstream_closed(closed)

    def on_client_writable(self, writable: bool) -> None:
        """A client behind on reading: stop reading upstream and let the tick time it out."""
        try:
            if writable or self.session.finished:  # after the end, read on so the closes complete
                self.session._client_send_since = 0.0
                self.upstream.resume_reading()
            else:
                self.session._client_send_since = self.session.clock()
                self.upstream.pause_reading()
        except Exception as exc:
            self._failed("client", exc)

    def on_upstream_writable(self, writable: bool) -> None:
        """An upstream behind on reading: stop reading from the client until it catches up."""
        try:
            if writable or self.session.finished:
                self.client.resume_reading()
            else:
                self.client.pause_reading()
        except Exception as exc:
            self._failed("upstream", exc)
