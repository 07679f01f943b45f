"""``response.create`` / ``response.cancel`` / barge-in for a voice-agent session.

Builds each response's effective settings (session defaults overridden by ``response.create``),
decides between speaking and calling a tool (see ``tools``), computes input usage from the
context, and keeps the default-conversation response plus any out-of-band ones running.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import orjson

from gateway.emulator import tools
from gateway.emulator.audio import format_from_json
from gateway.emulator.conversation import Entry, preamble_text, user_turn_words
from gateway.emulator.machine import Outgoing
from gateway.emulator.response import CallPlan, MessagePlan, Pacing, ResponseRun, ResponseSettings
from gateway.emulator.session_config import Problem, check_max_tokens, check_prompt, check_tool_choice, check_tools
from gateway.emulator.types import Event, Json
from gateway.core.jsontypes import as_list, as_dict, member

if TYPE_CHECKING:
    from gateway.emulator.realtime import RealtimeSession

_CREATE_KEYS = frozenset({"audio", "conversation", "input", "instructions", "max_output_tokens",
                          "metadata", "output_modalities", "parallel_tool_calls", "prompt", "reasoning",
                          "tool_choice", "tools"})


class Responder:
    """Owns the session's responses."""

    def __init__(self, session: RealtimeSession) -> None:
        """Attach to a session; nothing runs yet."""
        self.session = session
        self.active: ResponseRun | None = None
        self._active_entry: Entry | None = None
        self.out_of_band: list[ResponseRun] = []
        self.audio_produced = False
        self.count = 0
        self._voice_clock_ms = 0

    # --- client events ---------------------------------------------------------------------

    def create(self, event: Event, now: float) -> list[Outgoing]:
        """Validate ``response.create`` and start the response."""
        params = event.get("response") or {}
        problem = _validate(params)
        if problem is not None:
            return [self.session.error(problem.code, problem.message, event, param=problem.param)]
        assert isinstance(params, dict)
        if params.get("conversation", "auto") != "none" and self.active is not None:
            return [self.session.error(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.response_id}. "
                "Wait until the response is finished before creating a new one.", event)]
        context = self._context(params)
        if context is None:
            return [self.session.error("invalid_value", "Invalid value for 'response.input': an item_reference "
                                       "points at an item that does not exist.", event, param="response.input")]
        return self._start(params, context, now)

    def start_auto(self, now: float) -> list[Outgoing]:
        """A response triggered by server VAD at the end of a user turn."""
        return self._start({}, list(self.session.conversation), now)

    def cancel(self, event: Event, now: float) -> list[Outgoing]:
        """``response.cancel`` (optionally by ``response_id``)."""
        wanted = event.get("response_id")
        runs = [r for r in [self.active, *self.out_of_band] if r is not None]
        run = next((r for r in runs if wanted in (None, r.response_id)), None)
        if run is None:
            return [self.session.error("response_cancel_not_active",
                                       "Cancellation failed: no active response found.", event)]
        events = run.cancel("client_cancelled")
        self._reap()
        return list(events)

    def interrupt(self) -> list[Outgoing]:
        """Barge-in: cancel the default-conversation response with reason ``turn_detected``."""
        if self.active is None:
            return []
        events = self.active.cancel("turn_detected")
        self._reap()
        return list(events)

    # --- timing ----------------------------------------------------------------------------

    def poll(self, now: float) -> list[Outgoing]:
        """Due events of every running response."""
        out: list[Outgoing] = []
        for run in [r for r in [self.active, *self.out_of_band] if r is not None]:
            out += run.poll(now)
        if self.active is not None and self._active_entry is not None:
            self._active_entry.audio_ms = self.active.sent_audio_ms  # truncatable while it streams
        self._reap()
        return out

    def next_due(self) -> float | None:
        """Earliest due time among running responses."""
        times = [t for r in [self.active, *self.out_of_band] if r is not None
                 for t in [r.next_due()] if t is not None]
        return min(times) if times else None

    # --- internals ---------------------------------------------------------------------------

    def _start(self, params: dict[str, Json], context: list[Entry], now: float) -> list[Outgoing]:
        """Plan the response, register it, and return its first events."""
        s = self.session
        session = s.session
        self.count += 1
        in_conversation = params.get("conversation", "auto") != "none"
        instructions = str(params.get("instructions", session.get("instructions") or ""))
        tool_list = params.get("tools", session.get("tools") or [])
        usage_in = s.conversation.context_usage(preamble_text(instructions, tool_list), context)
        settings = self._settings(params, in_conversation)
        plan = self._plan(params, context, instructions, tool_list)
        pacing = Pacing(s.script.ttfa_ms, s.script.chunk_ms, s.script.pace, s.script.speed, s.script.burst_ms)
        run = ResponseRun(s.ids, settings, plan, usage_in, pacing, s.record, now)
        s.record.response_configs.append({
            "instructions": instructions, "tools": tool_list, "voice": settings.voice,
            "max_output_tokens": settings.max_output_tokens, "conversation": params.get("conversation", "auto"),
            "context": [_item_text(entry.item) for entry in context]})
        if run.audio:
            self.audio_produced = True
            self._voice_clock_ms += run.plan.audio_ms if isinstance(run.plan, MessagePlan) else 0
        if in_conversation:
            self.active = run
            self._active_entry = Entry(run.item_object("in_progress"), voice_offset_ms=settings.voice_offset_ms)
            s.conversation.insert(self._active_entry)
        else:
            self.out_of_band.append(run)
        return list(run.poll(now))

    def _settings(self, params: dict[str, Json], in_conversation: bool) -> ResponseSettings:
        """Session defaults overridden by ``response.create.response``."""
        s = self.session
        session = s.session
        override = as_dict(member(params, "audio", "output"))
        fmt = format_from_json(override.get("format")) or s.output_format()
        return ResponseSettings(
            response_id=s.ids.new("resp"),
            conversation_id=s.conversation.id if in_conversation else None,
            output_modalities=[str(m) for m in as_list(params.get("output_modalities") or session["output_modalities"])],
            output_format=fmt, voice=override.get("voice", member(session, "audio", "output", "voice")),
            max_output_tokens=params.get("max_output_tokens", session.get("max_output_tokens", "inf")),
            metadata=params.get("metadata"),
            previous_item_id=s.conversation.last_id() if in_conversation else None,
            voice_offset_ms=self._voice_clock_ms)

    def _plan(self, params: dict[str, Json], context: list[Entry], instructions: str,
              tool_list: Json) -> MessagePlan | CallPlan:
        """Speak, or call a tool per the documented trigger rule."""
        s = self.session
        last = context[-1] if context else None
        words, called = user_turn_words(context)
        ctx = tools.ToolContext(
            tools=tool_list if isinstance(tool_list, list) else [],
            tool_choice=params.get("tool_choice", s.session.get("tool_choice", "auto")),
            instructions=instructions, metadata=params.get("metadata"),
            last_user_text=words,
            last_item_is_tool_output=last is not None and last.item.get("type") == "function_call_output",
            turn_had_call=called)
        tool = tools.choose_tool(ctx)
        if tool is not None:
            arguments = orjson.dumps(tools.arguments_for(tool.get("parameters"))).decode()
            return CallPlan(str(tool["name"]), s.ids.new("call"), arguments)
        return MessagePlan(s.reply_text(self.count), s.script.reply_ms)

    def _context(self, params: dict[str, Json]) -> list[Entry] | None:
        """Items the response sees: ``response.input`` if given, else the whole conversation."""
        given = params.get("input")
        if given is None:
            return list(self.session.conversation)
        entries: list[Entry] = []
        for item in as_list(given):
            if isinstance(item, dict) and item.get("type") == "item_reference":
                found = self.session.conversation.get(str(item.get("id")))
                if found is None:
                    return None
                entries.append(found)
            elif isinstance(item, dict):
                entries.append(Entry({"id": item.get("id") or self.session.ids.item(), **item}))
        return entries

    def _reap(self) -> None:
        """Retire finished responses; the default one's final item replaces its placeholder."""
        if self.active is not None and self.active.done:
            if self._active_entry is not None and self.active.final_item is not None:
                self._active_entry.item = copy.deepcopy(self.active.final_item)
                self._active_entry.audio_ms = self.active.sent_audio_ms
            self.active, self._active_entry = None, None
        self.out_of_band = [r for r in self.out_of_band if not r.done]


