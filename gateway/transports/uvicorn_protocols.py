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

import httptools
from uvicorn._types import ASGISendEvent
from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.core.errors import HeadersTooLarge
from gateway.transports.head_limit import HeadGuard, HeadLimits
from gateway.transports.picows import PicowsSessionProtocol
from gateway.transports.picows.protocol import session_fastpath
from gateway.transports.picows.request import UpgradeRequest, parse_upgrade, refusal_response


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


class _NoCallbacks:
    """httptools calls back only the methods its protocol object has: none, to validate a head in C alone."""

    __slots__ = ()


_NO_CALLBACKS: Final = _NoCallbacks()
#: uvicorn logs each connection and upgrade at its TRACE level; the direct hand-over steps aside when that is enabled
_uvicorn_log = logging.getLogger("uvicorn.error")
#: picows refuses (400) a head with more header lines than this; such a head takes uvicorn's way, as before
_DIRECT_MAX_LINES: Final = 128


class HeaderTimeoutHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for request headers.

    uvicorn only times out idle keep-alive connections; a client trickling header bytes is held
    open for ever. Here each request's headers (WebSocket handshakes included) must be complete
    within ``timeout_keep_alive`` seconds of the connection or of the request's first byte.
    httptools itself puts no bound on a head: every chunk is counted by a :class:`HeadGuard`
    before the parser sees it, and a head past the limits is answered 431 and the connection
    closed — both WebSocket layers (picows and uvicorn's) sit behind this protocol.

    A session path's WebSocket upgrade that arrives whole in the connection's first read is handed to
    the picows session protocol directly (:meth:`_hand_over_session`): httptools validates the head (the
    same parser and settings as uvicorn's, without Python callbacks), and the checks uvicorn makes before
    its hand-over are made on the parsed head. uvicorn's own per-connection state (its protocol's fields,
    the parser's per-header callbacks, the request replayed as bytes and parsed again) is built only when
    a connection takes uvicorn's way: any other request, a head in several reads, anything unusual.
    """

    _header_timer: asyncio.TimerHandle | None = None
    _guard: HeadGuard | None = None
    _refused = False
    #: whether uvicorn's ``HttpToolsProtocol`` state exists (built lazily, see the class docstring)
    _built = False

    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        # what this class and the direct hand-over read; uvicorn's __init__ runs in _build_uvicorn
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.timeout_keep_alive = config.timeout_keep_alive
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made, as uvicorn's

    def _build_uvicorn(self) -> None:
        """uvicorn's protocol state, as its own ``__init__`` and ``connection_made`` make it."""
        transport = self.transport
        HttpToolsProtocol.__init__(self, self.config, self.server_state, self.app_state, self.loop)
        self._built = True
        HttpToolsProtocol.connection_made(self, transport)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's server only hands Transports
        self.transport = transport
        self.server_state.connections.add(self)  # as uvicorn's: a shutdown reaches a connection still sending its head
        self._guard = HeadGuard(_head_limits(self.config.loaded_app))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: read and drop, so the peer sees the answer rather than a reset
        guard = self._guard
        if guard is not None and not guard.feed(data):
            self._refuse_head()
            return
        if not self._built:
            if self._hand_over_session(data):
                return
            self._build_uvicorn()
        super().data_received(data)

    def _hand_over_session(self, data: bytes) -> bool:
        """Hand a session path's whole upgrade head straight to the picows session protocol; ``False``: not one
        (or not plainly one), for uvicorn's way, which then sees the connection exactly as it would have."""
        ws_class = self.config.ws_protocol_class
        if not (isinstance(ws_class, type) and issubclass(ws_class, PicowsSessionProtocol)):
            return False
        if not data.startswith(b"GET ") or _uvicorn_log.isEnabledFor(TRACE_LOG_LEVEL):
            return False
        end = data.find(b"\r\n\r\n")
        if end < 0 or end + 4 != len(data):  # the head alone: bytes after it would be uvicorn's to drop
            return False
        fastpath = session_fastpath(self.config.loaded_app)
        if fastpath is None:
            return False
        request = _plain_upgrade(data, end)
        if request is None:
            return False
        endpoint = fastpath.endpoints.get(request.path)
        if endpoint is None:
            return False
        # as uvicorn's upgrade: the header deadline ends with the head; the WebSocket protocol takes the connection
        self._disarm()
        self._guard = None
        self.server_state.connections.discard(self)
        protocol = ws_class(config=self.config, server_state=self.server_state, app_state=self.app_state)
        transport = self.transport
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        protocol.begin(data, fastpath, request, endpoint.endpoint)
        return True

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
        if self._built:
            super().connection_lost(exc)
            return
        self.server_state.connections.discard(self)  # what uvicorn's does for a connection that sent no request
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def pause_writing(self) -> None:
        if self._built:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self._built:
            super().resume_writing()

    def shutdown(self) -> None:
        if self._built:
            super().shutdown()
        else:
            self.transport.close()  # no request under way: what uvicorn's does then

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


def _plain_upgrade(data: bytes, end: int) -> UpgradeRequest | None:
    """``data`` (a whole head ending at ``end``) parsed, when it is a plain HTTP/1.1 ``GET`` WebSocket upgrade that
    uvicorn would hand over as it is: httptools accepts it and stops at the upgrade, and uvicorn's own test (the last
    ``Connection`` header lists ``upgrade``, the last ``Upgrade`` header is ``websocket``) holds. ``None`` otherwise."""
    parser = httptools.HttpRequestParser(_NO_CALLBACKS)
    parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError:
        return None  # uvicorn answers 400
    else:
        return None  # not an upgrade: an HTTP request
    head = data[:end]
    line_end = head.find(b"\r\n")
    lines = head.count(b"\r\n")
    if line_end < 0 or not head.startswith(b"GET ") or not head[:line_end].endswith(b" HTTP/1.1") or lines > _DIRECT_MAX_LINES:
        return None
    if head.count(b"\n") != lines or b"\x0b" in head or b"\x0c" in head:
        return None  # bare line feeds, or whitespace parse_upgrade would strip from a value and uvicorn would not
    try:
        request = parse_upgrade(head)
    except ValueError:
        return None
    headers = request.headers
    tokens = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    if "upgrade" not in tokens or headers.get("upgrade", "").lower() != "websocket":
        return None
    return request


class PicowsSessionWebSocket(PicowsSessionProtocol):
    """The session paths on picows; every other WebSocket path on :class:`FlowControlledWebSocket`."""

    fallback = FlowControlledWebSocket


#: ``VOICE_GATEWAY_INBOUND_WS`` → the uvicorn WebSocket protocol class
WS_PROTOCOLS: Final[dict[str, type[asyncio.Protocol]]] = {
    "picows": PicowsSessionWebSocket,
    "uvicorn": FlowControlledWebSocket,
}


