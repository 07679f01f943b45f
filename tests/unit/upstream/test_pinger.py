"""The shared keep-alive pinger against a real picows server on loopback: what picows' auto-ping did, one timer for all."""

from __future__ import annotations

import asyncio
import time

import pytest
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from gateway.upstream.picows_connector import PicowsConnector, PicowsUpstream
from gateway.upstream.pinger import Pinger
from gateway.upstream.target import UpstreamTarget

INTERVAL, TIMEOUT = 0.2, 0.1


class _Peer(WSListener):
    """An echo server that counts the PINGs it gets and answers them only when told to."""

    def __init__(self, answer: bool) -> None:
        super().__init__()
        self.answer = answer
        self.pings = 0
        self.close_code: int | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.PING:
            self.pings += 1
            if self.answer:
                transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            self.close_code = int(frame.get_close_code())
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def _connect(peers: list[_Peer], answer: bool, count: int = 1) -> tuple[object, PicowsConnector, list[PicowsUpstream]]:
    def listener(_: object) -> _Peer:
        peers.append(_Peer(answer))
        return peers[-1]

    server = await ws_create_server(listener, "127.0.0.1", 0, enable_auto_pong=False)
    port = server.sockets[0].getsockname()[1]
    connector = PicowsConnector(max_message_bytes=1 << 16, ping_interval_s=INTERVAL, ping_timeout_s=TIMEOUT)
    target = UpstreamTarget("test", f"ws://127.0.0.1:{port}/v1/realtime", {})
    return server, connector, [await connector.connect(target) for _ in range(count)]


async def _stop(server: object) -> None:
    server.close()  # type: ignore[attr-defined]
    await server.wait_closed()  # type: ignore[attr-defined]


async def test_an_idle_socket_that_answers_is_pinged_every_interval_and_kept() -> None:
    """An idle upstream whose peer answers PINGs gets one about every interval and stays open."""
    peers: list[_Peer] = []
    server, connector, (sock,) = await _connect(peers, answer=True)
    try:
        await asyncio.sleep(1.0)
        assert 3 <= peers[0].pings <= 5
        assert sock.transport is not None and not sock.transport.is_disconnected and sock._closed is None
        await sock.close(1000, "")
    finally:
        await _stop(server)


async def test_a_peer_that_does_not_answer_is_sent_1001_and_dropped_in_time() -> None:
    """No PONG within the timeout: a 1001 close goes out and the connection is gone within interval + timeout + two sweeps."""
    peers: list[_Peer] = []
    server, connector, (sock,) = await _connect(peers, answer=False)
    started = time.monotonic()
    try:
        transport = sock.transport
        assert transport is not None
        await asyncio.wait_for(transport.wait_disconnected(), 2.0)
        elapsed = time.monotonic() - started
        assert INTERVAL + TIMEOUT <= elapsed <= INTERVAL + TIMEOUT + 2 * connector.pinger.period_s + 0.15
        assert peers[0].pings == 1
        assert sock._closed is not None
        assert len(connector.pinger) == 0
        await asyncio.sleep(0.05)
        assert peers[0].close_code == WSCloseCode.GOING_AWAY
    finally:
        await _stop(server)


async def test_a_socket_that_receives_frames_is_not_pinged() -> None:
    """As picows' PING_WHEN_IDLE: frames arriving more often than the interval keep the socket from being pinged."""
    peers: list[_Peer] = []
    server, connector, (sock,) = await _connect(peers, answer=False)
    try:
        for _ in range(20):  # 1 s of echoes every 50 ms, five intervals
            await sock.send('{"type":"x"}')
            assert await asyncio.wait_for(sock.receive(), 1) == '{"type":"x"}'
            await asyncio.sleep(0.05)
        assert peers[0].pings == 0
        assert sock.transport is not None and not sock.transport.is_disconnected
        await sock.close(1000, "")
    finally:
        await _stop(server)


async def test_sockets_share_one_timer_and_leave_the_pinger_when_closed() -> None:
    """Five connections add no task each; they are all in the connector's pinger until they close."""
    peers: list[_Peer] = []
    tasks_before = len(asyncio.all_tasks())
    server, connector, socks = await _connect(peers, answer=True, count=5)
    try:
        assert len(asyncio.all_tasks()) == tasks_before
        assert len(connector.pinger) == 5
        for sock in socks:
            await sock.close(1000, "")
        assert len(connector.pinger) == 0
    finally:
        await _stop(server)


def test_the_pong_timeout_is_positive_and_within_the_interval() -> None:
    """As picows' auto-ping: a reply timeout longer than the interval (or none) is refused."""
    with pytest.raises(ValueError):
        Pinger(1.0, 2.0)
    with pytest.raises(ValueError):
        Pinger(1.0, 0.0)
