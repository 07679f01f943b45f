"""Run the gateway under uvicorn with a drain-first shutdown (SIGTERM drains before exiting)."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Final

import uvicorn

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
        app = self.config.loaded_app
        drain = getattr(getattr(app, "state", None), "drain", None)
        try:
            if drain is not None:
                await drain()
        finally:
            self.should_exit = True


def uvicorn_config(settings: Settings, *, host: str, port: int, workers: int = 1) -> uvicorn.Config:
    return uvicorn.Config(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes + _WS_SIZE_SLACK,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        ws_per_message_deflate=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(settings.drain_seconds, 1.0) + 10.0,
        lifespan="on",
    )


def serve(host: str | None = None, port: int | None = None, workers: int = 1) -> int:
    """Blocking entry point of ``voice-gateway serve``."""
    settings = Settings()
    configure_logging(settings)
    config = uvicorn_config(
        settings, host=host or settings.host, port=settings.port if port is None else port, workers=workers
    )
    if workers > 1:
        uvicorn.run(
            config.app, factory=True, host=config.host, port=config.port, workers=workers, loop="uvloop",
            http="httptools", ws="websockets-sansio", ws_max_size=config.ws_max_size,
            ws_ping_interval=config.ws_ping_interval, ws_ping_timeout=config.ws_ping_timeout,
            ws_per_message_deflate=False, log_config=None, access_log=False,
        )
        return 0
    DrainingServer(config).run()
    return 0
