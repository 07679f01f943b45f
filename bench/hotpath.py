"""The relay's per-frame cost in instructions, repeatable on a busy host: one session, real picows sockets.

``python -m bench.hotpath --rounds N`` runs one push-mode :class:`RelaySession` (GA realtime, the
default barge-in protection, a delay probe, as the gateway builds it) between a client peer and an
echo upstream peer, all picows over loopback in this process. Each round: the client sends a 20 ms
append, the gateway forwards it, the upstream answers with a delta of the same size, the gateway
forwards it, the client receives it and sends the next one.

Count instructions, not time: run it twice under ``valgrind --tool=callgrind`` with two round counts and divide the difference by the difference
in rounds (``--callgrind`` does exactly that). What comes out is the instructions of
one round trip through the gateway (two frames in, two out) plus the two peers' own picows work
and the event loop's wake-ups, which are the same before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import subprocess
import sys
import time

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

from gateway.core.barge_in import BargeInPolicy
from gateway.core import frames
from gateway.core.errors import GatewayError
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import SessionInfo
from gateway.core.routing import Route, RouteDecision
from gateway.core.session import SessionCore
from gateway.relay.session import RelayLimits, RelaySession
from gateway.transports.picows.socket import PicowsClientSocket
from gateway.upstream.hot_listener import LISTENER_COMPILED
from gateway.upstream.picows_connector import PicowsUpstream

AUDIO = base64.b64encode(bytes((i * 37) & 0xFF for i in range(960))).decode()
APPEND = ('{"type":"input_audio_buffer.append","audio":"%s"}' % AUDIO).encode()
DELTA = ('{"type":"response.output_audio.delta","event_id":"event_bench","response_id":"resp_bench",'
         '"item_id":"item_bench","output_index":0,"content_index":0,"delta":"%s"}' % AUDIO).encode()
MAX = 16 * 1024 * 1024
#: frames the sockets' listeners relayed without the core in the last run (both ways)
RELAYED_ALONE = [0]


class _EchoUpstream(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.payload_size > 1000:
            transport.send(WSMsgType.TEXT, DELTA)


class _Client(WSListener):  # type: ignore[misc]
    def __init__(self, rounds: int, done: asyncio.Future[None]) -> None:
        super().__init__()
        self.left = rounds
        self.done = done
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT or frame.payload_size < 1000:
            return
        self.left -= 1
        if self.left > 0:
            transport.send(WSMsgType.TEXT, APPEND)
        elif not self.done.done():
            self.done.set_result(None)


async def run(rounds: int) -> float:
    """Relay ``rounds`` round trips; the wall time they took."""
    loop = asyncio.get_running_loop()
    upstream_server = await ws_create_server(lambda _: _EchoUpstream(), "127.0.0.1", 0)
    up_port = upstream_server.sockets[0].getsockname()[1]
    accepted: asyncio.Future[PicowsClientSocket] = loop.create_future()

    def client_side(_: object) -> PicowsClientSocket:
        sock = PicowsClientSocket(max_message_bytes=MAX, linger_s=1.0)
        if not accepted.done():
            accepted.set_result(sock)
        return sock

    gateway_server = await ws_create_server(client_side, "127.0.0.1", 0)
    gw_port = gateway_server.sockets[0].getsockname()[1]
    _, upstream = await ws_connect(lambda: PicowsUpstream(max_message_bytes=MAX), f"ws://127.0.0.1:{up_port}/",
                                   read_buffer_init_size=4096)
    done: asyncio.Future[None] = loop.create_future()
    _, peer = await ws_connect(lambda: _Client(rounds, done), f"ws://127.0.0.1:{gw_port}/")
    client = await accepted
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",))
    info = SessionInfo(session_id="bench", endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="bench", route=route), route=route)
    clock = time.monotonic
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock(), max_frames_per_second=10**9,
                       barge_in=BargeInPolicy())
    probes: list[float] = []
    relay = RelaySession(info=info, core=core, client=client, upstream=upstream, observers=[], clock=clock,
                         limits=RelayLimits(delay_probe=probes.append))
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.05)
    assert relay.push_mode
    start = time.perf_counter()
    peer.transport.send(WSMsgType.TEXT, APPEND)
    await done
    took = time.perf_counter() - start
    RELAYED_ALONE[0] = core.hot.relayed_alone
    relay.terminate(GatewayError())
    await asyncio.wait_for(task, 5)
    peer.transport.disconnect()
    gateway_server.close()
    upstream_server.close()
    return took


def _instructions(rounds: int) -> int:
    """Instructions callgrind counts in one run of this module with ``rounds`` rounds."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.hotpath",
            "--rounds", str(rounds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(done.stderr)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true", help="instructions per round from callgrind runs at rounds/10 and rounds (best of 3)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.callgrind:
        low, high = args.rounds // 10, args.rounds
        per = min((_instructions(high) - _instructions(low)) / (high - low) for _ in range(args.repeat))
        print(f"{per:,.0f} instructions per round trip (2 frames in, 2 out, peers included)")
        return
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    took = asyncio.run(run(args.rounds))
    path = "compiled" if frames.B64_COMPILED is not None else "pure Python"
    listener = "compiled" if LISTENER_COMPILED is not None else "pure Python"
    print(f"{args.rounds} rounds in {took:.3f} s ({took / args.rounds * 1e6:.1f} µs per round trip; {path} audio check, "
          f"{listener} listener; {RELAYED_ALONE[0]} of {2 * args.rounds} frames relayed by the listener alone)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
