"""The shared tick's own cost per session, without a network: for instruction counts and CPU time.

N voice-agent sessions in push mode (in-memory sockets), each with the observers the gateway gives a session
(accounting on an in-memory store, telemetry with the Prometheus reader, the directory's), the relay's
``FailsafeObserver`` around each. Per 100 ms round every session relays 100 ms of audio each way (five 20 ms
appends and five deltas: what the paced bench sends), then ``LiveSessions.tick_all`` visits every session (the
ticker's own pass, yields included). ``--caps`` gives every session a cost cap, a duration cap and an idle timeout,
``--budget`` a tenant budget (the enforcement paths the tick prices). ``--hot`` counts the frames the session's gate
lets the compiled listener relay alone as that listener counts them (no call into Python: the gateway's path for
usual-layout audio in push mode), the rest through the relay; ``--quiet`` relays no frames at all (idle sessions).

It prints the CPU time of the ticks alone (µs per session-tick, noisy on a shared host). For instruction
counts run it under callgrind with and without ticks and subtract (the frames are the same both times)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.tick_cost --rounds 100 --no-tick
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.tick_cost --rounds 100

(instructions per session-tick = (Ir − Ir_no_tick) / (sessions × rounds)).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
import uuid
from typing import cast

import fakeredis

from gateway.accounting.limits import TenantLimits
from gateway.accounting.service import AccountingService
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionInfo, SessionObserver
from gateway.core.ports import Closed, PushHandler
from gateway.core.routing import Caps, Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.directory.service import DirectoryObserver, SessionDirectory, _Local
from gateway.policy.catalog import load_catalog
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.live_sessions import LiveSessions
from gateway.relay.session import RelaySession
from gateway.settings import Settings
from gateway.store.accounting_store import AccountingStore
from gateway.store.keyspace import KeySpace
from gateway.telemetry.setup import setup_telemetry
from tests.support.accounting import ROOT
from tests.support.listener import relayed_alone

#: 20 ms of 24 kHz 16-bit mono PCM, base64
_AUDIO = base64.b64encode(bytes(960)).decode()
APPEND = '{"type":"input_audio_buffer.append","audio":"' + _AUDIO + '"}'
DELTA = '{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","delta":"' + _AUDIO + '"}'
#: the same delta in the service's own key order (the usual layout the compiled listener relays alone: ``--hot``)
USUAL_DELTA = (
    '{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1",'
    '"output_index":0,"content_index":0,"delta":"' + _AUDIO + '"}'
)


class MemSocket:
    """A push socket in memory that drops what it is sent."""

    def __init__(self) -> None:
        self.handler: PushHandler | None = None

    def attach(self, handler: PushHandler) -> None:
        self.handler = handler

    def send_now(self, frame: str) -> None:
        pass

    async def send(self, frame: str) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def receive(self) -> str | Closed:
        raise AssertionError("push mode never pulls")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


class Directory:
    """The directory's side of its observer: forgets a session at its end."""

    def forget(self, session_id: str) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def run(
    sessions: int, rounds: int, tick: bool, caps: bool, budget: bool, hot: bool = False, quiet: bool = False
) -> tuple[float, int]:
    """CPU seconds spent in the ticks, and session-ticks run."""
    clock = Clock()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    store = AccountingStore(fakeredis.FakeAsyncRedis(), KeySpace(f"tc{uuid.uuid4().hex[:8]}"), kind="memory")
    catalog = load_catalog(ROOT / "config" / "models.yaml")
    accounting = AccountingService(settings, catalog, store)
    telemetry = setup_telemetry(settings, catalog=catalog, cost_of=accounting.live_spend)
    limits = TenantLimits(daily_budget_micros=10**12) if budget else TenantLimits()
    session_caps = Caps(max_cost_micros=10**12, max_duration_s=3600.0, idle_timeout_s=600.0) if caps else Caps()
    live = LiveSessions(clock=clock)
    relays: list[tuple[RelaySession, MemSocket, MemSocket, SessionCore]] = []
    tasks = []
    for i in range(sessions):
        sid = f"sess_{i}"
        await accounting.admission.admit(sid, "acme", "key_1", limits, time.time())
        route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",), caps=session_caps)
        info = SessionInfo(session_id=sid, endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME,
                           dialect=Dialect.GA, requested_model=None,
                           decision=RouteDecision(rule_id="r", reason="bench", route=route), route=route,
                           tenant="acme", key_id="key_1", caps=session_caps)
        observers: list[SessionObserver] = [
            FailsafeObserver(accounting.observer_factory.create(info, clock.now), "accounting"),
            FailsafeObserver(telemetry.observer_factory.create(info, clock.now), "telemetry"),
            FailsafeObserver(DirectoryObserver(cast(SessionDirectory, Directory()), _Local(info, 0.0)), "directory"),
        ]
        client, upstream = MemSocket(), MemSocket()
        core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now)
        relay = RelaySession(info=info, core=core, client=client, upstream=upstream,  # type: ignore[arg-type]
                             observers=observers, clock=clock)
        tasks.append(asyncio.create_task(relay.run()))
        relays.append((relay, client, upstream, core))
        live.add(relay)
    await asyncio.sleep(0.01)
    spent = 0.0
    for _ in range(rounds):
        for relay, client, upstream, core in relays:
            for _frame in range(0 if quiet else 5):
                if not (hot and relayed_alone(core, APPEND, False, clock.now)):
                    relay.client_frame(APPEND)
                if not hot:
                    relay.upstream_frame(DELTA)
                elif not relayed_alone(core, USUAL_DELTA, True, clock.now):
                    relay.upstream_frame(USUAL_DELTA)
        clock.now += 0.1
        if tick:
            started = time.process_time()
            await live.tick_all(clock.now)
            spent += time.process_time() - started
    for relay, _, _, _ in relays:
        relay.client_closed(Closed(1000))
    await asyncio.gather(*tasks)
    telemetry.shutdown()
    return spent, sessions * rounds if tick else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--no-tick", action="store_true", help="relay the frames only (the callgrind baseline)")
    parser.add_argument("--caps", action="store_true", help="a cost cap, a duration cap and an idle timeout")
    parser.add_argument("--budget", action="store_true", help="a tenant daily budget")
    parser.add_argument("--hot", action="store_true", help="audio the gate lets through is counted as the listener does")
    parser.add_argument("--quiet", action="store_true", help="relay no frames (idle sessions)")
    args = parser.parse_args()
    spent, ticks = asyncio.run(
        run(args.sessions, args.rounds, not args.no_tick, args.caps, args.budget, args.hot, args.quiet)
    )
    if ticks:
        print(f"{ticks} session-ticks, {spent * 1e6 / ticks:.1f} µs CPU per session-tick")


if __name__ == "__main__":
    main()
