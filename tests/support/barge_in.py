"""Reading a running gateway's barge-in measurements: the ``voice_gateway.barge_in.talk_over`` histogram on /metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

_SERIES = re.compile(r'^voice_gateway_barge_in_talk_over\w*_(sum|count)\{([^}]*)\}\s+(\S+)$')
_STOPPED_BY = re.compile(r'stopped_by="([^"]*)"')


@dataclass(frozen=True)
class TalkOver:
    """Interruptions one ``stopped_by`` value accounts for, and their summed talk-over (seconds)."""

    count: int
    sum_s: float

    @property
    def mean_ms(self) -> float:
        return 1000 * self.sum_s / self.count if self.count else 0.0


def talk_over(http_url: str) -> dict[str, TalkOver]:
    """``stopped_by`` → count and summed talk-over, scraped from the gateway's Prometheus endpoint."""
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for line in httpx.get(f"{http_url}/metrics", timeout=10).text.splitlines():
        found = _SERIES.match(line)
        if found is None:
            continue
        kind, labels, value = found.groups()
        who = _STOPPED_BY.search(labels)
        if who is None:
            continue
        if kind == "count":
            counts[who.group(1)] = counts.get(who.group(1), 0) + int(float(value))
        else:
            sums[who.group(1)] = sums.get(who.group(1), 0.0) + float(value)
    return {who: TalkOver(counts[who], sums.get(who, 0.0)) for who in counts}
