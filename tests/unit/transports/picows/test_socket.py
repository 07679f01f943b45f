"""The picows client socket: frame delivery, invalid input, back-pressure both ways, bounded close."""

from __future__ import annotations

import asyncio

import pytest
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from gateway.core.ports import Closed
from gateway.transports.picows.socket import PicowsClientSocket


class FakeUnderlying:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class FakeTransport:
    """Records what the socket does to a picows WSTransport."""

    def __init__(self) -> None:
        self.underlying_transport = FakeUnderlying()
        self.sent: list[tuple[WSMsgType, object]] = []
        self.closes: list[tuple[int, bytes]] = []
        self.is_close_frame_sent = False
        self.is_disconnected = False
        self.disconnects: list[bool] = []

    def send(self, msg_type: WSMsgType, message: object) -> None:
        self.sent.append((msg_type, message))

    def send_close(self, code: int, reason: bytes | None = None) -> None:
        self.closes.append((int(code), reason or b""))
        self.is_close_frame_sent = True

    def disconnect(self, graceful: bool = True) -> None:
        self.disconnects.append(graceful)


def _text(payload: bytes, fin: bool = True) -> object:
    return _make_test_ws_frame(WSMsgType.TEXT, payload, fin, False)


def _connected(max_bytes: int = 1024, linger_s: float = 0.05) -> tuple[PicowsClientSocket, FakeTransport]:
    sock = PicowsClientSocket(max_message_bytes=max_bytes, linger_s=linger_s)
    transport = FakeTransport()
    sock.on_ws_connected(transport)  # type: ignore[arg-type]
    return sock, transport


async def test_frames_arrive_in_order_text_as_str_binary_as_bytes() -> None:
    """Text frames come out as str, binary frames as bytes, in arrival order."""
    sock, t = _connected()
    sock.slow_frame(t, _text(b'{"type":"a"}'))  # type: ignore[arg-type]
    sock.slow_frame(t, _make_test_ws_frame(WSMsgType.BINARY, b"\x00\x01", True, False))  # type: ignore[arg-type]
    assert await sock.receive() == '{"type":"a"}'
    assert await sock.receive() == b"\x00\x01"


async def test_receive_waits_for_a_frame() -> None:
    """A reader waiting on an empty socket is woken by the next frame."""
    sock, t = _connected()
    reader = asyncio.ensure_future(sock.receive())
    await asyncio.sleep(0)
    assert not reader.done()
    sock.slow_frame(t, _text(b"x"))  # type: ignore[arg-type]
    assert await asyncio.wait_for(reader, 1) == "x"


async def test_invalid_utf8_closes_1007_after_the_frames_before_it() -> None:
    """Invalid UTF-8 in a text frame: close 1007 sent; earlier frames still delivered, then the close."""
    sock, t = _connected()
    sock.slow_frame(t, _text(b"ok"))  # type: ignore[arg-type]
    sock.slow_frame(t, _text(b'{"type":"\xff\xfe"}'))  # type: ignore[arg-type]
    sock.slow_frame(t, _text(b"ignored"))  # type: ignore[arg-type]
    assert t.closes[0][0] == 1007
    assert await sock.receive() == "ok"
    assert await sock.receive() == Closed(1007, "invalid UTF-8 in a text frame")
    assert isinstance(await sock.receive(), Closed)


async def test_fragmented_message_is_reassembled_and_an_oversized_one_closes_1009() -> None:
    """Fragments make one message; fragments adding up past the limit close with 1009."""
    sock, t = _connected(max_bytes=8)
    sock.slow_frame(t, _text(b"abc", fin=False))  # type: ignore[arg-type]
    sock.slow_frame(t, _make_test_ws_frame(WSMsgType.CONTINUATION, b"def", True, False))  # type: ignore[arg-type]
    assert await sock.receive() == "abcdef"
    sock.slow_frame(t, _text(b"12345", fin=False))  # type: ignore[arg-type]
    sock.slow_frame(t, _make_test_ws_frame(WSMsgType.CONTINUATION, b"6789", False, False))  # type: ignore[arg-type]
    assert t.closes[0][0] == 1009
    assert (await sock.receive()).code == 1009  # type: ignore[union-attr]


async def test_reading_pauses_when_the_relay_is_behind_and_resumes_when_it_catches_up() -> None:
    """64 undelivered frames pause reading from the client; draining to 32 resumes it."""
    sock, t = _connected()
    for i in range(64):
        sock.slow_frame(t, _text(str(i).encode()))  # type: ignore[arg-type]
    assert not t.underlying_transport.reading
    for _ in range(31):
        await sock.receive()
    assert not t.underlying_transport.reading
    await sock.receive()
    assert t.underlying_transport.reading


async def test_send_blocks_while_the_client_does_not_read() -> None:
    """While the write buffer is over its high-water mark, send waits; it writes once writing resumes."""
    sock, t = _connected()
    sock.pause_writing()
    sender = asyncio.ensure_future(sock.send("delta"))
    await asyncio.sleep(0.01)
    assert not sender.done() and t.sent == []
    sock.resume_writing()
    await asyncio.wait_for(sender, 1)
    assert t.sent == [(WSMsgType.TEXT, "delta")]


async def test_a_cancelled_blocked_send_leaves_the_socket_usable() -> None:
    """Cancelling a send that waits (the relay's timeout) does not break later sends."""
    sock, t = _connected()
    sock.pause_writing()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(sock.send("a"), 0.01)
    sock.resume_writing()
    await sock.send("b")
    assert t.sent == [(WSMsgType.TEXT, "b")]


async def test_blocked_send_returns_without_writing_when_the_client_disconnects() -> None:
    """A send waiting on a full buffer ends when the connection is lost, writing nothing."""
    sock, t = _connected()
    sock.pause_writing()
    sender = asyncio.ensure_future(sock.send("delta"))
    await asyncio.sleep(0)
    t.is_disconnected = True
    sock.on_ws_disconnected(t)  # type: ignore[arg-type]
    await asyncio.wait_for(sender, 1)
    assert t.sent == []
    assert await sock.receive() == Closed(1006, "")


async def test_close_queues_the_frame_and_cuts_off_a_peer_that_never_answers() -> None:
    """close() sends one close frame and returns; without the peer's reply the socket is aborted after the linger."""
    sock, t = _connected(linger_s=0.02)
    await sock.close(4104, "client_too_slow")
    await sock.close(4104, "client_too_slow")
    assert t.closes == [(4104, b"client_too_slow")]
    await sock.send("late")
    assert t.sent == []
    await asyncio.sleep(0.05)
    assert t.disconnects == [False]


async def test_close_is_not_aborted_when_the_peer_completes_the_handshake() -> None:
    """A peer that answers the close in time is disconnected gracefully, never aborted."""
    sock, t = _connected(linger_s=0.05)
    await sock.close(1000, "")
    sock.slow_frame(t, _make_test_ws_frame(WSMsgType.CLOSE, b"\x03\xe8", True, False))  # type: ignore[arg-type]
    t.is_disconnected = True
    sock.on_ws_disconnected(t)  # type: ignore[arg-type]
    await asyncio.sleep(0.08)
    assert t.disconnects == [True]


async def test_peer_close_is_reported_and_echoed() -> None:
    """The client's close frame is echoed and reported with its code and reason."""
    sock, t = _connected()
    sock.slow_frame(t, _make_test_ws_frame(WSMsgType.CLOSE, b"\x0f\xa0bye", True, False))  # type: ignore[arg-type]
    assert await sock.receive() == Closed(4000, "bye")
    assert t.closes[0][0] == 4000 and t.disconnects == [True]
