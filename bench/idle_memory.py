"""What one idle session holds in the gateway's Python heap, by allocation site (tracemalloc).

``python -m bench.idle_memory`` starts the echo upstream and a one-worker gateway that runs under
``tracemalloc`` (as ``make bench`` starts it, otherwise), opens a few sessions to warm every path, takes a
heap snapshot, opens ``--sessions`` idle sessions (25 handshakes in flight, as the bench's idle row),
waits, takes a second snapshot and prints the difference per session: the total, the allocation
sites (file:line) and the files that hold the most. The RSS growth per session is printed too (it also
counts memory outside the Python heap: picows/uvloop buffers, the allocator's own overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import phases, targets
from bench.otlp_sink import exporting_env, otlp_sink
from bench.procs import LOADGEN_CORE, TARGET_CORE, free_port, pin_self, start, wait_port
from bench.procstat import sample_tree

KEY = "vg-bench-key-0123456789"

#: the gateway under tracemalloc: SIGUSR1 writes a heap snapshot to ``$VG_SNAPSHOT.<n>``
_TRACED = """
import os, signal, sys, tracemalloc
tracemalloc.start({frames})
count = [0]
def dump(signum, frame):
    import collections, gc, json, sys
    count[0] += 1
    tracemalloc.take_snapshot().dump(f"{{os.environ['VG_SNAPSHOT']}}.{{count[0]}}")
    census = collections.Counter(type(o).__module__ + "." + type(o).__qualname__ for o in gc.get_objects())
    sizes = collections.Counter()
    for o in gc.get_objects():
        sizes[type(o).__module__ + "." + type(o).__qualname__] += sys.getsizeof(o)
    with open(f"{{os.environ['VG_SNAPSHOT']}}.{{count[0]}}.types", "w") as out:
        json.dump({{"count": census, "size": sizes}}, out)
    open(f"{{os.environ['VG_SNAPSHOT']}}.{{count[0]}}.done", "w").close()
signal.signal(signal.SIGUSR1, dump)
from gateway.server import serve
sys.exit(serve(host='127.0.0.1', port={port}, workers=1))
"""


def _snapshot(pid: int, base: Path, n: int) -> tuple[tracemalloc.Snapshot, dict[str, dict[str, int]]]:
    """The heap snapshot and the census of objects the collector tracks (count and shallow size by type)."""
    os.kill(pid, signal.SIGUSR1)
    done = Path(f"{base}.{n}.done")
    for _ in range(600):
        if done.exists():
            return tracemalloc.Snapshot.load(f"{base}.{n}"), json.loads(Path(f"{base}.{n}.types").read_text())
        time.sleep(0.1)
    raise RuntimeError("the gateway wrote no heap snapshot")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--frames", type=int, default=1, help="traceback depth kept per allocation")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--tracing", action="store_true", help="the gateway exports spans and metrics over OTLP to a sink, as under make bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="'none': the gateway's in-process store")
    args = p.parse_args(argv)
    pin_self(LOADGEN_CORE)
    redis_url = None if args.redis_url == "none" or not targets.redis_reachable() else args.redis_url
    with tempfile.TemporaryDirectory(prefix="vg-mem-") as tmp:
        root = Path(tmp)
        upstream, upstream_port, _ = targets.start_upstream("picows", root, KEY)
        port = free_port()
        snap = root / "heap"
        env = targets.gateway_env(KEY, upstream_port, redis_url) | {"PYTHONPATH": str(Path.cwd()), "VG_SNAPSHOT": str(snap)}
        if args.tracing:  # as make bench runs it: spans and metrics exported over OTLP to a sink in this process
            env |= exporting_env(otlp_sink())
        proc = start("gateway-traced", [sys.executable, "-c", _TRACED.format(frames=args.frames, port=port)],
                     TARGET_CORE, root, env=env)
        try:
            wait_port(proc, port, timeout_s=120)
            target = phases.Target("gateway", f"ws://127.0.0.1:{port}{targets.MODEL_PATH}", KEY, proc, upstream)
            phases.run_idle(target, 20, settle_s=0.5)  # warm every path (imports, caches, pools)
            time.sleep(2.5)  # a directory and an accounting pass after the warm-up sessions closed
            before, types_before = _snapshot(proc.pid, snap, 1)
            rss_before = sample_tree(proc.pid).rss_bytes
            gens = phases._start_loadgens(target, args.sessions, phases.LoadShape(0.0, 0.0),
                                          concurrency=phases.IDLE_HANDSHAKES_IN_FLIGHT)
            time.sleep(2.5)
            rss_held = sample_tree(proc.pid).rss_bytes
            held, types_held = _snapshot(proc.pid, snap, 2)
            phases._finish(gens, "QUIT")
        finally:
            proc.stop()
            upstream.stop()
    n = args.sessions
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    before, held = before.filter_traces(ignore), held.filter_traces(ignore)
    lines = held.compare_to(before, "lineno")
    files = held.compare_to(before, "filename")
    total = sum(s.size_diff for s in lines)
    print(f"{n} idle sessions{' (tracing on)' if args.tracing else ''}: Python heap +{total / 1024 / n:.1f} KiB per session (tracemalloc); "
          f"RSS +{(rss_held - rss_before) / 1024 / n:.1f} KiB per session")
    print("\n| KiB per session | blocks per session | allocation site |\n|---:|---:|---|")
    for stat in lines[: args.top]:
        frame = stat.traceback[0]
        print(f"| {stat.size_diff / 1024 / n:.2f} | {stat.count_diff / n:.1f} | `{_short(frame.filename)}:{frame.lineno}` |")
    if args.frames > 1:
        for stat in held.compare_to(before, "traceback")[: args.top]:
            print(f"\n{stat.size_diff / 1024 / n:.2f} KiB, {stat.count_diff / n:.1f} blocks per session:")
            for frame in stat.traceback[-args.frames:]:
                print(f"    {_short(frame.filename)}:{frame.lineno}")
    print("\n| objects per session | KiB per session (shallow) | type (objects the collector tracks) |\n|---:|---:|---|")
    grown = {t: (types_held["count"].get(t, 0) - types_before["count"].get(t, 0),
                 types_held["size"].get(t, 0) - types_before["size"].get(t, 0)) for t in types_held["count"]}
    for name, (count, size) in sorted(grown.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"| {count / n:.1f} | {size / 1024 / n:.2f} | `{name}` |")
    print("\n| KiB per session | file |\n|---:|---|")
    for stat in files[:15]:
        print(f"| {stat.size_diff / 1024 / n:.2f} | `{_short(stat.traceback[0].filename)}` |")
    return 0


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/wt/", "/work/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


if __name__ == "__main__":
    sys.exit(main())
