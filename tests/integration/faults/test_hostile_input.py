"""Hostile clients against a real gateway: oversized, nested, invalid and binary frames, floods, slowloris, injection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.faults.conftest import (
    EmulatorStarter,
    Transcript,
    gateway_env,
    open_client,
    read_until_closed,
    until,
)

LIMIT = 8192


def _append_of_size(size: int) -> str:
    """An input_audio_buffer.append frame of exactly ``size`` bytes."""
    head, tail = '{"type":"input_audio_buffer.append","audio":"', '"}'
    n = size - len(head) - len(tail)
    pad = n % 4  # JSON whitespace keeps the base64 well-formed
    return head[:-9] + " " * pad + head[-9:] + "A" * (n - pad) + tail


async def _gateway(gateway_factory: GatewayFactory, emulators: EmulatorStarter, **settings: str | int | float) -> tuple[GatewayProcess, object]:
    emu = await emulators()
    return gateway_factory(env=gateway_env(upstream_url=emu.url, max_message_bytes=LIMIT, **settings)), emu  # type: ignore[attr-defined]


async def test_frames_at_the_limit_pass_and_past_it_close_1009(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """A frame of exactly the limit is relayed; one byte more gets 'message_too_large' and close 1009."""
    gw, emu = await _gateway(gateway_factory, emulators)
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        at_limit = _append_of_size(LIMIT)
        assert len(at_limit) == LIMIT
        await ws.send(at_limit)
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime"}}).decode())
        await until(ws, "session.updated", seen)
        assert "error" not in seen.types()
        await ws.send(_append_of_size(LIMIT + 1))
        await read_until_closed(ws, 5.0, seen)
    assert seen.errors() == ["message_too_large"]
    assert seen.close_code == 1009
    assert emu.sessions[0].frames_in == 2  # type: ignore[attr-defined]  # the oversized frame never reached upstream


async def test_frame_far_past_the_limit_is_refused_by_the_websocket_layer(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """A frame beyond the WebSocket layer's own cap (limit + 4 MiB slack) is cut off with 1009 before it is buffered whole."""
    gw, _emu = await _gateway(gateway_factory, emulators)
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(_append_of_size(LIMIT + 5 * 1024 * 1024))
        await read_until_closed(ws, 5.0, seen)
    assert seen.close_code == 1009


async def test_nested_huge_and_binary_frames_get_error_events_and_the_session_goes_on(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter
) -> None:
    """Deeply nested JSON, a huge string under the limit, binary garbage, non-objects: error events, no crash, session usable."""
    gw, _emu = await _gateway(gateway_factory, emulators)
    seen = Transcript()
    hostile = [
        '{"type":"session.update","session":' + "[" * 3000 + "]" * 3000 + "}",
        "[" * 4000,
        '{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"' + "x" * (LIMIT - 200) + '"}]}}',
        b"\x00\xff\xfe" * 100,
        "null",
        '{"type": 5}',
        '{"type":"' + "t" * 2000 + '"}',
    ]
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        for frame in hostile:
            await ws.send(frame)
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime"}}).decode())
        await until(ws, "session.updated", seen)
    codes = seen.errors()
    assert codes.count("invalid_json") == 3 or codes.count("invalid_json") + codes.count("invalid_event") == 6, codes
    assert "invalid_event" in codes  # binary frame and unknown/absent type


async def test_invalid_utf8_text_frame_is_closed_with_1007(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """A text frame that is not UTF-8 ends the connection with 1007 (invalid frame payload data)."""
    gw, _emu = await _gateway(gateway_factory, emulators)
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        await ws.send(b'{"type":"\xff\xfe"}', text=True)
        await read_until_closed(ws, 5.0, seen)
    assert seen.close_code == 1007


async def test_frame_flood_is_cut_off_with_1008(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """More frames a second than allowed: 'rate_limit_exceeded' and close 1008."""
    gw, _emu = await _gateway(gateway_factory, emulators, max_frames_per_second=50)
    seen = Transcript()
    small = orjson.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}).decode()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        for _ in range(60):
            await ws.send(small)
        await read_until_closed(ws, 5.0, seen)
    assert seen.errors() == ["rate_limit_exceeded"]
    assert seen.close_code == 1008


async def test_handshake_flood_from_one_address_is_refused_with_429(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """Past the per-address burst new handshakes get HTTP 429; tokens come back at the configured rate."""
    gw, _emu = await _gateway(gateway_factory, emulators, handshake_rate_per_address=2, handshake_burst_per_address=5)
    statuses: list[int] = []
    for _ in range(8):
        try:
            ws = await open_client(gw)
            statuses.append(101)
            await ws.close()
        except InvalidStatus as exc:
            statuses.append(exc.response.status_code)
            assert orjson.loads(exc.response.body)["error"]["code"] == "rate_limit_exceeded"
    assert statuses[:5] == [101] * 5
    assert statuses[5:] == [429] * 3
    await asyncio.sleep(0.6)
    ws = await open_client(gw)
    await ws.close()


async def test_handshake_flood_with_one_key_is_refused_with_429(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """Past the per-key burst new handshakes for that key get HTTP 429 (another key is unaffected)."""
    emu = await emulators()
    gw = gateway_factory(env=gateway_env(upstream_url=emu.url, handshake_rate_per_key=1, handshake_burst_per_key=3), keys=["vg_other_key_0123456789"])  # type: ignore[attr-defined]
    statuses: list[int] = []
    for _ in range(5):
        try:
            ws = await open_client(gw)
            statuses.append(101)
            await ws.close()
        except InvalidStatus as exc:
            statuses.append(exc.response.status_code)
    assert statuses == [101, 101, 101, 429, 429]
    ws = await open_client(gw, key="vg_other_key_0123456789")
    await ws.close()


def test_slowloris_headers_are_not_held_forever(gateway_factory: GatewayFactory) -> None:
    """A client trickling request headers is cut off when they are not complete within the keep-alive timeout (5 s)."""
    gw = gateway_factory(env=gateway_env())
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        closed = False
        while time.monotonic() - started < 9:
            try:
                sock.sendall(b"X-A: b\r\n")
                sock.settimeout(1.0)
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    assert closed
    assert 4.5 <= time.monotonic() - started < 7.0


async def test_query_and_headers_cannot_reach_the_upstream_request(gateway_factory: GatewayFactory, emulators: EmulatorStarter) -> None:
    """Extra query parameters and headers are not passed upstream (here: emulator fault knobs), CR/LF in a model is refused."""
    emu = await emulators()
    gw = gateway_factory(env=gateway_env(upstream_url=emu.url))  # type: ignore[attr-defined]
    seen = Transcript()
    query = "model=gpt-realtime-2&emu_fault=drop&emu_fault_after=0"
    async with await open_client(gw, query, headers={"X-Emulator-Fault": "refuse"}) as ws:
        await until(ws, "session.created", seen)
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime"}}).decode())
        await until(ws, "session.updated", seen)
    assert "error" not in seen.types()
    with pytest.raises(InvalidStatus) as refused:
        await open_client(gw, "model=gpt-realtime-2%0d%0aX-Injected:%201")
    assert refused.value.response.status_code == 400
    assert len(emu.sessions) == 1  # type: ignore[attr-defined]
