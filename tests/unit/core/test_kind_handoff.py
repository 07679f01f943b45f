"""Handoff between session kinds in the Sans-I/O core: a voice-agent session moves to a translation model behind the
kind bridge and back, a translation session to a voice agent; the client keeps its protocol (no event loop)."""

from __future__ import annotations

import base64
import json
import struct

import orjson
import pytest

from gateway.core import observers as ev
from gateway.core.bridged import BridgedCore
from gateway.core.errors import NotServedByKind
from gateway.core.handoff import Handoff, HandoffRequest, HandoffRules, HandoffState, Trigger
from gateway.core.kind_handoff import check_servable, complete_switch, prepare_switch, serving_core
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.money import affordable_output_tokens
from gateway.core.ports import Frame
from gateway.core.routing import SessionOverrides
from gateway.core.session import FORWARD, Emit, HandoffTarget, SessionCore
from gateway.core.tool_calls import ToolCallInterceptor
from tests.support.accounting import catalog
from tests.support.tool_calls import LOOKUP, function_call_events

AGENT_RULES = HandoffRules(targets=("translate", "agent-2"))
TRANSLATE = HandoffTarget(
    model="gpt-realtime-translate", overrides=SessionOverrides(), rules=HandoffRules(targets=("agent-2",)),
    kind=SessionKind.TRANSLATION, language="es",
)
AGENT_2 = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), rules=None)
LOUD = base64.b64encode(struct.pack("<2400h", *([8000, -8000] * 1200))).decode()


def _text(event: dict) -> str:
    return orjson.dumps(event).decode()


def _events(frames: list[Frame]) -> list[dict]:
    return [json.loads(f) for f in frames]


def _append(marker: int) -> str:
    return _text({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes([marker]) * 480).decode()})


def _agent(*, dialect: Dialect = Dialect.GA) -> SessionCore:
    return SessionCore(
        kind=SessionKind.REALTIME, dialect=dialect, now=0.0, requested_model="gpt-realtime-2", served_model="gpt-realtime-2",
        handoff=Handoff(AGENT_RULES, "agent", "gpt-realtime-2"),
    )


def _begin(handoff: Handoff | None, to: str) -> None:
    assert handoff is not None
    assert handoff.request(HandoffRequest(to, "test", Trigger.TRANSFER)) is None
    assert handoff.begin() is not None


def _to_translation(home: SessionCore) -> BridgedCore:
    """The agent session switched to the translation route (held appends released through the bridge)."""
    _begin(home.handoff, "translate")
    prepared = prepare_switch(home, home, TRANSLATE, 1.0)
    assert isinstance(prepared.driver, BridgedCore)
    serving = prepared.driver.release_held(1.1)
    assert serving.close is None
    complete_switch(home, prepared.driver, 1.2)
    return prepared.driver


def test_an_agent_session_is_served_by_a_translation_core_behind_the_bridge() -> None:
    """The target gets one translation session.update (language from the route, the client's transcription); held
    frames go through the bridge in order (appends mapped, a bare response.create swallowed, a commit answered)."""
    home = _agent()
    update = {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.",
                                                    "audio": {"input": {"transcription": {"model": "gpt-transcribe"}}}}}
    home.from_client(_text(update), 0.1)
    _begin(home.handoff, "translate")
    assert home.from_client(_append(1), 0.5) == Emit()  # held from the start of the switch
    home.from_client(_text({"type": "input_audio_buffer.commit", "event_id": "c1"}), 0.6)
    home.from_client(_text({"type": "response.create"}), 0.7)
    home.from_client(_append(2), 0.8)
    prepared = prepare_switch(home, home, TRANSLATE, 1.0)
    driver = prepared.driver
    assert isinstance(driver, BridgedCore) and driver.core.kind is SessionKind.TRANSLATION
    assert driver.core.stats is home.stats and driver.core.handoff is home.handoff
    (configure,) = _events(prepared.frames)
    assert configure["type"] == "session.update"
    assert configure["session"]["audio"] == {"input": {"transcription": {"model": "gpt-transcribe"}}, "output": {"language": "es"}}
    assert home.handoff is not None and home.handoff.state is HandoffState.REPLAYING
    released = driver.release_held(1.1)
    appends = _events(released.to_upstream)
    assert [e["type"] for e in appends] == ["session.input_audio_buffer.append"] * 2
    assert [base64.b64decode(e["audio"])[0] for e in appends] == [1, 2]
    assert [e["type"] for e in _events(released.to_client)][:1] == ["input_audio_buffer.committed"]
    assert home.stats.audio_in_bytes == 960 and not home.handoff.has_held and home.handoff.held_bytes == 0


