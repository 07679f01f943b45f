"""Budget periods: the UTC calendar day and month a wall-clock time falls in (pure; time is an argument)."""

from __future__ import annotations

import time


def utc_day(wall: float) -> str:
    """``YYYYMMDD`` of ``wall`` in UTC (daily budgets reset at 00:00 UTC)."""
    return time.strftime("%Y%m%d", time.gmtime(wall))


def utc_month(wall: float) -> str:
    """``YYYYMM`` of ``wall`` in UTC (monthly budgets reset on the 1st, 00:00 UTC)."""
    return time.strftime("%Y%m", time.gmtime(wall))
