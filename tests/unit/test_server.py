"""The server module: uvicorn pieces it subclasses and the internals those subclasses rely on."""

from __future__ import annotations

import inspect

from uvicorn.supervisors.multiprocess import Multiprocess, Process

from gateway.server import DrainingServer, DrainingSupervisor, DrainingWorker, uvicorn_config
from gateway.settings import Settings


def test_a_draining_worker_runs_a_draining_server() -> None:
    """Each worker process of a multi-worker gateway builds a DrainingServer, so SIGTERM drains it."""
    config = uvicorn_config(Settings(), host="127.0.0.1", port=0, workers=2)
    worker = DrainingWorker(config, sockets=[])
    assert isinstance(worker.server, DrainingServer)
    assert worker.server is worker.server


def test_the_uvicorn_supervisor_internals_we_override_are_still_there() -> None:
    """Fails loudly when a uvicorn upgrade renames what DrainingSupervisor/DrainingWorker override or read."""
    for name in ("init_processes", "keep_subprocess_alive", "handle_hup", "handle_ttin", "run", "handle_signals"):
        assert callable(getattr(Multiprocess, name)), name
    assert isinstance(inspect.getattr_static(Process, "server"), property)
    init = inspect.signature(Multiprocess.__init__).parameters
    assert list(init)[1:] == ["config", "sockets"]
    source = inspect.getsource(Multiprocess.__init__) + inspect.getsource(Process.__init__)
    for attribute in ("self.processes_num", "self.processes", "self.should_exit", "self.sockets", "self._server"):
        assert attribute in source, attribute
    assert issubclass(DrainingSupervisor, Multiprocess)


def test_the_server_settles_the_heap_once_started() -> None:
    """After start-up the long-lived objects are frozen out of the cyclic collector, so full collections stay short."""
    import asyncio
    import gc

    import uvicorn

    async def app(scope: dict[str, object], receive: object, send: object) -> None:  # pragma: no cover - never called
        raise AssertionError("no request is made")

    gc.unfreeze()
    thresholds = gc.get_threshold()
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    config.load()
    server = DrainingServer(config)
    server.lifespan = config.lifespan_class(config)  # what uvicorn's Server._serve sets before startup()

    async def start_and_stop() -> int:
        await server.startup()
        frozen = gc.get_freeze_count()
        server.should_exit = True
        await server.shutdown()
        return frozen

    try:
        assert asyncio.run(start_and_stop()) > 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_settling_the_heap_collects_the_young_generation_less_often() -> None:
    """After start-up a young collection runs every YOUNG_COLLECTION_THRESHOLD allocations; the older ones keep theirs."""
    import gc

    from gateway.server import YOUNG_COLLECTION_THRESHOLD, settle_heap

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults
        settle_heap()
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, 10, 10)
        assert YOUNG_COLLECTION_THRESHOLD > 700
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