def test_completing_hands_the_old_models_events_over_before_the_handoff_and_bills_the_new_kind() -> None:
    """The old core's pending events (its reply's usage) come before HandedOff; HandedOff names the translation kind and
    seals only the audio the old model got (held frames went to the translation model); the client gets gateway.handoff;
    the translation core then serves, metering the audio since the switch turned to it."""
    home = _agent()
    home.from_upstream(_text({"type": "response.created", "response": {"id": "r1"}}), 0.2)
    home.from_upstream(_text({"type": "response.done", "response": {"id": "r1", "status": "completed", "usage": {"total_tokens": 5}}}), 0.3)
    home.from_client(_append(1), 0.4)
    _begin(home.handoff, "translate")
    home.from_client(_append(2), 0.5)  # held: it goes to the translation model
    prepared = prepare_switch(home, home, TRANSLATE, 1.0)
    driver = prepared.driver
    assert isinstance(driver, BridgedCore)
    assert len(driver.release_held(1.1).to_upstream) == 1
    out = _events(complete_switch(home, driver, 1.2))
    assert [(e["type"], e["status"], e["to"], e["model"]) for e in out] == [
        ("gateway.handoff", "completed", "translate", "gpt-realtime-translate"),
    ]
    events = driver.core.take_events()
    kinds = [type(e) for e in events]
    assert kinds.index(ev.ResponseDone) < kinds.index(ev.HandedOff)
    (handed,) = [e for e in events if isinstance(e, ev.HandedOff)]
    assert (handed.to_kind, handed.audio_in_bytes, handed.to_model) == (SessionKind.TRANSLATION, 480, "gpt-realtime-translate")
    assert home.stats.audio_in_bytes_since_usage == 480  # the held frame, the translation model's
    append = driver.from_client(_append(3), 1.3)
    assert isinstance(append, Emit) and _events(append.to_upstream)[0]["type"] == "session.input_audio_buffer.append"
    assert home.stats.audio_in_bytes_since_usage == 960  # what the translation model is billed on


def test_translation_output_reaches_the_agent_client_as_a_response_and_its_transcripts_are_recorded() -> None:
    """Translation deltas become a realtime response (created, audio deltas, done after a pause); the source and
    translated transcripts go into the conversation a later voice agent is told."""
    home = _agent()
    driver = _to_translation(home)
    first = driver.from_upstream(_text({"type": "session.input_transcript.delta", "delta": "hola"}), 2.0)
    audio = driver.from_upstream(_text({"type": "session.output_audio.delta", "delta": LOUD}), 2.1)
    words = driver.from_upstream(_text({"type": "session.output_transcript.delta", "delta": "hello"}), 2.2)
    sent = [e["type"] for a in (first, audio, words) if isinstance(a, Emit) for e in _events(a.to_client)]
    assert "response.created" in sent and "response.output_audio.delta" in sent
    assert "response.output_audio_transcript.delta" in sent
    due = driver.due_at
    assert due is not None
    closed = [e["type"] for e in _events(driver.tick(due + 0.01).to_client)]
    assert closed[-1] == "response.done" and "conversation.item.input_audio_transcription.completed" in closed
    assert home.handoff is not None
    assert [(t.role, t.text) for t in home.handoff.conversation.turns] == [("user", "hola"), ("assistant", "hello")]


