"""The outgoing track plays 20 ms frames at real-time pace."""

from __future__ import annotations

import time

import numpy as np

from gateway.webrtc.playout import Playout, Started
from gateway.webrtc.track import SAMPLES, PlayoutTrack, pacing_delay


def test_pacing_delay_schedules_frames_every_20ms() -> None:
    """Frame n is due 20·n ms after the start; a late frame has a negative delay."""
    assert pacing_delay(10.0, 0, 10.0) == 0
    assert abs(pacing_delay(10.0, 5, 10.05) - 0.05) < 1e-9
    assert pacing_delay(10.0, 1, 10.5) < 0


async def test_track_plays_buffered_audio_at_real_time_pace_then_silence() -> None:
    """Ten frames take ~180 ms of wall time; buffered audio comes first, silence after, Started once."""
    playout = Playout(target_ms=20)
    playout.push(b"\x10\x00" * (SAMPLES * 3), "resp_1", "item_1")
    notices: list[object] = []
    track = PlayoutTrack(playout, notices.append)
    started = time.monotonic()
    frames = [await track.recv() for _ in range(10)]
    elapsed = time.monotonic() - started
    assert 0.17 <= elapsed < 0.4
    assert [f.pts for f in frames] == [i * SAMPLES for i in range(10)]
    assert all(f.sample_rate == 24_000 and f.samples == SAMPLES for f in frames)
    levels = [int(np.abs(f.to_ndarray()).max()) for f in frames]
    assert levels[:3] == [16, 16, 16] and set(levels[3:]) == {0}
    assert notices == [Started("resp_1")]
    track.stop()
