"""Lifecycle enums with checked transitions."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from gateway.core.errors import InvalidTransition


class SessionState(StrEnum):
    """Where a relayed session is in its life."""

    ADMITTED = "admitted"  # authenticated, routed, admitted; upstream not yet open
    CONNECTING = "connecting"
    OPEN = "open"  # frames flow both ways
    CLOSING = "closing"  # a close was decided; flushing and closing both sides
    CLOSED = "closed"


_ALLOWED: Final[dict[SessionState, frozenset[SessionState]]] = {
    SessionState.ADMITTED: frozenset({SessionState.CONNECTING, SessionState.CLOSING}),
    SessionState.CONNECTING: frozenset({SessionState.OPEN, SessionState.CLOSING}),
    SessionState.OPEN: frozenset({SessionState.CLOSING}),
    SessionState.CLOSING: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


def check_transition(current: SessionState, target: SessionState) -> SessionState:
    """Return ``target`` if the move is allowed, else raise naming expected vs actual."""
    allowed = _ALLOWED[current]
    if target not in allowed:
        expected = ", ".join(sorted(s.value for s in allowed)) or "nothing (terminal)"
        raise InvalidTransition(
            f"session cannot move from {current.value!r} to {target.value!r}; expected one of: {expected}"
        )
    return target
