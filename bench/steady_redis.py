"""The gateway's Redis traffic and CPU under steady paced load (what the accounting flush costs per second).

``python -m bench.steady_redis`` starts the echo upstream and a one-worker gateway on the local Redis (as
``make bench`` does), runs N paced voice sessions (the bench's load shape) and reports over the measured window:

- the Redis commands the gateway sent per second, by command, counted with ``MONITOR`` on the run's own key
  prefix (commands a Lua script runs inside Redis are counted apart; a pipeline's commands are each listed),
- the gateway's CPU (``/proc`` ticks over the window: wall-clock based, noisy on a shared host),
- the round-trip p50/p99 the load generator saw.

``redis_reads_per_s`` is the server's ``INFO stats`` ``total_reads_processed`` delta per second over the window
(every client's socket reads, so it includes this tool's ``MONITOR`` connection's few and other users of the
server): it shows round trips, which a pipeline cuts while ``MONITOR`` still lists each of its commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import redis

from bench import phases, targets
from bench.procs import LOADGEN_CORE, pin_self
from bench.setup_cost import monitored_gateway


def _reads(client: "redis.Redis[bytes]") -> int:
    return int(client.info("stats")["total_reads_processed"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = p.parse_args(argv)
    pin_self(LOADGEN_CORE)
    if not targets.redis_reachable():
        print("no Redis on 127.0.0.1:6379", file=sys.stderr)
        return 1
    server = redis.Redis(host="127.0.0.1", port=6379)
    with monitored_gateway(args.redis_url, "vg-steady-") as (gateway, monitor):
        marks: dict[str, tuple[Counter[str], Counter[str], int, float]] = {}

        # run_load measures its own window; the Redis counts are taken around the same window here
        def mark(name: str) -> None:
            assert monitor is not None
            calls, lua = monitor.snapshot()
            marks[name] = (calls, lua, _reads(server), time.monotonic())

        original = phases._snapshot

        def snapshot(target: phases.Target) -> tuple[object, ...]:
            mark("after" if "before" in marks else "before")
            return original(target)

        phases._snapshot = snapshot  # type: ignore[assignment]
        try:
            row = phases.run_load(gateway, args.sessions, phases.LoadShape(args.warmup, args.duration))
        finally:
            phases._snapshot = original  # type: ignore[assignment]
    (c0, l0, r0, t0), (c1, l1, r1, t1) = marks["before"], marks["after"]
    window = t1 - t0
    calls, lua = c1 - c0, l1 - l0
    print(json.dumps({
        "sessions": args.sessions, "connected": row["connected"], "failed": row["failed"], "window_s": round(window, 2),
        "gateway_cpu_pct": round(float(row["target_cpu_pct"]), 1),  # type: ignore[arg-type]
        "rtt_ms": row["rtt_ms"],
        "redis_commands_per_s": round(sum(calls.values()) / window, 1),
        "redis_commands_per_s_by_command": {k: round(v / window, 1) for k, v in sorted(calls.items())},
        "redis_lua_calls_per_s": round(sum(lua.values()) / window, 1),
        "redis_reads_per_s": round((r1 - r0) / window, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
