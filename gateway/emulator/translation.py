"""Live translation sessions (``/v1/realtime/translations``, its own protocol) — Sans-I/O.

The engine works on 200 ms frames of PCM16 24 kHz: each complete input frame yields one
``session.output_audio.delta`` of 200 ms (synthetic speech when the input frame was voiced,
silence otherwise), so output duration equals input duration, delayed by
``ceil(emu_ttfa_ms / 200)`` frames. Every two voiced frames add one word of
``session.output_transcript.delta`` in the target language (and of
``session.input_transcript.delta`` when input transcription is on). ``elapsed_ms`` is the input
time that produced the delta, in 200 ms steps. Pending frames are flushed after one idle second
(paced mode) and on ``session.close``, which ends with ``session.closed`` and a normal close.
"""

from __future__ import annotations

import base64
import copy
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from gateway.emulator import errors, text
from gateway.emulator.audio import PCM, rms, samples_of, silence, voice
from gateway.emulator.ids import IdFactory
from gateway.emulator.machine import CloseRequest, Outgoing
from gateway.emulator.parsing import client_event_id, decode_audio, decode_event
from gateway.emulator.script import Script
from gateway.emulator.stats import INPUT_AUDIO_KEPT, SessionRecord
from gateway.emulator.types import Event, Json
from gateway.emulator.vad import level_for_threshold
from gateway.core.jsontypes import as_dict, member
from gateway.core import session_schema as schema

FRAME_MS: Final = 200
FRAME_BYTES: Final = FRAME_MS * PCM.bytes_per_ms
LANGUAGES: Final = frozenset(text.TRANSLATION_WORDS)
_IDLE_FLUSH_S: Final = 1.0
_VOICED: Final = level_for_threshold(0.5)
_SUPPORTED: Final = ("session.update", "session.input_audio_buffer.append", "session.close")


