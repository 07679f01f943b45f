"""Per-turn summaries for the timeline: triggers, time to first audio, barge-ins, tools, handoffs, cost, bound."""

from __future__ import annotations

from gateway.core.observers import (
    FirstAudio,
    FunctionCallRequested,
    GatewayToolStarted,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
    TranscriptionCompleted,
    Truncated,
)
from gateway.core.timeline import MAX_TURNS, TurnLog

T0 = 1000.0


def _turn(log: TurnLog, at: float, rid: str, cost: int, *, tool: str | None = None) -> None:
    log.observe(SpeechStarted(at, "item_u", None), cost - 1)
    log.observe(ResponseCreated(at + 0.5, rid), cost - 1)
    log.observe(FirstAudio(at + 0.8, rid), cost - 1)
    if tool:
        log.observe(FunctionCallRequested(at + 0.9, "call_1", tool), cost - 1)
    log.observe(ResponseDone(at + 2.0, rid, "completed", None), cost)


def test_a_spoken_turn_has_its_offsets_ttfa_and_cost() -> None:
    """Speech start opens the turn; first audio 800 ms later; the turn's cost is the total's increase."""
    log = TurnLog(T0)
    _turn(log, T0 + 1.0, "resp_1", 1500)
    _turn(log, T0 + 5.0, "resp_2", 4000, tool="lookup_order")
    first, second = log.summaries()
    assert first == {
        "n": 1, "kind": "response", "trigger": "speech", "start_ms": 1000, "end_ms": 3000, "ttfa_ms": 800,
        "status": "completed", "interrupted": False, "tools": [], "handoffs": [], "cost_micros": 1500, "total_micros": 1500,
    }
    assert second["cost_micros"] == 2500 and second["total_micros"] == 4000 and second["tools"] == ["lookup_order"]


def test_gateway_tool_calls_are_listed_with_the_turn() -> None:
    """A call the gateway runs itself (the client never sees it) is still listed under its turn."""
    log = TurnLog(T0)
    log.observe(ResponseCreated(T0 + 0.5, "resp_1"), 0)
    log.observe(GatewayToolStarted(T0 + 0.9, "call_1", "lookup_order", "http"), 0)
    log.observe(ResponseDone(T0 + 1.0, "resp_1", "completed", None), 0)
    assert log.summaries()[0]["tools"] == ["lookup_order"]


def test_truncation_marks_the_turn_whose_audio_was_cut() -> None:
    """A truncate after response.done still marks that turn interrupted (the client was still playing it)."""
    log = TurnLog(T0)
    _turn(log, T0, "resp_1", 10)
    log.observe(Truncated(T0 + 2.5, "item_a", 1200), 10)
    assert log.summaries()[0]["interrupted"] is True


def test_handoff_tools_are_handoffs() -> None:
    """transfer_to_* calls (the Agents SDK's handoffs) are listed as handoffs, not tools."""
    log = TurnLog(T0)
    _turn(log, T0, "resp_1", 10, tool="transfer_to_billing")
    assert log.summaries()[0]["handoffs"] == ["transfer_to_billing"] and log.summaries()[0]["tools"] == []


def test_commit_triggered_and_transcription_turns() -> None:
    """A manual commit triggers the response; a transcription session has one turn per utterance."""
    log = TurnLog(T0)
    log.observe(InputCommitted(T0 + 1, "item_1", by_client=True), 0)
    log.observe(ResponseCreated(T0 + 1.1, "r"), 0)
    log.observe(ResponseDone(T0 + 1.5, "r", "cancelled", None), 5)
    log.observe(SpeechStarted(T0 + 2, "item_2", None), 5)
    log.observe(TranscriptionCompleted(T0 + 3, "item_2", None), 9)
    response, utterance = log.summaries()
    assert response["trigger"] == "commit" and response["status"] == "cancelled" and response["ttfa_ms"] is None
    assert utterance["kind"] == "transcription" and utterance["start_ms"] == 2000 and utterance["cost_micros"] == 4


def test_the_log_is_bounded_keeping_the_first_and_last_turns() -> None:
    """Past MAX_TURNS the middle turns are dropped and counted; the first and the newest stay."""
    log = TurnLog(T0)
    for i in range(MAX_TURNS + 30):
        _turn(log, T0 + i * 3, f"resp_{i}", (i + 1) * 10)
    kept = log.summaries()
    assert len(kept) == MAX_TURNS and log.dropped == 30 and log.count == MAX_TURNS + 30
    assert kept[0]["n"] == 1 and kept[-1]["n"] == MAX_TURNS + 30
