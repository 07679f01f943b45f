"""Graceful drain of a real gateway process on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import orjson
from websockets.asyncio.client import ClientConnection
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import GatewayFactory, GatewayProcess
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
from tests.integration.keys_support import ADMIN_TOKEN


async def _refused_status(gw: GatewayProcess, timeout_s: float = 5.0) -> tuple[int, int]:
    """The HTTP status of the first handshake the gateway refuses (0 if it keeps accepting), and how
    many probe sessions it accepted before that (each leaves a ``client_closed`` record)."""
    deadline = time.monotonic() + timeout_s
    accepted = 0
    while time.monotonic() < deadline:
        try:
            ws = await open_client(gw)
        except InvalidStatus as refused:
            return refused.response.status_code, accepted
        accepted += 1
        await ws.close()
        await asyncio.sleep(0.1)
    return 0, accepted


async def _replicas_up(gw: GatewayProcess, timeout_s: float = 40.0) -> int:
    """How many replicas (worker processes) the admin directory lists, waiting until two have published."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=gw.http_url, headers=headers) as admin:
        while True:
            replicas = (await admin.get("/admin/sessions")).json()["replicas"]
            if len(replicas) >= 2 or time.monotonic() > deadline:
                return len(replicas)
            await asyncio.sleep(0.2)


async def _replicas_holding(gw: GatewayProcess, sessions: int, timeout_s: float = 10.0) -> set[str]:
    """The replicas (worker processes) that the admin directory lists as holding the live sessions."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=gw.http_url, headers=headers) as admin:
        while True:
            listed = (await admin.get("/admin/sessions")).json()["sessions"]
            if len(listed) >= sessions or time.monotonic() > deadline:
                return {str(entry["replica"]) for entry in listed}
            await asyncio.sleep(0.2)


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


async def test_sigterm_drains_every_worker_of_a_multi_worker_gateway(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str
) -> None:
    """--workers 2: SIGTERM to the supervisor drains each worker's sessions (1001 at the deadline), then exits 0."""
    emu = await emulators()
    env = gateway_env(store=own_redis, prefix=prefix, upstream_url=emu.url, drain_seconds=2, admin_token=ADMIN_TOKEN)  # type: ignore[attr-defined]
    gw = gateway_factory(env=env, workers=2)
    assert gw.proc is not None
    assert await _replicas_up(gw) == 2, "the second worker did not come up"
    clients: list[ClientConnection] = []
    seen: list[Transcript] = []
    for _ in range(10):  # which worker accepts a connection is the kernel's choice: open until both hold some
        batch = list(await asyncio.gather(*(open_client(gw) for _ in range(4))))
        for ws in batch:
            seen.append(Transcript())
            await until(ws, "session.created", seen[-1])
        clients += batch
        if len(await _replicas_holding(gw, len(clients))) == 2:
            break
    assert len(await _replicas_holding(gw, len(clients))) == 2, "the sessions did not spread over both workers"
    gw.proc.send_signal(signal.SIGTERM)
    term_at = time.monotonic()
    # the supervisor looks at its signals every 0.5 s, then signals the workers
    status, probes = await _refused_status(gw)
    assert status == 503
    # sessions in flight keep working during the drain, whichever worker holds them
    for ws, transcript in zip(clients, seen):
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}).decode())
        await until(ws, "session.updated", transcript)
    for ws, transcript in zip(clients, seen):
        await read_until_closed(ws, 10.0, transcript)
    for transcript in seen:
        assert transcript.close_code == 1001 and transcript.errors() == ["server_shutting_down"]
        assert 2.0 <= (transcript.closed_at or 0) - term_at < 5.0
    code = await asyncio.to_thread(gw.proc.wait, 15)
    assert code == 0
    print(f"MEASURE multi-worker drain: process exit {time.monotonic() - term_at:.3f}s after SIGTERM (drain 2s)")
    reasons = sorted(r["end_reason"] for r in wait_records(own_redis, prefix, len(clients) + probes))
    assert reasons == sorted(["server_shutting_down"] * len(clients) + ["client_closed"] * probes)
