"""bench.webrtc_calls' pure parts: pairing mouth and ear onsets, and hearing onsets after a quiet gap."""

from __future__ import annotations

import numpy as np

from bench.webrtc_calls import Ear, pair


def test_pair_takes_the_first_ear_onset_inside_the_window() -> None:
    """Each mouth onset pairs with the next ear onset within 0.9 s; unmatched beeps are left out."""
    assert pair([1.0, 2.0, 3.0], [1.25, 1.4, 2.1, 4.5]) == [250.0, 100.0]


def test_ear_counts_an_onset_only_after_a_quiet_gap() -> None:
    """Loud frames right after a short dip are one sound; a dip longer than the gap starts a new onset."""
    ear, loud, quiet = Ear(), np.full(480, 5000, dtype=np.int16), np.zeros(480, dtype=np.int16)
    ear.hear(loud)
    ear.hear(quiet)
    ear.hear(loud)  # no gap: the same sound
    assert len(ear.onsets) == 1
    ear.hear(quiet)
    ear._quiet_since -= 1.0  # the dip lasted a second
    ear.hear(loud)
    assert len(ear.onsets) == 2
