"""The live cost meter of one session: exact reported usage plus a running estimate from relayed audio.

Pure: no I/O, time is an argument. Every path ends in integer micro-dollars computed from
cumulative totals with one ceiling, so the projection never drifts and never rounds to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Mapping

from gateway.core.catalog import Catalog
from gateway.core.kinds import SessionKind
from gateway.core.money import (
    INPUT_AUDIO_MS_PER_TOKEN,
    PricedUsage,
    Pricing,
    PricingUnit,
    TokenUsage,
    audio_ms,
    duration_cost_micros,
    estimated_audio_token_counts,
    estimated_audio_tokens,
    token_cost_micros,
    token_usage_from_response,
)
from gateway.core.observers import SessionStats


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Which price applies to a model name; unknown names get the fallback price or ``None`` (refuse)."""

    catalog: Catalog
    #: overrides the catalog's own fallback (from ``fallback_usd_per_minute``)
    fallback: Pricing | None = None

    @property
    def fallback_pricing(self) -> Pricing | None:
        return self.fallback or self.catalog.fallback_pricing

    def model(self, name: str | None) -> Pricing | None:
        """Price of a model, alias or dated snapshot (billed as its family)."""
        spec = self.catalog.resolve(name) if name else None
        return spec.pricing if spec is not None else self.fallback_pricing

    def asr(self, session_pricing: Pricing) -> Pricing:
        """Price of input transcription inside a voice session: the catalog's first ASR model."""
        spec = self.catalog.default_for(SessionKind.TRANSCRIPTION)
        if spec is not None:
            return spec.pricing
        return self.fallback_pricing or session_pricing


def _seconds_to_ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return 0
    return int((Decimal(str(value)) * 1000).to_integral_value(rounding=ROUND_CEILING))


