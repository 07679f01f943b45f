"""Gateway API keys as the rest of the gateway sees them: an id, a tenant, labels and limits. Never the secret."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Mapping, Protocol

from gateway.core.kinds import EndpointKind, SessionKind

#: handshake endpoints a secret minted at an endpoint may open (WebRTC calls share the realtime secrets)
_SECRET_ENDPOINTS = {
    EndpointKind.REALTIME: frozenset({EndpointKind.REALTIME, EndpointKind.CALLS}),
    EndpointKind.CALLS: frozenset({EndpointKind.REALTIME, EndpointKind.CALLS}),
    EndpointKind.TRANSLATIONS: frozenset({EndpointKind.TRANSLATIONS}),
}


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a key; only this is stored or compared."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


class KeyVerifier(Protocol):
    """Resolves a presented secret to its key record (``None``: unknown, revoked or used up)."""

    async def verify(self, secret: str) -> "KeyRecord | None": ...


@dataclass(frozen=True, slots=True)
class SecretBinding:
    """What a client secret was minted for: it opens only this kind of session, on this model, at this endpoint."""

    endpoint: EndpointKind
    kind: SessionKind
    #: the catalog model the session was routed to at minting
    model: str
    #: the model the minting request named (``None`` = none named)
    requested_model: str | None = None

    def allows_endpoint(self, endpoint: EndpointKind) -> bool:
        return endpoint in _SECRET_ENDPOINTS[self.endpoint]

    def to_dict(self) -> dict[str, str | None]:
        return {"endpoint": self.endpoint.value, "kind": self.kind.value, "model": self.model, "requested_model": self.requested_model}

    @classmethod
    def from_dict(cls, data: object) -> "SecretBinding | None":
        """The stored binding, or ``None`` when absent or unreadable (such a secret opens nothing)."""
        if not isinstance(data, Mapping):
            return None
        try:
            requested = data.get("requested_model")
            return cls(
                endpoint=EndpointKind(str(data["endpoint"])),
                kind=SessionKind(str(data["kind"])),
                model=str(data["model"]),
                requested_model=requested if isinstance(requested, str) else None,
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What a verified credential resolves to."""

    key_id: str
    tenant: str
    labels: Mapping[str, str] = field(default_factory=dict)
    #: route names or model names this key may use (empty = any)
    allowed_routes: frozenset[str] = frozenset()
    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None
    max_concurrent_sessions: int | None = None
    sessions_per_minute: int | None = None
    #: a browser credential (client secret): checked against the Origin allow-list
    browser: bool = False
    #: session configuration bound to a client secret (sent first and enforced for the whole session)
    bound_session: Mapping[str, object] | None = None
    #: what a client secret was minted for (``None`` on long-lived keys)
    binding: SecretBinding | None = None

    @property
    def is_client_secret(self) -> bool:
        return self.bound_session is not None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def key_record_from_dict(
    data: Mapping[str, object],
    *,
    browser: bool = False,
    bound_session: Mapping[str, object] | None = None,
    binding: SecretBinding | None = None,
) -> KeyRecord:
    """A key record from its stored JSON (keys and the client secrets they mint share these fields)."""
    labels = data.get("labels")
    routes = data.get("allowed_routes")
    return KeyRecord(
        key_id=str(data["key_id"]),
        tenant=str(data["tenant"]),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {},
        allowed_routes=frozenset(str(x) for x in routes) if isinstance(routes, (list, tuple)) else frozenset(),
        daily_budget_micros=_optional_int(data.get("daily_budget_micros")),
        monthly_budget_micros=_optional_int(data.get("monthly_budget_micros")),
        max_concurrent_sessions=_optional_int(data.get("max_concurrent_sessions")),
        sessions_per_minute=_optional_int(data.get("sessions_per_minute")),
        browser=browser,
        bound_session=bound_session,
        binding=binding,
    )
