"""The terminating bridge's own media work per call-second, without a network: for instruction counts.

Per 20 ms frame, both directions of one call, through the code the bridge runs:

* microphone: one Opus packet → the decoder aiortc's receiver would build (``get_decoder``) → the
  bridge's resampler → the socket's append chunker (base64, event text) → its inbox;
* model audio: one ``response.output_audio.delta`` event → ``WebRtcClientSocket.send`` → the playout
  → ``PlayoutTrack.recv`` (pacing clock stubbed: no sleeping), which encodes Opus itself as on a call
  that negotiated Opus → the sender's ``pack`` (or ``encode``, for a track that returns raw frames).

Not included (the same before and after codec changes): RTP/SRTP/SCTP/ICE in aiortc, the relay and
the WebSocket upstream. Wall time on a shared host is noise; run it under callgrind twice and
subtract, which is repeatable to well under 1 %::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.webrtc_media --frames 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.webrtc_media --frames 500

(instructions per call-second = (Ir₅₀₀ − Ir₀) / 10). Without valgrind it prints process CPU time per
call-second (noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fractions
import time

from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import AudioFrame

import gateway.webrtc.call  # noqa: F401 - whatever codec setup the bridge does on import
from gateway.webrtc.audio_in import MicResampler
from gateway.webrtc.codecs import VoiceOpusEncoder
from gateway.webrtc.socket import WebRtcClientSocket
from gateway.webrtc.track import SAMPLES, PlayoutTrack
from tests.support.audio import RATE, speech

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
PACKETS = 50


def caller_packets() -> list[bytes]:
    """One second of a browser-like caller's Opus (aiortc's stock encoder), built the same for every run."""
    encoder, pcm, packets = OpusEncoder(), speech(1000), []
    for i in range(PACKETS):
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm[i * SAMPLES * 2 : (i + 1) * SAMPLES * 2])
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * SAMPLES, fractions.Fraction(1, RATE)
        packets += encoder.encode(frame)[0]
    return packets


def delta_events() -> list[str]:
    """One second of the model's audio as 20 ms delta events (what the echo emulator sends)."""
    pcm = speech(1000)
    return [
        '{"type":"response.output_audio.delta","event_id":"e","response_id":"resp_1","item_id":"item_1",'
        '"output_index":0,"content_index":0,"delta":"' + base64.b64encode(pcm[i * SAMPLES * 2 : (i + 1) * SAMPLES * 2]).decode() + '"}'
        for i in range(PACKETS)
    ]


async def run(frames: int) -> None:
    packets, deltas = caller_packets(), delta_events()
    decoder, encoder = rtcrtpreceiver.get_decoder(OPUS), rtcrtpsender.get_encoder(OPUS)
    socket = WebRtcClientSocket(translation=False)
    resampler = MicResampler()
    clock = iter(range(10**9))
    track = PlayoutTrack(socket.playout, socket.on_notice, clock=lambda: next(clock) * 0.02)
    track.encode_with(VoiceOpusEncoder())  # as gateway.webrtc.call does when the answer sends Opus
    for i in range(frames):
        for frame in decoder.decode(JitterFrame(data=packets[i % len(packets)], timestamp=i * 960)):
            socket.from_microphone(resampler.convert(frame))  # type: ignore[arg-type]
        while not socket._inbox.empty():
            socket._inbox.get_nowait()
        await socket.send(deltas[i % PACKETS])
        out = await track.recv()
        encoder.encode(out) if isinstance(out, AudioFrame) else encoder.pack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    started = time.process_time()
    asyncio.run(run(args.frames))
    spent = time.process_time() - started
    if args.frames:
        print(f"{args.frames} frames; process CPU {spent / (args.frames / 50) * 1000:.2f} ms per call-second (noisy)")


if __name__ == "__main__":
    main()
