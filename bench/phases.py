"""One measurement phase against one target: paced load or idle sessions (the I/O side)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import LOADGEN_CORE, TARGET_CORE, Proc, own_scheduling_group, python
from bench.procstat import CLOCK_TICKS, TreeSample, cpu_percent, read_core_busy, sample_tree
from bench.stats import summarize

_RESULTS: dict[int, Path] = {}


@dataclass(frozen=True)
class Target:
    """Something to measure: where clients connect and which process tree is under test."""

    name: str
    url: str
    key: str
    proc: Proc
    upstream: Proc
    #: extra handshake headers the target needs (a peer gateway's provider and upstream address)
    headers: tuple[tuple[str, str], ...] = ()
    #: a session is set up when its handshake completes (the relay drops ``session.created``)
    ready_on_open: bool = False


@dataclass(frozen=True)
class LoadShape:
    """Timing of a load phase."""

    warmup_s: float
    duration_s: float
    loadgen_procs: int = 1


def _spawn(target: Target, sessions: int, offset: int, shape: LoadShape, concurrency: int) -> subprocess.Popen[str]:
    """One load-generator process, pinned to the load core; its result file is ``<pid>.json`` in a temp dir."""
    result = Path(tempfile.mkdtemp(prefix="vg-loadgen-")) / "result.json"
    argv = ["taskset", "-c", str(LOADGEN_CORE), python(), "-m", "bench.loadgen", "--url", target.url,
            "--key", target.key, "--sessions", str(sessions), "--offset", str(offset),
            "--warmup", str(shape.warmup_s), "--duration", str(shape.duration_s),
            "--concurrency", str(concurrency), "--result", str(result)]
    if target.ready_on_open:
        argv += ["--ready", "open"]
    for name, value in target.headers:
        argv += ["--header", f"{name}: {value}"]
    gen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=own_scheduling_group)
    _RESULTS[gen.pid] = result
    return gen


def _start_loadgens(target: Target, sessions: int, shape: LoadShape, concurrency: int) -> list[subprocess.Popen[str]]:
    """Split the sessions over the load-generator processes and wait until all are connected."""
    procs = max(1, min(shape.loadgen_procs, sessions))
    counts = [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]
    offsets = [sum(counts[:i]) for i in range(procs)]
    gens = [_spawn(target, c, o, shape, concurrency) for c, o in zip(counts, offsets)]
    for gen in gens:
        line = gen.stdout.readline() if gen.stdout else ""
        if not line:
            raise RuntimeError(f"load generator for {target.name} died before connecting")
        json.loads(line)
    return gens


def _finish(gens: list[subprocess.Popen[str]], command: str) -> list[dict[str, object]]:
    """Send a command to every load generator and collect their result lines."""
    for gen in gens:
        assert gen.stdin is not None
        try:
            if command:
                gen.stdin.write(command + "\n")
            gen.stdin.close()
        except BrokenPipeError:  # it already finished streaming and exited
            pass
    results = []
    for gen in gens:
        if gen.wait(60) != 0:
            raise RuntimeError(f"load generator exited with {gen.returncode}")
        path = _RESULTS.pop(gen.pid)
        results.append(json.loads(path.read_text()))
        shutil.rmtree(path.parent, ignore_errors=True)
    return results


def _ints(results: list[dict[str, object]], key: str) -> list[int]:
    """Concatenate a list field over the load generators' results."""
    merged: list[int] = []
    for result in results:
        merged.extend(result.get(key, []))  # type: ignore[arg-type]
    return merged


def _total(results: list[dict[str, object]], key: str) -> float:
    """Sum a numeric field over the load generators' results."""
    return float(sum(result.get(key, 0) for result in results))  # type: ignore[misc]


