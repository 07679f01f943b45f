"""Compile small policies from YAML text for router tests."""

from __future__ import annotations

from gateway.core.kinds import EndpointKind
from gateway.core.routing import SessionRequest
from tests.support.policy import catalog, compile_policy  # noqa: F401 - shared fixtures


def request(**fields: object) -> SessionRequest:
    """A /v1/realtime request with the given fields."""
    fields.setdefault("endpoint", EndpointKind.REALTIME)
    fields.setdefault("path", "/v1/realtime")
    return SessionRequest(**fields)  # type: ignore[arg-type]
