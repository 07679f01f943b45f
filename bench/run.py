"""``make bench``: the same paced echo load through the upstream directly, nginx, and the gateway.

Writes ``bench/results/latest.json``, ``bench/results/latest.png``, ``bench/RESULTS.md`` and, when
the gateway runs, ``bench/PROFILE.md`` (``--quick`` writes ``quick.*`` files beside them instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import nginx, peers, phases, plot, profile, report, targets
from bench.phases import LoadShape, Target
from bench.procs import LOADGEN_CORE, Proc, pin_self

HERE = Path(__file__).resolve().parent
KEY = "vg-bench-key-0123456789"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The bench's command line."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="~1-2 minute run: fewer N, shorter windows, 1 worker")
    p.add_argument("--sessions", help="comma-separated N (default 1,50,100,200,400; quick 1,100,200)")
    p.add_argument("--workers", help="gateway worker counts to run (default 1,2; quick 1)")
    p.add_argument("--warmup", type=float, help="seconds of load before measuring (default 2; quick 1)")
    p.add_argument("--duration", type=float, help="measured seconds per row (default 8; quick 3)")
    p.add_argument("--idle-sessions", type=int, help="idle sessions for the memory row (default 200; quick 100)")
    p.add_argument("--loadgen-procs", type=int, default=1, help="load-generator processes (all on core 0)")
    p.add_argument("--upstream", choices=sorted(targets.UPSTREAMS), default="picows",
                   help="echo upstream: picows (lean, default) or the project's emulator in echo mode")
    p.add_argument("--redis-url", default="auto",
                   help="gateway store: auto (local Redis if it answers, else in-process), none, or a URL")
    p.add_argument("--nice", type=int, default=-10,
                   help="niceness of the bench and everything it starts (as root; shields the run from other "
                        "work on a shared machine; 0 to leave it)")
    p.add_argument("--peers", default="", help="comma-separated peer gateways to measure too: "
                   f"{', '.join(sorted(peers.STARTERS))} (installed on first use under bench/.peers/)")
    p.add_argument("--no-nginx", action="store_true")
    p.add_argument("--no-gateway", action="store_true")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md, PROFILE.md and results/ go")
    args = p.parse_args(argv)
    q = args.quick
    args.sessions = [int(x) for x in (args.sessions or ("1,100,300" if q else "1,50,100,200,300,400")).split(",")]
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = sorted(set(args.peers) - set(peers.STARTERS))
    if unknown:
        p.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(sorted(peers.STARTERS))}")
    args.workers = [int(x) for x in (args.workers or ("1" if q else "1,2")).split(",")]
    args.warmup = args.warmup if args.warmup is not None else (1.0 if q else 2.0)
    args.duration = args.duration if args.duration is not None else (3.0 if q else 8.0)
    args.idle_sessions = args.idle_sessions or (100 if q else 200)
    return args


def machine_info() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def redis_choice(value: str) -> str | None:
    """The Redis URL the gateway gets (``None``: its in-process store)."""
    if value == "none":
        return None
    if value == "auto":
        return "redis://127.0.0.1:6379/14" if targets.redis_reachable() else None
    return value


def set_niceness(value: int) -> None:
    """Raise (or keep) the priority of this process and all it starts; needs root for values below 0."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, value)
    except PermissionError:
        log(f"cannot set niceness {value} (not root); other work on this machine may disturb the numbers")


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def start_all(args: argparse.Namespace, root: Path, notes: list[str]) -> tuple[list[Proc], list[Target], dict[str, object]]:
    """Upstream, nginx, gateways; a target that cannot start is noted and left out."""
    procs: list[Proc] = []
    extra: dict[str, object] = {}
    upstream, port, floor = targets.start_upstream(args.upstream, root, KEY)
    procs.append(upstream)
    found: list[Target] = [floor]
    if not args.no_nginx:
        target = targets.start_nginx(upstream, port, root, KEY)
        procs.append(target.proc)
        found.append(target)
        extra["nginx"] = targets.nginx_version(nginx.nginx_binary())
    for name in args.peers:
        try:
            target = peers.STARTERS[name](upstream, port, root, KEY)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot serve is reported, not fatal
            notes.append(f"peer {name} did not serve sessions, left out: {str(exc).splitlines()[0][:300]}")
            log(notes[-1])
            continue
        procs.append(target.proc)
        found.append(target)
        if target.ready_on_open:
            notes.append(f"{target.name} loses what the upstream sends before it attaches the client's socket "
                         "(session.created included): its set-up time is measured to the handshake's completion.")
    redis_url = redis_choice(args.redis_url)
    extra["gateway_store"] = "Redis (local server)" if redis_url else "in-process"
    for workers in [] if args.no_gateway else args.workers:
        try:
            target = targets.start_gateway(workers, upstream, port, root, KEY, redis_url)
        except Exception as exc:  # noqa: BLE001 - a gateway that cannot serve is reported, not fatal
            notes.append(f"gateway with {workers} worker(s) did not serve sessions, left out: "
                         f"{str(exc).splitlines()[0][:300]}")
            log(notes[-1])
            continue
        procs.append(target.proc)
        found.append(target)
    return procs, found, extra


