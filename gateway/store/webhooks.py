"""Webhook ids already handled (implements :class:`gateway.inbound.calls.sip.WebhookIds`).

``<prefix>:webhook:<id>``: set once with ``NX`` and a TTL longer than the replay window, so a
retried delivery (same ``webhook-id``) is recognised on every replica.
"""

from __future__ import annotations

from gateway.store.calls import RedisClient, guarded
from gateway.store.keyspace import KeySpace


class RedisWebhookIds:
    def __init__(self, client: RedisClient, keys: KeySpace | None = None) -> None:
        self.client = client
        self.keys = keys or KeySpace()

    def _key(self, webhook_id: str) -> str:
        return f"{self.keys.prefix}:webhook:{webhook_id}"

    async def first_delivery(self, webhook_id: str, ttl_s: int) -> bool:
        """Claim ``webhook_id``; ``False`` when it was claimed before (a retry or a replay)."""
        return bool(await guarded("webhook.claim", self.client.set(self._key(webhook_id), b"1", ex=ttl_s, nx=True)))

    async def forget(self, webhook_id: str) -> None:
        """Release a claim whose handling failed, so the sender's retry is processed."""
        await guarded("webhook.forget", self.client.delete(self._key(webhook_id)))
