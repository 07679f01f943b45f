"""Spend reports from session records: spend, sessions, audio minutes and cap cut-offs, grouped.

Pure: records (the flat string maps of ``records.session_record``) and a period in, a
:class:`UsageReport` out, rendered as JSON or CSV. ``voice-gateway usage`` and
``GET /admin/usage`` both use it.
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Iterable, Mapping, Sequence

from gateway.core.errors import BudgetExhausted, CostCapReached, DurationCapReached
from gateway.core.money import micros_to_usd

#: what a report can be grouped by → the record field that holds it
DIMENSIONS: Mapping[str, tuple[str, ...]] = {
    "tenant": ("tenant",),
    "key": ("key_id",),
    "route": ("route",),
    "model": ("model_served", "model_routed"),
    "kind": ("kind",),
}
#: sessions the gateway cut off because a per-session cap or the tenant's budget ran out
CAP_CODES = frozenset({CostCapReached.code, DurationCapReached.code})
BUDGET_CODES = frozenset({BudgetExhausted.code})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_PERIOD_S = 400 * 86_400


class PeriodError(ValueError):
    """A period bound could not be understood (the message says what is accepted)."""


def parse_instant(text: str, now: float) -> float:
    """``now``, a duration back from now (``90m``, ``24h``, ``7d``), an ISO date or date-time (UTC if naive)."""
    text = text.strip()
    if text == "now":
        return now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PeriodError(
            f"'{text}' is not a time: use 'now', a duration back from now (30m, 24h, 7d, 2w) or an ISO date"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_period(since: str, until: str, now: float) -> tuple[float, float]:
    """The report period ``[start, end]`` in wall seconds; a bad or reversed period is a :class:`PeriodError`."""
    start, end = parse_instant(since, now), parse_instant(until, now)
    if end < start:
        raise PeriodError(f"the period ends ({until}) before it starts ({since})")
    if end - start > MAX_PERIOD_S:
        raise PeriodError("a report covers at most 400 days")
    return start, end


def parse_group_by(text: str | Sequence[str]) -> tuple[str, ...]:
    """``tenant,route`` → ``("tenant", "route")``; unknown names are a ``ValueError`` naming the known ones."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}: use any of {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(names))


@dataclass(slots=True)
class UsageRow:
    """Totals of one group of sessions."""

    group: dict[str, str]
    sessions: int = 0
    spend_micros: int = 0
    duration_s: float = 0.0
    audio_in_s: float = 0.0
    audio_out_s: float = 0.0
    cap_cutoffs: int = 0
    budget_cutoffs: int = 0

    def add(self, record: Mapping[str, str]) -> None:
        self.sessions += 1
        self.spend_micros += _int(record.get("cost_micros"))
        self.duration_s += _float(record.get("duration_s"))
        self.audio_in_s += _float(record.get("audio_in_s"))
        self.audio_out_s += _float(record.get("audio_out_s"))
        code = record.get("error_code") or ""
        self.cap_cutoffs += code in CAP_CODES
        self.budget_cutoffs += code in BUDGET_CODES

    def as_dict(self) -> dict[str, object]:
        return {
            **self.group,
            "sessions": self.sessions,
            "spend_micros": self.spend_micros,
            "spend_usd": micros_to_usd(self.spend_micros),
            "session_minutes": round(self.duration_s / 60, 3),
            "audio_in_minutes": round(self.audio_in_s / 60, 3),
            "audio_out_minutes": round(self.audio_out_s / 60, 3),
            "cap_cutoffs": self.cap_cutoffs,
            "budget_cutoffs": self.budget_cutoffs,
        }


@dataclass(slots=True)
class UsageReport:
    start: float
    end: float
    group_by: tuple[str, ...]
    rows: list[UsageRow] = field(default_factory=list)
    total: UsageRow = field(default_factory=lambda: UsageRow({}))

    def as_dict(self) -> dict[str, object]:
        return {
            "from": _iso(self.start),
            "to": _iso(self.end),
            "group_by": list(self.group_by),
            "rows": [row.as_dict() for row in self.rows],
            "total": self.total.as_dict(),
        }

    def to_csv(self) -> str:
        """One row per group (the group's columns first), then a ``total`` row."""
        columns = [*self.group_by, *UsageRow({}).as_dict()]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow(row.as_dict())
        total = self.total.as_dict()
        if self.group_by:
            total[self.group_by[0]] = "total"
        writer.writerow(total)
        return out.getvalue()


def group_value(record: Mapping[str, str], dimension: str) -> str:
    for name in DIMENSIONS[dimension]:
        value = record.get(name)
        if value:
            return value
    return ""


def summarize(records: Iterable[Mapping[str, str]], start: float, end: float, group_by: Sequence[str]) -> UsageReport:
    """Totals per group of the records that ended in ``[start, end]``, biggest spend first."""
    report = UsageReport(start, end, tuple(group_by))
    groups: dict[tuple[str, ...], UsageRow] = {}
    for record in records:
        ended = _ended_at(record)
        if ended is None or not start <= ended <= end:
            continue
        key = tuple(group_value(record, d) for d in group_by)
        row = groups.get(key)
        if row is None:
            row = groups[key] = UsageRow(dict(zip(group_by, key)))
        row.add(record)
        report.total.add(record)
    report.rows = sorted(groups.values(), key=lambda r: (-r.spend_micros, tuple(r.group.values())))
    return report


def _ended_at(record: Mapping[str, str]) -> float | None:
    """When the record was written: its stream id (ms) or, failing that, its ``ended_at``."""
    stream_id = record.get("stream_id", "")
    head = stream_id.split("-", 1)[0]
    if head.isdigit():
        return int(head) / 1000
    text = record.get("ended_at")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0
