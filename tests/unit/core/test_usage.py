"""Spend reports: grouping, totals, cut-offs, periods and CSV/JSON output from session records."""

from __future__ import annotations

import csv
import io

import pytest

from gateway.core.usage import PeriodError, parse_group_by, parse_instant, parse_period, summarize

NOW = 1_800_000_000.0


def _record(at: float, tenant: str, route: str, cost: int, *, code: str = "", model: str = "gpt-realtime-2", key: str = "k1") -> dict[str, str]:
    return {
        "stream_id": f"{int(at * 1000)}-0", "tenant": tenant, "key_id": key, "route": route, "kind": "realtime",
        "model_routed": model, "model_served": "", "cost_micros": str(cost), "duration_s": "60.000",
        "audio_in_s": "30.000", "audio_out_s": "12.000", "error_code": code,
    }


RECORDS = [
    _record(NOW - 3600, "acme", "agent", 250_000),
    _record(NOW - 1800, "acme", "agent", 100_000, code="session_cost_cap_reached"),
    _record(NOW - 600, "globex", "captions", 40_000, code="budget_exceeded", model="gpt-realtime-whisper"),
    _record(NOW - 10 * 86_400, "acme", "agent", 999_999),  # outside a 1-day period
]


def test_groups_by_tenant_with_totals_and_cutoffs() -> None:
    """Per-tenant spend, sessions, minutes and cut-offs; records outside the period are left out."""
    report = summarize(RECORDS, NOW - 86_400, NOW, ("tenant",))
    rows = {r.group["tenant"]: r.as_dict() for r in report.rows}
    assert rows["acme"]["sessions"] == 2 and rows["acme"]["spend_micros"] == 350_000 and rows["acme"]["spend_usd"] == "0.350000"
    assert rows["acme"]["cap_cutoffs"] == 1 and rows["acme"]["budget_cutoffs"] == 0
    assert rows["acme"]["audio_in_minutes"] == 1.0 and rows["acme"]["session_minutes"] == 2.0
    assert rows["globex"]["budget_cutoffs"] == 1
    assert [r.group["tenant"] for r in report.rows] == ["acme", "globex"]  # biggest spend first
    assert report.total.sessions == 3 and report.total.spend_micros == 390_000


def test_groups_by_several_dimensions_and_model_falls_back_to_routed() -> None:
    """Grouping by route and model splits rows; the routed model stands in when none was served."""
    report = summarize(RECORDS, NOW - 86_400, NOW, parse_group_by("route,model"))
    assert {(r.group["route"], r.group["model"]) for r in report.rows} == {
        ("agent", "gpt-realtime-2"), ("captions", "gpt-realtime-whisper"),
    }


def test_csv_has_a_header_rows_and_a_total() -> None:
    """CSV: the group columns then the numbers, one line per group, then the total line."""
    rows = list(csv.DictReader(io.StringIO(summarize(RECORDS, NOW - 86_400, NOW, ("tenant",)).to_csv())))
    assert [r["tenant"] for r in rows] == ["acme", "globex", "total"]
    assert rows[-1]["spend_usd"] == "0.390000" and rows[-1]["sessions"] == "3"


def test_json_names_the_period() -> None:
    """The JSON report states its period, grouping, rows and total."""
    body = summarize(RECORDS, NOW - 86_400, NOW, ("key",)).as_dict()
    assert body["group_by"] == ["key"] and body["to"] == "2027-01-15T08:00:00Z"
    assert body["total"]["sessions"] == 3  # type: ignore[index]


def test_periods_accept_durations_dates_and_now() -> None:
    """Durations count back from now; ISO dates are UTC; reversed or unreadable periods are refused."""
    assert parse_instant("24h", NOW) == NOW - 86_400
    assert parse_instant("now", NOW) == NOW
    assert parse_instant("2027-01-15", NOW) == 1_800_000_000.0 - 8 * 3600
    with pytest.raises(PeriodError, match="not a time"):
        parse_instant("yesterday-ish", NOW)
    with pytest.raises(PeriodError, match="before it starts"):
        parse_period("1h", "2h", NOW)
    with pytest.raises(ValueError, match="cannot group by colour"):
        parse_group_by("tenant,colour")


def test_bad_numbers_in_a_record_do_not_break_the_report() -> None:
    """A record with unparseable numbers counts as a session with zero spend instead of failing the report."""
    broken = {**RECORDS[0], "cost_micros": "x", "duration_s": ""}
    assert summarize([broken], NOW - 86_400, NOW, ("tenant",)).total.sessions == 1
