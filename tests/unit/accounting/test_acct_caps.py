"""Cap verdicts: one warning per cap, Terminate at the cap, duration, idle and budget."""

from __future__ import annotations

from gateway.accounting.caps import CAP_WARNING_TYPE, BudgetProjection, CapGuard, default_caps
from gateway.core.errors import BudgetCapReached, CostCapReached, DurationCapReached, IdleTimeout
from gateway.core.observers import Notify, Terminate
from gateway.core.routing import Caps


def guard(caps: Caps) -> CapGuard:
    return CapGuard(caps, started_at=100.0, new_event_id=lambda: "event_gw_1")


def test_cost_warning_once_then_terminate_exactly_at_cap() -> None:
    """Below 80% nothing; at 80% one warning; never again; at the cap exactly, Terminate with 4100."""
    g = guard(Caps(max_cost_micros=1_000_000, warn_ratio=0.8))
    assert g.check(101.0, 799_999, 101.0) is None
    warning = g.check(101.1, 800_000, 101.1)
    assert warning == Notify(
        {
            "type": CAP_WARNING_TYPE,
            "event_id": "event_gw_1",
            "cap": "cost",
            "used": "0.800000",
            "limit": "1.000000",
            "used_micros": 800_000,
            "limit_micros": 1_000_000,
            "ratio": 0.8,
        }
    )
    assert g.check(101.2, 999_999, 101.2) is None
    verdict = g.check(101.3, 1_000_000, 101.3)
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, CostCapReached)
    assert verdict.error.close_code == 4100


def test_terminate_is_sticky() -> None:
    """Once a cap is reached every later tick repeats the same Terminate."""
    g = guard(Caps(max_cost_micros=10))
    first = g.check(101.0, 10, 101.0)
    assert isinstance(first, Terminate)
    assert g.check(102.0, 0, 102.0) == first


def test_duration_warning_then_cap() -> None:
    """A 10 s cap warns at 8 s and ends the session at 10 s with 4101."""
    g = guard(Caps(max_duration_s=10.0, warn_ratio=0.8))
    assert g.check(107.9, 0, 107.9) is None
    warning = g.check(108.0, 0, 108.0)
    assert isinstance(warning, Notify) and warning.event["cap"] == "duration"
    assert warning.event["limit"] == 10.0
    assert g.check(109.99, 0, 109.99) is None
    verdict = g.check(110.0, 0, 110.0)
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, DurationCapReached)
    assert verdict.error.close_code == 4101


def test_idle_timeout_counts_from_last_activity() -> None:
    """No frames either way for the idle timeout ends the session with 4102; activity resets it."""
    g = guard(Caps(idle_timeout_s=5.0))
    assert g.check(104.9, 0, 100.0) is None
    assert g.check(109.0, 0, 104.5) is None
    verdict = g.check(109.5, 0, 104.5)
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, IdleTimeout)
    assert verdict.error.close_code == 4102


def test_budget_warns_then_cuts_off_at_daily_budget() -> None:
    """The tenant projection warns at 80% of the tighter budget and cuts off at it with 4103."""
    g = guard(Caps())
    near = BudgetProjection(85, 85, daily_budget_micros=100, monthly_budget_micros=10_000)
    warning = g.check(101.0, 0, 101.0, near)
    assert isinstance(warning, Notify)
    assert (warning.event["cap"], warning.event["used_micros"], warning.event["limit_micros"]) == ("budget", 85, 100)
    assert g.check(101.1, 0, 101.1, near) is None
    over = BudgetProjection(100, 100, 100, 10_000)
    verdict = g.check(101.2, 0, 101.2, over)
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)
    assert verdict.error.close_code == 4103


def test_monthly_budget_alone_cuts_off() -> None:
    """A monthly budget with no daily one is enforced too."""
    g = guard(Caps())
    verdict = g.check(101.0, 0, 101.0, BudgetProjection(5, 1_000, None, 1_000))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)


def test_each_cap_warns_once_independently() -> None:
    """Cost and duration both past the threshold give two warnings on two ticks, then silence."""
    g = guard(Caps(max_cost_micros=100, max_duration_s=10.0, warn_ratio=0.5))
    first = g.check(106.0, 60, 106.0)
    second = g.check(106.1, 60, 106.1)
    assert isinstance(first, Notify) and isinstance(second, Notify)
    assert {first.event["cap"], second.event["cap"]} == {"cost", "duration"}
    assert g.check(106.2, 70, 106.2) is None


def test_no_caps_never_decide() -> None:
    """Without caps or budgets nothing is ever decided."""
    g = guard(Caps())
    assert g.check(1e9, 10**12, 0.0) is None


def test_default_caps_convert_usd_exactly_and_tighten_route_caps() -> None:
    """Settings' USD text becomes micro-dollars; the stricter of route and gateway caps wins."""
    defaults = default_caps("2.50", 600.0, None, 0.9)
    assert defaults == Caps(max_cost_micros=2_500_000, max_duration_s=600.0, idle_timeout_s=None, warn_ratio=0.9)
    route = Caps(max_cost_micros=5_000_000, max_duration_s=60.0, idle_timeout_s=30.0, warn_ratio=0.8)
    assert route.tightened(defaults) == Caps(2_500_000, 60.0, 30.0, 0.8)
    assert default_caps(None, None, None, 0.8) == Caps()


def test_the_worst_budget_is_the_one_nearest_its_limit() -> None:
    """Day or month, whichever has used the larger share (the day on a tie; a zero limit counts as reached)."""
    assert BudgetProjection(10, 10).worst() is None
    assert BudgetProjection(10, 90, daily_budget_micros=100).worst() == (10, 100)
    assert BudgetProjection(10, 90, monthly_budget_micros=100).worst() == (90, 100)
    assert BudgetProjection(10, 90, 100, 1_000).worst() == (10, 100)  # 10% each: the day
    assert BudgetProjection(10, 900, 100, 1_000).worst() == (900, 1_000)
    assert BudgetProjection(1, 900, 0, 1_000).worst() == (1, 0)
