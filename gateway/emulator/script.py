"""The scriptable knobs: latency, reply length, pacing, faults, and the echo bench mode.

Each knob can be set server-wide (``start_emulator(**defaults)``), per connection by query
parameter ``emu_<name>=…``, or per connection by header ``X-Emulator-<Name>: …`` (dashes for
underscores, any case). Query beats header beats server default.

========================  ====================================================================
knob                      meaning
========================  ====================================================================
``emu_ttfa_ms``           delay from ``response.created`` to the first audio/text/argument delta
                          (default 250); also the translation output lag
``emu_reply_ms``          length of a spoken reply in ms (default 2000)
``emu_chunk_ms``          audio per ``response.output_audio.delta`` (default 100)
``emu_pace``              ``1`` timed output (default), ``0`` send everything as fast as possible
``emu_speed``             audio generation speed as a multiple of real time (default 4): like the
                          real service, a reply's audio arrives faster than it plays, so clients
                          hold unplayed audio and truncate at what they played; ``1`` = real time
``emu_burst_ms``          audio released together per burst (default 500); ``0`` = one chunk per
                          step. ``emu_speed=1&emu_burst_ms=0`` is the old real-time stream
``emu_asr_ms``            input-transcription latency after a commit (default 150)
``emu_mode``              ``normal`` (default) or ``echo``: each input append is answered at once
                          by one output audio delta carrying the same payload; no VAD
``emu_snapshot``          ``1`` report a dated snapshot model name in ``session.created``
``emu_fault``             ``none`` | ``refuse`` (HTTP 503) | ``refuse429`` (HTTP 429) |
                          ``drop`` (TCP close without close frame) | ``drop1011`` (close 1011) |
                          ``malformed`` (one invalid-JSON text frame) | ``nan`` (one large audio
                          delta carrying ``NaN``, which only lenient parsers read) | ``stall`` (stop sending,
                          keep the socket open) | ``slow_accept`` (delay the handshake)
``emu_fault_after``       server frames sent before drop/drop1011/malformed/nan/stall fire (default 8)
``emu_delay_ms``          handshake delay for ``slow_accept`` (default 2000)
========================  ====================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

FAULTS: Final = frozenset(
    {"none", "refuse", "refuse429", "drop", "drop1011", "malformed", "nan", "stall", "slow_accept"})
MODES: Final = frozenset({"normal", "echo"})
QUERY_PREFIX: Final = "emu_"
HEADER_PREFIX: Final = "x-emulator-"


class ScriptError(ValueError):
    """A knob has an unknown name or an unusable value (answered with HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Script:
    """Per-connection behaviour of the emulator."""

    ttfa_ms: int = 250
    reply_ms: int = 2000
    chunk_ms: int = 100
    pace: bool = True
    speed: int = 4
    burst_ms: int = 500
    asr_ms: int = 150
    mode: str = "normal"
    snapshot: bool = False
    fault: str = "none"
    fault_after: int = 8
    delay_ms: int = 2000

    def __post_init__(self) -> None:
        """Reject values that would make the emulator misbehave rather than fail loudly."""
        if self.fault not in FAULTS:
            raise ScriptError(f"emu_fault must be one of {sorted(FAULTS)}")
        if self.mode not in MODES:
            raise ScriptError(f"emu_mode must be one of {sorted(MODES)}")
        for name in ("ttfa_ms", "reply_ms", "asr_ms", "fault_after", "delay_ms"):
            if getattr(self, name) < 0:
                raise ScriptError(f"emu_{name} must be >= 0")
        if not 1 <= self.speed <= 100:
            raise ScriptError("emu_speed must be within 1..100")
        if not 0 <= self.burst_ms <= 60_000:
            raise ScriptError("emu_burst_ms must be within 0..60000")
        if not 10 <= self.chunk_ms <= 10_000:
            raise ScriptError("emu_chunk_ms must be within 10..10000")

    def with_overrides(self, raw: Mapping[str, str]) -> Script:
        """Return a copy with knobs parsed from strings keyed by bare knob name."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, int | bool | str] = {}
        for name, text in raw.items():
            if name not in fields:
                raise ScriptError(f"unknown emulator knob emu_{name}")
            changes[name] = _parse(name, text, getattr(self, name))
        return self.with_values(changes)

    def with_values(self, changes: Mapping[str, int | bool | str]) -> Script:
        """Return a copy with typed knob values; each must have its field's type (bool is not an int)."""
        merged: dict[str, Any] = dataclasses.asdict(self)  # checked against each field's type below
        for name, value in changes.items():
            if name not in merged:
                raise ScriptError(f"unknown emulator knob emu_{name}")
            if type(value) is not type(merged[name]):
                raise ScriptError(f"emu_{name} must be a {type(merged[name]).__name__}")
            merged[name] = value
        return Script(**merged)


def _parse(name: str, text: str, current: int | bool | str) -> int | bool | str:
    """Convert one knob's text to the type of its current value."""
    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ScriptError(f"emu_{name} must be a boolean")
        return lowered in ("1", "true", "yes", "on")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ScriptError(f"emu_{name} must be an integer") from None
    return text.strip().lower()


def knobs_from_request(query: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, str]:
    """Collect ``emu_*`` query parameters and ``X-Emulator-*`` headers (query wins)."""
    raw: dict[str, str] = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered.startswith(HEADER_PREFIX):
            raw[lowered[len(HEADER_PREFIX):].replace("-", "_")] = value
    for key, value in query.items():
        if key.startswith(QUERY_PREFIX):
            raw[key[len(QUERY_PREFIX):]] = value
    return raw
