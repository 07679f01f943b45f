"""Real-Redis fixtures: a unique key prefix per test, cleaned up after; FAIL (not skip) when CI=true."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from acct_int_helpers import REDIS_URL, RedisProcess
from redis.asyncio import Redis

from gateway.store.keyspace import KeySpace
from gateway.store.accounting_store import AccountingStore


async def _require(client: Redis) -> None:
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no server
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")


@pytest.fixture
def prefix() -> str:
    return f"vgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_store(prefix: str) -> AsyncIterator[AccountingStore]:
    client = Redis.from_url(REDIS_URL)
    await _require(client)
    yield AccountingStore(client, KeySpace(prefix))
    cleanup = Redis.from_url(REDIS_URL)
    keys = [key async for key in cleanup.scan_iter(match=f"{prefix}:*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()
    await client.aclose()


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    if server.proc is not None:
        server.proc.terminate()
        server.proc.wait(timeout=10)
