"""Per-session cost as telemetry sees it: usage priced with the catalog, or the accountant's figure.

Turn costs are telemetry's own: each ``response.done`` usage priced with the catalog
(cumulative totals priced once, so turn costs never drift). The session total is the larger
of an injected ``cost_of(session_id)`` (the accounting service's live figure, wired at start-up)
and the local estimate: cumulative usage for token-priced models, relayed input audio at the
per-minute price for duration-priced ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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

    def add_response_usage(
        self, usage: Mapping[str, object] | None
    ) -> tuple[TokenUsage, int | None]:
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
        """Cost so far: the larger of the accountant's live figure and the local estimate.

        The accountant answers 0 once it has forgotten a session (its end may run before ours),
        so its figure alone could step backwards at the very end; the local estimate cannot.
        """
        known = [
            value
            for value in (self._injected(), self._local(stats))
            if value is not None
        ]
        return max(known) if known else None

    def _injected(self) -> int | None:
        if self._cost_of is None:
            return None
        try:
            return self._cost_of(self._session_id)
        except Exception:  # noqa: BLE001 - an accounting hiccup must not break telemetry
            return None

    def _local(self, stats: SessionStats) -> int | None:
        if self.pricing is None:
            return None
        if self.pricing.unit is PricingUnit.MINUTES:
            return duration_cost_micros(
                self.pricing, audio_ms(stats.audio_in_bytes, stats.input_format)
            )
        return token_cost_micros(self.pricing, self.usage)

    def _token_cost(self) -> int | None:
        if self.pricing is None or self.pricing.unit is not PricingUnit.TOKENS:
            return None
        return token_cost_micros(self.pricing, self.usage)
