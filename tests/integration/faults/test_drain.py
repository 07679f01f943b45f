"""Graceful drain of a real gateway process on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import GatewayFactory
from tests.integration.faults.conftest import (
    EmulatorStarter,
    OwnRedis,
    Transcript,
    gateway_env,
    open_client,
    read_until_closed,
    readyz,
    until,
    wait_records,
)


async def test_sigterm_drains_live_sessions_then_exits_cleanly(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """SIGTERM: readiness 503 at once, new handshakes 503, a session may finish, the rest get 1001 at the deadline; exit 0."""
    emu = await emulators()
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, drain_seconds=2))  # type: ignore[attr-defined]
    assert gw.proc is not None
    finishing, lingering = await open_client(gw), await open_client(gw)
    seen_finishing, seen_lingering = Transcript(), Transcript()
    await until(finishing, "session.created", seen_finishing)
    await until(lingering, "session.created", seen_lingering)
    gw.proc.send_signal(signal.SIGTERM)
    term_at = time.monotonic()
    await asyncio.sleep(0.2)
    status, body = readyz(gw)
    assert status == 503 and body["draining"] is True and body["live_sessions"] == 2
    with pytest.raises(InvalidStatus) as refused:
        await open_client(gw)
    assert refused.value.response.status_code == 503
    assert orjson.loads(refused.value.response.body)["error"]["code"] == "server_shutting_down"
    # a session in flight may still work and finish on its own
    await finishing.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "bye"}}).decode())
    await until(finishing, "session.updated", seen_finishing)
    await finishing.close()
    await read_until_closed(lingering, 10.0, seen_lingering)
    closed_after = (seen_lingering.closed_at or 0) - term_at
    assert seen_lingering.errors() == ["server_shutting_down"]
    assert seen_lingering.close_code == 1001
    assert 2.0 <= closed_after < 3.0, f"closed {closed_after:.2f}s after SIGTERM"
    print(f"MEASURE drain lingering closed {closed_after:.3f}s after SIGTERM (drain 2s)")
    code = await asyncio.to_thread(gw.proc.wait, 15)
    assert code == 0
    exited_after = time.monotonic() - term_at
    assert exited_after < 5.0
    print(f"MEASURE drain process exit {exited_after:.3f}s after SIGTERM")
    by_reason = sorted(r["end_reason"] for r in wait_records(own_redis, prefix, 2))
    assert by_reason == ["client_closed", "server_shutting_down"]
