"""The picows connector against a real picows server on loopback: the handshake's headers go out, then are dropped."""

from __future__ import annotations

import asyncio
import gc
import logging

import aiofastnet
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from gateway.upstream.picows_connector import PicowsConnector, uses_tls
from gateway.upstream.target import UpstreamTarget


class _Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def test_the_upstream_key_is_sent_and_not_kept_after_the_handshake() -> None:
    """The server sees the credential header; once connected the socket's transport holds no handshake header, and frames flow."""
    seen: list[WSUpgradeRequest] = []

    def listener(request: WSUpgradeRequest) -> WSListener:
        seen.append(request)
        return _Echo()

    server = await ws_create_server(listener, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connector = PicowsConnector(max_message_bytes=1 << 16, ping_interval_s=20.0, ping_timeout_s=10.0)
    target = UpstreamTarget("test", f"ws://127.0.0.1:{port}/v1/realtime", {"Authorization": "Bearer sk-test-secret"})
    try:
        sock = await connector.connect(target)
        assert seen[0].headers["Authorization"] == "Bearer sk-test-secret"
        assert seen[0].headers["User-Agent"].startswith("voice-gateway/")
        transport = sock.transport
        assert transport is not None
        assert transport.request is not None and len(transport.request.headers) == 0
        assert transport.response is not None and len(transport.response.headers) == 0
        await sock.send('{"type":"ping"}')
        assert await asyncio.wait_for(sock.receive(), 5) == '{"type":"ping"}'
        await sock.close(1000, "")
    finally:
        server.close()
        await server.wait_closed()


def test_only_tls_upstreams_use_aiofastnet() -> None:
    """A ws:// upstream is opened on the event loop's own transport, a wss:// one (any case) on aiofastnet's."""
    assert not uses_tls("ws://127.0.0.1:9000/v1/realtime")
    assert uses_tls("wss://api.openai.com/v1/realtime?model=gpt-realtime")
    assert uses_tls("WSS://api.openai.com/v1/realtime")


async def test_a_plaintext_upstream_connects_on_the_event_loops_transport() -> None:
    """The ws:// echo answers through a socket whose underlying transport is not aiofastnet's, frames both ways."""
    server = await ws_create_server(lambda _: _Echo(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connector = PicowsConnector(max_message_bytes=1 << 16, ping_interval_s=20.0, ping_timeout_s=10.0)
    try:
        sock = await connector.connect(UpstreamTarget("test", f"ws://127.0.0.1:{port}/v1/realtime", {}))
        assert sock.transport is not None
        assert not isinstance(sock.transport.underlying_transport, aiofastnet.Transport)
        await sock.send('{"type":"ping"}')
        assert await asyncio.wait_for(sock.receive(), 5) == '{"type":"ping"}'
        await sock.close(1000, "")
    finally:
        server.close()
        await server.wait_closed()


async def test_upstream_sockets_make_no_logger_of_their_own() -> None:
    """picows is given an adapter, so each upstream socket gets no per-socket child ``Logger`` that it keeps for life."""
    server = await ws_create_server(lambda _: _Echo(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connector = PicowsConnector(max_message_bytes=1 << 16, ping_interval_s=20.0, ping_timeout_s=10.0)
    target = UpstreamTarget("test", f"ws://127.0.0.1:{port}/v1/realtime", {})

    def client_loggers() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, logging.Logger) and o.name.startswith("picows.client."))

    before = client_loggers()
    socks = []
    try:
        for _ in range(3):
            socks.append(await connector.connect(target))
        assert client_loggers() == before
    finally:
        for sock in socks:
            await sock.close(1000, "")
        server.close()
        await server.wait_closed()
