"""The load generator: N paced sessions over picows (Cython WebSockets) on uvloop, one process.

Protocol with the orchestrator (``bench.run``): connect every session, print one JSON ``ready``
line, then read ``GO <t0_ns>`` (stream from monotonic time t0, write the result JSON, exit) or
``QUIT`` (close, write the set-up times, exit; used for the idle-memory phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.stamp import FRAME_MS, SequenceTracker, append_frame, read_echo

_CREATED = b'"session.created"'
_TICK_NS = 1_000_000


class BenchSession(WSListener):  # type: ignore[misc]
    """One client session: notes ``session.created`` and matches echoed frames to their stamps."""

    def __init__(self, index: int, frames: int, window: tuple[int, int], rtts: list[int],
                 ready_on_open: bool = False) -> None:
        """Track ``frames`` sequence numbers; keep round trips of those in ``window``.

        ``ready_on_open``: the session counts as set up when the handshake completes, for relays that
        lose what the upstream sends before their client socket is attached (``session.created``).
        """
        self.index, self.window, self.rtts, self.ready_on_open = index, window, rtts, ready_on_open
        self.tracker = SequenceTracker(frames)
        self.created = asyncio.get_running_loop().create_future()
        self.transport: WSTransport | None = None
        self.closed_early = False
        self.stopping = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Keep the transport for sending."""
        self.transport = transport
        if self.ready_on_open and not self.created.done():
            self.created.set_result(time.monotonic_ns())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Match an echo, or note ``session.created``."""
        now = time.monotonic_ns()
        if frame.msg_type == WSMsgType.CLOSE:
            self.closed_early = not self.stopping
            transport.disconnect()
            return
        if frame.msg_type != WSMsgType.TEXT:
            return
        payload = frame.get_payload_as_bytes()
        stamp = read_echo(payload)
        if stamp is None:
            if not self.created.done() and _CREATED in payload:
                self.created.set_result(now)
            return
        if self.tracker.record(stamp.seq) and self.window[0] <= stamp.seq < self.window[1]:
            self.rtts.append(now - stamp.sent_ns)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """An unplanned disconnect is reported, never hidden."""
        if not self.stopping:
            self.closed_early = True
        if not self.created.done():
            self.created.set_exception(ConnectionError("closed before session.created"))


@dataclass
class Plan:
    """How many frames each session sends and which of them are measured."""

    rate: int
    warmup_s: float
    duration_s: float
    period_ns: int = field(init=False)
    first: int = field(init=False)
    end: int = field(init=False)

    def __post_init__(self) -> None:
        """Derive the frame counts."""
        self.period_ns = 1_000_000_000 // self.rate
        self.first = round(self.warmup_s * self.rate)
        self.end = self.first + round(self.duration_s * self.rate)


async def open_sessions(args: argparse.Namespace, plan: Plan, rtts: list[int]) -> tuple[list[BenchSession], list[float], int]:
    """Connect every session (bounded concurrency); set-up times in ms and the failure count."""
    gate = asyncio.Semaphore(args.concurrency)
    headers = {"Authorization": f"Bearer {args.key}"} | dict(h.split(": ", 1) for h in args.header)

    async def one(i: int) -> tuple[BenchSession, float] | None:
        async with gate:
            started = time.monotonic_ns()
            try:
                _, listener = await ws_connect(
                    lambda: BenchSession(args.offset + i, plan.end, (plan.first, plan.end), rtts,
                                         ready_on_open=args.ready == "open"), args.url,
                    extra_headers=headers, websocket_handshake_timeout=15)
                created = await asyncio.wait_for(listener.created, 15)
            except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - counted, reported
                print(f"loadgen: session {args.offset + i} failed: {exc!r}", file=sys.stderr)
                return None
            return listener, (created - started) / 1e6

    results = await asyncio.gather(*(one(i) for i in range(args.sessions)))
    ok = [r for r in results if r is not None]
    return [s for s, _ in ok], [ms for _, ms in ok], len(results) - len(ok)


def _cpu_seconds() -> float:
    """This process's user+system CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def stream(sessions: list[BenchSession], plan: Plan, t0: int, lags: list[int]) -> tuple[float, float]:
    """Send every session's frames at its own phase of the 20 ms period; own CPU% and window length.

    The sender wakes on a 1 ms tick (the event loop's timer resolution) and sends every frame that
    is due; how late each left is recorded as send-schedule lag (it is not part of the round trip).
    """
    count = len(sessions)
    schedule = [(i * plan.period_ns // max(count, 1), s) for i, s in enumerate(sessions)]
    cpu_start = wall_start = 0.0
    seq, slot = 0, 0
    while seq < plan.end:
        now = time.monotonic_ns()
        due = now
        while seq < plan.end:
            phase, session = schedule[slot]
            due = t0 + seq * plan.period_ns + phase
            if due > now:
                break
            if slot == 0 and seq == plan.first:
                cpu_start, wall_start = _cpu_seconds(), time.monotonic()
            transport = session.transport
            if transport is not None and not session.closed_early:
                sent = time.monotonic_ns()
                transport.send(WSMsgType.TEXT, append_frame(session.index, seq, sent))
                if seq >= plan.first:
                    lags.append(sent - due)
            slot += 1
            if slot == count:
                slot, seq = 0, seq + 1
        if seq < plan.end:
            await asyncio.sleep(max(due - now, _TICK_NS) / 1e9)
    window = time.monotonic() - wall_start
    return 100.0 * (_cpu_seconds() - cpu_start) / window, window


async def drain(sessions: list[BenchSession], plan: Plan, timeout_s: float) -> None:
    """Wait until every measured frame came back, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    expected = plan.end
    while time.monotonic() < deadline:
        if all(s.tracker.received >= expected or s.closed_early for s in sessions):
            return
        await asyncio.sleep(0.02)


def close_all(sessions: list[BenchSession]) -> None:
    """Disconnect every session."""
    for session in sessions:
        session.stopping = True
        if session.transport is not None:
            session.transport.send_close()
            session.transport.disconnect()


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Connect, wait for the orchestrator's word, stream or quit, and report."""
    plan = Plan(args.rate, args.warmup, args.duration)
    rtts: list[int] = []
    lags: list[int] = []
    sessions, setup_ms, failed = await open_sessions(args, plan, rtts)
    print(json.dumps({"ready": True, "connected": len(sessions), "failed": failed}), flush=True)
    command = (await asyncio.to_thread(sys.stdin.readline)).split()
    result: dict[str, object] = {"sessions": args.sessions, "connected": len(sessions), "failed": failed,
                                 "setup_ms": setup_ms}
    if command and command[0] == "GO":
        cpu, window = await stream(sessions, plan, int(command[1]), lags)
        await drain(sessions, plan, args.drain)
        measured = plan.end - plan.first
        result.update(
            window_s=window, cpu_percent=cpu, rtt_us=[r // 1000 for r in rtts], lag_us=[x // 1000 for x in lags],
            sent=measured * len(sessions),
            received=len(rtts),
            lost=sum(s.tracker.lost(plan.first, plan.end) for s in sessions),
            reordered=sum(s.tracker.reordered for s in sessions),
            duplicates=sum(s.tracker.duplicates for s in sessions),
            closed_early=sum(s.closed_early for s in sessions),
        )
    close_all(sessions)
    await asyncio.sleep(0.1)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of one load-generator process."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="bench-key")
    parser.add_argument("--ready", choices=("created", "open"), default="created",
                        help="a session is set up at session.created (default) or when the handshake completes")
    parser.add_argument("--header", action="append", default=[], help="an extra handshake header, 'Name: value'")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="index of this process's first session")
    parser.add_argument("--concurrency", type=int, default=32, help="handshakes in flight at once")
    parser.add_argument("--rate", type=int, default=1000 // FRAME_MS, help="frames per second per session")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--drain", type=float, default=3.0)
    parser.add_argument("--result", type=Path, required=True, help="where to write the result JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: the result goes to a file (it is too large for a pipe line)."""
    args = parse_args(argv)
    result = uvloop.run(main_async(args))
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
