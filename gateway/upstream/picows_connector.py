"""Upstream connector on picows (Cython WebSockets): a few µs per frame instead of tens.

picows calls us back per frame; the relay pulls with ``await receive()``. Frames wait in a
deque with one future for a waiting reader (no queue object per frame), and reading from the
socket pauses when the deque is long, so a slow client pushes back on the model endpoint
instead of growing memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

from picows import WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from gateway.core.ports import Closed, Frame
from gateway.upstream.errors import ConnectFailed
from gateway.upstream.target import UpstreamTarget

#: frames buffered before reading from the upstream socket pauses, and resumes below half
_HIGH_WATER: Final = 64
_USER_AGENT: Final = "voice-gateway/0.1"


class PicowsUpstream(WSListener):
    """A connected upstream socket (implements :class:`gateway.core.ports.FrameSocket`)."""

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: Closed | None = None
        self._transport: WSTransport | None = None
        self._paused_reading = False
        self._write_ready: asyncio.Event | None = None
        self._partial: list[bytes] = []
        self._partial_type = WSMsgType.TEXT
        self._on_frame: Callable[[Frame], None] | None = None
        self._on_closed: Callable[[Closed], None] | None = None
        self._on_writable: Callable[[bool], None] | None = None

    # --- picows callbacks ----------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY or msg_type == WSMsgType.CONTINUATION:
            self._data_frame(transport, frame, msg_type)
        elif msg_type == WSMsgType.CLOSE:
            closed = Closed(frame.get_close_code().value, frame.get_close_reason() or "")
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()
            self._set_closed(closed)

    def _data_frame(self, transport: WSTransport, frame: WSFrame, msg_type: WSMsgType) -> None:
        if not frame.fin or self._partial:
            if msg_type != WSMsgType.CONTINUATION:
                self._partial_type = msg_type
            self._partial.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            data = b"".join(self._partial)
            self._partial = []
            payload: Frame = data.decode() if self._partial_type == WSMsgType.TEXT else data
        elif msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_utf8_text()
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

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._write_ready is not None:
            self._write_ready.set()
        if self._closed is None:
            self._set_closed(Closed(1006, ""))

    def _set_closed(self, closed: Closed) -> None:
        """Record the close once; a push reader hears it now, a pulling one after the queued frames."""
        if self._closed is not None:
            return
        self._closed = closed
        if self._on_closed is not None:
            self._on_closed(closed)
        self._wake()

    def pause_writing(self) -> None:
        if self._write_ready is None and self._on_writable is not None:
            self._on_writable(False)
        self._write_ready = asyncio.Event()

    def resume_writing(self) -> None:
        if self._write_ready is not None:
            self._write_ready.set()
            self._write_ready = None
            if self._on_writable is not None:
                self._on_writable(True)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- FrameSocket -------------------------------------------------------------------------

    async def receive(self) -> Frame | Closed:
        while True:
            if self._frames:
                frame = self._frames.popleft()
                if self._paused_reading and len(self._frames) <= _HIGH_WATER // 2 and self._transport is not None:
                    self._paused_reading = False
                    self._transport.underlying_transport.resume_reading()
                return frame
            if self._closed is not None:
                return self._closed
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None

    async def send(self, frame: Frame) -> None:
        transport = self._transport
        if transport is None or self._closed is not None:
            return  # the receive side reports the close
        ready = self._write_ready
        if ready is not None:
            await ready.wait()
        transport.send(WSMsgType.TEXT if frame.__class__ is str else WSMsgType.BINARY, frame)

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
        if self._write_ready is not None:
            on_writable(False)
        for frame in queued:
            on_frame(frame)
        if self._closed is not None:
            on_closed(self._closed)

    def send_now(self, frame: Frame) -> None:
        """Write a frame to the transport now; buffered past the high-water mark (on_writable reports it)."""
        transport = self._transport
        if transport is None or self._closed is not None or transport.is_disconnected:
            return
        transport.send(WSMsgType.TEXT if frame.__class__ is str else WSMsgType.BINARY, frame)

    def pause_reading(self) -> None:
        transport = self._transport
        if transport is None or self._paused_reading or self._closed is not None or transport.is_disconnected:
            return
        self._paused_reading = True
        transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused_reading and self._transport is not None:
            self._paused_reading = False
            self._transport.underlying_transport.resume_reading()

    async def close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None or transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            # picows's stub types the code as its WSCloseCode enum; the runtime sends any int (4000-4999 too)
            transport.send_close(code, reason.encode()[:123])  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(transport.wait_disconnected(), 1.0)
        except asyncio.TimeoutError:
            transport.disconnect(graceful=False)
        except asyncio.CancelledError:  # the caller's own close timeout: still drop the connection
            transport.disconnect(graceful=False)
            raise


class PicowsConnector:
    """Opens upstream sockets with picows; registered as ``"picows"`` (the default)."""

    name = "picows"

    def __init__(self, *, max_message_bytes: int, ping_interval_s: float, ping_timeout_s: float) -> None:
        self.max_message_bytes = max_message_bytes
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s

    async def connect(self, target: UpstreamTarget) -> PicowsUpstream:
        headers = {"User-Agent": _USER_AGENT, **target.headers}
        try:
            _, listener = await asyncio.wait_for(
                ws_connect(
                    PicowsUpstream,
                    target.url,
                    extra_headers=headers,
                    websocket_handshake_timeout=target.connect_timeout_s,
                    max_frame_size=self.max_message_bytes,
                    enable_auto_ping=True,
                    auto_ping_idle_timeout=self.ping_interval_s,
                    auto_ping_reply_timeout=min(self.ping_timeout_s, self.ping_interval_s),
                    # start small and let picows grow it for large frames: idle sessions stay cheap
                    read_buffer_init_size=4096,
                ),
                target.connect_timeout_s,
            )
        except WSError as exc:
            response = getattr(exc, "response", None)
            status = int(response.status) if response is not None and getattr(response, "status", None) else None
            raise ConnectFailed(target.endpoint, status=status) from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(target.endpoint, status=None) from exc
        if not isinstance(listener, PicowsUpstream):  # the peer hung up during the handshake: no listener
            raise ConnectFailed(target.endpoint, status=None)
        return listener

