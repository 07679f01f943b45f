"""The client side of a session on picows: whole frames in a deque, one future for the waiting reader.

picows parses frames in Cython and calls ``on_ws_frame``; the relay pulls with ``await receive()``.
Reading pauses while the relay is behind; ``send`` waits while the transport's write buffer is
over its high-water mark (picows forwards ``pause_writing``/``resume_writing``), so the relay's
slow-client check sees a client that stopped reading. ``close`` queues the close frame even
behind a full buffer and cuts the connection off if the peer has not finished the closing
handshake within ``linger_s``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

from picows import WSFrame, WSListener, WSMsgType, WSTransport

from gateway.core.ports import Closed, Frame

#: frames buffered before reading from the client pauses; reading resumes below half
_HIGH_WATER: Final = 64
_INVALID_PAYLOAD: Final = 1007
_TOO_BIG: Final = 1009


class PicowsClientSocket(WSListener):
    """A client WebSocket served by picows (implements :class:`gateway.core.ports.FrameSocket`)."""

    def __init__(self, *, max_message_bytes: int, linger_s: float) -> None:
        super().__init__()
        self.max_message_bytes = max_message_bytes
        self.linger_s = linger_s
        self.transport: WSTransport | None = None
        self.disconnected: asyncio.Future[None] | None = None
        self._frames: deque[Frame | Closed] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: Closed | None = None
        self._paused_reading = False
        self._writable: asyncio.Future[None] | None = None
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._partial_text = True
        self._abort: asyncio.TimerHandle | None = None
        self._on_frame: Callable[[Frame], None] | None = None
        self._on_closed: Callable[[Closed], None] | None = None
        self._on_writable: Callable[[bool], None] | None = None

    # --- picows callbacks ----------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.disconnected = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY or msg_type == WSMsgType.CONTINUATION:
            if self._closed is None:
                self._data(transport, frame, msg_type)
        elif msg_type == WSMsgType.CLOSE:
            self._peer_closed(transport, frame)

    def _data(self, transport: WSTransport, frame: WSFrame, msg_type: WSMsgType) -> None:
        if not frame.fin or self._partial:
            payload = self._fragment(transport, frame, msg_type)
            if payload is None:
                return
        elif msg_type == WSMsgType.TEXT:
            try:
                payload = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._fail(transport, _INVALID_PAYLOAD, "invalid UTF-8 in a text frame")
                return
        else:
            payload = frame.get_payload_as_bytes()
        on_frame = self._on_frame
        if on_frame is not None:
            on_frame(payload)
            return
        self._frames.append(payload)
        if len(self._frames) >= _HIGH_WATER and not self._paused_reading:
            self._paused_reading = True
            transport.underlying_transport.pause_reading()
        self._wake()

    def _fragment(self, transport: WSTransport, frame: WSFrame, msg_type: WSMsgType) -> Frame | None:
        """Collect a fragmented message; the whole message once its last frame arrives."""
        if msg_type != WSMsgType.CONTINUATION:
            self._partial_text = msg_type == WSMsgType.TEXT
        chunk = frame.get_payload_as_bytes()
        self._partial_size += len(chunk)
        if self._partial_size > self.max_message_bytes:
            self._fail(transport, _TOO_BIG, "message too big")
            return None
        self._partial.append(chunk)
        if not frame.fin:
            return None
        data = b"".join(self._partial)
        self._partial, self._partial_size = [], 0
        if not self._partial_text:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            self._fail(transport, _INVALID_PAYLOAD, "invalid UTF-8 in a text frame")
            return None

    def _fail(self, transport: WSTransport, code: int, reason: str) -> None:
        """A frame we cannot deliver: close with ``code``; the relay reads the close next."""
        self._set_closed(Closed(code, reason))
        self.begin_close(transport, code, reason)
        self._wake()

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        if self._closed is None:
            self._set_closed(Closed(frame.get_close_code().value, frame.get_close_reason() or ""))
        if not transport.is_close_frame_sent:
            transport.send_close(frame.get_close_code())
        transport.disconnect()
        self._arm_abort(transport)
        self._wake()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._closed is None:
            self._set_closed(Closed(1006, ""))
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        self.resume_writing()
        if self.disconnected is not None and not self.disconnected.done():
            self.disconnected.set_result(None)
        self._wake()

    def _set_closed(self, closed: Closed) -> None:
        self._closed = closed
        if self._on_closed is not None:
            self._on_closed(closed)
        else:
            self._frames.append(closed)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()
            if self._on_writable is not None:
                self._on_writable(False)

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        if writable is not None and self._on_writable is not None:
            self._on_writable(True)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- FrameSocket -------------------------------------------------------------------------

    async def receive(self) -> Frame | Closed:
        frames = self._frames
        while not frames:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = frames[0]
        if item.__class__ is Closed:
            return item  # stays queued: every later receive reports the close too
        frames.popleft()
        if self._paused_reading and len(frames) <= _HIGH_WATER // 2 and self.transport is not None:
            self._paused_reading = False
            self.transport.underlying_transport.resume_reading()
        return item

    async def send(self, frame: Frame) -> None:
        transport = self.transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            return  # the receive side reports the close
        while self._writable is not None:
            await asyncio.shield(self._writable)
            if transport.is_close_frame_sent or transport.is_disconnected:
                return
        transport.send(WSMsgType.TEXT, frame)

    # --- PushSocket -------------------------------------------------------------------------

    def attach(
        self,
        on_frame: Callable[[Frame], None],
        on_closed: Callable[[Closed], None],
        on_writable: Callable[[bool], None],
    ) -> None:
        """Deliver frames by callback from now on, starting with those already queued."""
        queued = list(self._frames)
        self._frames.clear()
        self._on_frame, self._on_closed, self._on_writable = on_frame, on_closed, on_writable
        self.resume_reading()  # the relay does the pausing from here on
        if self._writable is not None:
            on_writable(False)
        for item in queued:
            if isinstance(item, Closed):
                on_closed(item)
                return
            on_frame(item)

    def send_now(self, frame: Frame) -> None:
        """Write a frame to the transport now; buffered past the high-water mark (on_writable reports it)."""
        transport = self.transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            return
        transport.send(WSMsgType.TEXT, frame)

    def pause_reading(self) -> None:
        transport = self.transport
        if transport is None or self._paused_reading or transport.is_close_frame_sent or transport.is_disconnected:
            return
        self._paused_reading = True
        transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.underlying_transport.resume_reading()

    async def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        self.begin_close(transport, code, reason)

    def begin_close(self, transport: WSTransport, code: int, reason: str) -> None:
        """Queue the close frame (even behind a full write buffer) and bound the closing handshake."""
        if not transport.is_close_frame_sent:
            # picows's stub types the code as its WSCloseCode enum; the runtime sends any int (4000-4999 too)
            transport.send_close(code, reason.encode()[:123])  # type: ignore[arg-type]
        if self._paused_reading:  # read on, so the peer's close reply is seen
            self._paused_reading = False
            transport.underlying_transport.resume_reading()
        self._arm_abort(transport)

    def _arm_abort(self, transport: WSTransport) -> None:
        if self._abort is None and not transport.is_disconnected:
            self._abort = asyncio.get_running_loop().call_later(self.linger_s, transport.disconnect, False)
