"""The session-record stream: trimmed by time (MINID) as records are written, read back by period."""

from __future__ import annotations

import time
import uuid

import fakeredis

from gateway.store.keyspace import KeySpace
from gateway.store.accounting_store import AccountingStore

DAY = 86_400.0


async def test_records_older_than_the_retention_are_trimmed_and_periods_read_back() -> None:
    """Writing a record drops those older than the retention; records_between returns one period's."""
    client = fakeredis.FakeAsyncRedis()
    store = AccountingStore(client, KeySpace(f"t{uuid.uuid4().hex[:8]}"), kind="memory", records_retention_s=7 * DAY)
    base = time.time()
    for days_ago in (30, 10, 3, 1):  # written with ids at those times, as a gateway writing then would have
        at = base - days_ago * DAY
        await client.xadd(store.keys.records, {"session_id": f"s{days_ago}"}, id=f"{int(at * 1000)}-0")
    await store.append_record({"session_id": "now"}, base)
    kept = [r["session_id"] for r in await store.records_between(base - 365 * DAY, base + 1)]
    assert kept == ["s3", "s1", "now"]
    recent = [r["session_id"] for r in await store.records_between(base - 2 * DAY, base + 1)]
    assert recent == ["s1", "now"]


async def test_records_between_pages_through_long_periods() -> None:
    """More records than one XRANGE page are all returned, oldest first."""
    client = fakeredis.FakeAsyncRedis()
    store = AccountingStore(client, KeySpace(f"t{uuid.uuid4().hex[:8]}"), kind="memory")
    for i in range(2500):
        await client.xadd(store.keys.records, {"i": str(i)}, id=f"{1_000_000 + i}-0")
    found = await store.records_between(1000.0, 2000.0)
    assert [int(r["i"]) for r in found] == list(range(2500))


async def test_recent_records_page_back_through_the_whole_stream() -> None:
    """recent_records(count, before) walks newest → oldest in pages, each record once, past any first-page limit."""
    client = fakeredis.FakeAsyncRedis()
    store = AccountingStore(client, KeySpace(f"t{uuid.uuid4().hex[:8]}"), kind="memory")
    for i in range(2500):
        await client.xadd(store.keys.records, {"i": str(i)}, id=f"{1_000_000 + i}-0")
    seen: list[int] = []
    before: str | None = None
    while True:
        page = await store.recent_records(1000, before)
        seen += [int(r["i"]) for r in page]
        if len(page) < 1000:
            break
        before = page[-1]["stream_id"]
    assert seen == list(range(2499, -1, -1))
