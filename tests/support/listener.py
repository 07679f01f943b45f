"""The compiled listener's counting without sockets: what it does with a frame the session's gate lets it relay alone."""

from __future__ import annotations

from gateway.core.frames import usual_audio
from gateway.core.hot import CLIENT_CODES, UPSTREAM_CODES
from gateway.core.session import SessionCore

_CLIENT_BITS = {name: 1 << code for code, name in CLIENT_CODES.items()}
_UPSTREAM_BITS = {name: 1 << code for code, name in UPSTREAM_CODES.items()}


def relayed_alone(core: SessionCore, frame: str, upstream_side: bool, now: float) -> bool:
    """``PyHotListener._forward`` (``gateway/upstream/hot_listener.py``) without the socket: ``frame`` counted as the
    listener counts it when the core's gate lets its type through (no call into the relay or the core); ``False``:
    it takes the relay's path."""
    gate, stats = core.hot, core.stats
    mask = gate.upstream_mask if upstream_side else gate.client_mask
    usual = usual_audio(frame, upstream_side) if mask else None
    if usual is None or usual[1] <= 0 or not mask & (_UPSTREAM_BITS if upstream_side else _CLIENT_BITS)[usual[0]]:
        return False
    audio, n = usual[1], len(frame)
    if upstream_side:
        stats.frames_from_upstream += 1
        stats.bytes_from_upstream += n
        stats.last_activity_at = now
        stats.audio_out_bytes += audio
        stats.audio_out_bytes_since_usage += audio
        gate.pending_out_bytes += audio
        gate.upstream_at = now
    else:
        window, count = gate.rate_window, gate.rate_count
        if now - window >= 1.0:
            window, count = now, 0
        count += 1
        if count > gate.max_frames_per_second or n > gate.max_message_bytes:
            return False
        gate.rate_window, gate.rate_count = window, count
        stats.frames_from_client += 1
        stats.bytes_from_client += n
        stats.last_activity_at = now
        stats.audio_in_bytes += audio
        stats.audio_in_bytes_since_usage += audio
    gate.relayed_alone += 1
    return True
