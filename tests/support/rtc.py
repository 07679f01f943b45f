"""A scripted WebRTC caller (aiortc): speaks PCM over a real peer connection, records events and the audio it hears."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from av import AudioFrame

from tests.support.audio import RATE, silence, speech

FRAME_MS = 20
SAMPLES = RATE * FRAME_MS // 1000


class ScriptedMic(AudioStreamTrack):
    """Real-time paced microphone: queued PCM16 24 kHz first, silence after."""

    def __init__(self) -> None:
        super().__init__()
        self._pcm = bytearray()
        self._start: float | None = None
        self._sent = 0
        self.speech_started_at: float | None = None

    def say(self, ms: int) -> None:
        self._pcm += speech(ms) + silence(900)

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent * FRAME_MS / 1000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        chunk = bytes(self._pcm[: SAMPLES * 2])
        del self._pcm[: SAMPLES * 2]
        if chunk and self.speech_started_at is None and any(chunk):
            self.speech_started_at = time.monotonic()
        chunk = chunk.ljust(SAMPLES * 2, b"\x00")
        frame = AudioFrame.from_ndarray(np.frombuffer(chunk, dtype="<i2").reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += 1
        return frame


@dataclass
class RtcCaller:
    """One peer connection with a scripted mic and the ``oai-events`` channel."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    mic: ScriptedMic = field(default_factory=ScriptedMic)
    events: list[dict[str, object]] = field(default_factory=list)
    #: monotonic arrival time of each event (parallel to ``events``)
    event_at: list[float] = field(default_factory=list)
    #: event index → ms of audio RTP packets received when that ``output_audio_buffer.*`` event arrived
    received_at_event: dict[int, int] = field(default_factory=dict)
    #: monotonic time of the first loud received audio frame (the model's voice), if any
    first_heard_at: float | None = None
    heard_frames: int = 0
    #: (arrival time, peak sample) of every received audio frame
    frames: list[tuple[float, int]] = field(default_factory=list)
    #: event type → called with the event as it arrives (a scripted client's reaction, e.g. to speech_started)
    on: dict[str, Callable[[dict[str, object]], None]] = field(default_factory=dict)
    channel: object | None = None
    channel_open: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self) -> str:
        self.pc.addTrack(self.mic)
        channel = self.channel = self.pc.createDataChannel("oai-events")
        channel.on("open", self.channel_open.set)
        channel.on("message", self._message)
        channel.on("close", self.closed.set)

        @self.pc.on("track")
        def on_track(track: object) -> None:
            self._tasks.append(asyncio.ensure_future(self._listen(track)))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState in ("closed", "failed"):
                self.closed.set()

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def call(self, http_url: str, key: str, session: dict[str, object] | None = None) -> httpx.Response:
        """POST the offer to ``/v1/realtime/calls`` as the SDK's unified interface does (multipart sdp + session)."""
        files: dict[str, tuple[None, str]] = {"sdp": (None, await self.offer())}
        if session is not None:
            files["session"] = (None, json.dumps(session))
        async with httpx.AsyncClient(base_url=http_url, timeout=20) as http:
            reply = await http.post("/v1/realtime/calls", files=files, headers={"Authorization": f"Bearer {key}"})
        if reply.status_code == 201:
            await self.answer(reply.text)
        return reply

    async def _snapshot(self, index: int) -> None:
        """Audio packets received so far (20 ms each, silence included; counted before the jitter buffer)."""
        for receiver in self.pc.getReceivers():
            if receiver.track is not None and receiver.track.kind == "audio":
                for stats in (await receiver.getStats()).values():
                    if stats.type == "inbound-rtp":
                        self.received_at_event[index] = (stats.packetsReceived + max(0, stats.packetsLost)) * FRAME_MS

    def received_between(self, start_type: str, end_type: str) -> int:
        """Ms of audio received between the last ``start_type`` before the first ``end_type`` and that one."""
        end = next(i for i, e in enumerate(self.events) if e.get("type") == end_type)
        start = max(i for i, e in enumerate(self.events[:end]) if e.get("type") == start_type)
        return self.received_at_event[end] - self.received_at_event[start]

    def _message(self, message: str) -> None:
        event = json.loads(message)
        self.events.append(event)
        self.event_at.append(time.monotonic())
        if str(event.get("type")).startswith("output_audio_buffer."):
            self._tasks.append(asyncio.ensure_future(self._snapshot(len(self.events) - 1)))
        react = self.on.get(str(event.get("type")))
        if react is not None:
            react(event)

    def send(self, event: dict[str, object]) -> None:
        """A client event on the ``oai-events`` channel."""
        self.channel.send(json.dumps(event))  # type: ignore[attr-defined]

    async def _listen(self, track: object) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()  # type: ignore[attr-defined]
                samples = frame.to_ndarray()
                peak = int(np.abs(samples.astype(np.int32)).max())
                self.frames.append((time.monotonic(), peak))
                if peak > 1500:
                    self.heard_frames += 1
                    if self.first_heard_at is None:
                        self.first_heard_at = time.monotonic()

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    async def wait_for(self, event_type: str, timeout: float = 10.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("type") == event_type:
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {event_type} within {timeout}s; saw {self.types()}")

    async def wait_heard(self, timeout: float = 10.0) -> float:
        """Wait until the model's voice was heard; its monotonic arrival time."""
        deadline = time.monotonic() + timeout
        while self.first_heard_at is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert self.first_heard_at is not None, f"nothing heard within {timeout}s"
        return self.first_heard_at

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()
