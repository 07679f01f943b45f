"""Run the gateway under uvicorn with a drain-first shutdown (SIGTERM drains before exiting)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import ssl
import threading
import time
import urllib.request
from types import FrameType
from typing import Any, Awaitable, Callable, Final

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from gateway.inbound.demo import demo_enabled
from gateway.transports.uvicorn_protocols import WS_PROTOCOLS, HeaderTimeoutHttp
from gateway.settings import Settings
from gateway.startup import GENERATED_KEY_ENV, WORKERS_ENV, announce, banner_facts, generate_local_key
from gateway.telemetry.banner import BannerFacts
from gateway.telemetry import configure_logging, register_secret

log = logging.getLogger("voice_gateway.server")

#: slack above the relay's own limit, so an oversized frame reaches the relay and gets an error event
_WS_SIZE_SLACK: Final = 4 * 1024 * 1024
#: seconds a worker may take to answer the supervisor's health ping (start-up included)
_WORKER_HEALTHCHECK_S: Final = 30


class DrainingServer(uvicorn.Server):
    """uvicorn closes WebSockets at once on SIGTERM; we first drain sessions, then let it exit."""

    _draining = False
    _loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # the app's lifespan has built everything long-lived by now
        settle_heap()

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


#: tracked allocations (net of frees) between two collections of the youngest generation (CPython: 700)
YOUNG_COLLECTION_THRESHOLD: Final = 10_000


def settle_heap() -> None:
    """Take what start-up built (modules, policies, pools, ~170k objects) out of the cyclic collector's sight.

    A full collection walks every tracked object: ~80 ms with the gateway's imports alone, a pause every
    session on this worker hears as round-trip p99. Frozen objects are still freed by reference counting;
    only cycles among them are never collected, and start-up leaves none that matter.

    The youngest generation is collected every ``YOUNG_COLLECTION_THRESHOLD`` allocations instead of
    CPython's 700: a session set-up allocates a few thousand tracked objects, most freed by reference
    counting within the handshake, so at 700 every set-up paid several young collections that walked
    objects about to die anyway (3–6% of a set-up's instructions under callgrind).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def _app_drain(app: object) -> Callable[[], Awaitable[None]] | None:
    """The app's drain hook, looking through uvicorn's middleware wrappers (ProxyHeadersMiddleware, …)."""
    for _ in range(8):
        drain = getattr(getattr(getattr(app, "state", None), "services", None), "drain", None)
        if callable(drain):
            hook: Callable[[], Awaitable[None]] = drain
            return hook
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


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
        # a worker answers the supervisor's health pings only once it has imported the app: on a busy
        # host that takes longer than uvicorn's 5 s, and a worker killed for it restarts in a loop
        "timeout_worker_healthcheck": _WORKER_HEALTHCHECK_S,
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
        sockets = [config.bind_socket()]
        _announce_once_for_workers(settings.model_copy(update={"host": host, "port": port}), workers)
        DrainingSupervisor(config, sockets=sockets).run()
        return 0
    DrainingServer(config).run()
    return 0


#: how long the supervisor waits for a worker to answer /healthz before it prints the banner anyway
_BANNER_WAIT_S: Final = 120.0


def _announce_once_for_workers(settings: Settings, workers: int) -> None:
    """``--workers N``: the supervisor prints the start-up banner once, when a worker first answers, and the
    workers do not (``WORKERS_ENV``). Without static keys it generates the one key every worker accepts."""
    os.environ[WORKERS_ENV] = str(workers)
    generated: str | None = None
    if not settings.api_keys:
        generated = os.environ.get(GENERATED_KEY_ENV) or generate_local_key()
        os.environ[GENERATED_KEY_ENV] = generated
        register_secret(generated)
    facts = banner_facts(
        settings,
        generated_key=generated,
        emulator_url=None,  # each worker embeds its own
        demo=demo_enabled(settings.demo, settings.emulator_upstream, bool(settings.api_keys)),
    )
    threading.Thread(target=_announce_when_up, args=(facts,), name="banner", daemon=True).start()


def _announce_when_up(facts: BannerFacts) -> None:
    deadline = time.monotonic() + _BANNER_WAIT_S
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own certificate, on our own port
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{facts.url}/healthz", timeout=1.0, context=context):
                break
        except OSError:
            time.sleep(0.2)
    announce(facts)
