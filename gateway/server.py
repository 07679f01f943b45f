"""Run the gateway under uvicorn with a drain-first shutdown (SIGTERM drains before exiting)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from types import FrameType
from typing import Any, Awaitable, Callable, Final

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.core.errors import HeadersTooLarge
from gateway.transports.head_limit import HeadGuard, HeadLimits
from gateway.transports.picows import PicowsSessionProtocol
from gateway.transports.picows.request import refusal_response
from gateway.settings import Settings
from gateway.telemetry import configure_logging

log = logging.getLogger("voice_gateway.server")

#: slack above the relay's own limit, so an oversized frame reaches the relay and gets an error event
_WS_SIZE_SLACK: Final = 4 * 1024 * 1024


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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard = HeadGuard(_app_state(self.app, "head_limits") or HeadLimits())  # type: ignore[arg-type]
        self._arm()

    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: read and drop, so the peer sees the answer rather than a reset
        guard = self._guard
        if guard is not None and not guard.feed(data):
            self._refuse_head()
            return
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._guard is not None:
            self._guard.reset()

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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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


class DrainingServer(uvicorn.Server):
    """uvicorn closes WebSockets at once on SIGTERM; we first drain sessions, then let it exit."""

    _draining = False
    _loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[override,type-arg]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        drain = _app_drain(self.config.loaded_app)
        try:
            if drain is not None:
                await drain()
        finally:
            self.should_exit = True


def _app_state(app: object, name: str) -> object | None:
    """An ``app.state`` attribute, looking through uvicorn's middleware wrappers (ProxyHeadersMiddleware, …)."""
    for _ in range(8):
        value = getattr(getattr(app, "state", None), name, None)
        if value is not None:
            return value
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _app_drain(app: object) -> Callable[[], Awaitable[None]] | None:
    """The app's drain hook."""
    return _app_state(app, "drain")  # type: ignore[return-value]


def _options(settings: Settings) -> dict[str, Any]:
    """uvicorn options shared by the single-process and the multi-worker paths."""
    return {
        "factory": True,
        "loop": "uvloop",
        "http": HeaderTimeoutHttp,
        "ws": WS_PROTOCOLS[settings.inbound_ws],
        "ws_max_size": settings.max_message_bytes + _WS_SIZE_SLACK,
        "ws_ping_interval": settings.ping_interval_s,
        "ws_ping_timeout": settings.ping_timeout_s,
        "ws_per_message_deflate": False,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": max(settings.drain_seconds, 1.0) + 10.0,
        "lifespan": "on",
        "ssl_certfile": str(settings.tls_certfile) if settings.tls_certfile else None,
        "ssl_keyfile": str(settings.tls_keyfile) if settings.tls_keyfile else None,
    }


class DrainingWorker(Process):
    """A uvicorn worker process whose server drains its sessions on SIGTERM, like the single process."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class DrainingSupervisor(Multiprocess):
    """uvicorn's worker supervisor with draining workers.

    On SIGTERM the supervisor sends SIGTERM to every worker and waits: each worker drains its own
    sessions (readiness 503, new handshakes refused, stragglers closed at the deadline). SIGHUP
    is forwarded to the workers, where it reloads the policies, instead of restarting them.
    """

    def _spawn(self) -> DrainingWorker:
        worker = DrainingWorker(self.config, self.sockets)
        worker.start()
        return worker

    def init_processes(self) -> None:
        self.processes.extend(self._spawn() for _ in range(self.processes_num))

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, worker in enumerate(self.processes):
            if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:  # a broken app or bind fails the same way every time
                log.error("a worker failed to start; stopping")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning("worker died; starting another", extra={"pid": worker.pid, "exit_code": worker.exitcode})
            self.processes[idx] = self._spawn()

    def handle_hup(self) -> None:
        for worker in self.processes:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGHUP)

    def handle_ttin(self) -> None:
        self.processes_num += 1
        self.processes.append(self._spawn())


def uvicorn_config(settings: Settings, *, host: str, port: int, workers: int = 1) -> uvicorn.Config:
    return uvicorn.Config("gateway.app:create_app", host=host, port=port, workers=workers, **_options(settings))


def serve(host: str | None = None, port: int | None = None, workers: int = 1) -> int:
    """Blocking entry point of ``voice-gateway serve``.

    One process drains on SIGTERM (``DrainingServer``); several workers share the port under
    ``DrainingSupervisor`` and each drains its own sessions the same way.
    """
    settings = Settings()
    configure_logging(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    # the app factory reads its own Settings: let it see the address actually served (banner, links)
    os.environ["VOICE_GATEWAY_HOST"], os.environ["VOICE_GATEWAY_PORT"] = host, str(port)
    config = uvicorn_config(settings, host=host, port=port, workers=workers)
    if workers > 1:
        DrainingSupervisor(config, sockets=[config.bind_socket()]).run()
        return 0
    DrainingServer(config).run()
    return 0
