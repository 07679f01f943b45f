"""Upstream faults against a real gateway process: failover, drops, malformed frames, stalls."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.conftest import GatewayFactory
from tests.integration.faults.conftest import (
    EmulatorStarter,
    eventually,
    OwnRedis,
    Transcript,
    gateway_env,
    open_client,
    read_until_closed,
    start_turn,
    tcp_closed_port,
    until,
    wait_idle,
    wait_records,
    write_catalog,
)

#: server frames before the scripted fault: session.created … the first output audio delta
MID_RESPONSE = 12


def _assert_usage_matches(record: dict[str, str], emulated: object) -> None:
    """The record bills exactly the usage the emulator reported on the connection that served it."""
    usage = emulated.usage_total  # type: ignore[attr-defined]
    assert int(record["audio_out_tokens"]) == usage.output_audio_tokens
    assert int(record["text_out_tokens"]) == usage.output_text_tokens
    assert int(record["audio_in_tokens"]) == usage.input_audio_tokens
    assert int(record["cost_micros"]) > 0


@pytest.mark.parametrize("fault", ["refuse", "refuse429", "slow_accept", "unreachable"])
async def test_failover_to_the_second_endpoint_is_invisible_to_the_client(
    fault: str, gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str, tmp_path: Path
) -> None:
    """The first endpoint refuses (503/429), accepts too slowly or is unreachable: the second serves a normal turn."""
    secondary = await emulators()
    if fault == "unreachable":
        primary_url = f"ws://127.0.0.1:{tcp_closed_port()}/v1"
        primary = None
    else:
        primary = await emulators(fault=fault, delay_ms=3000)
        primary_url = primary.url  # type: ignore[attr-defined]
    catalog = write_catalog(tmp_path, {"primary": primary_url, "secondary": secondary.url}, connect_timeout_s=0.5)  # type: ignore[attr-defined]
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, catalog=catalog))
    started = time.monotonic()
    seen = Transcript()
    async with await open_client(gw) as ws:
        created = await until(ws, "session.created", seen)
        setup_s = time.monotonic() - started
        await start_turn(ws)
        done = await until(ws, "response.done", seen)
        assert done["response"]["status"] == "completed"  # type: ignore[index]
    assert "error" not in seen.types()
    assert created["session"]["model"] == "gpt-realtime-2"  # type: ignore[index]
    print(f"MEASURE failover[{fault}] handshake-to-session.created {setup_s:.3f}s")
    assert setup_s < 3.0, f"failover took {setup_s:.2f}s"
    if primary is not None and fault != "slow_accept":
        assert primary.sessions == []  # type: ignore[attr-defined]
    assert len(secondary.sessions) == 1  # type: ignore[attr-defined]
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["upstream"] == "secondary"
    assert record["end_reason"] == "client_closed"
    _assert_usage_matches(record, secondary.sessions[0])  # type: ignore[attr-defined]


@pytest.mark.parametrize("fault", ["drop", "drop1011"])
async def test_upstream_drop_mid_response_reaches_the_client_as_1014(
    fault: str, gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """TCP loss (no close frame) or close 1011 mid-response: error 'upstream_disconnected', close 1014, record says so."""
    emu = await emulators(fault=fault, fault_after=MID_RESPONSE)
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url))  # type: ignore[attr-defined]
    async with await open_client(gw) as ws:
        seen = Transcript()
        await until(ws, "session.created", seen)
        await start_turn(ws)
        await until(ws, "response.output_audio.delta", seen)
        fault_at = time.monotonic()
        await read_until_closed(ws, 5.0, seen)
    assert seen.errors() == ["upstream_disconnected"]
    assert seen.close_code == 1014
    assert seen.closed_at is not None and seen.closed_at - fault_at < 1.0
    print(f"MEASURE drop[{fault}] client closed {seen.closed_at - fault_at:.3f}s after the last delta")
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["end_reason"] == "upstream_dropped"
    assert record["error_code"] == "upstream_disconnected"
    assert float(record["audio_out_s"]) > 0  # what was relayed before the drop is billed
    wait_idle(gw)


async def test_malformed_upstream_frame_is_reported_and_the_session_goes_on(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """One invalid-JSON frame from upstream: the client gets an error event, then the rest of the response."""
    emu = await emulators(fault="malformed", fault_after=MID_RESPONSE)
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        await start_turn(ws)
        done = await until(ws, "response.done", seen)
    assert done["response"]["status"] == "completed"  # type: ignore[index]
    assert seen.errors() == ["invalid_request_error"]
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["end_reason"] == "client_closed"
    _assert_usage_matches(record, emu.sessions[0])  # type: ignore[attr-defined]


async def test_upstream_stall_during_a_response_ends_the_session_with_1014(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """Upstream goes silent mid-response longer than the stall limit: 'upstream_stalled' then close 1014."""
    emu = await emulators(fault="stall", fault_after=MID_RESPONSE)
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, upstream_stall_s=1.0))  # type: ignore[attr-defined]
    seen = Transcript()
    async with await open_client(gw) as ws:
        await until(ws, "session.created", seen)
        await start_turn(ws)
        await until(ws, "response.output_audio.delta", seen)
        stalled_at = time.monotonic()
        await read_until_closed(ws, 5.0, seen)
    assert seen.errors() == ["upstream_stalled"]
    assert seen.close_code == 1014
    assert seen.closed_at is not None and 1.0 <= seen.closed_at - stalled_at < 2.0
    print(f"MEASURE stall closed {seen.closed_at - stalled_at:.3f}s after the last delta (limit 1.0s)")
    (record,) = wait_records(own_redis, prefix, 1)
    assert record["end_reason"] == "upstream_stalled"
    assert await eventually(lambda: emu.sessions[0].closed)  # type: ignore[attr-defined]  # the gateway closed the stalled upstream


class _CountingRefuser:
    """A TCP listener that counts connection attempts and hangs up at once (an endpoint that is down)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.attempts += 1
            writer.transport.abort()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1"


async def test_breaker_opens_after_three_failures_and_skips_the_dead_endpoint(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, tmp_path: Path
) -> None:
    """Three consecutive connect failures open the primary's breaker: later sessions go straight to the secondary."""
    dead = _CountingRefuser()
    secondary = await emulators()
    catalog = write_catalog(tmp_path, {"primary": await dead.start(), "secondary": secondary.url})  # type: ignore[attr-defined]
    gw = gateway_factory(env=gateway_env(catalog=catalog))
    for _ in range(6):
        seen = Transcript()
        async with await open_client(gw) as ws:
            await until(ws, "session.created", seen)
    assert dead.attempts == 3
    assert len(secondary.sessions) == 6  # type: ignore[attr-defined]
    assert dead.server is not None
    dead.server.close()
