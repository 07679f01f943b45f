"""Per-session records the emulator keeps so tests can reconcile a gateway's accounting with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gateway.core.jsontypes import JsonDict, as_int, as_dict


@dataclass(slots=True)
class UsageTotals:
    """Sums of every usage block the emulator reported in one session."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    #: seconds reported by duration-shaped transcription usage
    transcription_seconds: float = 0.0
    #: tokens reported by token-shaped transcription usage
    transcription_tokens: int = 0

    def add_response(self, usage: JsonDict) -> None:
        """Accumulate one ``response.done.response.usage`` block."""
        inp = as_dict(usage.get("input_token_details"))
        out = as_dict(usage.get("output_token_details"))
        self.input_tokens += as_int(usage.get("input_tokens"))
        self.output_tokens += as_int(usage.get("output_tokens"))
        self.total_tokens += as_int(usage.get("total_tokens"))
        self.input_text_tokens += as_int(inp.get("text_tokens"))
        self.input_audio_tokens += as_int(inp.get("audio_tokens"))
        self.cached_tokens += as_int(inp.get("cached_tokens"))
        self.output_text_tokens += as_int(out.get("text_tokens"))
        self.output_audio_tokens += as_int(out.get("audio_tokens"))


#: input audio a session record keeps, as received (tests compare it with what the client sent)
INPUT_AUDIO_KEPT: Final = 8 * 1024 * 1024


@dataclass(slots=True)
class SessionRecord:
    """What the emulator saw and said in one WebSocket session."""

    kind: str
    model: str | None
    session_id: str = ""
    #: decoded input audio bytes received (appends)
    audio_in_bytes: int = 0
    #: the first 8 MB of that audio, as received (tests check nothing was lost or reordered)
    input_audio: bytearray = field(default_factory=bytearray)
    #: decoded output audio bytes sent (audio deltas)
    audio_out_bytes: int = 0
    responses: int = 0
    frames_in: int = 0
    frames_out: int = 0
    usage_total: UsageTotals = field(default_factory=UsageTotals)
    closed: bool = False
    close_code: int | None = None
    #: error codes the emulator sent, in order
    errors: list[str] = field(default_factory=list)
    #: what each response ran with (instructions, tool names/servers, voice, max_output_tokens), for tests
    response_configs: list[dict[str, object]] = field(default_factory=list)
