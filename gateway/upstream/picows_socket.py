"""What every picows socket of the gateway shares (the upstream socket and, in
:mod:`gateway.transports.picows`, the client socket): frames in a deque, one future for the waiting
reader, back-pressure both ways, and the push capability.

picows parses frames in Cython and calls ``on_ws_frame``. Until a push-mode relay attaches its
callbacks, whole messages wait in a deque and the relay pulls them with ``await receive()``;
reading from the socket pauses while the deque is long, so a slow consumer pushes back on the
peer instead of growing memory. ``send`` waits while the transport's write buffer is over its
high-water mark (picows forwards ``pause_writing``/``resume_writing``). Fragmented messages are
reassembled by :class:`gateway.core.fragments.MessageAssembler`. The client socket
(:mod:`gateway.transports.picows.socket`) and the upstream socket
(:mod:`gateway.upstream.picows_connector`) add only how they close.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import ClassVar, Final

from picows import WSFrame, WSMsgType, WSTransport

from gateway.core.fragments import INVALID_PAYLOAD, MessageAssembler
from gateway.core.ports import Closed, Frame, PushHandler
from gateway.upstream.hot_listener import HotListener
from gateway.upstream.pinger import Pinger

#: frames buffered before reading pauses; reading resumes below half
HIGH_WATER: Final = 64
#: picows' initial read buffer per socket (its floor; it doubles when a message does not fit). A 20 ms
#: audio frame (~1.4 KiB as JSON) fits, and an idle session holds two of these buffers, one per side
READ_BUFFER: Final = 2048
#: bound once: an enum attribute lookup per frame is measurable on the hot path
_TEXT: Final = WSMsgType.TEXT


def forget_handshake(transport: WSTransport) -> None:
    """Empty the upgrade request's and response's headers once connected: picows keeps both for the connection's
    life and nothing reads them afterwards (an idle session's memory); they hold credentials too (the client's
    ``Authorization`` on the client side, the upstream's API key on the upstream side)."""
    for message in (transport.request, transport.response):
        if message is not None:
            message.headers.clear()


class PicowsFrameSocket(HotListener):
    """A picows WebSocket as a :class:`~gateway.core.ports.FrameSocket` and a ``PushSocket``.

    picows calls the listener's ``on_ws_frame`` (:mod:`gateway.upstream.hot_listener`: a hot audio frame a
    linked push relay lets through is relayed there, in C when compiled); every other frame comes to
    :meth:`slow_frame`. ``transport``, ``_closed``, ``_partial`` and ``_handler`` are the listener's fields."""

    #: the message type ``bytes`` frames are sent as (``str`` frames always go as text)
    bytes_as: ClassVar[WSMsgType] = WSMsgType.TEXT

    # an idle session holds two of these: no per-instance dict, and the queue and the reassembly buffer
    # are made when first needed (a push relay never queues; most clients never fragment)
    __slots__ = (
        "max_message_bytes", "_frames", "_waiter", "_paused_reading", "_writable",
        "_assembler", "_pinger", "_idle_since", "_pong_due",
    )

    def __init__(self, *, max_message_bytes: int) -> None:
        super().__init__()
        self.max_message_bytes = max_message_bytes
        self.transport = None
        #: whole messages waiting for ``receive`` (``None`` while none has been queued)
        self._frames: deque[Frame] | None = None
        self._closed = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._writable: asyncio.Future[None] | None = None
        self._assembler: MessageAssembler | None = None
        #: a fragmented message is being reassembled (the assembler's state, read without a call per frame)
        self._partial = False
        self._handler = None
        #: the keep-alive pinger this socket is given to (:meth:`keep_alive`), and its state there
        self._pinger: Pinger | None = None
        self._idle_since = 0.0
        self._pong_due = 0.0

    def keep_alive(self, pinger: Pinger) -> None:
        """Have ``pinger`` ping this socket while it idles and drop it if it stops answering (once connected)."""
        self._pinger = pinger
        pinger.add(self)

    # --- picows callbacks ----------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def slow_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Every frame the listener did not relay alone."""
        msg_type = frame.msg_type
        handler = self._handler
        if msg_type is _TEXT and handler is not None and frame.fin and not self._partial and self._closed is None:
            # the hot path: a whole text message while a push relay is attached
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._fail(transport, Closed(INVALID_PAYLOAD, "invalid UTF-8 in a text frame"))
                return
            handler.on_frame(text)
        elif msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY or msg_type == WSMsgType.CONTINUATION:
            if self._closed is None:
                self._data(transport, frame, msg_type)
        elif msg_type == WSMsgType.CLOSE:
            self._peer_closed(transport, frame)
        elif msg_type == WSMsgType.PONG:
            self._pong_due = 0.0  # the keep-alive pinger's PING was answered

    def _data(self, transport: WSTransport, frame: WSFrame, msg_type: WSMsgType) -> None:
        payload: Frame | Closed | None
        if not frame.fin or self._partial:
            assembler = self._assembler
            if assembler is None:
                assembler = self._assembler = MessageAssembler(self.max_message_bytes)
            text = None if msg_type == WSMsgType.CONTINUATION else msg_type == WSMsgType.TEXT
            payload = assembler.add(frame.get_payload_as_bytes(), text=text, fin=frame.fin)
            self._partial = assembler.active
            if payload is None:
                return
            if isinstance(payload, Closed):
                self._fail(transport, payload)
                return
        elif msg_type == WSMsgType.TEXT:
            try:
                payload = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._fail(transport, Closed(INVALID_PAYLOAD, "invalid UTF-8 in a text frame"))
                return
        else:
            payload = frame.get_payload_as_bytes()
        handler = self._handler
        if handler is not None:
            handler.on_frame(payload)
            return
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        frames.append(payload)
        if len(frames) >= HIGH_WATER and not self._paused_reading:
            self._paused_reading = True
            transport.underlying_transport.pause_reading()
        self._wake()

    def _fail(self, transport: WSTransport, closed: Closed) -> None:
        """A message we cannot deliver: close with its code; the reader hears the close next."""
        self._set_closed(closed)
        self.begin_close(transport, closed.code, closed.reason)

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        self._set_closed(Closed(frame.get_close_code().value, frame.get_close_reason() or ""))
        if not transport.is_close_frame_sent:
            transport.send_close(frame.get_close_code())
        transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._pinger is not None:
            self._pinger.discard(self)
            self._pinger = None
        self._set_closed(Closed(1006, ""))
        self.resume_writing()

    def _set_closed(self, closed: Closed) -> None:
        """Record the close once; a push reader hears it now, a pulling one after the queued frames."""
        if self._closed is not None:
            return
        self._closed = closed
        if self._handler is not None:
            self._handler.on_closed(closed)
        self._wake()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()
            if self._handler is not None:
                self._handler.on_writable(False)

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        if writable is not None and self._handler is not None:
            self._handler.on_writable(True)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- closing (the client and upstream sockets differ) ---------------------------------------

    def begin_close(self, transport: WSTransport, code: int, reason: str) -> None:
        """Queue the close frame, even behind a full write buffer, and read on for the peer's reply."""
        if not transport.is_close_frame_sent:
            # picows's stub types the code as its WSCloseCode enum; the runtime sends any int (4000-4999 too)
            transport.send_close(code, reason.encode()[:123])  # type: ignore[arg-type]
        self.resume_reading()

    # --- FrameSocket -------------------------------------------------------------------------

    async def receive(self) -> Frame | Closed:
        frames = self._frames
        while not frames:
            if self._closed is not None:
                return self._closed  # every later receive reports the close too
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            frames = self._frames
        frame = frames.popleft()
        if self._paused_reading and len(frames) <= HIGH_WATER // 2 and self.transport is not None:
            self._paused_reading = False
            self.transport.underlying_transport.resume_reading()
        return frame

    def _sendable(self) -> WSTransport | None:
        """The transport while frames may still be written to it."""
        transport = self.transport
        if transport is None or self._closed is not None or transport.is_close_frame_sent or transport.is_disconnected:
            return None
        return transport

    async def send(self, frame: Frame) -> None:
        if self._sendable() is None:
            return  # the receive side reports the close
        while self._writable is not None:
            await asyncio.shield(self._writable)
        transport = self._sendable()
        if transport is not None:
            transport.send(WSMsgType.TEXT if frame.__class__ is str else self.bytes_as, frame)

    # --- PushSocket -------------------------------------------------------------------------

    def attach(self, handler: PushHandler) -> None:
        """Deliver frames to ``handler`` from now on, starting with those already queued."""
        queued = list(self._frames) if self._frames else []
        self._frames = None
        self._handler = handler
        self.resume_reading()  # the relay does the pausing from here on
        if self._writable is not None:
            handler.on_writable(False)
        for frame in queued:
            handler.on_frame(frame)
        if self._closed is not None:
            handler.on_closed(self._closed)

    def send_now(self, frame: Frame) -> None:
        """Write a frame to the transport now; buffered past the high-water mark (on_writable reports it)."""
        transport = self.transport  # what _sendable() checks, inline: this runs once per relayed frame
        if transport is None or self._closed is not None or transport.is_close_frame_sent or transport.is_disconnected:
            return
        transport.send(_TEXT if frame.__class__ is str else self.bytes_as, frame)

    def pause_reading(self) -> None:
        transport = self._sendable()
        if transport is None or self._paused_reading:
            return
        self._paused_reading = True
        transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.underlying_transport.resume_reading()
