"""The allowance clamp, pure: no reply may ask for more output tokens than the nearest cost cap or budget leaves.

The accounting observer leaves each session a :class:`~gateway.core.observers.ResponseAllowance` every
tick; the session core applies it three ways with the functions here:

* :func:`clamp_response` — a client's ``response.create`` asking for more (explicitly, via ``"inf"`` or
  via the session's ceiling) goes upstream with ``max_output_tokens`` lowered; nothing left → refused;
* :func:`clamp_session` — a client's ``session.update`` may not raise the session's ceiling past it;
* :func:`lowered_ceiling` — replies the upstream starts itself (server VAD) are bounded by the session's
  ceiling, which the gateway lowers once what is left falls below half of it (at most ~12 a session).
"""

from __future__ import annotations

from typing import Final

from gateway.core.errors import AllowanceCommitted, BudgetCapReached, CostCapReached
from gateway.core.jsontypes import JsonObject
from gateway.core.observers import ResponseAllowance, ResponseClamped

#: the most output tokens OpenAI lets one response produce (``max_output_tokens: "inf"``)
MAX_OUTPUT_TOKENS: Final = 4096


def _tokens(value: object) -> int | None:
    """A token count the client set (``"inf"``, a bool or anything else is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reply_bound(max_output_tokens: object) -> int:
    """The most output tokens a reply with this ``max_output_tokens`` (``"inf"``, absent or a count) can produce."""
    tokens = _tokens(max_output_tokens)
    return MAX_OUTPUT_TOKENS if tokens is None else min(tokens, MAX_OUTPUT_TOKENS)


def clamp_response(
    response: JsonObject, allowance: ResponseAllowance | None, session_max_tokens: object, now: float, promised: int = 0
) -> ResponseClamped | None:
    """Lower ``response``'s ``max_output_tokens`` (in place) to what is left, returning the event that says so.

    ``session_max_tokens`` is the session's ceiling, which applies when the response sets none; ``promised`` the
    output tokens of replies already asked for or running (:mod:`gateway.core.reservations`), which what is left
    must cover first. With less than one token left the response is refused with the nearest limit's error; with
    what is left all promised, with :class:`AllowanceCommitted` (the session goes on).
    """
    if allowance is None:
        return None
    if allowance.max_output_tokens < 1:
        raise BudgetCapReached() if allowance.by_budget else CostCapReached()
    left = allowance.max_output_tokens - promised
    if left < 1:
        raise AllowanceCommitted()
    effective = _tokens(response.get("max_output_tokens", session_max_tokens))
    if effective is None:
        effective = MAX_OUTPUT_TOKENS
    if left >= min(effective, MAX_OUTPUT_TOKENS):
        return None
    response["max_output_tokens"] = left
    return ResponseClamped(at=now, max_output_tokens=left, asked=effective)


def clamp_session(session: JsonObject, allowance: ResponseAllowance | None) -> None:
    """A client update may not raise the session's ceiling past what is left (server-VAD replies use it)."""
    if allowance is None or allowance.max_output_tokens < 1 or "max_output_tokens" not in session:
        return
    if allowance.max_output_tokens >= MAX_OUTPUT_TOKENS:  # no reply can cost more than what is left
        return
    asked = _tokens(session["max_output_tokens"])
    if asked is not None and asked <= allowance.max_output_tokens:
        return
    session["max_output_tokens"] = allowance.max_output_tokens


def lowered_ceiling(allowance: ResponseAllowance | None, session_max_tokens: object) -> int | None:
    """The session ceiling to send once what is left falls below half of ``session_max_tokens``; else ``None``."""
    if allowance is None or allowance.max_output_tokens < 1:
        return None
    ceiling = _tokens(session_max_tokens)
    if ceiling is None:
        ceiling = MAX_OUTPUT_TOKENS
    if allowance.max_output_tokens * 2 > ceiling:
        return None
    return allowance.max_output_tokens
