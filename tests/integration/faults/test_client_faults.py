"""Client faults against a real gateway process: a client that vanishes, a client that stops reading."""

from __future__ import annotations

import asyncio
import socket
import time

from tests.integration.conftest import GatewayFactory
from tests.integration.faults.conftest import (
    EmulatorStarter,
    OwnRedis,
    Transcript,
    eventually,
    gateway_env,
    open_client,
    tcp_peers,
    read_until_closed,
    readyz,
    rss_kib,
    start_turn,
    until,
    wait_records,
)


async def test_vanished_client_is_detected_by_pings_and_its_session_is_closed_and_recorded(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """A client that stops answering (no close frame) is dropped within ping interval + timeout; upstream closed; record written."""
    emu = await emulators()
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, ping_interval_s=0.5, ping_timeout_s=0.5))  # type: ignore[attr-defined]
    ws = await open_client(gw)
    seen = Transcript()
    await until(ws, "session.created", seen)
    assert readyz(gw)[1]["live_sessions"] == 1
    ws.transport.pause_reading()  # the client's machine froze: nothing is read, no pong goes back
    vanished_at = time.monotonic()
    assert await eventually(lambda: readyz(gw)[1]["live_sessions"] == 0, 5.0)
    detected_s = time.monotonic() - vanished_at
    print(f"MEASURE vanish detected {detected_s:.3f}s (ping 0.5+0.5)")
    assert detected_s <= 0.5 + 0.5 + 0.6, f"detected after {detected_s:.2f}s"
    assert await eventually(lambda: emu.sessions[0].closed)  # type: ignore[attr-defined]
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["end_reason"] == "client_closed"
    ws.transport.abort()


def _starve(ws: object) -> None:
    """Make the client's receive window tiny and stop reading from it."""
    transport = ws.transport  # type: ignore[attr-defined]
    sock: socket.socket = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport.pause_reading()


async def test_slow_client_is_cut_off_with_4104_and_gateway_memory_stays_bounded(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """A client that stops reading while a long reply streams: bounded RSS, 'client_too_slow' after the limit, record written."""
    emu = await emulators(pace=False, reply_ms=180_000, chunk_ms=100)  # three minutes of audio, sent as fast as possible
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, slow_client_seconds=1.0))  # type: ignore[attr-defined]
    assert gw.proc is not None
    pid = gw.proc.pid
    ws = await open_client(gw)
    seen = Transcript()
    await until(ws, "session.created", seen)
    baseline_rss = rss_kib(pid)
    assert len([p for p in tcp_peers(pid) if p[0] == gw.port]) == 1
    _starve(ws)
    await start_turn(ws)
    stopped_at = time.monotonic()
    peak = baseline_rss
    while readyz(gw)[1]["live_sessions"] and time.monotonic() - stopped_at < 10:
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.05)
    cut_s = time.monotonic() - stopped_at
    assert readyz(gw)[1]["live_sessions"] == 0, "the slow client was never cut off"
    print(f"MEASURE slow client cut {cut_s:.3f}s (limit 1.0s); RSS +{peak - baseline_rss} KiB")
    assert 1.0 <= cut_s < 2.5, f"cut off after {cut_s:.2f}s"
    assert peak - baseline_rss < 40_000, f"gateway RSS grew by {peak - baseline_rss} KiB"
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["end_reason"] == "client_too_slow"
    assert record["error_code"] == "client_too_slow"
    # the client catches up: after whatever audio was buffered it finds close 4104 'client_too_slow'
    ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    ws.transport.resume_reading()
    await read_until_closed(ws, 10.0, seen)
    assert (seen.close_code, seen.close_reason) == (4104, "client_too_slow")
    assert "response.output_audio.delta" in seen.types()
    emulator_port = emu.port  # type: ignore[attr-defined]
    assert await eventually(lambda: not [p for p in tcp_peers(pid) if gw.port == p[0] or emulator_port == p[1]], 5.0), (
        f"client or upstream socket leaked: {tcp_peers(pid)}")
