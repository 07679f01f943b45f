"""Per-session cost as telemetry sees it: usage priced with the catalog, or the accountant's figure.

Cost on spans and the cost metric come from one of two sources, chosen at wiring time:
an injected ``cost_of(session_id)`` (the accounting observer's authoritative running total)
when it answers, otherwise telemetry's own estimate: cumulative ``response.done`` usage
priced with the catalog (token-priced models) or relayed input audio at the per-minute price
(duration-priced models). Cumulative totals are priced once, so turn costs never drift.
"""

from __future__ import annotations

from typing import Callable, Mapping

from gateway.core.catalog import Catalog, ModelSpec
from gateway.core.money import (
    Pricing,
    PricingUnit,
    TokenUsage,
    audio_ms,
    duration_cost_micros,
    token_cost_micros,
    token_usage_from_response,
)
from gateway.core.observers import SessionStats

CostLookup = Callable[[str], "int | None"]


def resolve_model(catalog: Catalog | None, name: str | None) -> ModelSpec | None:
    """The catalog entry for a model name, alias or snapshot (``None`` when unknown)."""
    if catalog is None or not name:
        return None
    return catalog.resolve(name)


class SessionCost:
    """Accumulates one session's usage and answers its cost so far in micro-dollars."""

    def __init__(
        self,
        session_id: str,
        pricing: Pricing | None,
        cost_of: CostLookup | None = None,
    ) -> None:
        self._session_id = session_id
        self.pricing = pricing
        self._cost_of = cost_of
        self.usage = TokenUsage()

    def add_response_usage(self, usage: Mapping[str, object] | None) -> tuple[TokenUsage, int | None]:
        """Add one ``response.done`` usage; return it parsed and what it cost on its own."""
        if not usage:
            return TokenUsage(), None
        parsed = token_usage_from_response(usage)
        before = self._token_cost()
        self.usage.add(parsed)
        after = self._token_cost()
        turn_cost = None if before is None or after is None else after - before
        return parsed, turn_cost

    def total(self, stats: SessionStats) -> int | None:
        """Cost so far: the accountant's figure when injected and known, else the local estimate."""
        if self._cost_of is not None:
            try:
                value = self._cost_of(self._session_id)
            except Exception:  # an accounting hiccup must not break telemetry
                value = None
            if value is not None:
                return value
        if self.pricing is None:
            return None
        if self.pricing.unit is PricingUnit.MINUTES:
            return duration_cost_micros(self.pricing, audio_ms(stats.audio_in_bytes, stats.input_format))
        return token_cost_micros(self.pricing, self.usage)

    def _token_cost(self) -> int | None:
        if self.pricing is None or self.pricing.unit is not PricingUnit.TOKENS:
            return None
        return token_cost_micros(self.pricing, self.usage)