def _validate(params: Json) -> Problem | None:
    """Shape checks of ``response.create.response``."""
    if not isinstance(params, dict):
        return Problem("invalid_type", "response", "Invalid type for 'response': expected an object.")
    unknown = sorted(set(params) - _CREATE_KEYS)
    if unknown:
        return Problem("unknown_parameter", f"response.{unknown[0]}", f"Unknown parameter: 'response.{unknown[0]}'.")
    checks: list[Problem | None] = [
        check_tool_choice(params["tool_choice"], "response.tool_choice") if "tool_choice" in params else None,
        check_max_tokens(params["max_output_tokens"], "response.max_output_tokens")
        if "max_output_tokens" in params else None,
        check_prompt(params.get("prompt"), "response.prompt"),
        check_tools(params["tools"], "response.tools") if "tools" in params else None,
    ]
    if "output_modalities" in params and params["output_modalities"] not in (["audio"], ["text"]):
        checks.append(Problem("invalid_value", "response.output_modalities",
                              "Invalid value for 'response.output_modalities': expected [\"audio\"] or [\"text\"]."))
    if params.get("conversation", "auto") not in ("auto", "none"):
        checks.append(Problem("invalid_value", "response.conversation",
                              "Invalid value for 'response.conversation': expected 'auto' or 'none'."))
    if "input" in params and not isinstance(params["input"], list):
        checks.append(Problem("invalid_type", "response.input",
                              "Invalid type for 'response.input': expected an array."))
    checks.append(_check_metadata(params.get("metadata")))
    return next((c for c in checks if c is not None), None)


def _check_metadata(value: Json) -> Problem | None:
    """At most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return None
    ok = (isinstance(value, dict) and len(value) <= 16
          and all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
                  for k, v in value.items()))
    if ok:
        return None
    return Problem("invalid_value", "response.metadata", "Invalid value for 'response.metadata': "
                   "at most 16 string pairs, keys up to 64 and values up to 512 characters.")


def _item_text(item: dict[str, Json]) -> str:
    """``role: text`` of a message item in a response's context (what tests check a replay by)."""
    parts = item.get("content")
    texts = [str(p.get("text") or p.get("transcript") or "") for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    return f"{item.get('role') or item.get('type')}: {' '.join(t for t in texts if t)}"