def _total(usage: Mapping[str, object], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_tokens(usage: Mapping[str, object]) -> TokenUsage:
    """Token usage with any unsplit remainder of the totals charged as text (never dropped as free)."""
    tokens = token_usage_from_response(usage)
    tokens.text_in += max(_total(usage, "input_tokens") - tokens.input_tokens, 0)
    tokens.text_out += max(_total(usage, "output_tokens") - tokens.output_tokens, 0)
    return tokens


@dataclass(slots=True)
class ReportedUsage:
    """Usage reported by upstream, accumulated: tokens and duration-shaped seconds kept apart."""

    tokens: TokenUsage = field(default_factory=TokenUsage)
    duration_ms: int = 0

    def add(self, usage: Mapping[str, object] | None) -> None:
        if not usage:
            return
        if usage.get("type") == "duration":
            self.duration_ms += _seconds_to_ms(usage.get("seconds"))
        else:
            self.tokens.add(parse_tokens(usage))

    def cost_micros(self, pricing: Pricing) -> int:
        """Price tokens and seconds in the pricing's own unit (converting at published audio rates)."""
        if pricing.unit is PricingUnit.MINUTES:
            audio_tokens = self.tokens.audio_in or self.tokens.text_in
            return duration_cost_micros(pricing, self.duration_ms + audio_tokens * INPUT_AUDIO_MS_PER_TOKEN)
        audio_in, _ = estimated_audio_token_counts(self.duration_ms, 0)
        return token_cost_micros(pricing, self.tokens, audio_in)


@dataclass(slots=True)
class _Sealed:
    """What the model a handoff moved away from cost, at its price: kept so a usage report arriving after the switch
    (its reply was in flight) replaces the estimate of its relayed audio with exact tokens at that same price."""

    model: str
    pricing: Pricing
    #: its reported tokens (late reports added)
    tokens: TokenUsage
    #: micro-dollars sealed for it so far (reported usage plus the estimate, until a late report replaces it)
    cost: int


class Meter:
    """Projects one session's cost from reported usage and the relay's counters."""

    def __init__(self, kind: SessionKind, pricing: Pricing, asr_pricing: Pricing, started_at: float) -> None:
        #: the kind of the model serving now (a handoff may move the session to a model of another kind)
        self.kind = kind
        self.pricing = pricing
        self.asr_pricing = asr_pricing
        self.started_at = started_at
        #: exact usage from ``response.done`` (voice) or completion events (transcription sessions)
        self.reported = ReportedUsage()
        #: input transcription inside a voice session, billed at the ASR price
        self.asr = ReportedUsage()
        #: models a handoff moved away from: their cost sealed at their own price, and their tokens
        self.sealed_micros = 0
        self.sealed_tokens = TokenUsage()
        #: model → micro-dollars sealed for it (a model served twice adds up)
        self.by_model: dict[str, int] = {}
        #: a handoff happened: a translation model serving now is billed on the audio since it (not the whole session's)
        self._handed_off = False
        #: the part sealed at the last handoff (its upstream may still report the reply it was giving)
        self._last_sealed: _Sealed | None = None
        #: the inputs :meth:`cost_micros` last priced and what they cost: a tick that finds the same inputs (no audio
        #: relayed, no usage metered since) reuses the figure. Every method that changes the meter clears it.
        self._priced: tuple[object, ...] | None = None
        self._priced_micros = 0
        #: the reported tokens priced at the serving model's price, and the input transcription's cost: between
        #: usage reports a tick prices only the audio estimate on top. Cleared with ``_priced`` (:meth:`_moved`).
        self._reported_price: PricedUsage | None = None
        self._asr_micros: int | None = None

    def _moved(self) -> None:
        """What the meter prices from changed (usage, price, model): price again at the next look."""
        self._priced = self._reported_price = self._asr_micros = None

    def reprice(self, pricing: Pricing) -> None:
        """The served model is known (``session.created``): bill at its price from now on."""
        self.pricing = pricing
        self._moved()

    def hand_off(
        self, now: float, from_model: str, audio_in_ms: int, audio_out_ms: int, pricing: Pricing | None,
        kind: SessionKind | None = None,
    ) -> None:
        """A handoff moved the session to another model (of ``kind``; ``None``: the same kind): what the old one cost
        is sealed at its price (a voice agent: reported usage plus its audio since the last report; a translation
        model: its input audio since it started serving); the new one is billed from zero at ``pricing``."""
        if self.kind is SessionKind.TRANSLATION:
            cost = self._translation_cost_ms(audio_in_ms, audio_out_ms)
        else:
            cost = self._voice_cost_ms(now, audio_in_ms, audio_out_ms)
        self.by_model[from_model] = self.by_model.get(from_model, 0) + cost
        self.sealed_micros += cost
        self.sealed_tokens.add(self.reported.tokens)
        sealed_tokens = TokenUsage()
        sealed_tokens.add(self.reported.tokens)
        self._last_sealed = _Sealed(from_model, self.pricing, sealed_tokens, cost)
        self.reported = ReportedUsage()
        self.started_at = now
        self._handed_off = True
        if kind is not None:
            self.kind = kind
        if pricing is not None:
            self.pricing = pricing
        self._moved()

    def retired_usage(self, model: str, pricing: Pricing | None, usage: Mapping[str, object] | None) -> None:
        """Usage the model a handoff moved away from reported after the switch (the reply it was giving): billed at
        that model's price. For the part sealed at the last handoff it replaces the estimate of the audio relayed
        since its previous report (as a usage report does on the live meter); ``pricing`` prices any other."""
        if not usage:
            return
        self._moved()
        tokens = parse_tokens(usage)
        self.sealed_tokens.add(tokens)
        part = self._last_sealed
        if part is not None and part.model == model:
            if part.pricing.unit is PricingUnit.MINUTES:  # billed by the minute: the tokens change nothing
                return
            part.tokens.add(tokens)
            cost = token_cost_micros(part.pricing, part.tokens)
            delta, part.cost = cost - part.cost, cost
        elif pricing is not None and pricing.unit is not PricingUnit.MINUTES:
            delta = token_cost_micros(pricing, tokens)
        else:
            return
        self.sealed_micros += delta
        self.by_model[model] = self.by_model.get(model, 0) + delta

    def on_response_usage(self, usage: Mapping[str, object] | None) -> None:
        """Exact usage of one response; the relay resets the since-usage counters at the same time."""
        if usage:
            self.reported.tokens.add(parse_tokens(usage))
            self._moved()

    def on_transcription_usage(self, usage: Mapping[str, object] | None) -> None:
        """A completed input transcription: the session's own usage, or ASR usage in a voice session."""
        if self.kind is SessionKind.REALTIME:
            self.asr.add(usage)
        else:
            self.reported.add(usage)
        self._moved()

    def cost_micros(self, now: float, stats: SessionStats) -> int:
        """The session's cost so far: exact where reported, estimated from relayed audio in between.

        Priced again only when what it is priced from moved: the relayed audio counters and formats, the meter
        itself, and the time for a voice model on a per-minute price (billed by the elapsed time)."""
        timed = self.timed
        inputs = (
            stats.audio_in_bytes, stats.audio_out_bytes, stats.audio_in_bytes_since_usage,
            stats.audio_out_bytes_since_usage, stats.input_format, stats.output_format, now if timed else None,
        )
        if inputs != self._priced:
            self._priced_micros = self._price(now, stats)
            self._priced = inputs
        return self._priced_micros

    @property
    def timed(self) -> bool:
        """The price grows with the time itself (a voice model on a per-minute price), not only with the counters."""
        return self.kind is SessionKind.REALTIME and self.pricing.unit is PricingUnit.MINUTES

    def bound_micros(self, now: float, stats: SessionStats) -> int:
        """What the session would cost with ``stats``' counters at ``now`` (a horizon's corner), priced as
        :meth:`cost_micros` prices without touching what it remembers. The price never falls as a relayed-audio
        counter or the time grows, so this bounds the cost at any smaller counters and earlier time."""
        return self._price(now, stats)

    def _price(self, now: float, stats: SessionStats) -> int:
        if self.kind is SessionKind.REALTIME:
            return self.sealed_micros + self._voice_cost(now, stats) + self._asr_cost()
        if self.kind is SessionKind.TRANSLATION and self._handed_off:
            # since the handoff: a translation model never reports usage, so the since-usage counters run from it
            in_ms = audio_ms(stats.audio_in_bytes_since_usage, stats.input_format)
            out_ms = audio_ms(stats.audio_out_bytes_since_usage, stats.output_format)
            return self.sealed_micros + self._translation_cost_ms(in_ms, out_ms) + self._asr_cost()
        relayed_in_ms = audio_ms(stats.audio_in_bytes, stats.input_format)
        if self.kind is SessionKind.TRANSCRIPTION:
            estimate = ReportedUsage(duration_ms=relayed_in_ms).cost_micros(self.pricing)
            return max(self.reported.cost_micros(self.pricing), estimate)
        return self._translation_cost_ms(relayed_in_ms, audio_ms(stats.audio_out_bytes, stats.output_format))

    def _translation_cost_ms(self, in_ms: int, out_ms: int) -> int:
        """A translation model: input audio seconds at a per-minute price (else an audio-token estimate)."""
        if self.pricing.unit is PricingUnit.MINUTES:
            return duration_cost_micros(self.pricing, in_ms)
        return token_cost_micros(self.pricing, estimated_audio_tokens(in_ms, out_ms))

    def _voice_cost(self, now: float, stats: SessionStats) -> int:
        return self._voice_cost_ms(
            now,
            audio_ms(stats.audio_in_bytes_since_usage, stats.input_format),
            audio_ms(stats.audio_out_bytes_since_usage, stats.output_format),
        )

    def _voice_cost_ms(self, now: float, in_ms: int, out_ms: int) -> int:
        """The model serving now: reported usage plus the estimate of audio relayed since the last report."""
        if self.pricing.unit is PricingUnit.MINUTES:  # an unknown model on a per-minute fallback price
            elapsed_ms = max(math.ceil(round((now - self.started_at) * 1000, 3)), 0)
            return duration_cost_micros(self.pricing, elapsed_ms)
        priced = self._reported_price
        if priced is None:
            priced = self._reported_price = PricedUsage.of(self.pricing, self.reported.tokens)
        return priced.micros(*estimated_audio_token_counts(in_ms, out_ms))

    def _asr_cost(self) -> int:
        if self._asr_micros is None:
            self._asr_micros = self.asr.cost_micros(self.asr_pricing)
        return self._asr_micros

    def tokens(self) -> TokenUsage:
        """Reported tokens so far (session plus input transcription), for the session record."""
        total = TokenUsage()
        total.add(self.sealed_tokens)
        total.add(self.reported.tokens)
        total.add(self.asr.tokens)
        return total
