"""Mid-session handoff, Sans-I/O: one conversation moves to another route's upstream without the client reconnecting.

A :class:`Handoff` lives inside one :class:`~gateway.core.session.SessionCore`. It

* holds the route's :class:`HandoffRules` (targets, triggers) and decides when a trigger fires
  (spend share of the session cap, tenant budget share, the language of the user's transcribed
  input, the model's ``transfer`` tool, an operator) — each a :class:`HandoffRequest`;
* runs the switch lifecycle (:class:`HandoffState`, moves checked against a transition table):
  ``IDLE → OPENING`` (the shell opens the target; client frames are held from here on, in order)
  ``→ REPLAYING`` (the target is configured and the held frames are replayed to it) ``→ IDLE``;
  a target that cannot be reached (or fails while replaying) moves to ``RETURNING``: the held
  frames go to the old upstream, then ``→ IDLE``. Frames stay held until the buffer is empty, so
  none overtakes another;
* records the conversation (the client's effective session settings, the transcripts of earlier
  turns) and builds what the target gets first: a ``session.update`` and one
  ``conversation.item.create`` per earlier turn;
* swallows the target's answers to that replay (its ``session.created``, the ``session.updated``
  and item events answering the gateway's own events), so the client sees one continuous session.

Time is an argument; the shell does the I/O.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Final, Mapping

from gateway.core.errors import GatewayError, InvalidTransition
from gateway.core.frames import parse_event
from gateway.core.gateway_tools import GatewayTool, ToolLimits
from gateway.core.jsontypes import JsonObject
from gateway.core.ports import Frame
from gateway.core.protocol import GATEWAY_EVENT_PREFIX

#: the gateway-owned tool the model calls to hand the conversation over
TRANSFER_TOOL: Final = "transfer"
#: the "server" the transfer tool reports in tool spans and records
HANDOFF_SERVER: Final = "gateway"
#: the event type the client gets for every handoff (started, done or failed)
HANDOFF_EVENT: Final = "gateway.handoff"
#: earlier turns replayed to the target, newest kept (a long call is summarised by its recent turns)
MAX_REPLAYED_TURNS: Final = 40
#: characters of one replayed turn
MAX_TURN_CHARS: Final = 4000
#: session fields a client set that are carried to the target (model and type belong to the target)
_CARRIED: Final = frozenset(
    {"instructions", "tools", "tool_choice", "audio", "output_modalities", "temperature", "max_output_tokens",
     "tracing", "truncation", "include"}
)
_REPLAY_ITEM_EVENTS: Final = frozenset(
    {"conversation.item.added", "conversation.item.created", "conversation.item.done", "conversation.item.retrieved"}
)


class Trigger(enum.StrEnum):
    """What asked for a handoff."""

    TRANSFER = "transfer"
    SPEND = "spend"
    BUDGET = "budget"
    LANGUAGE = "language"
    ADMIN = "admin"


class HandoffState(enum.StrEnum):
    """Where a session's switch between upstreams is."""

    IDLE = "idle"  # on one upstream
    OPENING = "opening"  # the target is being opened; client frames are held
    REPLAYING = "replaying"  # the target is open: configured, then the held frames replayed to it
    RETURNING = "returning"  # the switch failed: the held frames go to the old upstream


_ALLOWED: Final[dict[HandoffState, frozenset[HandoffState]]] = {
    HandoffState.IDLE: frozenset({HandoffState.OPENING}),
    HandoffState.OPENING: frozenset({HandoffState.REPLAYING, HandoffState.RETURNING}),
    HandoffState.REPLAYING: frozenset({HandoffState.IDLE, HandoffState.RETURNING}),
    HandoffState.RETURNING: frozenset({HandoffState.IDLE}),
}


def check_handoff_transition(current: HandoffState, target: HandoffState) -> HandoffState:
    """Return ``target`` if the move is allowed, else raise naming what was expected."""
    allowed = _ALLOWED[current]
    if target not in allowed:
        expected = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(f"handoff cannot move from {current.value!r} to {target.value!r}; expected one of: {expected}")
    return target


@dataclass(frozen=True, slots=True)
class ShareTrigger:
    """Hand off to ``to`` once a share of a money limit is used."""

    share: float
    to: str


