"""The shared picows frame socket, seen through the upstream socket: queued frames, the close, push, sends."""

from __future__ import annotations

import asyncio

from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from gateway.core.ports import Closed, Frame
from gateway.transports.picows.socket import PicowsClientSocket
from gateway.upstream.picows_connector import PicowsUpstream
from tests.unit.transports.picows.test_socket import FakeTransport


def _upstream(max_bytes: int = 1024) -> tuple[PicowsUpstream, FakeTransport]:
    sock = PicowsUpstream(max_message_bytes=max_bytes)
    transport = FakeTransport()
    sock.on_ws_connected(transport)  # type: ignore[arg-type]
    return sock, transport


class _Collect:
    """A push handler that keeps the frames and the close it is given, in order."""

    def __init__(self, seen: list[Frame | Closed]) -> None:
        self.seen = seen

    def on_frame(self, frame: Frame) -> None:
        self.seen.append(frame)

    def on_closed(self, closed: Closed) -> None:
        self.seen.append(closed)

    def on_writable(self, writable: bool) -> None:
        pass

    def on_failed(self, exc: Exception) -> None:
        raise exc


def _frame(msg_type: WSMsgType, payload: bytes, fin: bool = True) -> object:
    return _make_test_ws_frame(msg_type, payload, fin, False)


async def test_frames_before_a_close_are_read_first_then_the_close_every_time() -> None:
    """A pulling reader gets the queued frames, then the close, and the close again on every later receive."""
    sock, transport = _upstream()
    sock.slow_frame(transport, _frame(WSMsgType.TEXT, b'{"a":1}'))  # type: ignore[arg-type]
    sock.on_ws_disconnected(transport)  # type: ignore[arg-type]
    assert await sock.receive() == '{"a":1}'
    assert await sock.receive() == Closed(1006, "")
    assert await sock.receive() == Closed(1006, "")


async def test_attach_delivers_queued_frames_then_the_close_by_callback() -> None:
    """Push mode: what queued before attach goes to the callbacks in order, the close last."""
    sock, transport = _upstream()
    sock.slow_frame(transport, _frame(WSMsgType.TEXT, b"one"))  # type: ignore[arg-type]
    sock.slow_frame(transport, _frame(WSMsgType.BINARY, b"two"))  # type: ignore[arg-type]
    sock.on_ws_disconnected(transport)  # type: ignore[arg-type]
    seen: list[Frame | Closed] = []
    sock.attach(_Collect(seen))
    assert seen == ["one", b"two", Closed(1006, "")]


async def test_an_oversized_fragmented_upstream_message_closes_1009() -> None:
    """Fragments past max_message_bytes: the upstream is closed 1009 and the reader hears that close."""
    sock, transport = _upstream(max_bytes=4)
    sock.slow_frame(transport, _frame(WSMsgType.TEXT, b"abc", fin=False))  # type: ignore[arg-type]
    sock.slow_frame(transport, _frame(WSMsgType.CONTINUATION, b"def", fin=False))  # type: ignore[arg-type]
    assert transport.closes == [(1009, b"message too big")]
    assert await sock.receive() == Closed(1009, "message too big")


async def test_bytes_go_upstream_as_binary_and_to_clients_as_text() -> None:
    """The one difference in sending: gateway-made bytes are binary frames upstream, text frames to a client."""
    upstream, up_transport = _upstream()
    client = PicowsClientSocket(max_message_bytes=1024, linger_s=0.05)
    client_transport = FakeTransport()
    client.on_ws_connected(client_transport)  # type: ignore[arg-type]
    for sock in (upstream, client):
        await sock.send(b"{}")
        sock.send_now("{}")
    assert up_transport.sent == [(WSMsgType.BINARY, b"{}"), (WSMsgType.TEXT, "{}")]
    assert client_transport.sent == [(WSMsgType.TEXT, b"{}"), (WSMsgType.TEXT, "{}")]


async def test_a_send_waits_while_the_write_buffer_is_full_and_stops_after_the_close() -> None:
    """pause_writing holds send; a disconnect releases it without writing to a dead transport."""
    sock, transport = _upstream()
    sock.pause_writing()
    waiting = asyncio.create_task(sock.send("late"))
    await asyncio.sleep(0)
    assert not waiting.done()
    transport.is_disconnected = True
    sock.on_ws_disconnected(transport)  # type: ignore[arg-type]
    await asyncio.wait_for(waiting, 1)
    assert transport.sent == []


async def test_a_fragmented_message_is_reassembled_and_a_waiting_reader_gets_it() -> None:
    """A reader waiting on an empty socket gets a message sent in fragments, whole, once its last fragment is in."""
    sock, transport = _upstream()
    reader = asyncio.ensure_future(sock.receive())
    await asyncio.sleep(0)
    sock.slow_frame(transport, _frame(WSMsgType.TEXT, b'{"a":', fin=False))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert not reader.done()
    sock.slow_frame(transport, _frame(WSMsgType.CONTINUATION, b"1}"))  # type: ignore[arg-type]
    assert await asyncio.wait_for(reader, 1) == '{"a":1}'
    sock.slow_frame(transport, _frame(WSMsgType.TEXT, b"next"))  # type: ignore[arg-type]
    assert await sock.receive() == "next"


def test_an_idle_sessions_sockets_hold_no_instance_dict_and_no_queue() -> None:
    """Both sockets of a session are slotted and make their frame queue only when a frame waits (idle memory)."""
    client = PicowsClientSocket(max_message_bytes=1024, linger_s=0.05)
    upstream, _ = _upstream()
    for sock in (client, upstream):
        assert not hasattr(sock, "__dict__")
    seen: list[Frame | Closed] = []
    upstream.attach(_Collect(seen))
    assert upstream._frames is None  # noqa: SLF001 - the memory this test is about
