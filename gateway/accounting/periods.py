"""Budget periods: the UTC calendar day and month a wall-clock time falls in (pure; time is an argument)."""

from __future__ import annotations

import calendar
import time

_DAY_S = 86_400


def utc_day(wall: float) -> str:
    """``YYYYMMDD`` of ``wall`` in UTC (daily budgets reset at 00:00 UTC)."""
    return time.strftime("%Y%m%d", time.gmtime(wall))


def utc_month(wall: float) -> str:
    """``YYYYMM`` of ``wall`` in UTC (monthly budgets reset on the 1st, 00:00 UTC)."""
    return time.strftime("%Y%m", time.gmtime(wall))


def utc_day_bounds(wall: float) -> tuple[float, float]:
    """The UTC day ``wall`` falls in as ``[start, end)`` epoch seconds (the span :func:`utc_day` names)."""
    start = float(int(wall // _DAY_S) * _DAY_S)
    return start, start + _DAY_S


def utc_month_bounds(wall: float) -> tuple[float, float]:
    """The UTC month ``wall`` falls in as ``[start, end)`` epoch seconds (the span :func:`utc_month` names)."""
    parts = time.gmtime(wall)
    year, month = parts.tm_year, parts.tm_mon
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    return float(start), float(end)