def profile_gateway(target: Target, shape: LoadShape, out: Path, root: Path) -> str | None:
    """py-spy on the gateway while 100 sessions stream; the Markdown, or ``None`` when py-spy fails."""
    holder: dict[str, str] = {}

    def sample() -> None:
        time.sleep(shape.warmup_s + 1.0)
        try:
            holder["stacks"] = profile.record(target.proc.pid, shape.duration_s, root / "profile.txt")
        except Exception as exc:  # noqa: BLE001 - reported in the notes
            holder["error"] = str(exc)

    thread = threading.Thread(target=sample)
    thread.start()
    row = phases.run_load(target, 100, LoadShape(shape.warmup_s, shape.duration_s + 2.0, shape.loadgen_procs))
    thread.join()
    if "stacks" not in holder:
        log(f"profile failed: {holder.get('error')}")
        return None
    own, total, samples = profile.top_frames(holder["stacks"])
    title = (f"CPU profile of the gateway under 100 sessions ({row['target_cpu_pct']:.0f}% of a core, "
             f"RTT p99 {row['rtt_ms']['p99']:.2f} ms)")  # type: ignore[index]
    return profile.render(title, own, total, samples)


def measure(args: argparse.Namespace, found: list[Target], shape: LoadShape,
            errors: list[str]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Idle rows first (before load leaves memory behind), then every N for every target in turn."""
    idle = []
    for target in found:
        log(f"idle: {args.idle_sessions} sessions on {target.name}")
        idle.append(phases.run_idle(target, args.idle_sessions))
    load = []
    for n in args.sessions:
        for target in found:
            log(f"load: {n} sessions on {target.name}")
            try:
                row = phases.run_load(target, n, shape)
            except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
                log(f"  failed: {exc!r}")
                errors.append(f"{target.name} @ {n}: the row failed ({exc!r}) and is missing")
                continue
            log(f"  RTT p50 {row['rtt_ms']['p50']:.2f} ms p99 {row['rtt_ms']['p99']:.2f} ms, "  # type: ignore[index]
                f"CPU {row['target_cpu_pct']:.0f}%, lost {row['lost']}")
            load.append(row)
            time.sleep(0.5)
    return idle, load


def saturation_notes(load: list[dict[str, object]]) -> list[str]:
    """Rows where the load core itself was nearly full, so the round trip also measures the bench."""
    notes = []
    for row in load:
        busy = row["core_busy_pct"].get(str(LOADGEN_CORE), 0.0)  # type: ignore[union-attr]
        if busy > 90:
            notes.append(f"{row['target']} @ {row['sessions']}: the load core was {busy:.0f}% busy "
                         "(load generator + upstream + other processes): that row is bounded by the bench, "
                         "not only by the relay.")
    return notes


def main(argv: list[str] | None = None) -> int:
    """Run everything, write the results, print the Markdown."""
    args = parse_args(argv)
    pin_self(LOADGEN_CORE)
    set_niceness(args.nice)
    shape = LoadShape(args.warmup, args.duration, args.loadgen_procs)
    notes: list[str] = []
    stem = "quick" if args.quick else "latest"
    results_dir = args.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vg-bench-") as tmp:
        root = Path(tmp)
        procs, found, extra = start_all(args, root, notes)
        try:
            idle, load = measure(args, found, shape, notes)
            gateway = next((t for t in found if t.name == "gateway"), None)
            prof = None if gateway is None or args.no_profile else profile_gateway(gateway, shape, results_dir, root)
        finally:
            for proc in reversed(procs):
                proc.stop()
    notes += saturation_notes(load)
    results: dict[str, object] = {
        "machine": machine_info() | {"nginx": extra.get("nginx", "–")},
        "config": {"quick": args.quick, "sessions": args.sessions, "workers": args.workers,
                   "targets": [t.name for t in found], "upstream": args.upstream,
                   "warmup_s": args.warmup, "duration_s": args.duration, "idle_sessions": args.idle_sessions,
                   "loadgen_procs": args.loadgen_procs, "gateway_store": extra.get("gateway_store")},
        "notes": notes, "idle": idle, "load": load,
    }
    phases.write_json(results_dir / f"{stem}.json", results)
    plot.plot(load, results_dir / f"{stem}.png", f"Round trip per 20 ms frame ({results['machine']['cpu']}, "  # type: ignore[index]
              f"relay pinned to one core)")
    markdown = report.render(results).replace("results/latest.png", f"results/{stem}.png")
    (args.out / ("RESULTS.md" if not args.quick else "results/QUICK.md")).write_text(markdown)
    if prof is not None:
        (args.out / ("PROFILE.md" if not args.quick else "results/QUICK-PROFILE.md")).write_text(prof)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
