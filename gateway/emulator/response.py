"""One model response as a timed event stream (Sans-I/O): spoken/text message or function call.

A ``ResponseRun`` is planned at creation and releases its events as time passes (``poll``);
``cancel`` closes every open stream at once with the partial content, as the real API does.
Order for audio: ``response.created`` → ``rate_limits.updated`` → ``response.output_item.added`` →
``conversation.item.added`` → ``response.content_part.added`` → (``response.output_audio.delta`` +
``response.output_audio_transcript.delta``)* → ``response.output_audio.done`` →
``response.output_audio_transcript.done`` → ``response.content_part.done`` →
``response.output_item.done`` → ``conversation.item.done`` → ``response.done``.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.emulator import audio, text
from gateway.emulator.ids import IdFactory
from gateway.emulator.stats import SessionRecord
from gateway.emulator.types import Event, Json

_TEXT_STEP_MS = 50
_ARG_CHUNK = 24


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Say ``text``; with audio output the speech lasts ``audio_ms``."""

    text: str
    audio_ms: int


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Call function ``name`` with JSON ``arguments``."""

    name: str
    call_id: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseSettings:
    """Effective per-response configuration (session defaults merged with ``response.create``)."""

    response_id: str
    conversation_id: str | None
    output_modalities: list[str]
    output_format: audio.AudioFormat
    voice: Json
    max_output_tokens: Json
    metadata: Json
    previous_item_id: str | None
    voice_offset_ms: int


@dataclass(frozen=True, slots=True)
class Pacing:
    """Timing knobs from the script."""

    ttfa_ms: int
    chunk_ms: int
    pace: bool
    #: generation speed as a multiple of real time (1 = real time)
    speed: int = 1
    #: audio released together per burst (0 = one chunk per step)
    burst_ms: int = 0

    def audio_offset_s(self, offset_ms: int) -> float:
        """When the audio starting at ``offset_ms`` of a reply is sent, relative to its first chunk."""
        if not self.pace:
            return 0.0
        burst = max(self.burst_ms, self.chunk_ms)
        return (offset_ms // burst) * burst / self.speed / 1000


@dataclass(frozen=True, slots=True)
class InputUsage:
    """Input-token side of usage, computed by the session from the conversation context."""

    text_tokens: int
    audio_tokens: int
    cached_text: int
    cached_audio: int


Step = Callable[[], list[Event]]


class ResponseRun:
    """Emits one response's events on schedule and remembers what was generated."""

    def __init__(self, ids: IdFactory, settings: ResponseSettings, plan: MessagePlan | CallPlan,
                 usage_in: InputUsage, pacing: Pacing, record: SessionRecord, now: float) -> None:
        """Plan the whole stream starting at ``now``."""
        self.ids, self.settings, self.usage_in, self.record = ids, settings, usage_in, record
        self.pacing = pacing
        self.item_id = ids.item()
        self.plan, self.status, self.reason = self._limit(plan)
        self.done = False
        self.sent_audio_ms = 0
        self.sent_text = ""
        self.final_item: dict[str, Json] | None = None
        self.final_usage: dict[str, Json] | None = None
        self._steps: deque[tuple[float, Step]] = deque()
        self._schedule(now)

    @property
    def response_id(self) -> str:
        """The ``resp_…`` id."""
        return self.settings.response_id

    @property
    def audio(self) -> bool:
        """Whether this response speaks (as opposed to text-only or a function call)."""
        return isinstance(self.plan, MessagePlan) and self.settings.output_modalities == ["audio"]

    def next_due(self) -> float | None:
        """When the next event is due (``None`` once finished)."""
        return self._steps[0][0] if self._steps else None

    def poll(self, now: float) -> list[Event]:
        """Every event due at or before ``now``."""
        out: list[Event] = []
        while self._steps and self._steps[0][0] <= now:
            out.extend(self._steps.popleft()[1]())
        return out

    def cancel(self, reason: str) -> list[Event]:
        """Stop generating now and close all open streams; status ``cancelled``."""
        if self.done:
            return []
        self._steps.clear()
        self.status, self.reason = "cancelled", reason
        return self._finish_message() if isinstance(self.plan, MessagePlan) else self._finish_call()

    # --- planning --------------------------------------------------------------------------

    def _limit(self, plan: MessagePlan | CallPlan) -> tuple[MessagePlan | CallPlan, str, str | None]:
        """Shorten a message that would exceed ``max_output_tokens`` (→ status ``incomplete``)."""
        limit = self.settings.max_output_tokens
        if not isinstance(limit, int) or not isinstance(plan, MessagePlan):
            return plan, "completed", None
        audio_ms = plan.audio_ms if self.settings.output_modalities == ["audio"] else 0
        needed = text.text_tokens(plan.text) + text.output_audio_tokens(audio_ms)
        if needed <= limit:
            return plan, "completed", None
        ratio = limit / needed
        words = plan.text.split(" ")
        kept = " ".join(words[:max(1, math.floor(len(words) * ratio))])
        while text.text_tokens(kept) + text.output_audio_tokens(int(audio_ms * ratio)) > limit and ratio > 0:
            ratio = max(0.0, ratio - 0.05)
            kept = " ".join(words[:max(1, math.floor(len(words) * ratio))])
        short = MessagePlan(kept if text.text_tokens(kept) <= limit else kept[:limit * 4], int(audio_ms * ratio))
        return short, "incomplete", "max_output_tokens"

    def _schedule(self, now: float) -> None:
        """Lay out every step's due time."""
        first = now + self.pacing.ttfa_ms / 1000
        self._steps.append((now, self._start))
        if isinstance(self.plan, CallPlan):
            self._schedule_call(first)
        elif self.audio:
            self._schedule_audio(first)
        else:
            self._schedule_text(first)

    def _at(self, base: float, index: int, step_ms: int) -> float:
        """Due time of the ``index``-th delta (all at ``base`` when pacing is off)."""
        return base + (index * step_ms / 1000 if self.pacing.pace else 0.0)

    def _schedule_audio(self, first: float) -> None:
        """One step per audio chunk, released in bursts faster than real time (``Pacing``).

        Transcript deltas ride along; the tail (``response.done``) follows the last chunk, so it
        arrives while the client still has audio to play, as with the real service.
        """
        assert isinstance(self.plan, MessagePlan)
        chunk = self.pacing.chunk_ms
        count = max(1, math.ceil(self.plan.audio_ms / chunk))
        deltas = text.split_deltas(self.plan.text, count)
        for i in range(count):
            length = min(chunk, self.plan.audio_ms - i * chunk)
            due = first + self.pacing.audio_offset_s(i * chunk)
            self._steps.append((due, self._audio_step(i * chunk, length, deltas[i])))
        self._steps.append((first + self.pacing.audio_offset_s((count - 1) * chunk), self._finish_message))

    def _schedule_text(self, first: float) -> None:
        """One text delta per word, 50 ms apart when paced."""
        assert isinstance(self.plan, MessagePlan)
        deltas = text.split_deltas(self.plan.text, len(self.plan.text.split(" ")))
        for i, delta in enumerate(deltas):
            self._steps.append((self._at(first, i, _TEXT_STEP_MS), self._text_step(delta)))
        self._steps.append((self._at(first, len(deltas) - 1, _TEXT_STEP_MS), self._finish_message))

    def _schedule_call(self, first: float) -> None:
        """Argument deltas of 24 characters, 50 ms apart when paced."""
        assert isinstance(self.plan, CallPlan)
        args = self.plan.arguments
        pieces = [args[i:i + _ARG_CHUNK] for i in range(0, len(args), _ARG_CHUNK)] or [""]
        for i, piece in enumerate(pieces):
            self._steps.append((self._at(first, i, _TEXT_STEP_MS), self._args_step(piece)))
        self._steps.append((self._at(first, len(pieces) - 1, _TEXT_STEP_MS), self._finish_call))

    # --- event builders --------------------------------------------------------------------

    def _event(self, kind: str, **fields: Json) -> Event:
        """A server event with a fresh ``event_id``."""
        return {"type": kind, "event_id": self.ids.event(), **fields}

    def _ids(self) -> dict[str, Json]:
        """The id fields shared by per-part delta events."""
        return {"response_id": self.response_id, "item_id": self.item_id, "output_index": 0,
                "content_index": 0}

    def response_object(self, status: str) -> dict[str, Json]:
        """The ``realtime.response`` object as of now."""
        s = self.settings
        details: Json = None
        if status in ("cancelled", "incomplete"):
            details = {"type": status, "reason": self.reason}
        return {
            "object": "realtime.response", "id": self.response_id, "status": status,
            "status_details": details,
            "output": [self.final_item] if self.final_item is not None and status != "in_progress" else [],
            "conversation_id": s.conversation_id, "output_modalities": [*s.output_modalities],
            "max_output_tokens": s.max_output_tokens,
            "audio": {"output": {"format": s.output_format.to_json(), "voice": s.voice}},
            "usage": self.final_usage, "metadata": s.metadata,
        }

    def item_object(self, status: str) -> dict[str, Json]:
        """The output item as of now (no audio bytes, as in the real events)."""
        if isinstance(self.plan, CallPlan):
            args = self.plan.arguments if status != "in_progress" else ""
            return {"id": self.item_id, "type": "function_call", "object": "realtime.item",
                    "status": status, "name": self.plan.name, "call_id": self.plan.call_id,
                    "arguments": args}
        content: list[Json] = []
        if status != "in_progress":
            content = [{"type": "output_audio", "transcript": self.sent_text} if self.audio
                       else {"type": "output_text", "text": self.sent_text}]
        return {"id": self.item_id, "type": "message", "object": "realtime.item", "status": status,
                "role": "assistant", "content": content}

    def _start(self) -> list[Event]:
        """``response.created`` through ``content_part.added``."""
        reserve = self.settings.max_output_tokens if isinstance(self.settings.max_output_tokens, int) else 4096
        events = [
            self._event("response.created", response=self.response_object("in_progress")),
            self._event("rate_limits.updated", rate_limits=[
                {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                {"name": "tokens", "limit": 800_000, "remaining": 800_000 - reserve, "reset_seconds": 0.3}]),
            self._event("response.output_item.added", response_id=self.response_id, output_index=0,
                        item=self.item_object("in_progress")),
        ]
        if self.settings.conversation_id is not None:
            events.append(self._event("conversation.item.added", previous_item_id=self.settings.previous_item_id,
                                      item=self.item_object("in_progress")))
        if isinstance(self.plan, MessagePlan):
            part: dict[str, Json] = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
            events.append(self._event("response.content_part.added", part=part, **self._ids()))
        return events

    def _audio_step(self, offset_ms: int, length_ms: int, delta_text: str) -> Step:
        """A step emitting one audio chunk and its share of the transcript."""
        def step() -> list[Event]:
            fmt = self.settings.output_format
            pcm = audio.voice(fmt, self.settings.voice_offset_ms + offset_ms, length_ms)
            self.sent_audio_ms += length_ms
            self.record.audio_out_bytes += len(pcm)
            events = [self._event("response.output_audio.delta", delta=base64.b64encode(pcm).decode(),
                                  **self._ids())]
            if delta_text:
                self.sent_text += delta_text
                events.append(self._event("response.output_audio_transcript.delta", delta=delta_text,
                                          **self._ids()))
            return events
        return step

    def _text_step(self, delta_text: str) -> Step:
        """A step emitting one text delta."""
        def step() -> list[Event]:
            if not delta_text:
                return []
            self.sent_text += delta_text
            return [self._event("response.output_text.delta", delta=delta_text, **self._ids())]
        return step

    def _args_step(self, piece: str) -> Step:
        """A step emitting one function-argument delta."""
        def step() -> list[Event]:
            assert isinstance(self.plan, CallPlan)
            self.sent_text += piece
            return [self._event("response.function_call_arguments.delta", response_id=self.response_id,
                                item_id=self.item_id, output_index=0, call_id=self.plan.call_id,
                                delta=piece)]
        return step

    def _finish_message(self) -> list[Event]:
        """Close the content part, the item and the response."""
        ids = self._ids()
        if self.audio:
            events = [self._event("response.output_audio.done", **ids),
                      self._event("response.output_audio_transcript.done", transcript=self.sent_text, **ids)]
            part: dict[str, Json] = {"type": "audio", "transcript": self.sent_text}
        else:
            events = [self._event("response.output_text.done", text=self.sent_text, **ids)]
            part = {"type": "text", "text": self.sent_text}
        events.append(self._event("response.content_part.done", part=part, **ids))
        return events + self._finish_item()

    def _finish_call(self) -> list[Event]:
        """Close the argument stream, the item and the response."""
        assert isinstance(self.plan, CallPlan)
        events: list[Event] = []
        if self.status == "completed":
            events.append(self._event(
                "response.function_call_arguments.done", response_id=self.response_id,
                item_id=self.item_id, output_index=0, call_id=self.plan.call_id, name=self.plan.name,
                arguments=self.plan.arguments))
        return events + self._finish_item()

    def _finish_item(self) -> list[Event]:
        """``response.output_item.done``, ``conversation.item.done`` and ``response.done``."""
        self.done = True
        item_status = "completed" if self.status == "completed" else "incomplete"
        self.final_item = self.item_object(item_status)
        self.final_usage = self._usage()
        self.record.responses += 1
        self.record.usage_total.add_response(self.final_usage)
        events = [self._event("response.output_item.done", response_id=self.response_id, output_index=0,
                              item=self.final_item)]
        if self.settings.conversation_id is not None:
            events.append(self._event("conversation.item.done", previous_item_id=self.settings.previous_item_id,
                                      item=self.final_item))
        events.append(self._event("response.done", response=self.response_object(self.status)))
        return events

    def _usage(self) -> dict[str, Json]:
        """Token usage: input from the context, output from what was actually generated."""
        u = self.usage_in
        out_audio = text.output_audio_tokens(self.sent_audio_ms)
        out_text = text.text_tokens(self.sent_text)
        if isinstance(self.plan, CallPlan):
            out_text = text.text_tokens(self.plan.name) + text.text_tokens(self.sent_text)
        inp = u.text_tokens + u.audio_tokens
        return {
            "total_tokens": inp + out_text + out_audio, "input_tokens": inp,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": u.text_tokens, "audio_tokens": u.audio_tokens, "image_tokens": 0,
                "cached_tokens": u.cached_text + u.cached_audio,
                "cached_tokens_details": {"text_tokens": u.cached_text, "audio_tokens": u.cached_audio,
                                          "image_tokens": 0}},
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }
