"""The outgoing jitter buffer: when playback starts and stops, and how much of an item was heard."""

from __future__ import annotations

from gateway.webrtc.playout import FRAME_BYTES, Cleared, Playout, Started, Stopped

MS = 48  # bytes per millisecond of PCM16 24 kHz


def _ticks(playout: Playout, n: int) -> tuple[list[bytes | None], list[object]]:
    frames, notices = [], []
    for _ in range(n):
        frame, found = playout.next_frame()
        frames.append(frame)
        notices += found
    return frames, notices


def test_waits_for_the_jitter_target_then_plays_20ms_frames() -> None:
    """Below the 60 ms target the track plays silence; at the target it plays and says Started once."""
    playout = Playout(target_ms=60)
    playout.push(b"\x01" * (40 * MS), "resp_1", "item_1")
    frames, notices = _ticks(playout, 3)
    assert frames == [None, None, None] and notices == []
    playout.push(b"\x01" * (40 * MS), "resp_1", "item_1")
    frames, notices = _ticks(playout, 4)
    assert [len(f) for f in frames if f] == [FRAME_BYTES] * 4
    assert notices == [Started("resp_1")]
    assert playout.played_ms("item_1") == 80


def test_a_finished_short_response_plays_without_waiting_and_reports_stopped_when_drained() -> None:
    """After response.done the tail plays even below the target, padded; Stopped follows the drain."""
    playout = Playout(target_ms=100)
    playout.push(b"\x02" * (30 * MS), "resp_1", "item_1")
    playout.response_done("resp_1")
    frames, notices = _ticks(playout, 4)
    assert frames[0] == b"\x02" * FRAME_BYTES
    assert frames[1] == b"\x02" * (10 * MS) + bytes(10 * MS)
    assert frames[2:] == [None, None]
    assert notices == [Started("resp_1"), Stopped("resp_1")]
    assert not playout.active


def test_underrun_rebuffers_without_reporting_stopped() -> None:
    """Audio that runs dry mid-response re-buffers to the target; no Stopped until response.done."""
    playout = Playout(target_ms=40)
    playout.push(b"\x01" * (40 * MS), "resp_1", "item_1")
    _, notices = _ticks(playout, 3)
    assert notices == [Started("resp_1")]
    assert playout.active
    playout.push(b"\x01" * (20 * MS), "resp_1", "item_1")
    frames, notices = _ticks(playout, 2)
    assert frames == [None, None] and notices == []
    playout.response_done("resp_1")
    frames, notices = _ticks(playout, 2)
    assert frames[0] is not None and notices == [Stopped("resp_1")]


def test_next_response_ends_the_previous_one() -> None:
    """Back-to-back responses: Stopped for the first, Started for the second, in order."""
    playout = Playout(target_ms=20)
    playout.push(b"\x01" * (20 * MS), "resp_1", "item_1")
    playout.push(b"\x01" * (20 * MS), "resp_2", "item_2")
    _, notices = _ticks(playout, 2)
    assert notices == [Started("resp_1"), Stopped("resp_1"), Started("resp_2")]


def test_clear_reports_the_heard_ms_of_the_playing_item_and_drops_its_late_audio() -> None:
    """Barge-in after 100 ms of a 1 s item: played 100 ms, buffer empty, later deltas ignored."""
    playout = Playout(target_ms=60)
    playout.push(b"\x01" * (1000 * MS), "resp_1", "item_1")
    _ticks(playout, 5)
    cut = playout.clear()
    assert cut == Cleared("resp_1", "item_1", 100)
    assert playout.buffered_ms == 0 and not playout.active
    assert playout.push(b"\x01" * (100 * MS), "resp_1", "item_1") is False
    assert _ticks(playout, 5)[0] == [None] * 5
    assert playout.push(b"\x01" * (100 * MS), "resp_2", "item_2") is True


def test_clear_with_nothing_playing_cuts_nothing() -> None:
    """A clear on an idle buffer names no item (so no truncate is sent)."""
    assert Playout().clear() == Cleared(None, None, 0)


def test_clear_during_underrun_names_the_last_heard_item() -> None:
    """Mid-response with an empty buffer, the item last heard is the one cut."""
    playout = Playout(target_ms=20)
    playout.push(b"\x01" * (40 * MS), "resp_1", "item_1")
    _ticks(playout, 3)
    assert playout.clear() == Cleared("resp_1", "item_1", 40)
