"""Push mode: frames go from one socket's callback through the session to the other's ``send_now``.

Used when both sockets implement :class:`gateway.core.ports.PushSocket`; no task wakes up per
frame. The session's sinks are the sockets' own ``send_now``. Back-pressure crosses over: a
client that stops reading pauses reading from the upstream (and tells the session, whose tick
times a slow client out); an upstream that stops reading pauses reading from the client.
Nothing raised here may reach the socket library: a failure ends the session.
"""

from __future__ import annotations

import logging

from gateway.core.hot import HotGate
from gateway.core.ports import Closed, Frame, FrameSocket, HotSocket, PushSocket, is_hot_socket, is_push_socket
from gateway.relay.strategy import RelaySurface, moving_failed

log = logging.getLogger("voice_gateway.relay")


class PushRelay:
    """One push-mode session's relay (a :class:`Strategy`) and the client socket's handler
    (:class:`~gateway.core.ports.PushHandler`); the upstream's is a :class:`_Upstream`. A socket holds its handler,
    not four bound methods of it: an idle session holds two objects where it held eight callbacks."""

    __slots__ = ("session", "client", "upstream", "to_client", "to_upstream")

    def __init__(self, session: RelaySurface, client: PushSocket, upstream: PushSocket) -> None:
        self.session = session
        self.client = client
        self.upstream = upstream
        self.to_client = client.send_now
        self.to_upstream = upstream.send_now

    def start(self) -> None:
        """Attach both sockets: frames queued in them flow now, later ones as they arrive."""
        try:
            if not self.session.finished:
                self._attach_upstream(self.upstream)
            if not self.session.finished:
                self.client.attach(self)
        except Exception as exc:
            moving_failed(self.session, "attach", exc)

    def _attach_upstream(self, upstream: PushSocket) -> None:
        """Frames, close and writability of ``upstream`` count only while it is the session's upstream (after a handoff
        replaced it, its frames go to the session's ``retired_upstream_frame`` until it closes)."""
        upstream.attach(_Upstream(self, upstream))

    def can_relay(self, upstream: FrameSocket) -> bool:
        return isinstance(upstream, PushSocket)

    def replace_upstream(self, upstream: FrameSocket) -> None:
        assert isinstance(upstream, PushSocket)
        old = self.upstream
        self.upstream = upstream
        self.to_upstream = upstream.send_now
        try:
            if isinstance(old, HotSocket):  # its frames go to the session's retired_upstream_frame now
                old.hot_link(None, None, True)
            old.resume_reading()  # read on, so its closing handshake completes
            self.client.resume_reading()
        except Exception as exc:
            moving_failed(self.session, "upstream", exc)

    def start_upstream(self) -> None:
        try:
            self._attach_upstream(self.upstream)
        except Exception as exc:
            moving_failed(self.session, "upstream", exc)

    def link_hot(self, gate: HotGate | None) -> bool:
        """Let the sockets' listeners relay hot audio frames to each other alone under ``gate`` (``None``: stop);
        ``False`` when they cannot (a socket without a hot listener, or a gate of the other build)."""
        client, upstream = self.client, self.upstream
        if not is_hot_socket(client) or not is_hot_socket(upstream):  # decided once per class
            return False
        if gate is not None and client.hot_link(gate, upstream, False) and upstream.hot_link(gate, client, True):
            return True
        client.hot_link(None, None, False)
        upstream.hot_link(None, None, True)
        return False

    async def stop(self, *, grace: bool) -> None:
        """Read on after the end so both closing handshakes complete (later frames are dropped)."""
        for sock in (self.client, self.upstream):
            try:
                sock.resume_reading()
            except Exception as exc:
                log.debug("resume_reading failed at the end", exc_info=exc)

    # --- the client socket's handler --------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        """A frame from the client."""
        session = self.session
        if session.finished:
            return
        try:
            session.client_frame(frame)
        except Exception as exc:
            moving_failed(session, "client", exc)

    def on_closed(self, closed: Closed) -> None:
        self.session.client_closed(closed)

    def on_failed(self, exc: Exception) -> None:
        """The client's listener failed relaying a hot frame alone (a failed write)."""
        moving_failed(self.session, "client", exc)

    # --- the current upstream's (through its _Upstream) -----------------------------------------

    def on_upstream_frame(self, frame: Frame) -> None:
        session = self.session
        if session.finished:
            return
        try:
            session.upstream_frame(frame)
        except Exception as exc:
            moving_failed(session, "upstream", exc)

    # --- back-pressure ---------------------------------------------------------------------------

    def on_writable(self, writable: bool) -> None:
        """A client behind on reading: stop reading upstream and let the session time it out."""
        try:
            if writable or self.session.finished:  # after the end, read on so the closes complete
                self.session.client_writable(True)
                self.upstream.resume_reading()
            else:
                self.session.client_writable(False)
                self.upstream.pause_reading()
        except Exception as exc:
            moving_failed(self.session, "client", exc)

    def on_upstream_writable(self, writable: bool) -> None:
        """An upstream behind on reading: stop reading from the client until it catches up."""
        try:
            if writable or self.session.finished:
                self.client.resume_reading()
            else:
                self.client.pause_reading()
        except Exception as exc:
            moving_failed(self.session, "upstream", exc)


class _Upstream:
    """The handler one upstream is attached with (:class:`~gateway.core.ports.PushHandler`): its frames, close and
    writability count only while it is the relay's upstream."""

    __slots__ = ("relay", "upstream")

    def __init__(self, relay: PushRelay, upstream: PushSocket) -> None:
        self.relay = relay
        self.upstream = upstream

    def on_frame(self, frame: Frame) -> None:
        relay = self.relay
        if self.upstream is relay.upstream:
            relay.on_upstream_frame(frame)
        elif not relay.session.finished:  # replaced by a handoff and closing: only its usage report counts
            try:
                relay.session.retired_upstream_frame(frame)
            except Exception as exc:
                moving_failed(relay.session, "upstream", exc)

    def on_closed(self, closed: Closed) -> None:
        if self.upstream is self.relay.upstream:
            self.relay.session.upstream_closed(closed)

    def on_writable(self, writable: bool) -> None:
        if self.upstream is self.relay.upstream:
            self.relay.on_upstream_writable(writable)

    def on_failed(self, exc: Exception) -> None:
        """Its listener failed relaying a hot frame alone (only the current upstream is linked)."""
        moving_failed(self.relay.session, "upstream", exc)


def push_sockets(client: object, upstream: object) -> tuple[PushSocket, PushSocket] | None:
    """Both sockets as push sockets when both deliver by callback, else ``None`` (pull mode)."""
    if is_push_socket(client) and is_push_socket(upstream):  # decided once per class, not per set-up
        return client, upstream
    return None

