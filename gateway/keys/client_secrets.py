"""Ephemeral browser credentials (``ek_…``): bound to the minting key and a session config, used once.

A slot keyed by the secret's SHA-256 holds the JSON of the bound key record and session and expires
on its own; a handshake takes it atomically, so exactly one session can ever use a secret
(:class:`gateway.keys.ports.SecretSlots`; ``gateway.store.client_secrets`` on Redis).
"""

from __future__ import annotations

import json
import secrets
from typing import Awaitable, Callable, Final, Mapping, TypeVar

from gateway.core.errors import StoreError, StoreUnavailable
from gateway.keys.ports import SecretSlots
from gateway.core.api_keys import KeyRecord, SecretBinding, hash_secret, key_record_from_dict

CLIENT_SECRET_PREFIX: Final = "ek_"
MIN_TTL_S: Final = 10
MAX_TTL_S: Final = 7200
DEFAULT_TTL_S: Final = 600

KeyActive = Callable[[str], Awaitable[bool]]
T = TypeVar("T")


def is_client_secret(secret: str) -> bool:
    """Client secrets are recognisable by prefix, so they never reach the key lookup (and vice versa)."""
    return secret.startswith(CLIENT_SECRET_PREFIX)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


def _record_json(record: KeyRecord, session: Mapping[str, object], binding: SecretBinding) -> str:
    return json.dumps(
        {
            "key_id": record.key_id,
            "tenant": record.tenant,
            "labels": dict(record.labels),
            "allowed_routes": sorted(record.allowed_routes),
            "daily_budget_micros": record.daily_budget_micros,
            "monthly_budget_micros": record.monthly_budget_micros,
            "max_concurrent_sessions": record.max_concurrent_sessions,
            "sessions_per_minute": record.sessions_per_minute,
            "session": dict(session),
            "binding": binding.to_dict(),
        }
    )


def _bound_record(text: str | bytes) -> KeyRecord:
    data = json.loads(text)
    return key_record_from_dict(
        data, browser=True, bound_session=data.get("session") or {}, binding=SecretBinding.from_dict(data.get("binding"))
    )


class ClientSecretStore:
    """Mints and consumes client secrets; a ``KeyVerifier`` for ``ek_…`` credentials."""

    def __init__(self, slots: SecretSlots, *, key_active: KeyActive | None = None) -> None:
        self.slots = slots
        self._key_active = key_active

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreError as exc:
            raise StoreUnavailable("The gateway cannot issue or check client secrets right now.") from exc

    async def mint(self, record: KeyRecord, session: Mapping[str, object], ttl_s: int, binding: SecretBinding) -> str:
        """A new secret for one session of ``record``'s key, bound to ``session`` and ``binding``; expires after ``ttl_s``."""
        if record.browser:
            raise ValueError("a client secret cannot mint another client secret")
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be within {MIN_TTL_S}..{MAX_TTL_S}, got {ttl_s}")
        secret = new_client_secret()
        await self._call(self.slots.put(hash_secret(secret), _record_json(record, session, binding), ttl_s))
        return secret

    async def consume(self, secret: str) -> KeyRecord | None:
        """Take the secret (atomically, once); ``None`` when unknown, used, expired or its key is revoked."""
        if not is_client_secret(secret):
            return None
        raw = await self._call(self.slots.take(hash_secret(secret)))
        if not raw:
            return None
        record = _bound_record(raw)
        if self._key_active is not None and not await self._key_active(record.key_id):
            return None
        return record

    async def verify(self, secret: str) -> KeyRecord | None:
        """Verifying a client secret uses it up: call once per handshake."""
        return await self.consume(secret)
