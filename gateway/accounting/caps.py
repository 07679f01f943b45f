"""Per-session cap and budget verdicts: pure, decided on every tick from the local projection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

from gateway.core.errors import (
    BudgetCapReached,
    CostCapReached,
    DurationCapReached,
    GatewayError,
    IdleTimeout,
)
from gateway.core.money import micros_to_usd, usd_to_micros
from gateway.core.jsontypes import JsonObject
from gateway.core.observers import Notify, Terminate, Verdict
from gateway.core.routing import Caps

CAP_WARNING_TYPE = "gateway.cap_warning"


def default_caps(
    max_session_usd: str | None,
    max_session_seconds: float | None,
    idle_timeout_seconds: float | None,
    warn_ratio: float,
) -> Caps:
    """Gateway-wide caps from settings (USD as text, converted exactly)."""
    return Caps(
        max_cost_micros=usd_to_micros(max_session_usd) if max_session_usd else None,
        max_duration_s=max_session_seconds,
        idle_timeout_s=idle_timeout_seconds,
        warn_ratio=warn_ratio,
    )


@dataclass(frozen=True, slots=True)
class BudgetProjection:
    """The tenant's spend as last flushed plus everything accrued locally since."""

    day_used_micros: int = 0
    month_used_micros: int = 0
    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None

    def worst(self) -> tuple[int, int] | None:
        """The (used, limit) pair nearest its limit (the day's on a tie), or ``None`` with no budget."""
        day, month = self.daily_budget_micros, self.monthly_budget_micros
        if day is None:
            return None if month is None else (self.month_used_micros, month)
        if month is None or _ratio(self.day_used_micros, day) >= _ratio(self.month_used_micros, month):
            return self.day_used_micros, day
        return self.month_used_micros, month


def _ratio(used: int | float, limit: int | float) -> float:
    if limit <= 0:
        return float("inf") if used >= limit else 0.0
    return used / limit


def _money_warning(cap: str, used: int, limit: int) -> JsonObject:
    return {
        "cap": cap,
        "used": micros_to_usd(used),
        "limit": micros_to_usd(limit),
        "used_micros": used,
        "limit_micros": limit,
        "ratio": round(_ratio(used, limit), 4),
    }


def _duration_warning(used: float, limit: float) -> JsonObject:
    return {
        "cap": "duration",
        "used": round(used, 3),
        "limit": limit,
        "ratio": round(_ratio(used, limit), 4),
    }


class CapGuard:
    """Decides Terminate at a cap, and one warning per cap at ``warn_ratio``."""

    def __init__(
        self,
        caps: Caps,
        started_at: float,
        new_event_id: Callable[[], str] = lambda: f"event_gw_{uuid.uuid4().hex[:20]}",
    ) -> None:
        self.caps = caps
        self.started_at = started_at
        self._new_event_id = new_event_id
        self._warned: set[str] = set()
        self.terminated: GatewayError | None = None

    def check(
        self, now: float, cost_micros: int, last_activity_at: float, budget: BudgetProjection | None = None
    ) -> Verdict:
        """The verdict for this tick; once terminated, the same Terminate every time."""
        if self.terminated is None:
            self.terminated = self._limit_reached(now, cost_micros, last_activity_at, budget)
        if self.terminated is not None:
            return Terminate(self.terminated)
        return self._warning(now, cost_micros, budget)

    def calm(self, cost_bound: int, until: float, last_activity_at: float) -> bool:
        """Whether :meth:`check` (without a budget) answers ``None`` for every cost up to ``cost_bound`` at every time
        before ``until``, activity being no earlier than ``last_activity_at``: no cap reached, no warning due. Each
        test is its limit's own comparison at the bound (costs and elapsed times only grow)."""
        caps = self.caps
        if self.terminated is not None:
            return False
        warned, threshold = self._warned, caps.warn_ratio
        cap = caps.max_cost_micros
        if cap is not None and (cost_bound >= cap or ("cost" not in warned and _ratio(cost_bound, cap) >= threshold)):
            return False
        limit = caps.max_duration_s
        if limit is not None and (
            until - self.started_at >= limit or ("duration" not in warned and _ratio(until - self.started_at, limit) >= threshold)
        ):
            return False
        return caps.idle_timeout_s is None or until - last_activity_at < caps.idle_timeout_s

    def remaining(self, cost_micros: int, budget: BudgetProjection | None) -> tuple[int, bool] | None:
        """Micro-dollars left before the nearest money limit, and whether that is the budget (``None``: no limit)."""
        left: list[tuple[int, bool]] = []
        if self.caps.max_cost_micros is not None:
            left.append((self.caps.max_cost_micros - cost_micros, False))
        if budget is not None:
            for used, limit in (
                (budget.day_used_micros, budget.daily_budget_micros),
                (budget.month_used_micros, budget.monthly_budget_micros),
            ):
                if limit is not None:
                    left.append((limit - used, True))
        return min(left) if left else None

    def _limit_reached(
        self, now: float, cost: int, last_activity_at: float, budget: BudgetProjection | None
    ) -> GatewayError | None:
        caps = self.caps
        if caps.max_cost_micros is not None and cost >= caps.max_cost_micros:
            return CostCapReached()
        if caps.max_duration_s is not None and now - self.started_at >= caps.max_duration_s:
            return DurationCapReached()
        if caps.idle_timeout_s is not None and now - last_activity_at >= caps.idle_timeout_s:
            return IdleTimeout()
        worst = budget.worst() if budget is not None else None
        if worst is not None and worst[0] >= worst[1]:
            return BudgetCapReached()
        return None

    def _warning(self, now: float, cost: int, budget: BudgetProjection | None) -> Verdict:
        """The first cap (cost, duration, budget) past ``warn_ratio`` not warned about yet: one warning for it."""
        caps = self.caps
        warned, threshold = self._warned, caps.warn_ratio
        body: JsonObject | None = None
        if caps.max_cost_micros is not None and "cost" not in warned and _ratio(cost, caps.max_cost_micros) >= threshold:
            body = _money_warning("cost", cost, caps.max_cost_micros)
        elif (
            caps.max_duration_s is not None
            and "duration" not in warned
            and _ratio(now - self.started_at, caps.max_duration_s) >= threshold
        ):
            body = _duration_warning(now - self.started_at, caps.max_duration_s)
        elif budget is not None and "budget" not in warned:
            worst = budget.worst()
            if worst is not None and _ratio(worst[0], worst[1]) >= threshold:
                body = _money_warning("budget", worst[0], worst[1])
        if body is None:
            return None
        warned.add(str(body["cap"]))
        return Notify({"type": CAP_WARNING_TYPE, "event_id": self._new_event_id(), **body})
