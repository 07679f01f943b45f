"""Money: integer micro-dollars, prices per million tokens or per minute, usage → cost.

No floats touch money. Prices are held as micro-dollars per million tokens (``$4.00/M`` →
``4_000_000``) or micro-dollars per minute (``$0.017/min`` → ``17_000``). Costs are computed
from cumulative totals with a ceiling, so running estimates never drift and never round a
paid session down to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final, Mapping

MICROS_PER_USD: Final = 1_000_000
TOKENS_PER_PRICE_UNIT: Final = 1_000_000

#: PCM16 mono 24 kHz: 48,000 bytes per second; G.711 (pcmu/pcma) 8 kHz: 8,000 bytes per second
BYTES_PER_SECOND: Final[dict[str, int]] = {
    "audio/pcm": 48_000,
    "pcm16": 48_000,
    "audio/pcmu": 8_000,
    "audio/pcma": 8_000,
    "g711_ulaw": 8_000,
    "g711_alaw": 8_000,
}

#: published audio token rates: 1 token per 100 ms of user audio, 1 per 50 ms of assistant audio
INPUT_AUDIO_MS_PER_TOKEN: Final = 100
OUTPUT_AUDIO_MS_PER_TOKEN: Final = 50


def usd_to_micros(usd: str | int | Decimal) -> int:
    """Convert a decimal USD amount (as text, never float) to integer micro-dollars, exactly."""
    value = Decimal(str(usd)) * MICROS_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"{usd} USD is not a whole number of micro-dollars")
    return int(value)


def micros_to_usd(micros: int) -> str:
    """Render micro-dollars as a USD string with six decimals (for display only)."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{frac:06d}"


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class PricingUnit(StrEnum):
    TOKENS = "tokens"
    MINUTES = "minutes"


@dataclass(frozen=True, slots=True)
class TokenRates:
    """Micro-dollars per million tokens of one modality."""

    input: int
    cached_input: int
    output: int


@dataclass(frozen=True, slots=True)
class Pricing:
    """How one model is billed."""

    unit: PricingUnit
    text: TokenRates | None = None
    audio: TokenRates | None = None
    image: TokenRates | None = None
    #: micro-dollars per minute of audio, for duration-priced models
    per_minute: int = 0

    def __post_init__(self) -> None:
        if self.unit is PricingUnit.MINUTES and self.per_minute <= 0:
            raise ValueError("a duration-priced model needs a positive per-minute price")
        if self.unit is PricingUnit.TOKENS and (self.text is None or self.audio is None):
            raise ValueError("a token-priced model needs text and audio rates")


def affordable_output_tokens(remaining_micros: int, pricing: Pricing) -> int | None:
    """Output tokens ``remaining_micros`` pays for at the model's dearest output rate (``None``: not token-priced)."""
    if pricing.unit is not PricingUnit.TOKENS:
        return None
    rate = max(rates.output for rates in (pricing.text, pricing.audio) if rates is not None)
    if rate <= 0:
        return None
    return max(remaining_micros, 0) * TOKENS_PER_PRICE_UNIT // rate


@dataclass(slots=True)
class TokenUsage:
    """Cumulative token usage, split as OpenAI reports it (cached is a subset of input)."""

    text_in: int = 0
    audio_in: int = 0
    image_in: int = 0
    cached_text_in: int = 0
    cached_audio_in: int = 0
    cached_image_in: int = 0
    text_out: int = 0
    audio_out: int = 0

    def add(self, other: "TokenUsage") -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def input_tokens(self) -> int:
        return self.text_in + self.audio_in + self.image_in

    @property
    def output_tokens(self) -> int:
        return self.text_out + self.audio_out


def _int(mapping: Mapping[str, object] | None, key: str) -> int:
    if not mapping:
        return 0
    value = mapping.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def _mapping(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, Mapping) else None


