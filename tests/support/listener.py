"""The listener's counting without sockets: what it does with a frame the session's gate lets it relay alone."""

from __future__ import annotations

from gateway.core.session import SessionCore
from gateway.upstream.hot_listener import count_relayed_alone


def relayed_alone(core: SessionCore, frame: str, upstream_side: bool, now: float) -> bool:
    """The pure listener's decision and counting (:func:`count_relayed_alone`, which ``PyHotListener`` runs and the
    compiled listener mirrors) for ``frame`` at ``now``, without the socket; ``False``: it takes the relay's path."""
    return count_relayed_alone(core.hot, frame, len(frame), upstream_side, now)
