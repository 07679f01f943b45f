"""The uvicorn protocol classes the server runs: HTTP with a header deadline, and the WebSocket classes.

uvicorn picks its protocol classes by import string or class; these adapt uvicorn's own
(``HttpToolsProtocol``, ``WebSocketsSansIOProtocol``) and hand session paths to picows
(:mod:`gateway.transports.picows`). The uvicorn internals they rely on are checked by
``tests/unit/transports/test_library_internals.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.core.errors import HeadersTooLarge
from gateway.transports.head_limit import HeadGuard, HeadLimits
from gateway.transports.picows import PicowsSessionProtocol
from gateway.transports.picows.request import refusal_response


class _DeniedHandshakeNoise(logging.Filter):
    """uvicorn logs an error after every handshake we refuse with an HTTP response (its bookkeeping
    never marks a denial as complete); a refused handshake is normal operation, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


logging.getLogger("uvicorn.error").addFilter(_DeniedHandshakeNoise())


class FlowControlledWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with a bounded close for peers that stopped reading.

    uvicorn already applies back-pressure: ``send`` waits while the transport's write buffer is
    above its high-water mark, which is how the relay sees a slow client. But its close then
    waits behind the same buffer, and ``transport.close()`` keeps a socket whose peer never
    reads open forever. Here a close is queued even when the buffer is full, and a peer that
    has not finished the closing handshake within ``ws_ping_timeout`` seconds is cut off.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.debug = False  # websockets' DEBUG wire log prints frame payloads: audio and transcripts

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] == "websocket.close" and self._stuck():
            self.queue.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})
            self.conn.send_close(message.get("code", 1000), message.get("reason") or "")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            if self.read_paused:  # read on, so the peer's close reply is seen
                self.read_paused = False
                self.transport.resume_reading()
            self.close_timer = self.loop.call_later(self._linger(), self.transport.abort)
            return
        await super().send(message)
        if message["type"] == "websocket.close" and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self._linger(), self.transport.abort)

    def _stuck(self) -> bool:
        return (
            not self.writable.is_set() and self.handshake_complete and self.initial_response is None
            and not self.close_sent and not self.disconnected and not self.transport.is_closing()
        )

    def _linger(self) -> float:
        return float(self.config.ws_ping_timeout or 10.0)


#: after a 431, how long the rest of the request is read and dropped before the connection is closed
_REFUSAL_LINGER_S: Final = 2.0


def _head_limits(app: object) -> HeadLimits:
    """``app.state.head_limits``, looking through uvicorn's middleware wrappers (ProxyHeadersMiddleware, …)."""
    for _ in range(8):
        limits = getattr(getattr(app, "state", None), "head_limits", None)
        if isinstance(limits, HeadLimits):
            return limits
        app = getattr(app, "app", None)
        if app is None:
            break
    return HeadLimits()


class HeaderTimeoutHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for request headers.

    uvicorn only times out idle keep-alive connections; a client trickling header bytes is held
    open for ever. Here each request's headers (WebSocket handshakes included) must be complete
    within ``timeout_keep_alive`` seconds of the connection or of the request's first byte.
    httptools itself puts no bound on a head: every chunk is counted by a :class:`HeadGuard`
    before the parser sees it, and a head past the limits is answered 431 and the connection
    closed — both WebSocket layers (picows and uvicorn's) sit behind this protocol.
    """

    _header_timer: asyncio.TimerHandle | None = None
    _guard: HeadGuard | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's server only hands Transports
        super().connection_made(transport)
        self._guard = HeadGuard(_head_limits(self.app))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: read and drop, so the peer sees the answer rather than a reset
        guard = self._guard
        if guard is not None and not guard.feed(data):
            self._refuse_head()
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._guard is not None:
            self._guard.reset()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _refuse_head(self) -> None:
        """Answer 431, stop sending, drop whatever else arrives for a moment, then close (nginx's lingering close)."""
        self._refused = True
        self._guard = None
        self._disarm()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(refusal_response(HeadersTooLarge()))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(_REFUSAL_LINGER_S, transport.close)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.timeout_keep_alive, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class PicowsSessionWebSocket(PicowsSessionProtocol):
    """The session paths on picows; every other WebSocket path on :class:`FlowControlledWebSocket`."""

    fallback = FlowControlledWebSocket


#: ``VOICE_GATEWAY_INBOUND_WS`` → the uvicorn WebSocket protocol class
WS_PROTOCOLS: Final[dict[str, type[asyncio.Protocol]]] = {
    "picows": PicowsSessionWebSocket,
    "uvicorn": FlowControlledWebSocket,
}


