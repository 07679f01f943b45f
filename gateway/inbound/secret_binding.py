"""A client secret opens only the session it was minted for: endpoint, session kind and model (after aliases)."""

from __future__ import annotations

import dataclasses

from gateway.core.catalog import Catalog
from gateway.core.errors import Forbidden
from gateway.core.api_keys import SecretBinding
from gateway.core.kinds import SessionKind
from gateway.core.routing import Route, SessionRequest


def _same_model(catalog: Catalog, a: str, b: str) -> bool:
    """Two names for one catalog model (aliases and dated snapshots included)."""
    spec_a, spec_b = catalog.resolve(a), catalog.resolve(b)
    if spec_a is None or spec_b is None:
        return a == b
    return spec_a.name == spec_b.name


def bound_request(binding: SecretBinding | None, request: SessionRequest, catalog: Catalog) -> SessionRequest:
    """The handshake's request as the secret allows it; refuses another endpoint or model (403)."""
    if binding is None:
        raise Forbidden("This client secret does not say what it was minted for; mint a new one.")
    if not binding.allows_endpoint(request.endpoint):
        raise Forbidden(
            f"This client secret was minted for the {binding.endpoint.value} endpoint; it cannot open a session at {request.path}."
        )
    bound_model = binding.requested_model or binding.model
    asked = request.requested_model
    if asked and not (_same_model(catalog, asked, bound_model) or _same_model(catalog, asked, binding.model)):
        raise Forbidden(f"This client secret was minted for model '{bound_model}'; it cannot open a session on '{asked}'.")
    intent = request.declared_intent
    if intent is None and binding.kind is SessionKind.TRANSCRIPTION:
        intent = SessionKind.TRANSCRIPTION.value
    return dataclasses.replace(request, requested_model=asked or binding.requested_model, declared_intent=intent)


def check_bound_route(binding: SecretBinding | None, route: Route, catalog: Catalog) -> None:
    """Refuse (403) a route other than the one the secret was minted for: another session kind or model."""
    if binding is None:
        raise Forbidden("This client secret does not say what it was minted for; mint a new one.")
    if route.kind is not binding.kind:
        raise Forbidden(
            f"This client secret was minted for a {binding.kind.value} session; it cannot open a {route.kind.value} session."
        )
    if not _same_model(catalog, route.model, binding.model):
        raise Forbidden(
            f"This client secret was minted for model '{binding.model}'; this session would run on '{route.model}'."
        )