def token_usage_from_response(usage: Mapping[str, object]) -> TokenUsage:
    """Read a ``response.done`` usage block (or a token-shaped transcription usage)."""
    inp = _mapping(usage.get("input_token_details"))
    out = _mapping(usage.get("output_token_details"))
    cached = _mapping(inp.get("cached_tokens_details")) if inp else None
    result = TokenUsage(
        text_in=_int(inp, "text_tokens"),
        audio_in=_int(inp, "audio_tokens"),
        image_in=_int(inp, "image_tokens"),
        cached_text_in=_int(cached, "text_tokens"),
        cached_audio_in=_int(cached, "audio_tokens"),
        cached_image_in=_int(cached, "image_tokens"),
        text_out=_int(out, "text_tokens"),
        audio_out=_int(out, "audio_tokens"),
    )
    if inp is None and out is None:  # bare totals only: charge as text, never as free
        result.text_in = _int(usage, "input_tokens")
        result.text_out = _int(usage, "output_tokens")
    if cached is None and inp is not None and _int(inp, "cached_tokens"):
        # cached total without a split: attribute it to text first (the cheaper assumption is
        # the cached rate, which is applied only to what the split would have said)
        result.cached_text_in = min(_int(inp, "cached_tokens"), result.text_in)
    return result


def _modality_pico(rates: TokenRates | None, fresh: int, cached: int, out: int) -> int:
    """Cost in micro-dollar-millionths (µ$ × 1e-6) so sums stay exact before one ceiling."""
    if rates is None:
        return 0
    fresh = max(fresh - cached, 0)
    return fresh * rates.input + cached * rates.cached_input + out * rates.output


def token_cost_micros(pricing: Pricing, usage: TokenUsage, audio_in: int = 0, audio_out: int = 0) -> int:
    """Exact cost of cumulative token usage (plus ``audio_in`` / ``audio_out`` more audio tokens: an estimate on top
    of reported usage, priced without building the sum), rounded up to a whole micro-dollar."""
    return PricedUsage.of(pricing, usage).micros(audio_in, audio_out)


@dataclass(frozen=True, slots=True)
class PricedUsage:
    """Cumulative token usage priced once at one pricing, so that more audio tokens on top cost a few integer
    operations: the meter prices reported usage plus the running audio estimate on every tick, and the usage only
    moves at a report. ``micros`` is exactly :func:`token_cost_micros` of the same arguments."""

    #: text and image, in micro-dollar-millionths
    other_pico: int
    audio: TokenRates | None
    audio_in: int
    cached_audio_in: int
    audio_out: int

    @classmethod
    def of(cls, pricing: Pricing, usage: TokenUsage) -> "PricedUsage":
        other = (_modality_pico(pricing.text, usage.text_in, usage.cached_text_in, usage.text_out)
                 + _modality_pico(pricing.image or pricing.text, usage.image_in, usage.cached_image_in, 0))
        return cls(other, pricing.audio, usage.audio_in, usage.cached_audio_in, usage.audio_out)

    def micros(self, audio_in: int = 0, audio_out: int = 0) -> int:
        """The usage plus ``audio_in`` / ``audio_out`` more audio tokens, rounded up to a whole micro-dollar."""
        audio = _modality_pico(self.audio, self.audio_in + audio_in, self.cached_audio_in, self.audio_out + audio_out)
        return _ceil_div(self.other_pico + audio, TOKENS_PER_PRICE_UNIT)


def duration_cost_micros(pricing: Pricing, audio_ms: int) -> int:
    """Cost of ``audio_ms`` milliseconds of audio at a per-minute price, rounded up."""
    return _ceil_div(audio_ms * pricing.per_minute, 60_000)


def audio_ms(byte_count: int, audio_format: str) -> int:
    """Milliseconds of audio in ``byte_count`` bytes of the given wire format."""
    rate = BYTES_PER_SECOND.get(audio_format, 48_000)
    return (byte_count * 1000) // rate


def estimated_audio_token_counts(input_ms: int, output_ms: int) -> tuple[int, int]:
    """Input and output audio tokens the published rates imply for relayed audio (the between-``response.done``
    estimate)."""
    return _ceil_div(input_ms, INPUT_AUDIO_MS_PER_TOKEN), _ceil_div(output_ms, OUTPUT_AUDIO_MS_PER_TOKEN)


def estimated_audio_tokens(input_ms: int, output_ms: int) -> TokenUsage:
    """:func:`estimated_audio_token_counts` as usage."""
    audio_in, audio_out = estimated_audio_token_counts(input_ms, output_ms)
    return TokenUsage(audio_in=audio_in, audio_out=audio_out)