@dataclass(frozen=True, slots=True)
class HandoffRules:
    """A route's handoff policy, compiled: where its sessions may move and what moves them."""

    #: route names a session on this route may move to (every trigger's target is one of them)
    targets: tuple[str, ...]
    #: offer the model the gateway-owned ``transfer(to, reason)`` tool
    transfer_tool: bool = False
    #: share of the session's cost cap → route
    on_spend: ShareTrigger | None = None
    #: share of the tenant's daily/monthly budget used → route
    on_budget: ShareTrigger | None = None
    #: language of the user's transcribed input (ISO 639-1) → route
    on_language: Mapping[str, str] = field(default_factory=dict)

    def allows(self, to: str) -> bool:
        return to in self.targets


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """Move the session to route ``to``."""

    to: str
    reason: str
    trigger: Trigger


def transfer_tool(rules: HandoffRules) -> GatewayTool:
    """The gateway-owned ``transfer`` tool the model sees: ``to`` is an enum of the allowed targets."""
    return GatewayTool(
        name=TRANSFER_TOOL,
        description=(
            "Hand the conversation over to another assistant when the user needs it. "
            "The other assistant continues this same conversation."
        ),
        server=HANDOFF_SERVER,
        limits=ToolLimits(),
        parameters={
            "type": "object",
            "properties": {
                "to": {"type": "string", "enum": list(rules.targets), "description": "who takes over"},
                "reason": {"type": "string", "description": "why, in a few words"},
            },
            "required": ["to"],
            "additionalProperties": False,
        },
    )


@dataclass(slots=True)
class _Turn:
    role: str  # "user" or "assistant"
    text: str


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TURN_CHARS else text[:MAX_TURN_CHARS]


class Conversation:
    """What the target must know: the client's effective session settings and the earlier turns' transcripts."""

    def __init__(self) -> None:
        #: the client's session settings as last sent upstream (after the gateway's enforcement)
        self.session: JsonObject = {}
        self.turns: list[_Turn] = []
        #: language of the latest transcribed user input, when the upstream reported one
        self.language: str | None = None

    def client_session(self, session: JsonObject) -> None:
        """A client ``session.update`` as it went upstream: later fields win, as they do upstream."""
        for key, value in session.items():
            if key in _CARRIED:
                self.session[key] = value

    def client_item(self, item: object) -> None:
        """A client ``conversation.item.create``: text messages are part of the conversation."""
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            return
        role = item.get("role")
        content = item.get("content")
        if role not in ("user", "assistant") or not isinstance(content, list):
            return
        texts = [str(part.get("text") or part.get("transcript") or "") for part in content if isinstance(part, dict)]
        text = " ".join(t for t in texts if t)
        if text:
            self._add(str(role), text)

    def user_transcript(self, transcript: str | None, language: str | None = None) -> None:
        if transcript:
            self._add("user", transcript)
        if language:
            self.language = language.lower()

    def assistant_transcript(self, transcript: str | None) -> None:
        if transcript:
            self._add("assistant", transcript)

    def _add(self, role: str, text: str) -> None:
        self.turns.append(_Turn(role, _clip(text.strip())))
        if len(self.turns) > MAX_REPLAYED_TURNS:
            del self.turns[: len(self.turns) - MAX_REPLAYED_TURNS]


