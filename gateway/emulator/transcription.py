"""Input transcription (the emulated ASR pass) for voice-agent and transcription sessions.

The transcript is what the session heard: text tone-coded in the audio (``spoken``), else the
deterministic sentence of ``text.transcript_text``. After a commit, deltas are spread over ``emu_asr_ms`` and ``…input_audio_transcription.completed``
follows with a usage block: duration-shaped (``{"type":"duration","seconds":…}``) for the
duration-billed models (``gpt-realtime-whisper``, ``gpt-live-transcribe``, ``whisper-1``), token-shaped
for the others (audio tokens at 1 per 100 ms, output tokens from the transcript length).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gateway.emulator import text
from gateway.emulator.ids import IdFactory
from gateway.emulator.session_config import DURATION_BILLED
from gateway.emulator.stats import SessionRecord
from gateway.emulator.types import Event, Json
from gateway.core.jsontypes import as_int, as_number, as_dict

_MAX_DELTAS = 4


@dataclass(frozen=True, slots=True)
class AsrJob:
    """Transcribe one committed user item."""

    item_id: str
    model: str
    audio_ms: int
    #: what the emulator heard (``spoken.decode``) or its deterministic stand-in
    transcript: str


def usage_for(model: str, audio_ms: int, transcript: str) -> dict[str, Json]:
    """The ``usage`` block of a completed transcription."""
    if model in DURATION_BILLED:
        return {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
    audio_tokens = text.input_audio_tokens(audio_ms)
    output_tokens = text.text_tokens(transcript)
    return {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": output_tokens,
            "total_tokens": audio_tokens + output_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens}}


class AsrQueue:
    """Timed transcription events of all jobs in flight, released by ``poll``."""

    def __init__(self, ids: IdFactory, record: SessionRecord, asr_ms: int, pace: bool) -> None:
        """Latency ``asr_ms`` from commit to completion (zero when pacing is off)."""
        self._ids, self._record = ids, record
        self._latency = asr_ms / 1000 if pace else 0.0
        self._due: deque[tuple[float, Event]] = deque()
        #: transcripts by item id, filled as jobs complete
        self.transcripts: dict[str, str] = {}

    def submit(self, job: AsrJob, now: float) -> None:
        """Schedule the deltas and the completion of ``job``."""
        transcript = job.transcript
        deltas = [d for d in text.split_deltas(transcript, _MAX_DELTAS) if d]
        for i, delta in enumerate(deltas):
            due = now + self._latency * (i + 1) / (len(deltas) + 1)
            self._due.append((due, {"type": "conversation.item.input_audio_transcription.delta",
                                    "item_id": job.item_id, "content_index": 0, "delta": delta}))
        usage = usage_for(job.model, job.audio_ms, transcript)
        self._due.append((now + self._latency, {
            "type": "conversation.item.input_audio_transcription.completed", "item_id": job.item_id,
            "content_index": 0, "transcript": transcript, "usage": usage}))

    def next_due(self) -> float | None:
        """When the next transcription event is due."""
        return self._due[0][0] if self._due else None

    def poll(self, now: float) -> list[Event]:
        """Events due by ``now``, with fresh event ids; completion updates the session record."""
        out: list[Event] = []
        while self._due and self._due[0][0] <= now:
            event = {"event_id": self._ids.event(), **self._due.popleft()[1]}
            if str(event["type"]).endswith(".completed"):
                self._account(event)
            out.append(event)
        return out

    def _account(self, event: Event) -> None:
        """Remember the transcript and add its usage to the session totals."""
        self.transcripts[str(event["item_id"])] = str(event["transcript"])
        usage = as_dict(event["usage"])
        if usage.get("type") == "duration":
            self._record.usage_total.transcription_seconds += as_number(usage.get("seconds"))
        else:
            self._record.usage_total.transcription_tokens += as_int(usage.get("total_tokens"))
