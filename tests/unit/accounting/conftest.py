"""Fixtures for accounting unit tests: an embedded (fakeredis) store running the real Lua scripts."""

from __future__ import annotations

import time
import uuid
from typing import AsyncIterator

import fakeredis
import pytest
from tests.support.accounting import catalog

from gateway.store.keyspace import KeySpace
from gateway.accounting.service import AccountingService
from gateway.store.accounting_store import AccountingStore
from gateway.settings import Settings


class Clock:
    """A settable wall clock for the service (day keys, records, lease expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Clock:
    return Clock()


@pytest.fixture
async def memory_service(wall: Clock) -> AsyncIterator[AccountingService]:
    settings = Settings(_env_file=None, max_session_usd="0.05", cap_warn_ratio=0.8)  # type: ignore[call-arg]
    store = AccountingStore(fakeredis.FakeAsyncRedis(), KeySpace(f"t{uuid.uuid4().hex[:8]}"), kind="memory")
    service = AccountingService(settings, catalog(), store, wall=wall)
    yield service
    await service.close()