class Handoff:
    """One session's handoff rules, switch lifecycle, held frames and replay bookkeeping."""

    def __init__(self, rules: HandoffRules | None, route_name: str, model: str) -> None:
        self.rules = rules
        self.route_name = route_name
        self.model = model
        self.state = HandoffState.IDLE
        self.conversation = Conversation()
        #: a trigger that fired and waits for the shell (one at a time)
        self.requested: HandoffRequest | None = None
        #: the switch under way
        self.current: HandoffRequest | None = None
        self._held: list[Frame] = []
        #: bytes of the held frames (with the frames a core holds for metering, bounded by ``max_message_bytes``)
        self.held_bytes = 0
        #: input audio bytes the old model got since its last usage report, as the switch turned to the target
        self.old_audio_in = 0
        self._ids = itertools.count(1)
        #: targets the share triggers already moved to (each fires once per session)
        self._fired: set[Trigger] = set()
        #: the target's answers to the replay to swallow: event ids, item ids, how many session.updated
        self._our_events: set[str] = set()
        self._our_items: set[str] = set()
        self._session_updates = 0
        self._swallow_created = False
        #: the target's own ``conversation.created`` (a voice agent's opening): the client's conversation goes on
        self._swallow_conversation = False
        #: event id of the replayed session.update (the target route's enforcement rides on it)
        self._configuration_event: str | None = None
        #: routes and models the session was served by, in order
        self.history: list[tuple[str, str]] = [(route_name, model)]

    # --- lifecycle -----------------------------------------------------------------------------

    def _move(self, target: HandoffState) -> None:
        self.state = check_handoff_transition(self.state, target)

    @property
    def holding(self) -> bool:
        """Client frames are held (a switch is under way)."""
        return self.state is not HandoffState.IDLE

    def request(self, request: HandoffRequest) -> str | None:
        """Ask for a switch; returns why not (``None``: queued for the shell)."""
        refusal = self.refusal(request.to)
        if refusal is not None:
            return refusal
        if self.requested is not None or self.state is not HandoffState.IDLE:
            return "a handoff is already under way"
        self.requested = request
        return None

    def refusal(self, to: str) -> str | None:
        """Why this session may not move to ``to`` (``None``: it may)."""
        if self.rules is None:
            return "this session's route allows no handoff"
        if to == self.route_name:
            return f"the session is already on route '{to}'"
        if not self.rules.allows(to):
            return f"route '{to}' is not a handoff target of route '{self.route_name}'"
        return None

    def begin(self) -> HandoffRequest | None:
        """The shell takes the queued request and starts opening its target; client frames are held from now."""
        request, self.requested = self.requested, None
        if request is None:
            return None
        self._move(HandoffState.OPENING)
        self.current = request
        return request

    def hold(self, frame: Frame) -> None:
        self._held.append(frame)
        self.held_bytes += len(frame)

    @property
    def has_held(self) -> bool:
        return bool(self._held)

    def take_held(self) -> list[Frame]:
        held, self._held = self._held, []
        self.held_bytes = 0
        return held

    def opened(self, old_audio_in: int) -> None:
        """The target is open: the replay goes to it next. ``old_audio_in`` is the input audio the old model got
        since its last usage report: everything from here on (the held frames first) goes to the target."""
        self._move(HandoffState.REPLAYING)
        self.old_audio_in = old_audio_in

    def failed(self) -> HandoffRequest:
        """The target could not serve the session: stay on the old upstream (the shell replays the held frames to it)."""
        assert self.current is not None
        self._move(HandoffState.RETURNING)
        self._swallow_created, self._swallow_conversation, self._session_updates = False, False, 0
        return self.current

    def settled(self) -> None:
        """The held frames are back on the old upstream: frames flow again."""
        if self._held:
            raise InvalidTransition("handoff cannot settle with client frames still held")
        self._move(HandoffState.IDLE)
        self.current = None

    def completed(self, rules: HandoffRules | None, model: str) -> HandoffRequest:
        """The target serves the session now (the held frames are all replayed)."""
        assert self.current is not None
        if self._held:
            raise InvalidTransition("handoff cannot complete with client frames still held")
        request, self.current = self.current, None
        self._move(HandoffState.IDLE)
        self.rules, self.route_name, self.model = rules, request.to, model
        self.history.append((request.to, model))
        return request

    # --- triggers ------------------------------------------------------------------------------

    def spend(self, cost_share: float | None, budget_share: float | None) -> None:
        """The latest spend shares (of the session cap, of the tenant budget): fire a share trigger once."""
        rules = self.rules
        if rules is None:
            return
        for trigger, share, rule in (
            (Trigger.SPEND, cost_share, rules.on_spend),
            (Trigger.BUDGET, budget_share, rules.on_budget),
        ):
            if rule is None or share is None or trigger in self._fired or share < rule.share:
                continue
            if self.refusal(rule.to) is None and self.request(HandoffRequest(rule.to, f"{trigger.value} at {share:.0%}", trigger)) is None:
                self._fired.add(trigger)
                return

    def language(self, language: str | None) -> None:
        """The user's input was transcribed in ``language``: hand off when a route serves it."""
        rules = self.rules
        if rules is None or not language:
            return
        to = rules.on_language.get(language.lower())
        if to is not None and to != self.route_name:
            self.request(HandoffRequest(to, f"language {language.lower()}", Trigger.LANGUAGE))

    def transfer(self, arguments: Mapping[str, object]) -> str | None:
        """The model called ``transfer``: returns why not (``None``: queued)."""
        to, reason = arguments.get("to"), arguments.get("reason")
        if not isinstance(to, str):
            return "'to' must name a route"
        return self.request(HandoffRequest(to, str(reason)[:200] if isinstance(reason, str) and reason else "transfer", Trigger.TRANSFER))

    # --- the replay ----------------------------------------------------------------------------

    def _event_id(self, what: str) -> str:
        event_id = f"{GATEWAY_EVENT_PREFIX}handoff_{what}_{next(self._ids)}"
        self._our_events.add(event_id)
        return event_id

    def replay(self, opening: JsonObject | None, own_tools: list[JsonObject], *, respond: bool) -> list[JsonObject]:
        """What the target gets first: the client's settings over the target route's enforced ones, then the earlier turns.

        ``opening`` is the target route's enforced session (its overrides applied to the carried
        settings); ``own_tools`` the gateway's tools on the target, declared before the client's.
        ``respond`` (a transfer) asks the target to speak once the conversation is in.
        """
        session: JsonObject = dict(opening or {"type": "realtime"})
        client_tools = session.get("tools")
        tools = [*own_tools, *(client_tools if isinstance(client_tools, list) else [])]
        if tools:
            session["tools"] = tools
        events: list[JsonObject] = [self.configuration(session)]
        previous: str | None = None
        for turn in self.conversation.turns:
            item_id = f"{GATEWAY_EVENT_PREFIX}handoff_item_{next(self._ids)}"
            self._our_items.add(item_id)
            part = {"type": "input_text" if turn.role == "user" else "output_text", "text": turn.text}
            item: JsonObject = {"id": item_id, "type": "message", "role": turn.role, "content": [part]}
            event: JsonObject = {"type": "conversation.item.create", "event_id": self._event_id("item"), "item": item}
            if previous is not None:
                event["previous_item_id"] = previous
            previous = item_id
            events.append(event)
        if respond:
            events.append({"type": "response.create", "event_id": self._event_id("respond")})
        return events

    def configuration(self, session: JsonObject) -> JsonObject:
        """The one ``session.update`` that configures the target (of any kind): the target's ``session.created``
        and its ``session.updated`` answer are swallowed, and an ``error`` answering it ends the session."""
        self._configuration_event = self._event_id("session")
        self._session_updates += 1
        self._swallow_created = self._swallow_conversation = True
        return {"type": "session.update", "event_id": self._configuration_event, "session": session}

    def swallow(self, event: JsonObject) -> bool:
        """Whether a target event only answers the gateway's replay (the client must not see it)."""
        t = event.get("type")
        if t == "session.created" and self._swallow_created:
            self._swallow_created = False
            return True
        if t == "conversation.created" and self._swallow_conversation:
            self._swallow_conversation = False
            return True
        if t == "session.updated" and self._session_updates:
            self._session_updates -= 1
            return True
        if t in _REPLAY_ITEM_EVENTS:
            item = event.get("item")
            item_id = item.get("id") if isinstance(item, dict) else event.get("item_id")
            return isinstance(item_id, str) and item_id in self._our_items
        if t == "error":
            error = event.get("error")
            event_id = error.get("event_id") if isinstance(error, dict) else None
            return isinstance(event_id, str) and event_id in self._our_events
        return False

    def configuration_answer(self, frame: Frame) -> bool | None:
        """What a frame the target sent before the swap says of the replayed ``session.update``: ``True`` accepted
        (its ``session.updated``), ``False`` refused (an ``error`` naming it), ``None`` neither (an unreadable frame,
        or another event: the shell keeps it for the core, in order).

        The shell sends nothing after the configuration until it has the answer, so no client frame, replayed turn
        or transfer reply reaches a target that runs without the route's rules."""
        if self._configuration_event is None or not isinstance(frame, str):
            return None
        if '"session.updated"' not in frame and '"error"' not in frame:
            return None  # cheap: most early frames are the target's session.created
        try:
            event = parse_event(frame)
        except GatewayError:
            return None
        if event.get("type") == "session.updated":
            return True
        return False if self.configuration_refused(event) else None

    def configuration_refused(self, event: JsonObject) -> bool:
        """Whether a target event refuses the replayed ``session.update``: the target would then run without the
        route's enforcement (instructions prefix, forced voice, ceiling), so the session cannot go on there."""
        if event.get("type") != "error" or self._configuration_event is None:
            return False
        error = event.get("error")
        return isinstance(error, dict) and error.get("event_id") == self._configuration_event

    # --- what the client is told -----------------------------------------------------------------

    def client_event(self, request: HandoffRequest, status: str, *, from_route: str, to_model: str | None = None,
                     message: str | None = None) -> JsonObject:
        """The ``gateway.handoff`` event: ``status`` is ``started``, ``completed`` or ``failed``."""
        event: JsonObject = {
            "type": HANDOFF_EVENT,
            "status": status,
            "from": from_route,
            "to": request.to,
            "reason": request.reason,
            "trigger": request.trigger.value,
        }
        if to_model is not None:
            event["model"] = to_model
        if message is not None:
            event["message"] = message
        return event
