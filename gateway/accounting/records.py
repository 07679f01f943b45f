"""The one session record XADDed to ``vg:sessions`` when a session ends (pure: built from the ledger)."""

from __future__ import annotations

import json
import time
from typing import Mapping

from gateway.accounting.ledger import LiveSession
from gateway.core.money import audio_ms, micros_to_usd
from gateway.core.observers import SessionEnded
from gateway.core.timeline import with_spans


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"


def session_record(
    live: LiveSession,
    ended: SessionEnded,
    ended_wall: float,
    trace_id: str | None = None,
    turn_spans: Mapping[int, str] | None = None,
) -> dict[str, str]:
    """Flat string fields (a stream entry); never carries audio, transcripts or secrets. ``turn_spans``: each
    voice-agent turn's span id by turn number (the per-turn links to Jaeger)."""
    turns = with_spans(live.timeline.summaries(), turn_spans or {}) if live.timeline else []
    info, stats = live.info, live.stats
    tokens = live.meter.tokens() if live.meter is not None else None
    audio_in = audio_ms(stats.audio_in_bytes, stats.input_format) if stats else 0
    audio_out = audio_ms(stats.audio_out_bytes, stats.output_format) if stats else 0
    return {
        "session_id": info.session_id,
        "key_id": info.key_id or "",
        "tenant": live.tenant,
        "kind": info.kind.value,
        "route": info.route.name or info.decision.rule_id,
        "rule_id": info.decision.rule_id,
        "model_requested": info.requested_model or "",
        "model_routed": info.route.model,
        "model_served": live.served_model or "",
        "upstream": info.upstream,
        "transport": info.transport,
        "call_id": info.call_id or "",
        "started_at": _iso(live.started_wall),
        "ended_at": _iso(ended_wall),
        "duration_s": f"{max(ended_wall - live.started_wall, 0.0):.3f}",
        "audio_in_s": f"{audio_in / 1000:.3f}",
        "audio_out_s": f"{audio_out / 1000:.3f}",
        "text_in_tokens": str(tokens.text_in if tokens else 0),
        "audio_in_tokens": str(tokens.audio_in if tokens else 0),
        "cached_in_tokens": str(
            (tokens.cached_text_in + tokens.cached_audio_in + tokens.cached_image_in) if tokens else 0
        ),
        "text_out_tokens": str(tokens.text_out if tokens else 0),
        "audio_out_tokens": str(tokens.audio_out if tokens else 0),
        "cost_micros": str(live.cost_micros),
        "cost_usd": micros_to_usd(live.cost_micros),
        "end_reason": ended.reason,
        "error_code": ended.error_code or "",
        "cap_micros": str(live.guard.caps.max_cost_micros or ""),
        "max_duration_s": str(live.guard.caps.max_duration_s or ""),
        "turns": json.dumps(turns, separators=(",", ":")),
        "turns_total": str(live.timeline.count if live.timeline else 0),
        "turns_dropped": str(live.timeline.dropped if live.timeline else 0),
        "interruptions": str(stats.interruptions if stats else 0),
        "trace_id": trace_id or "",
        "tool_calls": json.dumps(live.tool_calls, separators=(",", ":")),
        "models": json.dumps(models_used(live), separators=(",", ":")),
        "handoffs": json.dumps(live.handoffs, separators=(",", ":")),
    }


def models_used(live: LiveSession) -> list[dict[str, object]]:
    """Every model that served the session with what it cost at its own price (the last one: the rest of the total)."""
    meter = live.meter
    current = live.served_model or live.info.route.model
    if meter is None:
        return [{"model": current, "cost_micros": live.cost_micros}]
    costs = dict(meter.by_model)
    costs[current] = costs.get(current, 0) + max(live.cost_micros - meter.sealed_micros, 0)
    return [{"model": model, "cost_micros": cost} for model, cost in costs.items()]
