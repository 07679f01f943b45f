"""What one session set-up costs the gateway, in measures a busy host does not blur much.

``python -m bench.setup_cost`` starts the echo upstream and a one-worker gateway (as ``make bench``
does, on Redis when one answers), then opens idle sessions with 25 handshakes in flight, several
rounds, and reports per handshake:

- the gateway's CPU time (``/proc`` ticks over the rounds ÷ sessions: a CPU cost, not a wall time),
- its Redis commands and round trips, counted with ``MONITOR`` on the run's own key prefix
  (commands a Lua script runs inside Redis are listed apart: they are not round trips),
- the set-up p50/p99 the load generator saw (wall time: noisy on a shared host),
- optionally (``--py-spy``) the hottest frames of the gateway while handshakes run.

``--callgrind`` instead runs the gateway under callgrind with collection off, switches it on for the
rounds of set-ups (and apart for their closes) and prints instructions per session: a figure a busy host
does not move (the sessions are opened 25 at a time as in the bench; only the count is meaningful then).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import contextlib
import socket
import subprocess
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench import phases, profile, targets
from bench.otlp_sink import exporting_env, otlp_sink
from bench.procs import LOADGEN_CORE, TARGET_CORE, free_port, pin_self, start, wait_port
from bench.phases import Target
from bench.procstat import CLOCK_TICKS, sample_tree

KEY = "vg-bench-key-0123456789"


def monitored_command(line: bytes, prefix: bytes) -> tuple[str, bool] | None:
    """A ``MONITOR`` line's command and whether a Lua script ran it; ``None`` when it names no key of ``prefix``.

    ``+1700000000.123 [0 127.0.0.1:5555] "EVALSHA" "sha" ...`` is a round trip; ``[0 lua] "GET" ...`` is not.
    """
    if prefix not in line:
        return None
    head, _, rest = line.partition(b"] ")
    command = rest.split(b" ", 1)[0].strip(b'"').decode(errors="replace").upper()
    return command, head.endswith(b" lua")


def callgrind_total(shown: str) -> int:
    """The instructions of every thread in ``callgrind_control -e Ir`` output (``   Th 1  282,164,015``)."""
    total = 0
    for line in shown.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "Th" and words[2].replace(",", "").isdigit():
            total += int(words[2].replace(",", ""))
    return total


class Monitor:
    """``MONITOR`` on a Redis server, keeping the commands that name ``prefix`` (client calls and Lua calls apart)."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix.encode()
        self.calls: Counter[str] = Counter()
        self.lua: Counter[str] = Counter()
        self._sock = socket.create_connection((host, port))
        self._sock.sendall(b"MONITOR\r\n")
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        while not self._stop:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                seen = monitored_command(line, self.prefix)
                if seen is not None:
                    command, from_lua = seen
                    (self.lua if from_lua else self.calls)[command] += 1

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        return Counter(self.calls), Counter(self.lua)

    def close(self) -> None:
        self._stop = True
        self._sock.close()


@contextlib.contextmanager
def monitored_gateway(redis_url: str | None, tmp_prefix: str) -> Iterator[tuple[Target, Monitor | None]]:
    """A picows echo upstream and one gateway worker on ``redis_url``, with ``MONITOR`` on the gateway's own keys
    (``None`` without Redis); all stopped on leaving."""
    with tempfile.TemporaryDirectory(prefix=tmp_prefix) as tmp:
        root = Path(tmp)
        upstream, port, _ = targets.start_upstream("picows", root, KEY)
        gateway: Target | None = None
        monitor: Monitor | None = None
        try:
            gateway = targets.start_gateway(1, upstream, port, root, KEY, redis_url)
            prefix = targets.gateway_env(KEY, port, redis_url).get("VOICE_GATEWAY_REDIS_KEY_PREFIX", "")
            monitor = Monitor("127.0.0.1", 6379, prefix + ":") if redis_url else None
            yield gateway, monitor
        finally:
            if monitor is not None:
                monitor.close()
            if gateway is not None:
                gateway.proc.stop()
            upstream.stop()


