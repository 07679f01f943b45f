"""Gateway API keys as the rest of the gateway sees them: an id, a tenant, labels and limits. Never the secret."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Mapping


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a key; only this is stored or compared."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


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
    #: session configuration bound to a client secret (applied as the first session.update)
    bound_session: Mapping[str, object] | None = None
