"""The pure turn tracker: session events in, typed turn events out, in the order observers see them."""

from __future__ import annotations

from gateway.core.observers import (
    FirstAudio,
    FirstTranscript,
    FunctionCallOutput,
    FunctionCallRequested,
    InputCommitted,
    ResponseCreated,
    ResponseDone,
    ResponseRequested,
    SpeechStarted,
    SpeechStopped,
    Truncated,
    UpstreamReady,
)
from gateway.core.turn_events import (
    ToolCallEnded,
    ToolCallStarted,
    TurnEnded,
    TurnFirstAudio,
    TurnFirstTranscript,
    TurnInputAdded,
    TurnInputEnded,
    TurnInterrupted,
    TurnResponseStarted,
    TurnStarted,
    is_turn_event,
)
from gateway.core.turns import TurnTracker

_USAGE: dict[str, object] = {"input_tokens": 10, "output_tokens": 20}


def test_a_spoken_turn_opens_at_speech_and_ends_at_response_done() -> None:
    """Speech start opens turn 1; stop ends the input; created/first audio/done follow with the turn's timings."""
    turns = TurnTracker()
    assert turns.feed(SpeechStarted(1.0, "item_1", 0)) == [TurnStarted(1.0, 1, "speech"), TurnInputAdded(1.0, 1, "item_1")]
    assert turns.feed(SpeechStopped(2.0, "item_1", 1000)) == [TurnInputEnded(2.0, 1)]
    assert turns.feed(ResponseCreated(2.1, "resp_1")) == [TurnResponseStarted(2.1, 1, "resp_1")]
    assert turns.feed(FirstTranscript(2.2, "resp_1")) == [TurnFirstTranscript(2.2, 1, "resp_1", 2.0)]
    assert turns.feed(FirstAudio(2.3, "resp_1")) == [TurnFirstAudio(2.3, 1, "resp_1", 2.0)]
    assert turns.feed(FirstAudio(2.4, "resp_1")) == []  # only the first counts
    [ended] = turns.feed(ResponseDone(3.0, "resp_1", "completed", _USAGE))
    assert isinstance(ended, TurnEnded)
    assert (ended.turn, ended.status, ended.done, ended.usage, ended.trigger) == (1, "completed", True, _USAGE, "speech")
    assert (ended.started_at, ended.input_end_at, ended.first_audio_at, ended.first_transcript_at) == (1.0, 2.0, 2.3, 2.2)
    assert turns.count == 1 and turns.turn_for_item("item_1") == 1


def test_a_tool_round_trip_is_two_turns_the_second_triggered_by_tool_output() -> None:
    """The call belongs to the turn that asked for it; the client's response.create after the output opens turn 2."""
    turns = TurnTracker()
    turns.feed(InputCommitted(1.0, "item_1", by_client=True))
    turns.feed(ResponseCreated(1.1, "resp_1"))
    assert turns.feed(FunctionCallRequested(1.2, "call_1", "lookup")) == [ToolCallStarted(1.2, 1, "call_1", "lookup")]
    [ended] = turns.feed(ResponseDone(1.3, "resp_1", "completed", None))
    assert isinstance(ended, TurnEnded) and ended.tool_calls == 1 and ended.trigger == "commit"
    assert turns.feed(FunctionCallOutput(2.0, "call_1")) == [ToolCallEnded(2.0, 1, "call_1", "lookup", "completed", 1.2)]
    assert turns.feed(ResponseRequested(2.1)) == [TurnStarted(2.1, 2, "tool_output")]


def test_a_barge_in_interrupts_the_turn_that_last_played_audio() -> None:
    """Speech after the first audio, then a truncate: the interruption starts at the speech and names the turn."""
    turns = TurnTracker()
    turns.feed(ResponseRequested(1.0))
    turns.feed(ResponseCreated(1.1, "resp_1"))
    turns.feed(FirstAudio(1.5, "resp_1"))
    assert [type(e) for e in turns.feed(SpeechStarted(2.0, "item_2", 900))] == [TurnStarted, TurnInputAdded]
    assert turns.feed(Truncated(2.2, "item_a", 800)) == [TurnInterrupted(2.2, 1, "item_a", 800, 2.0, False)]
    [ended] = turns.feed(ResponseDone(2.3, "resp_1", "cancelled", None, "turn_detected"))
    assert isinstance(ended, TurnEnded) and ended.interrupted and ended.reason == "turn_detected"


def test_a_response_done_without_created_still_makes_a_server_turn() -> None:
    """response.done for an unseen response: a zero-length server turn that carries its usage."""
    turns = TurnTracker()
    events = turns.feed(ResponseDone(5.0, "resp_9", "completed", _USAGE))
    assert [type(e) for e in events] == [TurnStarted, TurnResponseStarted, TurnEnded]
    assert isinstance(events[0], TurnStarted) and events[0].trigger == "server"


def test_closing_ends_open_tools_unfinished_responses_and_unanswered_input() -> None:
    """At the session's end: tool calls get no_output, a running response unfinished, waiting input no_response."""
    turns = TurnTracker()
    turns.feed(ResponseRequested(1.0))
    turns.feed(ResponseCreated(1.1, "resp_1"))
    turns.feed(FunctionCallRequested(1.2, "call_1", "lookup"))
    turns.feed(SpeechStarted(1.5, "item_2", 0))
    closed = turns.close(3.0)
    assert closed[0] == ToolCallEnded(3.0, 1, "call_1", "lookup", "no_output", 1.2)
    statuses = [(e.turn, e.status, e.done) for e in closed[1:] if isinstance(e, TurnEnded)]
    assert statuses == [(1, "unfinished", False), (2, "no_response", False)]
    assert turns.close(4.0) == []


def test_expand_puts_turn_events_right_after_their_cause_and_leaves_others_alone() -> None:
    """Observers get each session event followed by what it caused; unrelated events pass through."""
    turns = TurnTracker()
    ready = UpstreamReady(0.5, "gpt-realtime-2")
    speech = SpeechStarted(1.0, None, 0)
    expanded = turns.expand([ready, speech])
    assert expanded == [ready, speech, TurnStarted(1.0, 1, "speech")]
    assert [is_turn_event(e) for e in expanded] == [False, False, True]