class TranslationSession:
    """One translation connection."""

    def __init__(self, model: str, reported_model: str, script: Script, ids: IdFactory | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """Create the default session (output language ``en``)."""
        self.ids = ids or IdFactory()
        self.script = script
        session_id = self.ids.new("sess")
        self.session: dict[str, Json] = schema.translation_session(session_id, reported_model, int(wall_clock()) + 3600)
        self.record = SessionRecord(kind="translation", model=model, session_id=session_id)
        self.close: CloseRequest | None = None
        self._buffer = bytearray()
        self._frames_in = 0
        self._queue: deque[tuple[int, bool]] = deque()
        self._lag = math.ceil(script.ttfa_ms / FRAME_MS)
        self._voiced_frames = 0
        self._words = 0
        self._last_input = 0.0
        self._closing = False

    def start(self, now: float) -> list[Outgoing]:
        """``session.created``."""
        return [self._event("session.created", session=self.session)]

    def receive(self, frame: str | bytes, now: float) -> list[Outgoing]:
        """Dispatch one client frame."""
        self.record.frames_in += 1
        event = decode_event(self.ids, frame)
        if event["type"] == "error":
            return [self._note(event)]
        handlers = {"session.update": self._update, "session.input_audio_buffer.append": self._append,
                    "session.close": self._close}
        handler = handlers.get(str(event["type"]))
        if handler is None:
            return [self._error("invalid_value", f"Invalid value: '{event['type']}'. Supported values are: "
                                f"{', '.join(_SUPPORTED)}.", event, "type")]
        return handler(event, now)

    def poll(self, now: float) -> list[Outgoing]:
        """Flush frames held back by the lag once input has been idle for a second."""
        if self._queue and self.script.pace and now - self._last_input >= _IDLE_FLUSH_S:
            return self._emit_until(len(self._queue))
        return []

    def next_deadline(self) -> float | None:
        """The idle-flush time while frames are held back."""
        if self._queue and self.script.pace:
            return self._last_input + _IDLE_FLUSH_S
        return None

    # --- handlers ----------------------------------------------------------------------------

    def _update(self, event: Event, now: float) -> list[Outgoing]:
        """Only output language, input transcription and noise reduction can change."""
        patch = event.get("session")
        problem = _check_update(patch)
        if problem is not None:
            code, param, message = problem
            return [self._error(code, message, event, param)]
        assert isinstance(patch, dict)
        updated = copy.deepcopy(self.session)
        for side, fields in as_dict(patch.get("audio")).items():
            as_dict(member(updated, "audio", side)).update(as_dict(fields))
        self.session = updated
        return [self._event("session.updated", session=self.session)]

    def _append(self, event: Event, now: float) -> list[Outgoing]:
        """Buffer audio and translate every complete 200 ms frame."""
        data = decode_audio(event.get("audio"))
        if data is None:
            return [self._error("invalid_value", "Invalid value for 'audio': expected base64-encoded PCM16.",
                                event, "audio")]
        if self._closing:
            return [self._error("invalid_value", "The session is closing; no more audio is accepted.", event,
                                "type")]
        self.record.audio_in_bytes += len(data)
        if len(self.record.input_audio) < INPUT_AUDIO_KEPT:
            self.record.input_audio += data[: INPUT_AUDIO_KEPT - len(self.record.input_audio)]
        self._last_input = now
        if self.script.mode == "echo":
            self.record.audio_out_bytes += len(data)
            return [self._event("session.output_audio.delta", delta=event["audio"], format="pcm16",
                                sample_rate=24000, channels=1, elapsed_ms=PCM.ms(self.record.audio_in_bytes))]
        self._buffer += data
        while len(self._buffer) >= FRAME_BYTES:
            self._take_frame(bytes(self._buffer[:FRAME_BYTES]))
            del self._buffer[:FRAME_BYTES]
        return self._emit_until(len(self._queue) - self._lag)

    def _close(self, event: Event, now: float) -> list[Outgoing]:
        """Flush everything pending, then ``session.closed`` and a normal close."""
        self._closing = True
        if self._buffer:
            self._take_frame(bytes(self._buffer) + bytes(FRAME_BYTES - len(self._buffer)))
            self._buffer.clear()
        out = self._emit_until(len(self._queue))
        out.append(self._event("session.closed"))
        self.close = CloseRequest(1000, "session closed")
        return out

    # --- engine ------------------------------------------------------------------------------

    def _take_frame(self, frame: bytes) -> None:
        """Classify one input frame as voiced or not and queue it."""
        self._queue.append((self._frames_in, rms(samples_of(frame, PCM)) >= _VOICED))
        self._frames_in += 1

    def _emit_until(self, count: int) -> list[Outgoing]:
        """Translate the ``count`` oldest queued frames."""
        out: list[Outgoing] = []
        for _ in range(max(0, count)):
            index, voiced = self._queue.popleft()
            out += self._translate(index, voiced)
        return out

    def _translate(self, index: int, voiced: bool) -> list[Outgoing]:
        """Output audio for one frame, plus transcript words on every second voiced frame."""
        elapsed = (index + 1) * FRAME_MS
        pcm = voice(PCM, index * FRAME_MS, FRAME_MS) if voiced else silence(PCM, FRAME_MS)
        self.record.audio_out_bytes += len(pcm)
        out: list[Outgoing] = [self._event("session.output_audio.delta", delta=base64.b64encode(pcm).decode(),
                                           format="pcm16", sample_rate=24000, channels=1, elapsed_ms=elapsed)]
        if not voiced:
            return out
        self._voiced_frames += 1
        if self._voiced_frames % 2:
            return out
        if self._input_transcription():
            out.append(self._event("session.input_transcript.delta",
                                   delta=text.translation_word("en", self._words), elapsed_ms=elapsed))
        language = str(member(self.session, "audio", "output", "language") or "en")
        out.append(self._event("session.output_transcript.delta",
                               delta=text.translation_word(language, self._words), elapsed_ms=elapsed))
        self._words += 1
        return out

    def _input_transcription(self) -> bool:
        """Whether source-language transcript deltas are on."""
        return member(self.session, "audio", "input", "transcription") is not None

    def _event(self, kind: str, **fields: Json) -> Event:
        """A server event with a fresh id."""
        return {"type": kind, "event_id": self.ids.event(), **fields}

    def _error(self, code: str, message: str, source: Event, param: str | None) -> Event:
        """An ``error`` event for ``source``."""
        return self._note(errors.error_event(self.ids, code, message, param=param,
                                             client_event_id=client_event_id(source)))

    def _note(self, event: Event) -> Event:
        """Record the error code."""
        self.record.errors.append(str(member(event, "error", "code")))
        return event


def _check_update(patch: Json) -> tuple[str, str, str] | None:
    """(code, param, message) when a translation ``session.update`` touches what cannot change."""
    if not isinstance(patch, dict):
        return "missing_required_parameter", "session", "Missing required parameter: 'session'."
    for key in patch:
        if key != "audio":
            return "unknown_parameter", f"session.{key}", f"Unknown parameter: 'session.{key}'."
    audio_patch = patch.get("audio") or {}
    if not isinstance(audio_patch, dict):
        return "invalid_type", "session.audio", "Invalid type for 'session.audio': expected an object."
    allowed = {"input": {"noise_reduction", "transcription"}, "output": {"language"}}
    for side, fields in audio_patch.items():
        if side not in allowed or not isinstance(fields, dict):
            return "unknown_parameter", f"session.audio.{side}", f"Unknown parameter: 'session.audio.{side}'."
        for key in fields:
            if key not in allowed[side]:
                param = f"session.audio.{side}.{key}"
                return "unknown_parameter", param, f"Unknown parameter: '{param}'."
    language = member(audio_patch, "output", "language")
    if language is not None and language not in LANGUAGES:
        return ("invalid_value", "session.audio.output.language",
                f"Invalid value for 'session.audio.output.language': supported are {sorted(LANGUAGES)}.")
    transcription = member(audio_patch, "input", "transcription")
    valid = isinstance(transcription, dict) and isinstance(transcription.get("model"), str)
    if transcription is not None and not valid:
        return ("invalid_value", "session.audio.input.transcription",
                "Invalid value for 'session.audio.input.transcription': expected {\"model\": …} or null.")
    return None
