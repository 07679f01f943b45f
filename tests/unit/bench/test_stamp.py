"""Frame stamping, echo matching and sequence bookkeeping."""

from __future__ import annotations

import base64
import json

from bench.fast_echo import echo_reply
from bench.stamp import PAYLOAD_BYTES, SequenceTracker, Stamp, append_frame, read_echo


def test_append_frame_is_a_valid_960_byte_append() -> None:
    """The frame is JSON with a base64 payload of one 20 ms PCM16 24 kHz frame (1280 characters)."""
    event = json.loads(append_frame(7, 42, 123_456_789))
    assert event["type"] == "input_audio_buffer.append"
    assert len(event["audio"]) == 1280
    assert len(base64.b64decode(event["audio"])) == PAYLOAD_BYTES


def test_echoed_delta_returns_the_stamp() -> None:
    """The upstream's delta carries the same audio, so session, sequence and send time come back."""
    reply = echo_reply(append_frame(7, 42, 123_456_789))
    assert reply is not None
    assert read_echo(reply) == Stamp(7, 42, 123_456_789)


def test_echo_reply_accepts_spaced_json() -> None:
    """A client that writes ``"audio": "…"`` with spaces is echoed too."""
    frame = json.dumps(json.loads(append_frame(1, 2, 3))).encode()
    reply = echo_reply(frame)
    assert reply is not None and read_echo(reply) == Stamp(1, 2, 3)


def test_other_frames_are_not_matched() -> None:
    """``session.created`` or a delta without our magic is ignored."""
    assert read_echo(b'{"type":"session.created","session":{}}') is None
    foreign = base64.b64encode(bytes(960)).decode()
    assert read_echo(f'{{"type":"response.output_audio.delta","delta":"{foreign}"}}'.encode()) is None
    assert echo_reply(b'{"type":"session.update","session":{}}') is None


def test_tracker_counts_reordered_and_duplicates() -> None:
    """An older number after a newer one is reordered; a repeat is a duplicate, not a receipt."""
    tracker = SequenceTracker(10)
    for seq in (0, 2, 1, 3, 3):
        tracker.record(seq)
    assert (tracker.received, tracker.reordered, tracker.duplicates) == (4, 1, 1)


def test_tracker_counts_losses_in_a_window() -> None:
    """Frames of the window that never arrived are lost; those outside it are not counted."""
    tracker = SequenceTracker(10)
    for seq in (0, 1, 3, 4, 6):
        tracker.record(seq)
    assert tracker.lost(2, 8) == 3  # 2, 5, 7
    assert tracker.lost(0, 2) == 0


def test_tracker_rejects_out_of_range_numbers() -> None:
    """A number beyond what was sent counts as a duplicate-like anomaly."""
    tracker = SequenceTracker(3)
    assert tracker.record(5) is False
    assert tracker.duplicates == 1 and tracker.received == 0
