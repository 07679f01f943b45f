"""The HTTP protocol: a session path's whole upgrade head goes straight to the picows protocol, the rest to uvicorn."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.core.kinds import EndpointKind
from gateway.transports.asgi.endpoint import SessionEndpoint
from gateway.transports.asgi.fastpath import RealtimeFastPath
from gateway.transports.picows import PicowsSessionProtocol
from gateway.transports.picows.request import UpgradeRequest
from gateway.transports.uvicorn_protocols import FlowControlledWebSocket, HeaderTimeoutHttp, _plain_upgrade

UPGRADE = (b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer k\r\n\r\n")


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False
        self.protocol: object = None

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("203.0.113.9", 5000), "sockname": ("127.0.0.1", 8080)}.get(name, default)


class Sessions(PicowsSessionProtocol):
    """The picows session protocol, recording what it is asked to serve instead of serving it."""

    fallback = FlowControlledWebSocket
    begun: list[tuple[bytes, UpgradeRequest, EndpointKind]] = []
    replayed: list[bytes] = []

    def begin(self, head: bytes, fastpath: RealtimeFastPath, request: UpgradeRequest, endpoint: EndpointKind) -> None:
        Sessions.begun.append((head, request, endpoint))

    def data_received(self, data: bytes) -> None:
        Sessions.replayed.append(data)


def _connection() -> tuple[HeaderTimeoutHttp, Transport, ServerState]:
    app = SimpleNamespace(state=SimpleNamespace())
    fastpath = RealtimeFastPath(app, {"/v1/realtime": SessionEndpoint(EndpointKind.REALTIME)})  # type: ignore[arg-type]
    config = Config(app=fastpath, ws=Sessions, http=HeaderTimeoutHttp, log_config=None)  # type: ignore[arg-type]
    config.load()
    state = ServerState()
    protocol = HeaderTimeoutHttp(config=config, server_state=state, app_state={})
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    Sessions.begun.clear()
    Sessions.replayed.clear()
    return protocol, transport, state


@pytest.mark.parametrize("upgrade", [UPGRADE, UPGRADE.replace(b"Connection: Upgrade", b"Connection: keep-alive, UPGRADE")])
async def test_a_whole_session_upgrade_goes_straight_to_the_session_protocol(upgrade: bytes) -> None:
    """The head of a session path's upgrade, read whole, is handed over parsed; uvicorn's protocol state is never built."""
    protocol, transport, state = _connection()
    assert protocol in state.connections  # a shutdown reaches a connection still sending its head
    protocol.data_received(upgrade)
    ((head, request, endpoint),) = Sessions.begun
    assert head == upgrade and request.path == "/v1/realtime" and request.query_string == "model=m"
    assert endpoint is EndpointKind.REALTIME and request.headers["authorization"] == "Bearer k"
    assert isinstance(transport.protocol, Sessions) and not Sessions.replayed
    assert not protocol._built and protocol._header_timer is None and protocol not in state.connections


@pytest.mark.parametrize("chunks", [
    [UPGRADE[:40], UPGRADE[40:]],  # a head in two reads
    [UPGRADE.replace(b"/v1/realtime", b"/v1/other")],  # not a session path
    [UPGRADE + b"\x81\x00"],  # bytes after the head
])
async def test_anything_else_takes_uvicorns_way_and_is_handed_over_as_before(chunks: list[bytes]) -> None:
    """A head in several reads, another path or bytes after the head: uvicorn parses it and replays it, as before."""
    protocol, transport, _ = _connection()
    for chunk in chunks:
        protocol.data_received(chunk)
    assert protocol._built and not Sessions.begun
    assert isinstance(transport.protocol, Sessions) and Sessions.replayed  # uvicorn's hand-over, then our protocol
    assert Sessions.replayed[0].startswith(b"GET /v1/") and b"authorization: Bearer k" in Sessions.replayed[0]


async def test_a_malformed_head_is_answered_by_uvicorn() -> None:
    """A head httptools refuses is not taken directly: uvicorn answers it 400 and closes, as it always did."""
    protocol, transport, _ = _connection()
    protocol.data_received(UPGRADE.replace(b"Host: gw", b"Host gw"))
    assert protocol._built and not Sessions.begun
    assert transport.written.startswith(b"HTTP/1.1 400 ") and transport.closed


async def test_a_connection_that_sent_nothing_closes_and_shuts_down_like_uvicorns() -> None:
    """Before any request, a shutdown closes the connection and a loss leaves the server's connection set."""
    protocol, transport, state = _connection()
    protocol.shutdown()
    assert transport.closed
    protocol.connection_lost(None)
    assert protocol not in state.connections and protocol._header_timer is None
    await asyncio.sleep(0)


@pytest.mark.parametrize("head", [
    UPGRADE.replace(b"GET ", b"POST "),
    UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"),
    UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
    UPGRADE.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    UPGRADE.replace(b"Host: gw\r\n", b"Host: gw\n"),
    UPGRADE.replace(b"Host: gw", b"Host: gw\x0b"),
])
def test_only_a_plain_http11_get_upgrade_is_taken_directly(head: bytes) -> None:
    """Other methods and versions, no WebSocket upgrade, bare line feeds or odd whitespace: left to uvicorn."""
    assert _plain_upgrade(head, head.find(b"\r\n\r\n")) is None
    assert _plain_upgrade(UPGRADE, UPGRADE.find(b"\r\n\r\n")) is not None
