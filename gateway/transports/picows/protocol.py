"""A uvicorn WebSocket protocol class that serves the realtime session paths with picows.

uvicorn's HTTP protocol parses the request and, on ``Upgrade: websocket``, builds this class,
replays the request head through ``data_received`` and makes it the transport's protocol.
For a session path we run the asynchronous part of the handshake (authenticate, route, admit)
ourselves, answer a refusal with an HTTP error, and on success hand the connection to a
server-side picows ``WSProtocol``, which validates the upgrade, answers 101 and parses frames
in Cython. Every other path goes to the ``fallback`` class (uvicorn's own WebSocket protocol).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, ClassVar, Final, Mapping

from picows import WSAutoPingStrategy, WSUpgradeRequest, WSUpgradeResponseWithListener
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # the server protocol class; not in picows's stub
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.utils import get_remote_addr
from uvicorn.server import ServerState

from gateway.core.errors import GatewayError
from gateway.core.kinds import EndpointKind
from gateway.inbound.credentials import choose_subprotocol
from gateway.transports.asgi.fastpath import RealtimeFastPath
from gateway.transports.picows.request import (
    SwitchingProtocols, UpgradeRequest, handshake_of, parse_upgrade, picows_head, refusal_response,
)
from gateway.transports.picows.socket import PicowsClientSocket
from gateway.upstream.picows_socket import READ_BUFFER, forget_handshake
from gateway.upstream.pinger import Pinger
from gateway.inbound.gateway_services import services_of
from gateway.transports.asgi.endpoint import SESSION_ID_HEADER
from gateway.inbound.setup import SessionSetup, SessionStart

log = logging.getLogger("voice_gateway.inbound")
#: picows logs every accepted connection at INFO (with the peer address); we keep its warnings only
logging.getLogger("picows.inbound").setLevel(logging.WARNING)
#: given to picows as an adapter, not a ``Logger``: picows makes a child ``Logger`` per connection of a ``Logger`` it is
#: given (named after the socket's descriptor), which each socket then keeps for its life
_picows_log: Final = logging.LoggerAdapter(logging.getLogger("picows.inbound"))

#: bytes a client may send before its handshake is answered (it should send none) before reading pauses
_EARLY_BYTES: Final = 64 * 1024


class PicowsSessionProtocol(asyncio.Protocol):
    """uvicorn ``ws`` protocol class: picows for the session paths, ``fallback`` for the rest."""

    #: the uvicorn WebSocket protocol class for every path that is not a session endpoint
    fallback: ClassVar[type[asyncio.Protocol]]

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.transport: asyncio.Transport | None = None
        self._delegate: asyncio.Protocol | None = None
        self._head = b""
        self._early = bytearray()
        self._lost = False
        self._socket: PicowsClientSocket | None = None
        #: the handshake's task, then the closing one (none while the session runs: ``_running``)
        self._task: asyncio.Task[None] | None = None
        #: the running session, once relaying (closed by :meth:`_ended`'s task)
        self._running: SessionSetup | None = None

    # --- asyncio.Protocol, until the hand-over ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a BaseTransport; a socket server gives a Transport

    def data_received(self, data: bytes) -> None:
        if self._delegate is not None:
            self._delegate.data_received(data)
        elif self._head:
            self._early += data
            if len(self._early) > _EARLY_BYTES and self.transport is not None:
                self.transport.pause_reading()
        else:
            self._start(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._delegate is not None:
            self._delegate.connection_lost(exc)
            return
        self._lost = True

    def eof_received(self) -> bool | None:
        if self._delegate is not None:
            return self._delegate.eof_received()
        return None

    def pause_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.pause_writing()

    def resume_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.resume_writing()

    def shutdown(self) -> None:
        """uvicorn's shutdown (after our drain): close a live session's socket like uvicorn's 1012."""
        sock = self._socket
        if sock is not None and sock.transport is not None:
            sock.begin_close(sock.transport, 1012, "")
        elif self.transport is not None and self._socket is None and not self.transport.is_closing():
            self.transport.close()

    # --- the session path ----------------------------------------------------------------------

    def _start(self, head: bytes) -> None:
        fastpath = session_fastpath(self.config.loaded_app)
        request: UpgradeRequest | None = None
        if fastpath is not None:
            try:
                request = parse_upgrade(head.split(b"\r\n\r\n", 1)[0])
            except ValueError:
                request = None
        endpoint = fastpath.endpoints.get(request.path) if fastpath is not None and request is not None else None
        if endpoint is None or request is None or fastpath is None:
            self._hand_to_fallback(head)
            return
        self.begin(head, fastpath, request, endpoint.endpoint)

    def begin(self, head: bytes, fastpath: RealtimeFastPath, request: UpgradeRequest, endpoint: EndpointKind) -> None:
        """Serve a session path's upgrade (``head``, already parsed into ``request``): set-up, then picows."""
        self._head = head
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # uvicorn types the set with its own protocols only
        self._task = asyncio.get_running_loop().create_task(self._serve(fastpath, request, endpoint))

    def _hand_to_fallback(self, head: bytes) -> None:
        delegate = self.fallback(config=self.config, server_state=self.server_state, app_state=self.app_state)  # type: ignore[call-arg]  # uvicorn's protocol classes share this constructor; its type is the base
        self._delegate = delegate
        assert self.transport is not None
        delegate.connection_made(self.transport)
        delegate.data_received(head)

    async def _serve(self, fastpath: RealtimeFastPath, request: UpgradeRequest, endpoint: EndpointKind) -> None:
        """The handshake and the session's start; the session then runs on callbacks (no task or coroutine frame
        waits while it idles) and :meth:`_ended` closes it."""
        path = request.path
        try:
            address = await _client_address(self.config, self.transport, request)
            setup = await self._prepare(fastpath, handshake_of(request, endpoint, address))
            if setup is None:
                return
            if self._lost or self.transport is None or self.transport.is_closing():
                await setup.release()
                return
            sock = self._upgrade(request, setup.session_id)
            del request  # the parsed head is not kept for the session's life (an idle session's memory)
            if sock is None:
                await setup.release()
                return
            if not isinstance(setup, SessionSetup):  # an owner's call sideband (rare): its task waits
                await setup.run(sock)
            elif await setup.start(sock):
                self._running = setup
                setup.when_ended(self._ended)
        except Exception:  # noqa: BLE001 - as uvicorn logs a failed ASGI app; the client gets 1011
            self._failed(path)
        finally:
            self._task = None
            if self._running is None:
                self.server_state.connections.discard(self)

    def _ended(self, _: object) -> None:
        self._task = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        """The end of a running session: what ``SessionSetup.run`` does after the relay's wait."""
        setup, self._running = self._running, None
        assert setup is not None
        try:
            await setup.close()
        except Exception:  # noqa: BLE001 - as in _serve
            self._failed(setup.handshake.path)
        finally:
            self._task = None
            self.server_state.connections.discard(self)

    def _failed(self, path: str) -> None:
        log.exception("session failed", extra={"path": path})
        sock = self._socket
        if sock is not None and sock.transport is not None and not sock.transport.is_disconnected:
            sock.begin_close(sock.transport, 1011, "")

    async def _prepare(self, fastpath: RealtimeFastPath, handshake: Any) -> SessionStart | None:
        try:
            return await services_of(fastpath.app).handshakes.open_connection(handshake)
        except GatewayError as exc:
            self._refuse(exc)
        except Exception:  # noqa: BLE001 - as uvicorn would: a 500, not a hung connection
            log.exception("session handshake failed", extra={"path": handshake.path})
            self._refuse(GatewayError())
        return None

    def _refuse(self, error: GatewayError) -> None:
        transport = self.transport
        if transport is not None and not self._lost and not transport.is_closing():
            transport.write(refusal_response(error))
            transport.close()

    def _upgrade(self, request: UpgradeRequest, session_id: str) -> PicowsClientSocket | None:
        """Hand the connection to picows and replay the request; the socket, once the 101 is sent."""
        transport = self.transport
        assert transport is not None
        config = self.config
        linger = float(config.ws_ping_timeout or 10.0)
        sock = PicowsClientSocket(max_message_bytes=int(config.ws_max_size), linger_s=linger)
        headers = {SESSION_ID_HEADER: session_id}
        subprotocol = choose_subprotocol(request.subprotocols)
        if subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol

        def listener_factory(_: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
            return WSUpgradeResponseWithListener(SwitchingProtocols(headers), sock)

        picows = picows_server_protocol(config, listener_factory)
        transport.pause_reading()  # resumed below with the buffered-protocol read path
        transport.set_protocol(picows)
        picows.connection_made(transport)
        head, end, rest = self._head.partition(b"\r\n\r\n")  # uvicorn replays a whole head
        _feed(picows, (picows_head(head) + rest if end else self._head) + bytes(self._early))
        self._head, self._early = b"", bytearray()
        transport.resume_reading()
        if sock.transport is None:  # picows refused the upgrade request itself (400) and hung up
            return None
        forget_handshake(sock.transport)
        pinger = client_pinger(config)
        if pinger is not None:
            sock.keep_alive(pinger)
        self._socket = sock
        return sock


def picows_server_protocol(config: Config, listener_factory: Any) -> WSProtocol:
    """A server-side picows protocol, built as ``picows.ws_create_server`` builds its own, without its auto-ping:
    the client sockets share one :class:`~gateway.upstream.pinger.Pinger` (:func:`client_pinger`)."""
    return WSProtocol(
        None, None, False, listener_factory, _picows_log,
        True,  # disconnect_on_exception
        None,  # the request is replayed at once: no handshake timeout
        False, 20.0, 20.0, WSAutoPingStrategy.PING_WHEN_IDLE,  # auto-ping off (its interval and timeout unused)
        True,  # enable_auto_pong: picows answers the client's PINGs
        int(config.ws_max_size), None, READ_BUFFER,
    )


def client_pinger(config: Config) -> Pinger | None:
    """The pinger every client socket of this configuration shares (``None``: uvicorn's ping interval is off)."""
    interval = float(config.ws_ping_interval or 0.0)
    if not interval:
        return None
    return _pinger(interval, min(float(config.ws_ping_timeout or interval), interval))


@functools.lru_cache(maxsize=4)
def _pinger(interval_s: float, timeout_s: float) -> Pinger:
    return Pinger(interval_s, timeout_s)


def _feed(protocol: WSProtocol, data: bytes) -> None:
    """Deliver bytes to a ``BufferedProtocol`` the way the event loop would."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


def session_fastpath(app: object) -> RealtimeFastPath | None:
    """The session dispatcher inside uvicorn's middleware wrappers (ProxyHeadersMiddleware, …)."""
    for _ in range(8):
        if isinstance(app, RealtimeFastPath):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


async def _client_address(config: Config, transport: asyncio.Transport | None, request: UpgradeRequest) -> str:
    """The client's address, trusting X-Forwarded-For from the proxies uvicorn is told to trust."""
    remote = get_remote_addr(transport) if transport is not None else None
    if remote is None:
        return ""
    if not config.proxy_headers or "x-forwarded-for" not in request.headers:
        return str(remote[0])  # uvicorn's proxy middleware changes the client only from an X-Forwarded-For header
    scope: dict[str, Any] = {"type": "websocket", "client": remote, "headers": list(request.raw_headers)}
    trusted = config.forwarded_allow_ips or "127.0.0.1"
    proxy = _proxy_headers(trusted if isinstance(trusted, str) else ",".join(trusted))
    await proxy(scope, _noop_receive, _noop_send)  # type: ignore[arg-type]  # a minimal websocket scope, not uvicorn's TypedDict
    client = scope.get("client")
    return str(client[0]) if client else ""


@functools.lru_cache(maxsize=8)
def _proxy_headers(trusted_hosts: str) -> ProxyHeadersMiddleware:
    return ProxyHeadersMiddleware(_noop, trusted_hosts=trusted_hosts)


async def _noop(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
    return None


async def _noop_receive() -> Any:
    return None


async def _noop_send(message: Any) -> None:
    return None
