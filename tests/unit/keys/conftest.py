"""Fixtures for key, secret and directory tests: an in-process Redis (fakeredis) per test."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import fakeredis
import pytest

from gateway.store.keyspace import KeySpace


@pytest.fixture
async def fake_redis() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def keyspace() -> KeySpace:
    return KeySpace(f"t{uuid.uuid4().hex[:8]}")
