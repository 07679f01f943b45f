"""The accounting flush's own cost per pass, on a real Redis: for instruction counts, round trips and CPU time.

N metered sessions of one tenant (admitted, so they hold leases) on an :class:`AccountingService` over the local
Redis (its own key prefix, removed afterwards); each pass moves every session's cost on by a micro-dollar (as
the ticks do between two flushes of a talking session) and runs one ``sync()`` (the flush loop's pass: probe,
checkpoints, heartbeat when due, records; the service's wall clock is frozen, so only the first pass probes and
heartbeats). ``--tenants`` spreads the sessions over that many tenants, ``--budget``
gives them a daily budget.

It prints the CPU time per pass (noisy on a shared host) and the Redis round trips per pass (the server's
``total_reads_processed`` delta: other clients of the server add to it). For instruction counts run it under
callgrind with and without passes and subtract (the set-up is the same both times)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.flush_cost --passes 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.flush_cost --passes 100

(instructions per pass = (Ir − Ir_no_passes) / passes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

import uvloop
from redis.asyncio import Redis

from gateway.accounting.limits import TenantLimits
from gateway.accounting.service import AccountingService
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionInfo
from gateway.core.routing import Caps, Route, RouteDecision
from gateway.policy.catalog import load_catalog
from gateway.settings import Settings
from gateway.store.accounting_store import AccountingStore
from gateway.store.connect import redis_client
from gateway.store.keyspace import KeySpace
from tests.support.accounting import ROOT


async def _reads(server: Redis) -> int:
    return int((await server.info("stats"))["total_reads_processed"])


async def run(url: str, sessions: int, passes: int, tenants: int, budget: bool) -> dict[str, object]:
    prefix = f"vgflush{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, redis_url=url)  # type: ignore[call-arg]
    store = AccountingStore(redis_client(url), KeySpace(prefix))
    frozen = time.time()  # the service's wall stands still: the probe and heartbeat run in the first pass only, so
    # every measured pass is the checkpoints alone whatever callgrind's slowdown does to the real clock
    accounting = AccountingService(settings, load_catalog(ROOT / "config" / "models.yaml"), store, wall=lambda: frozen)
    limits = TenantLimits(daily_budget_micros=10**12) if budget else TenantLimits()
    server = Redis.from_url(url)
    try:
        for i in range(sessions):
            sid, tenant = f"sess_{i}", f"tenant_{i % tenants}"
            await accounting.admission.admit(sid, tenant, "key_1", limits, frozen)
            route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",), caps=Caps())
            info = SessionInfo(session_id=sid, endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME,
                               dialect=Dialect.GA, requested_model=None,
                               decision=RouteDecision(rule_id="r", reason="bench", route=route), route=route,
                               tenant=tenant, key_id="key_1", caps=Caps())
            accounting.observer_factory.create(info, 0.0)
        await accounting.sync()  # the first checkpoints and the scripts' loading are not a steady pass
        live = list(accounting.ledger.sessions.values())
        reads0, cpu0 = await _reads(server), time.process_time()
        for _ in range(passes):
            for session in live:
                accounting.ledger.set_cost(session, session.cost_micros + 1)
            await accounting.sync()
        cpu, reads = time.process_time() - cpu0, await _reads(server) - reads0 - 1  # the second INFO's own read
        assert all(s.unflushed_micros == 0 for s in live), "a pass left spend unflushed"
    finally:
        keys = [key async for key in server.scan_iter(match=f"{prefix}:*")]
        if keys:
            await server.delete(*keys)
        await server.aclose()
        await store.close()
    per = max(passes, 1)
    return {"sessions": sessions, "tenants": tenants, "passes": passes, "budget": budget,
            "cpu_us_per_pass": round(1e6 * cpu / per, 1), "redis_reads_per_pass": round(reads / per, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--passes", type=int, default=100)
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--budget", action="store_true")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = p.parse_args(argv)
    # the gateway's event loop (uvicorn's ``loop="uvloop"``): its socket calls cost less than asyncio's own
    print(json.dumps(uvloop.run(run(args.redis_url, args.sessions, args.passes, args.tenants, args.budget)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
