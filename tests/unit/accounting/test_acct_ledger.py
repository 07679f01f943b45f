"""The ledger: each tenant's unflushed total kept as costs, checkpoints and sessions move; the spend's periods."""

from __future__ import annotations

import calendar

from tests.support.accounting import info

from gateway.accounting.caps import CapGuard
from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.limits import NO_LIMITS, TenantLimits
from gateway.accounting.periods import utc_day, utc_day_bounds, utc_month, utc_month_bounds
from gateway.core.routing import Caps


def _live(session_id: str, tenant: str) -> LiveSession:
    return LiveSession(info=info(session_id=session_id, tenant=tenant), tenant=tenant, limits=NO_LIMITS, meter=None,
                       guard=CapGuard(Caps(), 0.0), started_wall=0.0)


def _summed(ledger: Ledger, tenant: str) -> int:
    return sum(s.unflushed_micros for s in ledger.sessions.values() if s.tenant == tenant)


def test_the_unflushed_total_follows_costs_checkpoints_and_departures() -> None:
    """After every step the kept per-tenant total equals summing the tenant's sessions; other tenants are apart."""
    ledger = Ledger()
    a, b, other = _live("s_a", "acme"), _live("s_b", "acme"), _live("s_c", "globex")
    for live in (a, b, other):
        ledger.add(live)
    steps = [
        lambda: ledger.set_cost(a, 500),
        lambda: ledger.set_cost(b, 300),
        lambda: ledger.set_cost(other, 7),
        lambda: ledger.set_charged(a, 400),
        lambda: ledger.set_cost(a, 900),
        lambda: ledger.set_charged(a, 900),
        lambda: ledger.drop("s_b"),
        lambda: ledger.drop("s_b"),  # twice: nothing more leaves
    ]
    for step in steps:
        step()
        assert ledger.unflushed("acme") == _summed(ledger, "acme")
        assert ledger.unflushed("globex") == _summed(ledger, "globex")
    assert (ledger.unflushed("acme"), ledger.unflushed("globex"), ledger.unflushed("nobody")) == (0, 7, 0)


def test_a_session_added_again_replaces_itself_in_the_total() -> None:
    """Re-adding a session id counts it once."""
    ledger = Ledger()
    first = _live("s_a", "acme")
    ledger.add(first)
    ledger.set_cost(first, 100)
    ledger.add(_live("s_a", "acme"))
    assert ledger.unflushed("acme") == 0 == _summed(ledger, "acme")


def test_cached_spend_counts_only_within_its_utc_day_and_month() -> None:
    """The store's figures apply until 00:00 UTC (day) and the 1st (month), not a second longer."""
    ledger = Ledger()
    noted = calendar.timegm((2026, 12, 31, 12, 0, 0))
    ledger.note_spend("acme", noted, 10, 20)
    midnight = calendar.timegm((2027, 1, 1, 0, 0, 0))
    assert ledger.tenant_spend("acme", midnight - 0.001) == (10, 20)
    assert ledger.tenant_spend("acme", midnight) == (0, 0)
    assert ledger.tenant_spend("acme", noted - 13 * 3600) == (0, 20)  # the day before: same month
    budget = ledger.projection("acme", TenantLimits(daily_budget_micros=100), noted)
    assert budget is not None and budget.day_used_micros == 10


def test_period_bounds_are_the_spans_the_period_names_name() -> None:
    """Every second inside the bounds has the bound's day/month name; the end belongs to the next one."""
    for wall in (0.0, 1_767_225_599.5, 1_767_225_600.0, 1_709_208_000.0, 1_735_689_599.999):
        day_start, day_end = utc_day_bounds(wall)
        assert day_start <= wall < day_end
        assert utc_day(day_start) == utc_day(day_end - 0.001) == utc_day(wall) != utc_day(day_end)
        month_start, month_end = utc_month_bounds(wall)
        assert month_start <= wall < month_end
        assert utc_month(month_start) == utc_month(month_end - 0.001) == utc_month(wall) != utc_month(month_end)


def test_a_tenant_is_budgeted_while_a_session_of_it_with_a_budget_is_here() -> None:
    """Budgeted follows the sessions with a budget: the first one's arrival, the last one's departure."""
    ledger = Ledger()
    budget = TenantLimits(daily_budget_micros=100)
    first, second, plain = _live("s_a", "acme"), _live("s_b", "acme"), _live("s_c", "acme")
    first.limits = second.limits = budget
    ledger.add(plain)
    assert not ledger.budgeted("acme")
    ledger.add(first)
    ledger.add(second)
    ledger.drop("s_a")
    assert ledger.budgeted("acme") and not ledger.budgeted("globex")
    ledger.drop("s_b")
    assert not ledger.budgeted("acme")
