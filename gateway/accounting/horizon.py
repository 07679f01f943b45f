"""A cost-capped session's decision horizon: how far its counters may move before a tick could decide anything new.

Pure: no I/O, time is an argument. A session with a cost cap (and no budget) is decided on every tick because its
client's audio may move the cost at any frame. The meter's price is non-decreasing in each relayed-audio counter and
in time, so pricing the session once at a *corner* — every counter ``HORIZON_S`` of audio further than now, the time
``HORIZON_S`` later — bounds what it can cost anywhere inside: while every counter stays at or below its corner and
the time below it, the cost is at most the corner's. When no limit, warning or time cap lies within that bound, a
tick inside the horizon decides nothing new: it compares integers (:meth:`Horizon.holds`) instead of pricing. What
the money figures say meanwhile (what is left, the allowance, the cap's share) is taken at the corner's cost, so
within the horizon they are never more generous than the exact figures would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.core.money import BYTES_PER_SECOND
from gateway.core.observers import SessionStats

#: how much audio (each way, at the session's formats) and time a horizon spans: the full pricing runs about once per
#: this much relayed audio at real time (every tick when the client sends faster, or near a limit)
HORIZON_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class Horizon:
    """The counters' corner and the time bound of one full decision (inclusive counters, exclusive time)."""

    audio_in_bytes: int
    audio_out_bytes: int
    audio_in_bytes_since_usage: int
    audio_out_bytes_since_usage: int
    #: the formats the corner was priced at (a change of format changes the price per byte)
    input_format: str
    output_format: str
    until: float

    def holds(self, now: float, stats: SessionStats) -> bool:
        """Whether the session's counters and ``now`` are still inside the horizon (integer and float comparisons)."""
        return (
            now < self.until
            and stats.audio_in_bytes <= self.audio_in_bytes
            and stats.audio_out_bytes <= self.audio_out_bytes
            and stats.audio_in_bytes_since_usage <= self.audio_in_bytes_since_usage
            and stats.audio_out_bytes_since_usage <= self.audio_out_bytes_since_usage
            and stats.input_format == self.input_format
            and stats.output_format == self.output_format
        )

    def corner(self, stats: SessionStats) -> SessionStats:
        """Counters at the corner (formats and activity as ``stats``'): what the meter prices the bound at."""
        return SessionStats(
            started_at=stats.started_at,
            last_activity_at=stats.last_activity_at,
            audio_in_bytes=self.audio_in_bytes,
            audio_out_bytes=self.audio_out_bytes,
            audio_in_bytes_since_usage=self.audio_in_bytes_since_usage,
            audio_out_bytes_since_usage=self.audio_out_bytes_since_usage,
            input_format=self.input_format,
            output_format=self.output_format,
        )


def horizon_from(now: float, stats: SessionStats, span_s: float = HORIZON_S) -> Horizon:
    """The horizon ``span_s`` of audio each way and ``span_s`` of time past the session's counters now."""
    in_bytes = int(BYTES_PER_SECOND.get(stats.input_format, 48_000) * span_s)
    out_bytes = int(BYTES_PER_SECOND.get(stats.output_format, 48_000) * span_s)
    return Horizon(
        audio_in_bytes=stats.audio_in_bytes + in_bytes,
        audio_out_bytes=stats.audio_out_bytes + out_bytes,
        audio_in_bytes_since_usage=stats.audio_in_bytes_since_usage + in_bytes,
        audio_out_bytes_since_usage=stats.audio_out_bytes_since_usage + out_bytes,
        input_format=stats.input_format,
        output_format=stats.output_format,
        until=now + span_s,
    )
