"""The uvicorn-facing protocol: session paths are answered here, every other path goes to the fallback."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import orjson
import pytest

from gateway.core.errors import Draining
from gateway.core.kinds import EndpointKind
from gateway.inbound.setup import SessionSetup
from gateway.transports.asgi.fastpath import RealtimeFastPath
from gateway.transports.picows.protocol import PicowsSessionProtocol, _client_address, _feed, session_fastpath
from gateway.transports.picows.request import parse_upgrade
from gateway.transports.asgi.endpoint import SessionEndpoint
from tests.support.services import gateway_services


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("203.0.113.9", 5000) if name == "peername" else default


class RecordingFallback:
    instances: list["RecordingFallback"] = []

    def __init__(self, config: object, server_state: object, app_state: object) -> None:
        self.events: list[tuple[str, object]] = []
        RecordingFallback.instances.append(self)

    def connection_made(self, transport: object) -> None:
        self.events.append(("made", transport))

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))


class Protocol(PicowsSessionProtocol):
    fallback = RecordingFallback  # type: ignore[assignment]


def _protocol(services: object) -> tuple[Protocol, FakeTransport, SimpleNamespace]:
    app = SimpleNamespace(state=SimpleNamespace(services=services))
    fastpath = RealtimeFastPath(app, {"/v1/realtime": SessionEndpoint(EndpointKind.REALTIME)})  # type: ignore[arg-type]
    config = SimpleNamespace(loaded_app=SimpleNamespace(app=fastpath), proxy_headers=False, ws_max_size=1 << 20, ws_ping_interval=20.0, ws_ping_timeout=20.0)
    state = SimpleNamespace(connections=set())
    protocol = Protocol(config=config, server_state=state, app_state={})  # type: ignore[arg-type]
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, state


def test_the_session_dispatcher_is_found_inside_middleware_wrappers() -> None:
    """uvicorn wraps the app (proxy headers, …): the dispatcher is found through the ``.app`` chain."""
    protocol, _, _ = _protocol(services=None)
    assert isinstance(session_fastpath(protocol.config.loaded_app), RealtimeFastPath)
    assert session_fastpath(SimpleNamespace(app=None)) is None


async def test_other_paths_are_replayed_to_the_fallback_protocol() -> None:
    """An unknown WebSocket path goes to uvicorn's protocol: same transport, the request, later bytes, the loss."""
    RecordingFallback.instances.clear()
    protocol, transport, _ = _protocol(services=None)
    head = b"GET /v1/other HTTP/1.1\r\nhost: x\r\n\r\n"
    protocol.data_received(head)
    protocol.data_received(b"more")
    protocol.connection_lost(None)
    (fallback,) = RecordingFallback.instances
    assert fallback.events == [("made", transport), ("data", head), ("data", b"more"), ("lost", None)]


async def test_a_refused_session_handshake_gets_the_json_error_and_the_connection_closes() -> None:
    """A session path refused by the set-up (here: draining) is answered 503 with a JSON body, then closed."""
    services = gateway_services(SimpleNamespace(sessions=SimpleNamespace(draining=True)))
    protocol, transport, state = _protocol(services)
    protocol.data_received(b"GET /v1/realtime HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\n\r\n")
    assert protocol in state.connections
    for _ in range(20):
        if transport.closed:
            break
        await asyncio.sleep(0.01)
    head, body = transport.written.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert orjson.loads(body)["error"]["code"] == Draining.code
    assert transport.closed and protocol not in state.connections


def test_bytes_are_fed_to_a_buffered_protocol_in_buffer_sized_pieces() -> None:
    """More bytes than the protocol's buffer holds are delivered in several get_buffer/buffer_updated rounds."""

    class Small:
        def __init__(self) -> None:
            self.got = b""
            self.buffer = bytearray(5)

        def get_buffer(self, hint: int) -> memoryview:
            return memoryview(self.buffer)

        def buffer_updated(self, n: int) -> None:
            self.got += bytes(self.buffer[:n])

    target = Small()
    _feed(target, b"0123456789abc")  # type: ignore[arg-type]
    assert target.got == b"0123456789abc"


