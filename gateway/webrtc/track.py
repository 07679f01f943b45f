"""The outgoing WebRTC audio track: pulls one 20 ms frame from the :class:`Playout` per tick, at real-time pace.

Given an encoder (the call negotiated Opus), the track encodes each frame's PCM itself and hands
aiortc's sender the Opus packet: aiortc sends a packet as it is, where a raw frame would go through a
thread pool to be encoded (see ``gateway.webrtc.codecs``; silence, once settled, is not encoded again).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from typing import Callable, Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet

from gateway.webrtc.audio_in import RATE
from gateway.webrtc.codecs import RTP_RATE, SILENCE, VoiceOpusEncoder
from gateway.webrtc.playout import FRAME_MS, Notice, Playout

SAMPLES: Final = RATE * FRAME_MS // 1000
_TIME_BASE: Final = fractions.Fraction(1, RATE)
#: one frame on Opus's RTP clock
FRAME_TICKS: Final = RTP_RATE * FRAME_MS // 1000
#: when the sender fell this far behind (a stalled loop), restart the clock rather than burst
_MAX_LAG_S: Final = 0.2


def pacing_delay(start: float, frames_sent: int, now: float) -> float:
    """Seconds to wait before frame ``frames_sent`` is due (negative: it is late)."""
    return start + frames_sent * FRAME_MS / 1000 - now


class PlayoutTrack(MediaStreamTrack):
    """An audio track that plays the session's buffered model audio (silence when there is none)."""

    kind = "audio"

    def __init__(self, playout: Playout, on_notice: Callable[[Notice], None], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.playout = playout
        self._on_notice = on_notice
        self._clock = clock
        self._start: float | None = None
        self._frames = 0
        self._pts = 0
        self._encoder: VoiceOpusEncoder | None = None
        self._encoded: deque[Packet] = deque()

    def encode_with(self, encoder: VoiceOpusEncoder) -> None:
        """Hand the sender Opus packets from now on (only when the call's audio codec is Opus)."""
        self._encoder = encoder

    async def recv(self) -> AudioFrame | Packet:  # aiortc's senders take either
        if self._encoder is None:
            await self._due()
            return self._frame(self._take())
        encoder = self._encoder
        while not self._encoded:
            await self._due()
            payloads, timestamp = encoder.encode_pcm(self._take())
            for payload in payloads:  # one 20 ms frame in, one packet out (libopus holds none back)
                packet = Packet(payload)
                packet.pts = timestamp  # on Opus's RTP clock: no time base (VoiceOpusEncoder.pack takes it as it is)
                self._encoded.append(packet)
                timestamp += FRAME_TICKS
        return self._encoded.popleft()

    def _frame(self, pcm: bytes) -> AudioFrame:
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += SAMPLES
        return frame

    async def _due(self) -> None:
        """Wait until the next frame is due (real-time pace from the first one)."""
        if self.readyState != "live":
            raise MediaStreamError
        now = self._clock()
        if self._start is None:
            self._start = now
        else:
            delay = pacing_delay(self._start, self._frames, now)
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -_MAX_LAG_S:
                self._start, self._frames = now, 0

    def _take(self) -> bytes:
        """The next 20 ms of PCM16 from the playout (silence when there is none)."""
        pcm, notices = self.playout.next_frame()
        for notice in notices:
            self._on_notice(notice)
        self._frames += 1
        return pcm if pcm is not None else SILENCE