def test_back_to_a_voice_agent_closes_the_bridged_response_and_replays_the_transcripts() -> None:
    """Translation → agent: the client's own core serves again; the agent gets the client's settings and every
    transcript (the translation part's too); the bridge's open response is closed before gateway.handoff."""
    home = _agent()
    home.from_client(_text({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}), 0.1)
    driver = _to_translation(home)
    driver.from_upstream(_text({"type": "session.input_transcript.delta", "delta": "hola"}), 2.0)
    driver.from_upstream(_text({"type": "session.output_audio.delta", "delta": LOUD}), 2.1)
    driver.from_upstream(_text({"type": "session.output_transcript.delta", "delta": "hello"}), 2.2)
    _begin(home.handoff, "agent-2")
    held = driver.from_client(_append(4), 2.3)
    assert held == Emit()  # held by the translation core's handoff, in order
    prepared = prepare_switch(home, driver, AGENT_2, 2.4)
    assert prepared.driver is home
    closed = [e["type"] for e in _events(prepared.to_client)]
    assert closed[-1] == "response.done"  # the turn in progress, closed before the replay is built
    replay = _events(prepared.frames)
    assert replay[0]["session"]["instructions"] == "Be brief."
    assert [e["item"]["content"][0]["text"] for e in replay if e["type"] == "conversation.item.create"] == ["hola", "hello"]
    assert replay[-1]["type"] == "response.create"  # a transfer: the agent takes over speaking
    assert home.release_held(2.5).to_upstream == [_append(4)]
    driver.from_upstream(_text({"type": "session.output_audio.delta", "delta": LOUD}), 2.55)  # translation lag
    out = [e["type"] for e in _events(complete_switch(driver, home, 2.6))]
    assert out[-1] == "gateway.handoff" and out.index("response.done") < out.index("gateway.handoff")
    assert serving_core(home) is home and home.served_model == "gpt-realtime-2.1-mini"
    there, back = [e for e in home.take_events() if isinstance(e, ev.HandedOff)]  # the first carried over, in order
    assert (there.to_kind, back.from_model, back.to_kind) == (SessionKind.TRANSLATION, "gpt-realtime-translate", SessionKind.REALTIME)
    assert home.from_client(_append(5), 2.7) is FORWARD


def test_a_g711_session_cannot_move_to_translation_and_stays_where_it_was() -> None:
    """Translation takes PCM16 only: prepare refuses before anything changes; the switch fails and the held frames go
    back to the old upstream through the old core."""
    home = _agent()
    g711 = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}}
    home.from_client(_text(g711), 0.1)
    _begin(home.handoff, "translate")
    home.from_client(_append(1), 0.2)
    with pytest.raises(NotServedByKind):
        prepare_switch(home, home, TRANSLATE, 1.0)
    assert home.handoff is not None and home.handoff.state is HandoffState.OPENING
    failed = _events(home.handoff_failed(1.1, "no").to_client)
    assert (failed[0]["type"], failed[0]["status"]) == ("gateway.handoff", "failed")
    assert home.release_held(1.2).to_upstream == [_append(1)]
    home.handoff_settled()
    assert home.handoff.state is HandoffState.IDLE and home.served_model == "gpt-realtime-2"


def test_a_translation_session_is_served_by_a_voice_agent_as_an_interpreter() -> None:
    """Translation client → voice agent: the agent is opened as an interpreter into the route's language, no turns
    replayed; the client's appends go up as realtime appends; the agent's audio comes back as translation audio."""
    home = SessionCore(
        kind=SessionKind.TRANSLATION, dialect=Dialect.GA, now=0.0, served_model="gpt-realtime-translate",
        handoff=Handoff(HandoffRules(targets=("agent",)), "translate", "gpt-realtime-translate"),
    )
    _begin(home.handoff, "agent")
    append = _text({"type": "session.input_audio_buffer.append", "audio": LOUD})
    home.from_client(append, 0.5)
    target = HandoffTarget(model="gpt-realtime-2", overrides=SessionOverrides(), kind=SessionKind.REALTIME, language="fr")
    prepared = prepare_switch(home, home, target, 1.0)
    driver = prepared.driver
    assert isinstance(driver, BridgedCore) and driver.core.kind is SessionKind.REALTIME
    (configure,) = _events(prepared.frames)
    assert "French" in configure["session"]["instructions"] and configure["session"]["tools"] == []
    released = _events(driver.release_held(1.1).to_upstream)
    assert [e["type"] for e in released] == ["input_audio_buffer.append"]
    complete_switch(home, driver, 1.2)
    back = driver.from_upstream(_text({"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": LOUD}), 1.3)
    assert isinstance(back, Emit) and _events(back.to_client)[0]["type"] == "session.output_audio.delta"


