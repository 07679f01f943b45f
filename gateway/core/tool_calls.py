"""Gateway-side tool calls inside a realtime session, Sans-I/O: events in, frames and call requests out.

The session core hands this interceptor every client ``session.update``/``response.create`` and
every upstream control event. It

* adds the gateway's tool definitions to what the client declares and hides them again from
  ``session.created`` / ``session.updated`` (:mod:`gateway.core.tool_declarations`);
* swallows everything upstream sends about a gateway tool call (the ``function_call`` item, its
  argument deltas, the items in ``response.done``, the ``function_call_output`` items the gateway
  creates), checks the arguments against the tool's schema (:mod:`gateway.core.tool_arguments`)
  and queues a :class:`StartCall` for the executor shell;
* when a result arrives (:meth:`finished`), creates the ``function_call_output`` item and, once
  the response that made the call is over and no client call of that response is pending,
  ``response.create`` — so the client only hears the answer (:mod:`gateway.core.tool_responses`);
* asks for a spoken filler (an out-of-band response) when a call passes its ``filler_after_ms``
  while nothing is being said (:meth:`due`, at :meth:`next_deadline`);
* bounds each of its own replies (follow-up, filler) by what the cost cap or budget leaves, with the
  client path's clamp (:mod:`gateway.core.tool_responses`, bound by the session core);
* cancels the calls of a turn the user or the client moved away from (the response that made
  them ended ``cancelled``; the user started speaking with interruption on; the client sent
  ``response.cancel``; the session ended): outcome ``cancelled``, the executor is told to stop
  (:meth:`take_cancelled`), the model gets a ``cancelled`` output at once (not at the session's
  end) and no ``response.create`` follows — the stale answer is never spoken.

Time comes in as an argument; the shell runs the calls and the timers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.core import observers as ev
from gateway.core.gateway_tools import DEFAULT_FILLER_INSTRUCTIONS, GatewayTool
from gateway.core.jsontypes import JsonObject
from gateway.core.protocol import GATEWAY_EVENT_PREFIX
from gateway.core.routing import SessionOverrides
from gateway.core.session_schema import speech_interrupts
from gateway.core.tool_arguments import ArgumentSchema, compiled_schema, error_output
from gateway.core.tool_declarations import hide, merged
from gateway.core.tool_responses import FILLER_TAG, GatewayResponses, dumps

__all__ = ["CANCELLED_OUTPUT", "FILLER_TAG", "StartCall", "ToolCallInterceptor", "UpstreamVerdict", "dumps", "error_output"]

#: while a response is running, a due filler waits this long before looking again
_BUSY_RECHECK_S: Final = 0.05
_ITEM_EVENTS: Final = frozenset(
    {"conversation.item.added", "conversation.item.created", "conversation.item.done", "conversation.item.retrieved"}
)
_ARGUMENT_EVENTS: Final = frozenset({"response.function_call_arguments.delta", "response.function_call_arguments.done"})
#: what the model reads for a call whose turn was cancelled while the tool ran
CANCELLED_OUTPUT: Final = error_output(
    "Cancelled: the conversation moved on before the tool answered. Call it again if it is still needed."
)


@dataclass(frozen=True, slots=True)
class StartCall:
    """Run tool ``name`` with validated ``arguments``; report back with :meth:`ToolCallInterceptor.finished`."""

    call_id: str
    name: str
    server: str
    arguments: JsonObject
    at: float


@dataclass(frozen=True, slots=True)
class UpstreamVerdict:
    """What to do with one upstream event: drop it, or forward it (``changed``: it was rewritten)."""

    drop: bool = False
    changed: bool = False
    to_upstream: tuple[str, ...] = ()


_KEEP: Final = UpstreamVerdict()
_DROP: Final = UpstreamVerdict(drop=True)


@dataclass(slots=True)
class _Call:
    call_id: str
    name: str
    item_id: str
    response_id: str
    started_at: float
    finished: bool = False
    arguments: str | None = None


@dataclass(slots=True)
class _Origin:
    """A response that asked for gateway calls: answered with one ``response.create`` once all are in."""

    response_id: str
    calls: list[str] = field(default_factory=list)
    client_calls: int = 0
    done: bool = False
    filler_asked: bool = False


class ToolCallInterceptor:
    """One session's gateway tools: injection, interception and follow-ups, without I/O."""

    def __init__(
        self,
        tools: Sequence[GatewayTool],
        *,
        overrides: SessionOverrides | None = None,
        max_result_bytes: int = 16 * 1024,
        filler_instructions: str = DEFAULT_FILLER_INSTRUCTIONS,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self._schemas: dict[str, ArgumentSchema] = {tool.name: compiled_schema(tool.parameters) for tool in tools}
        self._definitions = [tool.definition() for tool in tools]
        self.max_result_bytes = max_result_bytes
        self.wake = wake or (lambda: None)
        self._ids = itertools.count(1)
        self.responses = GatewayResponses(
            overrides or SessionOverrides(), filler_instructions, self._event_id, lambda clamped: self.events.append(clamped)
        )
        self._starts: list[StartCall] = []
        self._cancelled: list[str] = []
        #: when each running call with a filler_after_ms is due for its filler
        self._filler_due: dict[str, float] = {}
        #: the session's turn detection cancels a response when the user speaks (server default: yes)
        self._speech_interrupts = True
        self.events: list[ev.SessionEvent] = []
        self._calls: dict[str, _Call] = {}
        self._by_item: dict[str, _Call] = {}
        self._origins: dict[str, _Origin] = {}
        #: ids of the function_call_output items the gateway created
        self._output_items: set[str] = set()

    # --- set-up and the client side ------------------------------------------------------------

    def _event_id(self, what: str) -> str:
        return f"{GATEWAY_EVENT_PREFIX}tool_{what}_{next(self._ids)}"

    def definitions(self) -> list[JsonObject]:
        return [dict(d) for d in self._definitions]

    def client_session(self, session: JsonObject) -> None:
        """A client ``session.update``: keep the gateway's tools in any tool list it sets."""
        if self.tools and "tools" in session:
            session["tools"] = merged(session["tools"], self.definitions(), self.tools, "session.tools")

    def client_response(self, response: JsonObject) -> None:
        """A client ``response.create``: a tool list it sets for this response keeps the gateway's tools."""
        if self.tools and "tools" in response:
            response["tools"] = merged(response["tools"], self.definitions(), self.tools, "response.tools")

    # --- upstream events ------------------------------------------------------------------------

    def upstream(self, event: JsonObject, now: float) -> UpstreamVerdict:
        """Look at one upstream control event (already parsed, GA shape)."""
        t = event.get("type")
        if t in ("session.created", "session.updated"):
            session = event.get("session")
            if not isinstance(session, dict):
                return _KEEP
            self._speech_interrupts = speech_interrupts(session, self._speech_interrupts)
            return UpstreamVerdict(changed=True) if self.tools and hide(session, self.tools) else _KEEP
        if t == "input_audio_buffer.speech_started":
            return UpstreamVerdict(to_upstream=tuple(self.cancel_pending(now))) if self._speech_interrupts else _KEEP
        if t in _ARGUMENT_EVENTS:
            return self._arguments(event, now, done=t == "response.function_call_arguments.done")
        if t in ("response.output_item.added", "response.output_item.done"):
            return self._output_item(event)
        if t in _ITEM_EVENTS:
            return self._conversation_item(event)
        if t == "response.created":
            response = event.get("response")
            if isinstance(response, dict):
                self.responses.created(response)
            return _KEEP
        if t == "response.done":
            return self._response_done(event, now)
        if t == "error":
            return self._error(event)
        return _KEEP

    def _output_item(self, event: JsonObject) -> UpstreamVerdict:
        item = event.get("item")
        if not isinstance(item, dict):
            return _KEEP
        item_id = item.get("id")
        if item_id in self._by_item:
            return _DROP
        if item.get("type") != "function_call":
            return _KEEP
        response_id = _text(event.get("response_id"))
        if item.get("name") not in self.tools:
            if event.get("type") == "response.output_item.added":
                self._origin(response_id).client_calls += 1
            return _KEEP
        call = _Call(_text(item.get("call_id")), str(item.get("name")), _text(item_id), response_id, 0.0)
        self._by_item[call.item_id] = call
        return _DROP

    def _origin(self, response_id: str) -> _Origin:
        origin = self._origins.get(response_id)
        if origin is None:
            origin = self._origins[response_id] = _Origin(response_id)
        return origin

    def _arguments(self, event: JsonObject, now: float, *, done: bool) -> UpstreamVerdict:
        call = self._by_item.get(_text(event.get("item_id")))
        if call is None:
            if done and event.get("name") in self.tools:  # no output_item.added seen: adopt the call now
                call = _Call(_text(event.get("call_id")), str(event["name"]), _text(event.get("item_id")), _text(event.get("response_id")), 0.0)
                self._by_item[call.item_id] = call
            else:
                return _KEEP
        if not done or call.call_id in self._calls:
            return _DROP
        call.call_id = _text(event.get("call_id")) or call.call_id
        call.started_at = now
        self._calls[call.call_id] = call
        self._origin(call.response_id).calls.append(call.call_id)
        return UpstreamVerdict(drop=True, to_upstream=tuple(self._start(call, event.get("arguments"), now)))

    def _start(self, call: _Call, raw: object, now: float) -> list[str]:
        tool = self.tools[call.name]
        call.arguments = raw if isinstance(raw, str) else None
        self.events.append(ev.GatewayToolStarted(at=now, call_id=call.call_id, name=call.name, server=tool.server))
        arguments, problem = self._schemas[call.name].parse(raw)
        if arguments is None:
            return self.finished(call.call_id, error_output(problem), now, outcome="invalid_arguments")
        if tool.limits.filler_after_ms is not None:
            self._filler_due[call.call_id] = now + tool.limits.filler_after_ms / 1000
        self._starts.append(StartCall(call.call_id, call.name, tool.server, arguments, now))
        self.wake()
        return []

    def _conversation_item(self, event: JsonObject) -> UpstreamVerdict:
        item = event.get("item")
        if not isinstance(item, dict):
            return _KEEP
        item_id = item.get("id")
        if item_id in self._by_item or item_id in self._output_items:
            return _DROP
        if item.get("type") == "function_call_output" and item.get("call_id") in self._calls:
            if isinstance(item_id, str):
                self._output_items.add(item_id)
            return _DROP
        return _KEEP

    def _response_done(self, event: JsonObject, now: float) -> UpstreamVerdict:
        response = event.get("response")
        if not isinstance(response, dict):
            return _KEEP
        response_id = _text(response.get("id"))
        self.responses.done(response_id)
        origin = self._origins.get(response_id)
        frames: list[str] = []
        if origin is not None and response.get("status") == "cancelled":
            self._origins.pop(response_id, None)  # its calls' answers would be stale: no follow-up
            frames += self._cancel([self._calls[c] for c in origin.calls], now)
        elif origin is not None:
            origin.done = True
            self._follow_up(origin)
        frames += self.responses.flush(now)
        output = response.get("output")
        changed = False
        if isinstance(output, list):
            visible = [i for i in output if not (isinstance(i, dict) and (i.get("id") in self._by_item or i.get("id") in self._output_items))]
            if len(visible) != len(output):
                response["output"] = visible
                changed = True
        return UpstreamVerdict(changed=changed, to_upstream=tuple(frames))

    def _error(self, event: JsonObject) -> UpstreamVerdict:
        """Our ``response.create`` refused (a response was active after all): retry after the next one."""
        event_id = _text(event.get("event_id"))
        error = event.get("error")
        if isinstance(error, dict) and not event_id:
            event_id = _text(error.get("event_id"))
        code = error.get("code") if isinstance(error, dict) else None
        return _DROP if self.responses.refused(event_id, code) else _KEEP

    # --- results and timers -----------------------------------------------------------------------

    def take_starts(self) -> list[StartCall]:
        starts, self._starts = self._starts, []
        return [s for s in starts if not self._calls[s.call_id].finished]  # cancelled before it started: never run

    def take_cancelled(self) -> list[str]:
        """Call ids the executor should stop (their outcome is already recorded as ``cancelled``)."""
        cancelled, self._cancelled = self._cancelled, []
        return cancelled

    # --- cancellation -------------------------------------------------------------------------------

    def client_cancel(self, now: float) -> list[str]:
        """The client sent ``response.cancel``: the answer being prepared is not wanted any more."""
        return self.cancel_pending(now)

    def cancel_pending(self, now: float) -> list[str]:
        """The conversation moved on (barge-in, ``response.cancel``): every running call is cancelled,
        and follow-ups not sent yet are dropped. Frames: the ``cancelled`` outputs."""
        pending = [call for call in self._calls.values() if not call.finished]
        for call in pending:
            self._origins.pop(call.response_id, None)
        self.responses.drop_queued()
        return self._cancel(pending, now)

    def retire(self, now: float, *, moved_by: str | None = None) -> None:
        """The session moved to another route's upstream and these tools no longer serve it: the ``transfer`` call
        that moved it (``moved_by``) is recorded ok, calls still running cancelled (their runner stopped with the
        old upstream); nothing is sent."""
        call = self._calls.get(moved_by) if moved_by is not None else None
        if call is not None and not call.finished:
            call.finished = True
            self._record(call, now, "ok", cache_hit=False)
        self.closing(now)

    def closing(self, now: float) -> None:
        """The session is ending: calls still running are recorded as cancelled (nothing is sent)."""
        self._cancel([call for call in self._calls.values() if not call.finished], now, output=False)

    def _cancel(self, calls: list[_Call], now: float, *, output: bool = True) -> list[str]:
        frames: list[str] = []
        for call in calls:
            if call.finished:
                continue
            call.finished = True
            self._filler_due.pop(call.call_id, None)
            self._cancelled.append(call.call_id)
            self._record(call, now, "cancelled", cache_hit=False)
            if output:
                frames.append(self._output(call.call_id, CANCELLED_OUTPUT))
        if self._cancelled:
            self.wake()
        return frames

    def _record(self, call: _Call, now: float, outcome: str, *, cache_hit: bool) -> None:
        self.events.append(
            ev.GatewayToolDone(
                at=now, call_id=call.call_id, name=call.name, server=self.tools[call.name].server,
                started_at=call.started_at, outcome=outcome, cache_hit=cache_hit, arguments=call.arguments,
            )
        )

    def _output(self, call_id: str, output: str) -> str:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        return dumps({"type": "conversation.item.create", "event_id": self._event_id("output"), "item": item})

    def claim(self, name: str) -> list[StartCall]:
        """Take the queued calls of tool ``name`` (one the session core runs itself, such as ``transfer``)."""
        claimed = [start for start in self._starts if start.name == name]
        if claimed:
            self._starts = [start for start in self._starts if start.name != name]
        return claimed

    def take_events(self) -> list[ev.SessionEvent]:
        events, self.events = self.events, []
        return events

    def finished(self, call_id: str, output: str, now: float, *, outcome: str = "ok", cache_hit: bool = False) -> list[str]:
        """A call's result (or error output) is in: frames to send upstream now."""
        call = self._calls.get(call_id)
        if call is None or call.finished:
            return []
        call.finished = True
        self._filler_due.pop(call_id, None)
        if len(output.encode()) > self.max_result_bytes:
            output, outcome = error_output("The tool's answer was too large to use."), "too_large"
        self._record(call, now, outcome, cache_hit=cache_hit)
        frames = [self._output(call_id, output)]
        origin = self._origins.get(call.response_id)
        if origin is not None:
            self._follow_up(origin)
        return frames + self.responses.flush(now)

    def _follow_up(self, origin: _Origin) -> None:
        if not origin.done or not all(self._calls[c].finished for c in origin.calls):
            return
        self._origins.pop(origin.response_id, None)
        if origin.client_calls or not origin.calls:
            return  # the client answers its own calls and asks for the response itself
        self.responses.queue_follow_up()

    def next_deadline(self) -> float | None:
        """When :meth:`due` has something to do next (None: nothing scheduled)."""
        return min(self._filler_due.values()) if self._filler_due else None

    def due(self, now: float) -> list[str]:
        """Fillers whose time has come: one short out-of-band response per waiting turn."""
        frames: list[str] = []
        for call_id, at in list(self._filler_due.items()):
            if at > now:
                continue
            origin = self._origins.get(self._calls[call_id].response_id)
            if origin is None or origin.filler_asked:
                del self._filler_due[call_id]
                continue
            if self.responses.busy or self.responses.stale:
                # something is being said, or its cost is not metered yet: look again shortly
                self._filler_due[call_id] = now + _BUSY_RECHECK_S
                continue
            del self._filler_due[call_id]
            origin.filler_asked = True
            filler = self.responses.filler(now)
            if filler is not None:  # None: nothing is left to pay for it (the core ends the session)
                self.events.append(ev.GatewayFillerRequested(at=now))
                frames.append(filler)
        return frames


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
