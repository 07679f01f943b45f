"""Per-turn summaries for the timeline: a voice agent's turns from the core's turn events, transcription
utterances, translation segments; time to first audio, barge-ins, tools, handoffs, cost, bound."""

from __future__ import annotations

from gateway.core.kinds import SessionKind
from gateway.core.observers import (
    FirstAudio,
    FunctionCallRequested,
    GatewayToolDone,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    SessionEvent,
    SessionStats,
    SpeechStarted,
    TranscriptionCompleted,
    TranslationOutput,
    Truncated,
)
from gateway.core.timeline import MAX_TURNS, SEGMENT_QUIET_S, TurnLog, with_spans
from gateway.core.turn_events import TurnEnded, TurnStarted
from gateway.core.turns import TurnTracker

T0 = 1000.0


class Agent:
    """A voice-agent session as the relay delivers it: each session event, then the turn events it caused."""

    def __init__(self) -> None:
        self.log = TurnLog(T0)
        self.tracker = TurnTracker()
        self.turn_events: list[object] = []

    def feed(self, event: SessionEvent, cost: int) -> None:
        for delivered in self.tracker.expand([event]):
            if isinstance(delivered, (TurnStarted, TurnEnded)):
                self.turn_events.append(delivered)
            self.log.observe(delivered, cost)

    def turn(self, at: float, rid: str, cost: int, *, tool: str | None = None) -> None:
        self.feed(SpeechStarted(at, f"item_{rid}", None), cost - 1)
        self.feed(ResponseCreated(at + 0.5, rid), cost - 1)
        self.feed(FirstAudio(at + 0.8, rid), cost - 1)
        if tool:
            self.feed(FunctionCallRequested(at + 0.9, f"call_{rid}", tool), cost - 1)
        self.feed(ResponseDone(at + 2.0, rid, "completed", None), cost)


def test_a_spoken_turn_has_its_offsets_ttfa_and_cost() -> None:
    """Speech start opens the turn; first audio 800 ms later; the turn's cost is the total's increase."""
    agent = Agent()
    agent.turn(T0 + 1.0, "resp_1", 1500)
    agent.turn(T0 + 5.0, "resp_2", 4000, tool="lookup_order")
    first, second = agent.log.summaries()
    assert first == {
        "n": 1, "kind": "response", "trigger": "speech", "start_ms": 1000, "end_ms": 3000, "ttfa_ms": 800,
        "status": "completed", "interrupted": False, "tools": [], "handoffs": [], "cost_micros": 1500, "total_micros": 1500,
    }
    assert second["cost_micros"] == 2500 and second["total_micros"] == 4000 and second["tools"] == ["lookup_order"]


def test_the_timeline_numbers_and_times_turns_as_the_core_does() -> None:
    """Each summary is the core's turn: same number, trigger and start as its TurnStarted / TurnEnded."""
    agent = Agent()
    agent.feed(InputCommitted(T0 + 1, "item_1", by_client=True), 0)
    agent.feed(ResponseCreated(T0 + 1.1, "r1"), 0)
    agent.feed(ResponseDone(T0 + 1.5, "r1", "completed", None), 5)
    agent.turn(T0 + 3, "r2", 9)
    ended = [e for e in agent.turn_events if isinstance(e, TurnEnded)]
    summaries = agent.log.summaries()
    assert [(s["n"], s["trigger"], s["start_ms"]) for s in summaries] == [
        (e.turn, e.trigger, round((e.started_at - T0) * 1000)) for e in ended
    ]


def test_gateway_tool_calls_are_listed_with_the_turn() -> None:
    """A call the gateway runs itself (the client never sees it) is listed under its turn, even once that turn ended."""
    agent = Agent()
    agent.feed(ResponseCreated(T0 + 0.5, "resp_1"), 0)
    agent.feed(ResponseDone(T0 + 1.0, "resp_1", "completed", None), 0)
    agent.feed(GatewayToolDone(T0 + 1.4, "call_1", "lookup_order", "http", T0 + 1.1, "ok"), 0)
    assert agent.log.summaries()[0]["tools"] == ["lookup_order"]


def test_truncation_marks_the_turn_whose_audio_was_cut() -> None:
    """A truncate after response.done still marks that turn interrupted (the client was still playing it)."""
    agent = Agent()
    agent.turn(T0, "resp_1", 10)
    agent.feed(Truncated(T0 + 2.5, "item_a", 1200), 10)
    assert agent.log.summaries()[0]["interrupted"] is True


def test_handoff_tools_are_handoffs() -> None:
    """transfer_to_* calls (the Agents SDK's handoffs) are listed as handoffs, not tools."""
    agent = Agent()
    agent.turn(T0, "resp_1", 10, tool="transfer_to_billing")
    assert agent.log.summaries()[0]["handoffs"] == ["transfer_to_billing"] and agent.log.summaries()[0]["tools"] == []


