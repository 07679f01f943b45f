"""Pull mode: one pump task per direction, for sockets that only offer ``await receive()``.

Each pump receives a frame, hands it to the session (synchronously), then sends what the session
emitted while handling it — collected in that pump's own outbox, in order — before it receives
the next one, so a peer that stops reading holds its pump (and the session's tick times a slow
client out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from gateway.core.ports import Closed, Frame, FrameSocket
from gateway.relay.strategy import RelaySurface, moving_failed

#: how long a pump may finish sending what it was sending (an error event) once the session ended
_GRACE_S: Final = 1.0


@dataclass(slots=True)
class _Outbox:
    """Frames one pump's last frame produced, per destination."""

    to_client: list[Frame] = field(default_factory=list)
    to_upstream: list[Frame] = field(default_factory=list)
    #: the pump is sending these (stop() with grace lets it finish)
    sending: bool = False


class PullRelay:
    """Two pumps around the session (a :class:`Strategy`)."""

    def __init__(self, session: RelaySurface, client: FrameSocket, upstream: FrameSocket) -> None:
        self.session = session
        self.client = client
        self.upstream = upstream
        self._from_client = _Outbox()
        self._from_upstream = _Outbox()
        #: the outbox of the pump calling into the session right now (calls are synchronous);
        #: ``None`` outside a pump's call (the session's tick or a timer emitting on its own)
        self._current: _Outbox | None = self._from_client
        self._pumps: list[asyncio.Task[None]] = []
        self._loose: set[asyncio.Task[None]] = set()
        #: pumps of upstreams a handoff replaced (they end at their socket's next frame or close)
        self._retired: list[asyncio.Task[None]] = []

    def to_client(self, frame: Frame) -> None:
        if self._current is None:
            self._send_loose(self.client, frame)
        else:
            self._current.to_client.append(frame)

    def to_upstream(self, frame: Frame) -> None:
        if self._current is None:
            self._send_loose(self.upstream, frame)
        else:
            self._current.to_upstream.append(frame)

    def _send_loose(self, sock: FrameSocket, frame: Frame) -> None:
        """A frame the session emitted outside any pump's call: sent by a task of its own."""
        task = asyncio.get_running_loop().create_task(self._send_or_end(sock, frame))
        self._loose.add(task)
        task.add_done_callback(self._loose.discard)

    async def _send_or_end(self, sock: FrameSocket, frame: Frame) -> None:
        try:
            await sock.send(frame)
        except Exception as exc:  # noqa: BLE001 - a failed send ends the session like a failed pump
            moving_failed(self.session, "client" if sock is self.client else "upstream", exc)

    def start(self) -> None:
        """Start both pumps; the client pump first sends what frames held before the session produced."""
        sid = self.session.session_id
        self._current = None  # what held frames produced waits in the client pump's outbox
        self._pumps = [
            asyncio.create_task(self._pump(self.client, self._from_client, self._client_item), name=f"client:{sid}"),
            asyncio.create_task(self._pump(self.upstream, self._from_upstream, self._upstream_item), name=f"upstream:{sid}"),
        ]

    def can_relay(self, upstream: FrameSocket) -> bool:
        return True

    def replace_upstream(self, upstream: FrameSocket) -> None:
        """Send to ``upstream``; the old pump hands what its socket still sends to the session's
        ``retired_upstream_frame`` (only a usage report counts) and stops at its close."""
        self.upstream = upstream
        self._from_upstream = _Outbox()

    def start_upstream(self) -> None:
        """A new pump for the new upstream."""
        sid = self.session.session_id
        pump = asyncio.create_task(self._pump(self.upstream, self._from_upstream, self._upstream_item), name=f"upstream:{sid}")
        if len(self._pumps) == 2:
            self._retired.append(self._pumps[1])
            self._pumps[1] = pump
        else:
            self._pumps.append(pump)

    async def stop(self, *, grace: bool) -> None:
        pumps, self._pumps = self._pumps, []
        if grace:
            sending = [task for task, box in zip(pumps, (self._from_client, self._from_upstream)) if box.sending]
            if sending:
                await asyncio.wait(sending, timeout=_GRACE_S)
        retired, self._retired = self._retired, []
        for task in [*pumps, *retired, *self._loose]:
            task.cancel()
        await asyncio.gather(*pumps, *retired, *self._loose, return_exceptions=True)

    # --- the pumps ---------------------------------------------------------------------------------

    def _client_item(self, item: Frame | Closed) -> None:
        if isinstance(item, Closed):
            self.session.client_closed(item)
        else:
            self.session.client_frame(item)

    def _upstream_item(self, item: Frame | Closed) -> None:
        if isinstance(item, Closed):
            self.session.upstream_closed(item)
        else:
            self.session.upstream_frame(item)

    async def _pump(self, source: FrameSocket, box: _Outbox, deliver: Callable[[Frame | Closed], None]) -> None:
        session = self.session
        side = "client" if source is self.client else "upstream"
        try:
            await self._send(box)
            while not session.finished:
                item = await source.receive()
                if source is not self.client and source is not self.upstream:
                    # an upstream a handoff replaced: until it closes, only its usage report counts
                    if isinstance(item, Closed):
                        return
                    session.retired_upstream_frame(item)
                    continue
                self._current = box
                try:
                    deliver(item)
                finally:
                    self._current = None
                await self._send(box)
        except Exception as exc:  # noqa: BLE001 - any pump failure ends the session cleanly
            if source is not self.client and source is not self.upstream:
                return  # an upstream a handoff replaced failed while closing: not the session's failure
            moving_failed(session, side, exc)

    async def _send(self, box: _Outbox) -> None:
        """Send what the last frame produced: upstream first, then the client (timed by the session)."""
        if not (box.to_upstream or box.to_client):
            return
        box.sending = True
        to_upstream, box.to_upstream = box.to_upstream, []
        to_client, box.to_client = box.to_client, []
        for frame in to_upstream:
            await self.upstream.send(frame)
        if to_client:
            self.session.client_writable(False)
            for frame in to_client:
                await self.client.send(frame)
            self.session.client_writable(True)
        box.sending = False
