"""Voice-agent (``type: "realtime"``) and transcription sessions as one Sans-I/O state machine.

Both kinds share the input audio buffer, server VAD and input transcription; only voice-agent
sessions have responses, tools and conversation editing. See ``tools`` for the function-call
trigger rule and ``conversation`` for the usage rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.emulator import errors, spoken, text
from gateway.emulator.audio import PCM, AudioFormat, format_from_json, samples_of
from gateway.emulator.conversation import Conversation, Entry
from gateway.emulator.ids import IdFactory
from gateway.emulator.input_audio import MIN_COMMIT_MS, InputAudio, Started, Stopped
from gateway.emulator.items import ItemOps
from gateway.emulator.machine import CloseRequest, Outgoing
from gateway.emulator.parsing import client_event_id, decode_audio, decode_event
from gateway.emulator.responder import Responder
from gateway.emulator.script import Script
from gateway.emulator.session_config import (
    Problem,
    apply_update,
    default_realtime_session,
    default_transcription_session,
    semantic_silence_ms,
)
from gateway.emulator.stats import INPUT_AUDIO_KEPT, SessionRecord
from gateway.emulator.transcription import AsrJob, AsrQueue
from gateway.emulator.types import Event, Json
from gateway.emulator.vad import VadConfig
from gateway.core.jsontypes import as_int, as_list, as_number, as_dict, member
from gateway.core import session_schema as schema

SESSION_TTL_S = 3600
#: input audio the session record keeps, as received (for tests)
_TRANSCRIPTION_EVENTS = frozenset({"session.update", "input_audio_buffer.append",
                                   "input_audio_buffer.commit", "input_audio_buffer.clear"})


class RealtimeSession:
    """One ``/v1/realtime`` connection: voice agent (``model=``) or transcription (``intent=``)."""

    def __init__(self, kind: str, model: str | None, reported_model: str | None, script: Script,
                 ids: IdFactory | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        """Create the default session; ``kind`` is ``realtime`` or ``transcription``."""
        self.ids = ids or IdFactory()
        self.script = script
        self.kind = kind
        self.model = model
        session_id = self.ids.new("sess")
        expires = int(wall_clock()) + SESSION_TTL_S
        self.session = (default_realtime_session(session_id, reported_model or model or "", expires)
                        if kind == "realtime" else default_transcription_session(session_id, expires))
        self.record = SessionRecord(kind=kind, model=model, session_id=session_id)
        self.close: CloseRequest | None = None
        self.conversation = Conversation(self.ids.new("conv"))
        self.input = InputAudio(self._input_format(), self._vad_config())
        self.asr = AsrQueue(self.ids, self.record, script.asr_ms, script.pace)
        self.responder = Responder(self)
        self.items = ItemOps(self)
        self._pending_item_id: str | None = None
        self.user_turns = 0
        self._echo_ids = (self.ids.new("resp"), self.ids.item())

    # --- SessionMachine --------------------------------------------------------------------

    def start(self, now: float) -> list[Outgoing]:
        """``session.created`` (+ ``conversation.created`` for voice agents)."""
        events: list[Outgoing] = [self.event("session.created", session=self.session)]
        if self.kind == "realtime":
            events.append(self.event("conversation.created", conversation={
                "id": self.conversation.id, "object": "realtime.conversation"}))
        return events

    def receive(self, frame: str | bytes, now: float) -> list[Outgoing]:
        """Dispatch one client frame; problems become ``error`` events and the session goes on."""
        self.record.frames_in += 1
        event = decode_event(self.ids, frame)
        if event["type"] == "error":
            return [self.note_error(event)]
        kind = str(event["type"])
        handler = self._handlers().get(kind)
        if handler is None or (self.kind == "transcription" and kind not in _TRANSCRIPTION_EVENTS):
            return [self.error("invalid_value", f"Invalid value: '{kind}'. Supported values are: "
                               f"{', '.join(sorted(self._supported()))}.", event, param="type")]
        return handler(event, now) + self.poll(now)

    def poll(self, now: float) -> list[Outgoing]:
        """Due response, transcription and idle-timeout events."""
        return [*self._asr_poll(now), *self.responder.poll(now)]

    def next_deadline(self) -> float | None:
        """Earliest due time among responses and transcriptions."""
        times = [t for t in (self.asr.next_due(), self.responder.next_due()) if t is not None]
        return min(times) if times else None

    # --- helpers shared with Responder / ItemOps ---------------------------------------------

    def event(self, kind: str, **fields: Json) -> Event:
        """A server event with a fresh id."""
        return {"type": kind, "event_id": self.ids.event(), **fields}

    def error(self, code: str, message: str, source: Event | None, *, param: str | None = None) -> Event:
        """An ``error`` event echoing the client event id of ``source``."""
        return self.note_error(errors.error_event(
            self.ids, code, message, param=param,
            client_event_id=client_event_id(source) if source is not None else None))

    def note_error(self, event: Event) -> Event:
        """Record an error event's code in the session record and return it."""
        detail = event["error"]
        assert isinstance(detail, dict)
        self.record.errors.append(str(detail.get("code")))
        return event

    def output_format(self) -> AudioFormat:
        """The session's output audio format."""
        fmt = member(self.session, "audio", "output", "format")
        return format_from_json(fmt) or PCM

    # --- handlers ----------------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[Event, float], list[Outgoing]]]:
        """Client event type → handler."""
        return {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "output_audio_buffer.clear": self._output_clear,
            "response.create": self.responder.create,
            "response.cancel": self.responder.cancel,
            "conversation.item.create": self.items.create,
            "conversation.item.delete": self.items.delete,
            "conversation.item.retrieve": self.items.retrieve,
            "conversation.item.truncate": self.items.truncate,
        }

    def _supported(self) -> frozenset[str]:
        """Client event types valid in this kind of session."""
        return _TRANSCRIPTION_EVENTS if self.kind == "transcription" else frozenset(self._handlers())

    def _session_update(self, event: Event, now: float) -> list[Outgoing]:
        """Merge the update and reply with the full effective session."""
        patch = event.get("session")
        if isinstance(patch, dict) and self.model is not None and patch.get("model") == self.model:
            patch = {k: v for k, v in patch.items() if k != "model"}  # the name asked for, not the snapshot's
        result = apply_update(self.session, patch, audio_produced=self.responder.audio_produced)
        if isinstance(result, Problem):
            error = self.error(result.code, result.message, event, param=result.param)
            if result.fatal:
                self.close = CloseRequest(errors.CLOSE_INVALID_SESSION, result.code)
            return [error]
        self.session = result
        self.input.reconfigure(self._input_format(), self._vad_config())
        return [self.event("session.updated", session=self.session)]

    def _append(self, event: Event, now: float) -> list[Outgoing]:
        """Buffer audio, run VAD, and act on speech start/stop (echo mode answers at once)."""
        data = decode_audio(event.get("audio"))
        if data is None:
            return [self.error("invalid_value", "Invalid value for 'audio': expected base64-encoded audio.",
                               event, param="audio")]
        self.record.audio_in_bytes += len(data)
        if len(self.record.input_audio) < INPUT_AUDIO_KEPT:
            self.record.input_audio += data[: INPUT_AUDIO_KEPT - len(self.record.input_audio)]
        if self.script.mode == "echo":
            return [self._echo(event, len(data))]
        out: list[Outgoing] = []
        for signal in self.input.append(data):
            out += self._speech_started(signal, now) if isinstance(signal, Started) else \
                self._speech_stopped(signal, now)
        return out

    def _echo(self, event: Event, nbytes: int) -> Event:
        """Bench mode: one output delta carrying the very same audio payload."""
        self.record.audio_out_bytes += nbytes
        response_id, item_id = self._echo_ids
        return self.event("response.output_audio.delta", response_id=response_id, item_id=item_id,
                          output_index=0, content_index=0, delta=event["audio"])

    def _speech_started(self, signal: Started, now: float) -> list[Outgoing]:
        """``speech_started``; barge-in cancels the active response when configured to."""
        self._pending_item_id = self.ids.item()
        out: list[Outgoing] = [self.event("input_audio_buffer.speech_started", item_id=self._pending_item_id,
                                          audio_start_ms=signal.audio_start_ms)]
        if self.kind == "realtime" and self._turn_flag("interrupt_response"):
            out += self.responder.interrupt()
        return out

    def _speech_stopped(self, signal: Stopped, now: float) -> list[Outgoing]:
        """``speech_stopped``, commit the utterance, maybe respond."""
        item_id = self._pending_item_id or self.ids.item()
        self._pending_item_id = None
        out: list[Outgoing] = [self.event("input_audio_buffer.speech_stopped", item_id=item_id,
                                          audio_end_ms=signal.audio_end_ms)]
        out += self._commit_audio(item_id, signal.audio, now)
        out += self._asr_poll(now)
        if self.kind == "realtime" and self._turn_flag("create_response") and not self.responder.active:
            out += self.responder.start_auto(now)
        return out

    def _commit(self, event: Event, now: float) -> list[Outgoing]:
        """Manual commit: needs at least 100 ms of audio."""
        buffered = self.input.buffered_ms
        if buffered < MIN_COMMIT_MS:
            return [self.error("input_audio_buffer_commit_empty",
                               "Error committing input audio buffer: buffer too small. Expected at least "
                               f"100ms of audio, but buffer only has {buffered:.2f}ms of audio.", event)]
        item_id = self._pending_item_id or self.ids.item()
        self._pending_item_id = None
        return self._commit_audio(item_id, self.input.commit(), now)

    def _commit_audio(self, item_id: str, data: bytes, now: float) -> list[Outgoing]:
        """``committed`` + user item ``added``/``done`` + input transcription."""
        self.user_turns += 1
        fmt = self.input.format
        audio_ms = fmt.ms(len(data))
        item: dict[str, Json] = {"id": item_id, "type": "message", "object": "realtime.item",
                                 "status": "completed", "role": "user",
                                 "content": [{"type": "input_audio", "transcript": None}]}
        heard = _heard(data, fmt) or text.transcript_text(self.user_turns, audio_ms)
        previous = self.conversation.insert(Entry(item, audio_ms=audio_ms, audio=data, audio_format=fmt, heard=heard))
        out: list[Outgoing] = [
            self.event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            self.event("conversation.item.added", previous_item_id=previous, item=item),
            self.event("conversation.item.done", previous_item_id=previous, item=item)]
        model = self._transcription_model()
        if model is not None:
            self.asr.submit(AsrJob(item_id, model, audio_ms, heard), now)
        return out

    def _asr_poll(self, now: float) -> list[Outgoing]:
        """Due transcription events; a completion writes the transcript into the user item."""
        out = self.asr.poll(now)
        for event in out:
            entry = self.conversation.get(str(event["item_id"]))
            if entry is not None and str(event["type"]).endswith(".completed"):
                entry.item = {**entry.item, "content": [
                    {**part, "transcript": event["transcript"]} if isinstance(part, dict) else part
                    for part in as_list(entry.item.get("content"))]}
        return list(out)

    def _clear(self, event: Event, now: float) -> list[Outgoing]:
        """Drop the uncommitted buffer."""
        self.input.clear()
        self._pending_item_id = None
        return [self.event("input_audio_buffer.cleared")]

    def _output_clear(self, event: Event, now: float) -> list[Outgoing]:
        """Only WebRTC/SIP sessions have a server-side output buffer."""
        return [self.error("invalid_value", "output_audio_buffer.clear is only supported for WebRTC and "
                           "SIP sessions; over WebSocket stop playback locally and truncate.", event,
                           param="type")]

    # --- configuration views -----------------------------------------------------------------

    def _audio_input(self) -> dict[str, Json]:
        """``session.audio.input``."""
        return as_dict(member(self.session, "audio", "input"))

    def _input_format(self) -> AudioFormat:
        """The session's input audio format."""
        return format_from_json(self._audio_input().get("format")) or PCM

    def turn_detection(self) -> dict[str, Json] | None:
        """The effective turn detection (``None`` when off)."""
        value = self._audio_input().get("turn_detection")
        return value if isinstance(value, dict) else None

    def interrupts_on_speech(self) -> bool:
        """Server VAD with ``interrupt_response``: speech cuts the response (and, on a call, its playing audio)."""
        return self.kind == "realtime" and self._turn_flag("interrupt_response")

    def _turn_flag(self, name: str) -> bool:
        """``create_response`` / ``interrupt_response`` (false when VAD is off)."""
        detection = self.turn_detection()
        return bool(detection and detection.get(name, True))

    def _vad_config(self) -> VadConfig | None:
        """VAD knobs, or ``None`` in manual mode and in echo mode."""
        detection = self.turn_detection()
        if detection is None or self.script.mode == "echo":
            return None
        if detection.get("type") == "semantic_vad":
            return VadConfig(silence_duration_ms=semantic_silence_ms(detection))
        return VadConfig(threshold=as_number(detection.get("threshold"), schema.VAD_THRESHOLD),
                         prefix_padding_ms=as_int(detection.get("prefix_padding_ms"), schema.VAD_PREFIX_PADDING_MS),
                         silence_duration_ms=as_int(detection.get("silence_duration_ms"), schema.VAD_SILENCE_DURATION_MS))

    def _transcription_model(self) -> str | None:
        """The input-transcription model, if transcription is on."""
        config = self._audio_input().get("transcription")
        model = config.get("model") if isinstance(config, dict) else None
        return model if isinstance(model, str) else None

    def reply_text(self, turn: int) -> str:
        """Deterministic reply text for the ``turn``-th response."""
        last = self.conversation.last()
        if last is not None and last.item.get("type") == "function_call_output":
            call = next((e for e in self.conversation if e.item.get("type") == "function_call"
                         and e.item.get("call_id") == last.item.get("call_id")), None)
            name = str(call.item.get("name")) if call else "function"
            return text.tool_reply_text(name, str(last.item.get("output")), self.script.reply_ms)
        return text.reply_text(turn, self.script.reply_ms)


def _heard(data: bytes, fmt: AudioFormat) -> str | None:
    """Text tone-coded in committed audio (``spoken``), capitalised like a transcript."""
    found = spoken.decode(samples_of(data, fmt), fmt.rate)
    return found[:1].upper() + found[1:] if found else None