def test_commit_triggered_turn_without_audio() -> None:
    """A manual commit triggers the response; a cancelled reply without audio has no time to first audio."""
    agent = Agent()
    agent.feed(InputCommitted(T0 + 1, "item_1", by_client=True), 0)
    agent.feed(ResponseCreated(T0 + 1.1, "r"), 0)
    agent.feed(ResponseDone(T0 + 1.5, "r", "cancelled", None), 5)
    (response,) = agent.log.summaries()
    assert response["trigger"] == "commit" and response["status"] == "cancelled" and response["ttfa_ms"] is None


def test_a_turn_the_session_ended_in_is_not_listed() -> None:
    """Turns still open when the session ends (TurnEnded without response.done) are left out, as before."""
    agent = Agent()
    agent.feed(ResponseCreated(T0 + 0.5, "resp_1"), 0)
    for event in agent.tracker.close(T0 + 1):
        agent.log.observe(event, 3)
    assert agent.log.summaries() == [] and agent.log.count == 1


def test_transcription_turns_are_utterances() -> None:
    """A transcription session has one turn per transcribed utterance, from the speech start."""
    log = TurnLog(T0, SessionKind.TRANSCRIPTION)
    log.observe(SpeechStarted(T0 + 2, "item_2", None), 5)
    log.observe(TranscriptionCompleted(T0 + 3, "item_2", None), 9)
    (utterance,) = log.summaries()
    assert utterance["kind"] == "transcription" and utterance["start_ms"] == 2000 and utterance["end_ms"] == 3000
    assert utterance["cost_micros"] == 9


def test_input_transcription_in_a_voice_agent_session_is_not_a_turn() -> None:
    """The user's speech transcribed in a voice-agent session belongs to the turn; it adds no turn of its own."""
    agent = Agent()
    agent.turn(T0, "resp_1", 10)
    agent.feed(TranscriptionCompleted(T0 + 1, "item_resp_1", None), 12)
    assert len(agent.log.summaries()) == 1


def _stats(upstream_bytes: int) -> SessionStats:
    return SessionStats(started_at=T0, last_activity_at=T0, bytes_from_upstream=upstream_bytes)


def test_translation_segments_end_when_output_goes_quiet() -> None:
    """A translation session: each TranslationOutput opens a segment; it ends at its last output once quiet."""
    log = TurnLog(T0, SessionKind.TRANSLATION)
    log.observe(TranslationOutput(T0 + 1.0, 400), 100)
    log.tick(T0 + 1.1, _stats(1_000), 150)
    log.tick(T0 + 1.6, _stats(9_000), 300)  # output still flowing
    log.tick(T0 + 1.6 + SEGMENT_QUIET_S / 2, _stats(9_000), 320)
    assert log.summaries() == []
    log.tick(T0 + 1.6 + SEGMENT_QUIET_S, _stats(9_000), 350)
    (segment,) = log.summaries()
    assert segment["kind"] == "segment" and segment["start_ms"] == 1000 and segment["end_ms"] == 1600
    assert segment["cost_micros"] == 350 and segment["status"] == "completed"


def test_a_new_segment_or_the_end_closes_the_open_one() -> None:
    """The next segment's first output ends the open segment; the session's end ends the last one."""
    log = TurnLog(T0, SessionKind.TRANSLATION)
    log.observe(TranslationOutput(T0 + 1.0, None), 10)
    log.tick(T0 + 1.2, _stats(500), 20)
    log.observe(TranslationOutput(T0 + 1.5, None), 30)
    log.tick(T0 + 1.7, _stats(900), 40)
    log.close(55)
    first, second = log.summaries()
    assert (first["n"], first["end_ms"], first["cost_micros"]) == (1, 1200, 30)
    assert (second["n"], second["start_ms"], second["end_ms"], second["total_micros"]) == (2, 1500, 1700, 55)


def test_the_log_is_bounded_keeping_the_first_and_last_turns() -> None:
    """Past MAX_TURNS the middle turns are dropped and counted; the first and the newest stay."""
    agent = Agent()
    for i in range(MAX_TURNS + 30):
        agent.turn(T0 + i * 3, f"resp_{i}", (i + 1) * 10)
    kept = agent.log.summaries()
    assert len(kept) == MAX_TURNS and agent.log.dropped == 30 and agent.log.count == MAX_TURNS + 30
    assert kept[0]["n"] == 1 and kept[-1]["n"] == MAX_TURNS + 30


def test_with_spans_names_each_voice_agent_turns_own_span() -> None:
    """Turn summaries get the id of their turn's span where tracing knows it; others are left as they are."""
    agent = Agent()
    agent.turn(T0, "resp_1", 10)
    agent.turn(T0 + 3, "resp_2", 20)
    first, second = with_spans(agent.log.summaries(), {1: "00f067aa0ba902b7"})
    assert first["span_id"] == "00f067aa0ba902b7" and "span_id" not in second
    segment = {"n": 1, "kind": "segment"}
    assert with_spans([segment], {1: "00f067aa0ba902b7"}) == [segment]  # a segment is not the voice-agent turn 1