def run_load(target: Target, sessions: int, shape: LoadShape) -> dict[str, object]:
    """N paced sessions: round trips, losses, and the CPU/RSS of target, upstream and cores."""
    gens = _start_loadgens(target, sessions, shape, concurrency=32)
    t0 = time.monotonic_ns() + 300_000_000
    for gen in gens:
        assert gen.stdin is not None
        gen.stdin.write(f"GO {t0}\n")
        gen.stdin.flush()
    time.sleep(max(0.0, (t0 - time.monotonic_ns()) / 1e9 + shape.warmup_s))
    before = _snapshot(target)
    time.sleep(shape.duration_s)
    after = _snapshot(target)
    results = _finish(gens, "")  # they exit after streaming
    window = after[3] - before[3]
    rtt = summarize([us / 1000 for us in _ints(results, "rtt_us")])
    lag = summarize([us / 1000 for us in _ints(results, "lag_us")])
    loadgen_ticks = _total(results, "cpu_percent") * window * CLOCK_TICKS / 100
    upstream_ticks = after[1].cpu_ticks - before[1].cpu_ticks
    target_ticks = 0 if target.proc is target.upstream else after[0].cpu_ticks - before[0].cpu_ticks
    ours = {LOADGEN_CORE: upstream_ticks + loadgen_ticks, TARGET_CORE: target_ticks}
    return {
        "target": target.name, "sessions": sessions, "connected": int(_total(results, "connected")),
        "failed": int(_total(results, "failed")),
        "rtt_ms": rtt.as_dict(), "lag_ms": lag.as_dict(),
        "sent": int(_total(results, "sent")), "received": int(_total(results, "received")),
        "lost": int(_total(results, "lost")), "reordered": int(_total(results, "reordered")),
        "duplicates": int(_total(results, "duplicates")), "closed_early": int(_total(results, "closed_early")),
        "target_cpu_pct": cpu_percent(before[0].cpu_ticks, after[0].cpu_ticks, window),
        "target_rss_mib": after[0].rss_bytes / 2**20,
        "upstream_cpu_pct": cpu_percent(before[1].cpu_ticks, after[1].cpu_ticks, window),
        "loadgen_cpu_pct": _total(results, "cpu_percent"),
        "core_busy_pct": {str(core): 100.0 * (after[2][core] - before[2][core]) / CLOCK_TICKS / window
                          for core in after[2]},
        "foreign_cpu_pct": {str(core): 100.0 * (after[2][core] - before[2][core] - ours.get(core, 0))
                            / CLOCK_TICKS / window for core in after[2]},
    }


def _snapshot(target: Target) -> tuple[TreeSample, TreeSample, dict[int, int], float]:
    """Target tree, upstream tree, per-core busy ticks, and the time."""
    if target.proc is target.upstream:
        tree = sample_tree(target.proc.pid)
        return tree, tree, read_core_busy(), time.monotonic()
    return sample_tree(target.proc.pid), sample_tree(target.upstream.pid), read_core_busy(), time.monotonic()


#: set-up time is measured with this many handshakes in flight
IDLE_HANDSHAKES_IN_FLIGHT = 25


def run_idle(target: Target, sessions: int, settle_s: float = 1.5) -> dict[str, object]:
    """M idle sessions opened a few at a time: set-up times and RSS growth per session."""
    base = sample_tree(target.proc.pid).rss_bytes
    gens = _start_loadgens(target, sessions, LoadShape(0.0, 0.0), concurrency=IDLE_HANDSHAKES_IN_FLIGHT)
    time.sleep(settle_s)
    held = sample_tree(target.proc.pid).rss_bytes
    results = _finish(gens, "QUIT")
    connected = int(_total(results, "connected"))
    setup = summarize(sorted(float(x) for r in results for x in r.get("setup_ms", [])))  # type: ignore[union-attr]
    return {
        "target": target.name, "sessions": sessions, "connected": connected,
        "rss_before_mib": base / 2**20, "rss_held_mib": held / 2**20,
        "kib_per_session": (held - base) / 1024 / max(connected, 1),
        "setup_ms": setup.as_dict(),
    }


def write_json(path: Path, data: dict[str, object]) -> None:
    """Pretty JSON with NaN kept as null."""
    path.write_text(json.dumps(data, indent=2, default=str).replace("NaN", "null") + "\n")
