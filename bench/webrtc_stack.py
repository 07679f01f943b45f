"""The terminating bridge's whole per-call cost, aiortc included, as instructions per call-second (callgrind).

``bench.webrtc_media`` counts the bridge's own codec and socket work only; this bench runs a real
call through the whole media stack, in one process, so that callgrind can count it:

* the bridge: :func:`gateway.webrtc.call.answer_offer` on the main thread (ICE, DTLS, SRTP, RTP/RTCP,
  the jitter buffer, inline Opus decoding, the microphone pump, the append chunker, the playout, its
  track and encoder), with a responder standing in for the echo emulator behind the relay: every
  append the socket yields is answered at once with a ``response.output_audio.delta`` carrying the
  same audio (what ``--knob mode=echo`` sends), handed to ``WebRtcClientSocket.send``;
* the caller: an aiortc peer connection on a second thread (its own event loop) that sends one
  pre-encoded 20 ms Opus packet of speech per tick over the ``oai-events``-carrying connection and
  reads the audio it gets back.

Not included: the session core, the relay and the upstream WebSocket (what a WebSocket session
costs, ``bench.webrtc_calls``'s ``websocket`` stage), and uvloop (the gateway's loop; here asyncio's).

Callgrind runs Python some 50× slower, so the process runs on a dilated clock: ``time.monotonic``
(asyncio's clock, the track's pacing) and the selector's timeouts run ``--dilate`` times slower, and
the call behaves as in real time, just slower (RTCP intervals, ICE consent, pacing all dilated).
Callgrind starts uninstrumented; the bench switches instrumentation on once the call has run a
second and dumps the counts after ``--seconds`` more; with ``--separate-threads=yes`` the main
thread's count is the bridge's::

    valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file=/tmp/cg/out \
        .venv/bin/python -m bench.webrtc_stack --dilate 12 --seconds 5 --out /tmp/cg/out

prints the main thread's instructions per call-second (from the dump callgrind writes at the end
of the window). Without valgrind (``--dilate 1``) it runs the call in real time and prints process CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fractions
import glob
import os
import random
import selectors
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

_REAL_MONOTONIC = time.monotonic
_DILATE = 1.0
_T0 = _REAL_MONOTONIC()


def _dilated_monotonic() -> float:
    return _T0 + (_REAL_MONOTONIC() - _T0) / _DILATE


class _DilatedSelector(selectors.DefaultSelector):
    def select(self, timeout: float | None = None) -> Any:
        return super().select(None if timeout is None else timeout * _DILATE)


def _dilate(factor: float) -> None:
    """Before anything reads the clock: asyncio's loops and the bridge's track pace on the slowed clock."""
    global _DILATE
    _DILATE = factor
    time.monotonic = _dilated_monotonic


def _new_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop(_DilatedSelector())


PACKETS = 50
SAMPLES = 480


def caller_packets(talk: str = "speech") -> list[bytes]:
    """A second of the caller's Opus packets, sent in a loop: speech throughout, or (``beeps``) 300 ms of
    speech and 700 ms of digital silence, the microphone of ``bench.webrtc_calls``."""
    from aiortc.codecs.opus import OpusEncoder
    from av import AudioFrame

    from tests.support.audio import RATE, silence, speech

    encoder, packets = OpusEncoder(), []
    pcm = speech(300) + silence(700) if talk == "beeps" else speech(1000)
    for i in range(PACKETS):
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm[i * SAMPLES * 2 : (i + 1) * SAMPLES * 2])
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * SAMPLES, fractions.Fraction(1, RATE)
        packets += encoder.encode(frame)[0]
    return packets


def delta_for(append: str) -> str:
    """What the echo emulator answers an append with (same field order as its events)."""
    audio = append[append.index('"audio":"') + 9 : -2]
    return (
        '{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1",'
        '"output_index":0,"content_index":0,"delta":"' + audio + '"}'
    )


class Caller:
    """The browser: a peer connection on its own thread and loop."""

    def __init__(self, talk: str = "speech") -> None:
        self.talk = talk
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="caller")
        self.thread.start()
        self.heard = 0

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def offer(self) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.mediastreams import MediaStreamTrack
        from av.packet import Packet

        packets = caller_packets(self.talk)

        class Mic(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self.sent = 0
                self.start: float | None = None

            async def recv(self) -> Packet:
                loop = asyncio.get_running_loop()
                if self.start is None:
                    self.start = loop.time()
                await asyncio.sleep(max(0.0, self.start + self.sent * 0.02 - loop.time()))
                packet = Packet(packets[self.sent % len(packets)])
                packet.pts, packet.time_base = self.sent * 960, fractions.Fraction(1, 48000)
                self.sent += 1
                return packet

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(Mic())
        self.channel = self.pc.createDataChannel("oai-events")
        self.pc.on("track", lambda track: asyncio.ensure_future(self._listen(track)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def _listen(self, track: Any) -> None:
        while True:
            try:
                await track.recv()
            except Exception:  # noqa: BLE001 - the track ends with the call
                return
            self.heard += 1

    async def answer(self, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


async def bridge(caller: Caller, seconds: float, valgrind: bool) -> dict[str, float]:
    from gateway.webrtc.audio_in import REALTIME_CHUNK_MS
    from gateway.webrtc.call import answer_offer

    offer = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(caller.offer(), caller.loop))
    answered = await answer_offer(offer, translation=False)
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(caller.answer(answered.answer_sdp), caller.loop))
    socket = answered.socket
    appends = 0

    async def respond() -> None:
        nonlocal appends
        while True:
            item = await socket.receive()
            if not isinstance(item, str):
                return
            if item.startswith('{"type":"input_audio_buffer.append"'):
                appends += 1
                await socket.send(delta_for(item))

    responder = asyncio.ensure_future(respond())
    while appends * REALTIME_CHUNK_MS < 1000:  # connected, a second of audio through
        await asyncio.sleep(0.05)
    if valgrind:
        subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
    cpu0, appends0, heard0 = time.process_time(), appends, caller.heard
    await asyncio.sleep(seconds)
    if valgrind:
        subprocess.run(["callgrind_control", "--dump", str(os.getpid())], check=True, capture_output=True)
    cpu = time.process_time() - cpu0
    appended_ms = (appends - appends0) * REALTIME_CHUNK_MS
    out = {"appends": appends - appends0, "appended_ms": appended_ms, "heard": caller.heard - heard0, "process_cpu_pct": 100 * cpu / seconds}
    responder.cancel()
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(caller.close(), caller.loop))
    await socket.close(1000, "done")
    return out


def main_thread_ir(pattern: str) -> int | None:
    """The instruction total of the main thread's dump (the file whose name ends in ``-01``)."""
    files = [f for f in glob.glob(pattern) if f.endswith(".1-01")]  # the first dump (the window), main thread
    if not files:
        return None
    for line in Path(files[0]).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dilate", type=float, default=1.0, help="slow the process's clock this many times (valgrind: 30–50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="call-seconds measured")
    parser.add_argument("--talk", choices=("speech", "beeps"), default="speech", help="the caller's microphone: speech throughout, or bench.webrtc_calls's 300 ms beeps once a second")
    parser.add_argument("--out", default="/tmp/cg/out", help="callgrind's --callgrind-out-file (to read the dump; use a fresh name)")
    args = parser.parse_args()
    random.seed(0)
    _dilate(args.dilate)
    valgrind = "valgrind" in os.environ.get("LD_PRELOAD", "") or "vgpreload" in os.environ.get("LD_PRELOAD", "")
    caller = Caller(args.talk)
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    result = loop.run_until_complete(bridge(caller, args.seconds, valgrind))
    line = f"{args.seconds:g} call-seconds: {result['appends']} appends, {result['heard']} frames heard"
    if valgrind:
        ir = main_thread_ir(args.out + "*")
        if ir is not None:
            # per second of microphone audio appended (the window's count varies by an append or two)
            line += f"; bridge (main thread) {ir / max(1, result['appended_ms']) * 1000 / 1e6:.1f} M instructions per call-second"
    else:
        line += f"; process CPU {result['process_cpu_pct']:.2f} % of a core (bridge + caller)"
    print(line, flush=True)


if __name__ == "__main__":
    main()