async def test_the_upgraded_client_transport_keeps_no_handshake_header() -> None:
    """Once the 101 is sent, the client's picows transport holds neither the request's headers (its key) nor the response's."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        protocol, _, _ = _protocol(services=None)
        protocol.transport = await accepted
        head = (b"GET /v1/realtime HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n"
                b"authorization: Bearer client-secret\r\n\r\n")
        protocol._head = head
        sock = protocol._upgrade(parse_upgrade(head.split(b"\r\n\r\n")[0]), "sess_1")
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert answer.startswith(b"HTTP/1.1 101 ") and b"sess_1" in answer
        assert sock is not None and sock.transport is not None
        assert sock.transport.request is not None and len(sock.transport.request.headers) == 0
        assert sock.transport.response is not None and len(sock.transport.response.headers) == 0
        sock.transport.disconnect()
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


class _Peer:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else default


async def test_the_client_address_is_the_peers_unless_a_trusted_proxy_forwards_another() -> None:
    """As uvicorn's proxy middleware: X-Forwarded-For from a trusted peer names the client; without it, the peer does."""
    config = SimpleNamespace(proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    plain = parse_upgrade(b"GET /v1/realtime HTTP/1.1\r\nhost: x")
    forwarded = parse_upgrade(b"GET /v1/realtime HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 198.51.100.7")
    assert await _client_address(config, _Peer(), plain) == "127.0.0.1"  # type: ignore[arg-type]
    assert await _client_address(config, _Peer(), forwarded) == "198.51.100.7"  # type: ignore[arg-type]
    untrusted = SimpleNamespace(proxy_headers=True, forwarded_allow_ips="10.9.9.9")
    assert await _client_address(untrusted, _Peer(), forwarded) == "127.0.0.1"  # type: ignore[arg-type]
    off = SimpleNamespace(proxy_headers=False, forwarded_allow_ips="127.0.0.1")
    assert await _client_address(off, _Peer(), forwarded) == "127.0.0.1"  # type: ignore[arg-type]


class _RunningSetup(SessionSetup):
    """A session set-up whose relay starts at once; records what the protocol does with it."""

    def __init__(self, close_fails: bool = False) -> None:  # no super().__init__: no services behind it
        self.session_id = "sess_run"
        self.handshake = SimpleNamespace(path="/v1/realtime")  # type: ignore[assignment]
        self.ended: Callable[[object], None] | None = None
        self.closed = 0
        self.close_fails = close_fails

    async def start(self, client: object) -> bool:
        return True

    def when_ended(self, callback: Callable[[object], None]) -> None:
        self.ended = callback

    async def close(self) -> None:
        self.closed += 1
        if self.close_fails:
            raise RuntimeError("close failed")


async def _started_session(setup: _RunningSetup) -> tuple[Protocol, SimpleNamespace, asyncio.StreamReader, Callable[[], Awaitable[None]]]:
    """A real client connection upgraded by the protocol, the set-up handed out by a stub handshake service."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Accept, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])

    async def open_connection(handshake: object) -> _RunningSetup:
        return setup

    services = dataclasses.replace(gateway_services(None), handshakes=SimpleNamespace(open_connection=open_connection))  # type: ignore[arg-type]
    protocol, _, state = _protocol(services)
    protocol.connection_made(await accepted)
    protocol.data_received(b"GET /v1/realtime HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                           b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 101 ")
    for _ in range(50):
        if setup.ended is not None and protocol._task is None:
            break
        await asyncio.sleep(0.01)

    async def stop() -> None:
        writer.close()
        server.close()
        await server.wait_closed()

    return protocol, state, reader, stop


async def test_a_running_session_keeps_no_task_and_is_closed_when_it_ends() -> None:
    """Once relaying, no task waits for the session; its end starts the close, which then forgets the connection."""
    setup = _RunningSetup()
    protocol, state, _, stop = await _started_session(setup)
    try:
        assert setup.ended is not None and protocol._task is None
        assert not [t for t in asyncio.all_tasks() if "_serve" in repr(t.get_coro())]
        assert protocol in state.connections and setup.closed == 0
        setup.ended(None)
        for _ in range(50):
            if protocol not in state.connections:
                break
            await asyncio.sleep(0.01)
        assert setup.closed == 1 and protocol not in state.connections and protocol._task is None
    finally:
        await stop()


def _loggers_named(prefix: str) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, logging.Logger) and obj.name.startswith(prefix))


async def test_an_upgraded_connection_makes_no_logger_of_its_own() -> None:
    """picows is given an adapter, so a client connection gets no per-socket child ``Logger`` that it keeps for life."""
    before = _loggers_named("picows.inbound.")
    setup = _RunningSetup()
    _, _, _, stop = await _started_session(setup)
    try:
        assert _loggers_named("picows.inbound.") == before
    finally:
        await stop()


async def test_a_failed_close_is_logged_and_the_client_gets_1011(caplog: pytest.LogCaptureFixture) -> None:
    """A session whose closing raises is logged as failed, its client is sent 1011, and the connection is forgotten."""
    setup = _RunningSetup(close_fails=True)
    protocol, state, reader, stop = await _started_session(setup)
    try:
        assert setup.ended is not None
        with caplog.at_level(logging.ERROR, logger="voice_gateway.inbound"):
            setup.ended(None)
            frame = await asyncio.wait_for(reader.read(64), 5)
        assert frame[0] == 0x88 and int.from_bytes(frame[2:4], "big") == 1011  # a close frame, code 1011
        assert any(r.getMessage() == "session failed" for r in caplog.records)
        assert protocol not in state.connections
    finally:
        await stop()