def _spy(pid: int, seconds: float, out: Path) -> str:
    """py-spy at 1 kHz on the gateway (idle stacks left out); the collapsed stacks."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = ["taskset", "-c", str(LOADGEN_CORE), binary, "record", "--pid", str(pid), "--duration",
            str(max(1, round(seconds))), "--rate", "1000", "--format", "raw", "--nonblocking", "--output", str(out)]
    subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return out.read_text()


def _callgrind(args: argparse.Namespace, redis_url: str | None) -> int:
    """Instructions per session set-up and per close, counted by callgrind in the gateway process."""
    with tempfile.TemporaryDirectory(prefix="vg-setup-cg-") as tmp:
        root = Path(tmp)
        upstream, upstream_port, _ = targets.start_upstream("picows", root, KEY)
        port = free_port()
        out = root / "callgrind.out"
        code = f"import sys; from gateway.server import serve; sys.exit(serve(host='127.0.0.1', port={port}, workers=1))"
        if args.no_tick:  # the open sessions' shared tick every hour instead of every 100 ms: set-up work alone
            code = ("import gateway.relay.live_sessions as m; d = m.LiveSessions.__init__.__defaults__; "
                    "m.LiveSessions.__init__.__defaults__ = (3600.0, *d[1:]); " + code)
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
                sys.executable, "-c", code]
        env = targets.gateway_env(KEY, upstream_port, redis_url) | {"PYTHONPATH": str(Path.cwd()), "PYTHONHASHSEED": "0"}
        if args.tracing:  # as make bench runs it: spans and metrics exported over OTLP to a sink in this process
            env |= exporting_env(otlp_sink())
        proc = start("gateway-callgrind", argv, TARGET_CORE, root, env=env)
        counts: dict[str, int] = {}
        try:
            wait_port(proc, port, timeout_s=600)
            gateway = phases.Target("gateway", f"ws://127.0.0.1:{port}{targets.MODEL_PATH}", KEY, proc, upstream)
            phases.run_idle(gateway, 10, settle_s=2.0)  # warm every path
            time.sleep(3.0)
            for phase in ("setup", "close"):
                counts[phase] = 0
            failed = 0
            for _ in range(args.rounds):
                _toggle(proc.pid, "on")
                _collected(proc.pid, zero_only=True)
                gens = phases._start_loadgens(gateway, args.sessions, phases.LoadShape(0.0, 0.0),
                                              concurrency=args.in_flight)
                time.sleep(args.hold)
                counts["setup"] += _collected(proc.pid, dump="setup" if args.callgrind_out else None)
                results = phases._finish(gens, "QUIT")
                failed += sum(int(r.get("failed", 0)) for r in results)  # type: ignore[call-overload]
                time.sleep(5.0)
                counts["close"] += _collected(proc.pid)
                _toggle(proc.pid, "off")
        finally:
            proc.stop()
            upstream.stop()
            if args.callgrind_out is not None:  # the set-up windows' dumps, for callgrind_annotate --inclusive=yes
                args.callgrind_out.mkdir(parents=True, exist_ok=True)
                for dump in root.glob("callgrind.out.*"):
                    shutil.copy(dump, args.callgrind_out / dump.name)
    n = args.sessions * args.rounds
    print(json.dumps({"sessions": n, "failed": failed, "in_flight": args.in_flight, "hold_s": args.hold, "tick": not args.no_tick,
                      "tracing": args.tracing, "store": "redis" if redis_url else "in-process",
                      "instructions_per_setup": counts["setup"] // n,
                      "instructions_per_close": counts["close"] // n}, indent=2))
    return 0


#: the gateway's prologue under ``--cprofile``: SIGUSR1 starts the profiler, SIGUSR2 stops it and writes the stats; the
#: timer is the thread's CPU time, so time the gateway spends descheduled on a shared core is not counted
_CPROFILE_PROLOGUE = (
    "import cProfile, signal, sys, time; _p = cProfile.Profile(time.thread_time_ns, 1e-9); "
    "signal.signal(signal.SIGUSR1, lambda *a: _p.enable()); "
    "signal.signal(signal.SIGUSR2, lambda *a: (_p.disable(), _p.dump_stats(sys.argv[1]))); "
)


def _cprofile(args: argparse.Namespace, redis_url: str | None) -> int:
    """The gateway's Python functions during the set-up rounds (cProfile: deterministic, but its overhead inflates
    many small calls against a few native ones; read it for the call tree, take costs from ``--callgrind``)."""
    with tempfile.TemporaryDirectory(prefix="vg-setup-prof-") as tmp:
        root = Path(tmp)
        upstream, upstream_port, _ = targets.start_upstream("picows", root, KEY)
        port = free_port()
        code = _CPROFILE_PROLOGUE + (
            "import gateway.relay.live_sessions as m; d = m.LiveSessions.__init__.__defaults__; "
            "m.LiveSessions.__init__.__defaults__ = (3600.0, *d[1:]); "
            f"from gateway.server import serve; sys.exit(serve(host='127.0.0.1', port={port}, workers=1))")
        env = targets.gateway_env(KEY, upstream_port, redis_url) | {"PYTHONPATH": str(Path.cwd())}
        if args.tracing:
            env |= exporting_env(otlp_sink())
        proc = start("gateway-cprofile", [sys.executable, "-c", code, str(args.cprofile.resolve())], TARGET_CORE, root,
                     env=env)
        try:
            wait_port(proc, port, timeout_s=60)
            gateway = phases.Target("gateway", f"ws://127.0.0.1:{port}{targets.MODEL_PATH}", KEY, proc, upstream)
            phases.run_idle(gateway, 10, settle_s=1.0)
            time.sleep(1.0)
            assert proc.pid is not None
            for _ in range(args.rounds):
                os.kill(proc.pid, signal.SIGUSR1)
                gens = phases._start_loadgens(gateway, args.sessions, phases.LoadShape(0.0, 0.0),
                                              concurrency=args.in_flight)
                time.sleep(args.hold)
                os.kill(proc.pid, signal.SIGUSR2)
                phases._finish(gens, "QUIT")
                time.sleep(2.0)
        finally:
            proc.stop()
            upstream.stop()
    print(f"cProfile stats of {args.sessions * args.rounds} set-ups in {args.cprofile} (the last round's window)")
    return 0


def _toggle(pid: int, state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], capture_output=True, check=True, timeout=120)


def _collected(pid: int, zero_only: bool = False, dump: str | None = None) -> int:
    """Instructions (all threads) collected since the last zeroing; zeroes the counters (``dump``: writes them to a
    callgrind file first, ``dump`` its trigger name)."""
    shown = "" if zero_only else subprocess.run(["callgrind_control", "-e", "Ir", str(pid)], capture_output=True,
                                                 text=True, check=True, timeout=120).stdout
    action = ["-d", dump] if dump is not None else ["-z"]
    subprocess.run(["callgrind_control", *action, str(pid)], capture_output=True, check=True, timeout=120)
    if zero_only:
        return 0
    total = callgrind_total(shown)
    if total == 0:
        raise RuntimeError(f"no counters in callgrind_control's answer: {shown!r}")
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=200, help="idle sessions per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--py-spy", type=Path, help="write py-spy's collapsed stacks of the gateway here")
    p.add_argument("--callgrind", action="store_true", help="count instructions per set-up and close instead")
    p.add_argument("--hold", type=float, default=2.0,
                   help="--callgrind: seconds the set-up window stays open after the last session is up (the open "
                        "sessions' shared tick runs meanwhile; 0 counts the set-ups and the ticks during them only)")
    p.add_argument("--in-flight", type=int, default=phases.IDLE_HANDSHAKES_IN_FLIGHT,
                   help="--callgrind: handshakes in flight (1: one set-up at a time, the steadiest count)")
    p.add_argument("--tracing", action="store_true",
                   help="--callgrind: the gateway exports spans and metrics over OTLP to a sink, as under make bench")
    p.add_argument("--no-tick", action="store_true",
                   help="--callgrind: no shared tick of open sessions (it runs on wall time, which callgrind stretches "
                        "~50×, so its share of a window moves with the host's load): the set-up's own work only")
    p.add_argument("--cprofile", type=Path,
                   help="write cProfile stats of the gateway during the set-up rounds here (with --hold, --in-flight)")
    p.add_argument("--callgrind-out", type=Path,
                   help="--callgrind: keep the set-up windows' callgrind dumps in this directory (per-function costs)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="'none': the gateway's in-process store")
    args = p.parse_args(argv)
    pin_self(LOADGEN_CORE)
    redis_url = None if args.redis_url == "none" or not targets.redis_reachable() else args.redis_url
    if args.callgrind:
        return _callgrind(args, redis_url)
    if args.cprofile is not None:
        return _cprofile(args, redis_url)
    with monitored_gateway(redis_url, "vg-setup-") as (gateway, monitor):
        phases.run_idle(gateway, 50, settle_s=0.5)  # warm: imports, caches, the first sessions' paths
        time.sleep(1.0)
        stacks: list[str] = []
        calls0, lua0 = monitor.snapshot() if monitor else (Counter(), Counter())
        setups: list[float] = []
        ticks = close_ticks = 0
        kib: list[float] = []
        for _ in range(args.rounds):
            spy = None
            if args.py_spy is not None:  # sampled while the sessions are set up, not while they close
                spy = threading.Thread(target=lambda: stacks.append(_spy(gateway.proc.pid, 2.0, args.py_spy)))
                spy.start()
                time.sleep(0.3)
            before = sample_tree(gateway.proc.pid)
            gens = phases._start_loadgens(gateway, args.sessions, phases.LoadShape(0.0, 0.0),
                                          concurrency=phases.IDLE_HANDSHAKES_IN_FLIGHT)
            if spy is not None:
                spy.join()
            time.sleep(1.0)
            held = sample_tree(gateway.proc.pid)
            results = phases._finish(gens, "QUIT")
            time.sleep(1.0)
            ticks += held.cpu_ticks - before.cpu_ticks
            close_ticks += sample_tree(gateway.proc.pid).cpu_ticks - held.cpu_ticks
            setups.append(round(statistics.median(float(x) for r in results for x in r["setup_ms"]), 2))  # type: ignore[attr-defined]
            kib.append((held.rss_bytes - before.rss_bytes) / 1024 / args.sessions)
        time.sleep(1.0)
        calls1, lua1 = monitor.snapshot() if monitor else (Counter(), Counter())
    n = args.sessions * args.rounds
    calls, lua = calls1 - calls0, lua1 - lua0
    result = {
        "sessions": n, "store": "redis" if redis_url else "in-process",
        "setup_cpu_ms_per_session": 1000.0 * ticks / CLOCK_TICKS / n,
        "close_cpu_ms_per_session": 1000.0 * close_ticks / CLOCK_TICKS / n,
        "setup_p50_ms_per_round": setups, "kib_per_session_per_round": kib,
        "redis_calls_per_session": {k: round(v / n, 2) for k, v in sorted(calls.items())},
        "redis_lua_calls_per_session": {k: round(v / n, 2) for k, v in sorted(lua.items())},
        "note": "redis calls cover the whole session (set-up and close)",
    }
    print(json.dumps(result, indent=2))
    if stacks:
        args.py_spy.write_text("\n".join(stacks))
        own, total, samples = profile.top_frames("\n".join(stacks), limit=40)
        print(profile.render("gateway during idle-session set-up", own, total, samples, rows=40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
