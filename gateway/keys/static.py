"""Verify presented credentials against configured keys (hash compare, constant time)."""

from __future__ import annotations

from typing import Sequence

from gateway.core.api_keys import KeyRecord, hash_secret, same_hash


class StaticKeys:
    """Keys from ``VOICE_GATEWAY_API_KEYS``: tenant ``default``, no budgets; ids are hash prefixes."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._hashes = [hash_secret(s) for s in secrets]
        #: one immutable record per key, shared by all its sessions (not one per handshake)
        self._records = {stored: KeyRecord(key_id=f"key_{stored[:12]}", tenant="default") for stored in self._hashes}

    async def verify(self, secret: str) -> KeyRecord | None:
        presented = hash_secret(secret)
        found: KeyRecord | None = None
        for stored in self._hashes:  # compare against all, constant time each
            if same_hash(presented, stored):
                found = self._records[stored]
        return found