def test_frames_held_across_cores_are_bounded_once_and_leave_no_residue() -> None:
    """The bytes a switch holds are the handoff's: released through another core, they no longer count against the
    client's core (a later switch or a held reply is not refused for frames long gone)."""
    home = _agent()
    home.max_message_bytes = 4000
    _begin(home.handoff, "translate")
    for marker in range(5):
        home.from_client(_append(marker), 0.1 * marker)
    assert home.handoff is not None and home.handoff.held_bytes == 5 * len(_append(0))
    over = home.from_client(_append(9), 0.6)
    assert isinstance(over, Emit) and over.close is not None  # 6 frames of ~660 bytes: past 4000
    home2 = _agent()
    home2.max_message_bytes = 4000
    driver = _to_translation(home2)
    _begin(home2.handoff, "agent-2")
    for marker in range(5):
        assert driver.from_client(_append(marker), 3.0 + marker * 0.01) == Emit()
    prepare_switch(home2, driver, AGENT_2, 3.1)
    assert len(home2.release_held(3.2).to_upstream) == 5
    assert home2.handoff is not None and home2.handoff.held_bytes == 0


def test_without_a_route_language_the_translation_target_takes_the_language_heard() -> None:
    """A translation route without translate_to: the target translates into the language last transcribed on the
    user's input (here reported by the agent's transcription)."""
    home = _agent()
    heard = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": "bonjour à tous",
             "language": "fr"}
    home.from_upstream(_text(heard), 0.2)
    _begin(home.handoff, "translate")
    target = HandoffTarget(model="gpt-realtime-translate", overrides=SessionOverrides(), kind=SessionKind.TRANSLATION)
    (configure,) = _events(prepare_switch(home, home, target, 1.0).frames)
    assert configure["session"]["audio"]["output"] == {"language": "fr"}


def test_what_no_bridge_serves_is_known_before_a_target_is_opened() -> None:
    """The opener asks first: the same kind and voice agent ⇄ translation pass; a transcription model, or translation
    for a G.711 session, are refused."""
    home = _agent()
    check_servable(home, SessionKind.REALTIME)
    check_servable(home, SessionKind.TRANSLATION)
    with pytest.raises(NotServedByKind):
        check_servable(home, SessionKind.TRANSCRIPTION)
    home.stats.output_format = "audio/pcma"
    with pytest.raises(NotServedByKind, match="PCM16"):
        check_servable(home, SessionKind.TRANSLATION)


def test_back_from_translation_near_the_cap_the_agent_is_bounded_at_its_own_price() -> None:
    """Translation is priced by the minute (no token allowance): returning to a voice agent, what the money left pays
    for at the agent's output price bounds the replayed configuration from the first frame."""
    pricing = catalog().resolve("gpt-realtime-2.1-mini").pricing  # type: ignore[union-attr]
    home = _agent()
    driver = _to_translation(home)
    assert home.stats.response_allowance is None
    home.stats.money_left = (2_000, False)  # as the accounting observer last decided
    _begin(home.handoff, "agent-2")
    target = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), pricing=pricing)
    replay = _events(prepare_switch(home, driver, target, 3.0).frames)
    tokens = affordable_output_tokens(2_000, pricing)
    assert tokens is not None and replay[0]["session"]["max_output_tokens"] == tokens
    assert home.stats.response_allowance is not None and home.stats.response_allowance.max_output_tokens == tokens
    assert home.stats.switch_pricing == ("gpt-realtime-2.1-mini", pricing)  # the observer prices at it until metered


def test_an_abandoned_switch_stops_pricing_replies_at_the_target() -> None:
    """A switch that fails after it was prepared leaves no target price behind: the serving model's own rules again."""
    pricing = catalog().resolve("gpt-realtime-2.1-mini").pricing  # type: ignore[union-attr]
    home = _agent()
    driver = _to_translation(home)
    _begin(home.handoff, "agent-2")
    target = HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides(), pricing=pricing)
    prepared = prepare_switch(home, driver, target, 3.0)
    assert home.stats.switch_pricing is not None
    prepared.abandon()
    assert home.stats.switch_pricing is None


def test_moving_to_translation_records_the_agent_routes_running_gateway_calls_cancelled() -> None:
    """The agent route's tool runner stops at the swap: a gateway call it was running is recorded cancelled."""
    home = SessionCore(
        kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2", served_model="gpt-realtime-2",
        handoff=Handoff(AGENT_RULES, "agent", "gpt-realtime-2"),
        tools=ToolCallInterceptor([LOOKUP]),
    )
    for event in function_call_events("lookup_order", "call_l", "{}", "rl"):
        home.from_upstream(_text(event), 0.5)
    driver = _to_translation(home)
    done = [(e.call_id, e.outcome) for e in driver.core.take_events() if isinstance(e, ev.GatewayToolDone)]
    assert done == [("call_l", "cancelled")]
