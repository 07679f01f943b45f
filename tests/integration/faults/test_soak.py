"""Soak: a few hundred short sessions with faults mixed in against one gateway; nothing leaks, every session is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.faults.conftest import (
    EmulatorStarter,
    OwnRedis,
    Transcript,
    gateway_env,
    open_client,
    open_fds,
    read_until_closed,
    rss_kib,
    tcp_peers,
    start_turn,
    until,
    wait_idle,
    wait_records,
    write_catalog,
)

SESSIONS = 300
CONCURRENCY = 20
WARMUP = 20
SCENARIOS = ["turn"] * 8 + ["upstream_drop"] * 4 + ["client_abort"] * 3 + ["garbage"] * 3 + ["hangup"] * 2


async def _session(gw: GatewayProcess, scenario: str) -> str:
    """Run one scripted session; return what the client observed."""
    model = "gpt-realtime-2.1" if scenario == "upstream_drop" else "gpt-realtime-2"
    seen = Transcript()
    ws = await open_client(gw, f"model={model}")
    try:
        await until(ws, "session.created", seen)
        if scenario == "hangup":
            await ws.close()
            return "closed"
        if scenario == "garbage":
            for frame in ("{", b"\x00\x01", '{"type":"nope"}', "[" * 2000):
                await ws.send(frame)
            await until(ws, "error", seen)
            await ws.close()
            return "closed"
        await start_turn(ws, speech_ms=100)
        if scenario == "client_abort":
            await until(ws, "response.created", seen)
            ws.transport.abort()
            return "aborted"
        if scenario == "upstream_drop":
            await read_until_closed(ws, 10.0, seen)
            return f"closed:{seen.close_code}:{','.join(seen.errors())}"
        await until(ws, "response.done", seen)
        await ws.close()
        return "closed"
    except ConnectionClosed:
        return f"unexpected-close:{ws.close_code}"
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


async def _run(gw: GatewayProcess, scenarios: list[str]) -> Counter[str]:
    gate = asyncio.Semaphore(CONCURRENCY)
    outcomes: Counter[str] = Counter()

    async def one(scenario: str) -> None:
        async with gate:
            outcomes[f"{scenario}->{await _session(gw, scenario)}"] += 1

    await asyncio.gather(*(one(s) for s in scenarios))
    return outcomes


async def test_soak_sessions_with_faults_leak_nothing_and_are_all_recorded(
    gateway_factory: GatewayFactory, emulators: EmulatorStarter, own_redis: OwnRedis, prefix: str, tmp_path: Path
) -> None:
    """300 short sessions (turns, upstream drops, client aborts, garbage, hang-ups), 20 at a time: fds, tasks and RSS settle; 300 records."""
    main = await emulators(reply_ms=300, pace=False)
    dropper = await emulators(reply_ms=300, pace=False, fault="drop", fault_after=12)
    catalog = write_catalog(tmp_path, {"main": main.url})  # type: ignore[attr-defined]
    _route_model(catalog, "gpt-realtime-2.1", "dropper", dropper.url)  # type: ignore[attr-defined]
    gw = gateway_factory(env=gateway_env(store=own_redis, prefix=prefix, catalog=catalog, handshake_rate_per_address=0, handshake_rate_per_key=0))
    assert gw.proc is not None
    pid = gw.proc.pid
    rng = random.Random(7)
    await _run(gw, [rng.choice(SCENARIOS) for _ in range(WARMUP)])
    wait_idle(gw)
    await asyncio.sleep(0.3)
    base_fds, base_rss = open_fds(pid), rss_kib(pid)
    started = time.monotonic()
    scenarios = [rng.choice(SCENARIOS) for _ in range(SESSIONS)]
    outcomes = await _run(gw, scenarios)
    elapsed = time.monotonic() - started
    idle = await asyncio.to_thread(wait_idle, gw, 15.0)
    assert idle["live_sessions"] == 0, idle
    await asyncio.sleep(0.5)
    fds, rss = open_fds(pid), rss_kib(pid)
    print(f"soak: {SESSIONS} sessions in {elapsed:.1f}s; fds {base_fds}->{fds}; rss {base_rss}->{rss} KiB; {dict(outcomes)}")
    assert fds <= base_fds + 3, f"fd leak: {base_fds} -> {fds}"
    ports = {gw.port, main.port, dropper.port}  # type: ignore[attr-defined]
    assert not [p for p in tcp_peers(pid) if p[0] in ports or p[1] in ports], tcp_peers(pid)
    assert rss - base_rss < 30_000, f"RSS grew {rss - base_rss} KiB over {SESSIONS} sessions"
    assert not any("unexpected" in o for o in outcomes), outcomes
    drops = {o for o in outcomes if o.startswith("upstream_drop")}
    assert drops <= {"upstream_drop->closed:1014:upstream_disconnected"}, drops
    found = await asyncio.to_thread(wait_records, own_redis, prefix, WARMUP + SESSIONS, 15.0)
    assert len(found) == WARMUP + SESSIONS
    reasons = Counter(r["end_reason"] for r in found[WARMUP:])
    assert reasons["upstream_dropped"] == scenarios.count("upstream_drop")
    assert reasons["client_closed"] == SESSIONS - scenarios.count("upstream_drop")
    assert len({r["session_id"] for r in found}) == WARMUP + SESSIONS


def _route_model(catalog: Path, model: str, endpoint: str, url: str) -> None:
    """Serve one model from its own endpoint in a test catalog."""
    import yaml

    data = yaml.safe_load(catalog.read_text())
    data["endpoints"][endpoint] = {"url": url, "auth_env": "OPENAI_API_KEY"}
    data["models"][model]["upstreams"] = [endpoint]
    catalog.write_text(yaml.safe_dump(data))
