"""The shared accounting state in Redis: one Lua script per atomic operation, plus the record stream.

Implements :class:`gateway.accounting.ports.AccountingStorePort`.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Awaitable, Mapping, Sequence

from redis.exceptions import RedisError

from gateway.store.calls import RedisClient, fields, integer, row, text
from gateway.store.keyspace import DAY_TTL_S, MONTH_TTL_S, SESSION_TTL_S, KeySpace
from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import AdmitResult, ChargeResult
from gateway.core.errors import StoreError

log = logging.getLogger("voice_gateway.store.accounting_store")

#: a bound on the record stream's length whatever the retention (a flood of short sessions)
RECORDS_MAXLEN = 1_000_000
#: session records older than this are trimmed (``VOICE_GATEWAY_RECORDS_RETENTION_DAYS``)
DEFAULT_RECORDS_RETENTION_S = 35 * 86_400.0
#: stream entries read per XRANGE call when reporting over a period
RECORDS_PAGE = 1000


def _scripttext(name: str) -> str:
    return resources.files("gateway.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _record(entry_row: object) -> dict[str, str]:
    """One XRANGE row, ``(stream id, {field: value})``, as text."""
    entry, values_raw = row(entry_row, 2)
    values = values_raw if isinstance(values_raw, dict) else {}
    return {"stream_id": text(entry), **{text(k): text(v) for k, v in values.items()}}


class AccountingStore:
    """Runs the accounting scripts against one Redis deployment (single, sentinel, cluster or embedded)."""

    def __init__(
        self,
        client: RedisClient,
        keys: KeySpace | None = None,
        *,
        kind: str = "redis",
        records_retention_s: float = DEFAULT_RECORDS_RETENTION_S,
    ) -> None:
        self.client = client
        self.keys = keys or KeySpace()
        self.records_retention_s = records_retention_s
        #: registry key that built this store ("redis" or "memory")
        self.kind = kind
        self._admit = client.register_script(_scripttext("admit"))
        self._charge = client.register_script(_scripttext("charge"))
        self._renew = client.register_script(_scripttext("renew"))
        self._release = client.register_script(_scripttext("release"))

    async def _run(self, op: str, coro: Awaitable[object]) -> object:
        try:
            return await coro
        except (RedisError, OSError) as exc:
            raise StoreError(f"accounting store failed in {op}") from exc

    async def admit(
        self, session_id: str, tenant: str, limits: TenantLimits, wall: float, lease_ttl_s: float
    ) -> AdmitResult:
        """Reclaim expired leases, check budget, concurrency and rate, and take a slot."""
        now_ms = int(wall * 1000)
        rate = limits.sessions_per_minute
        reply = await self._run(
            "admit",
            self._admit(
                keys=[
                    self.keys.leases(tenant),
                    self.keys.bucket(tenant),
                    self.keys.day_spend(tenant, wall),
                    self.keys.month_spend(tenant, wall),
                ],
                args=[
                    session_id,
                    now_ms,
                    now_ms + int(lease_ttl_s * 1000),
                    _limit(limits.max_concurrent_sessions),
                    repr(float(rate)) if rate is not None else -1,
                    limits.bucket_size,
                    _limit(limits.daily_budget_micros),
                    _limit(limits.monthly_budget_micros),
                ],
            ),
        )
        status, day, month, detail = row(reply, 4)
        return AdmitResult(text(status), integer(day), integer(month), integer(detail))

    async def charge(
        self, session_id: str, tenant: str, cumulative_micros: int, limits: TenantLimits, wall: float
    ) -> ChargeResult:
        """Checkpoint the session's cost so far; the tenant's spend moves by the unflushed difference."""
        reply = await self._run(
            "charge",
            self._charge(
                keys=[
                    self.keys.session(tenant, session_id),
                    self.keys.day_spend(tenant, wall),
                    self.keys.month_spend(tenant, wall),
                ],
                args=[
                    cumulative_micros,
                    DAY_TTL_S,
                    MONTH_TTL_S,
                    SESSION_TTL_S,
                    _limit(limits.daily_budget_micros),
                    _limit(limits.monthly_budget_micros),
                ],
            ),
        )
        day, month, delta, exhausted = row(reply, 4)
        return ChargeResult(integer(day), integer(month), integer(delta), bool(exhausted))

    async def renew(self, tenant: str, session_ids: Sequence[str], wall: float, lease_ttl_s: float) -> int:
        """Heartbeat the leases of running sessions; returns how many had lapsed (and were re-added)."""
        now_ms = int(wall * 1000)
        reply = await self._run(
            "renew",
            self._renew(
                keys=[self.keys.leases(tenant)],
                args=[now_ms, now_ms + int(lease_ttl_s * 1000), *session_ids],
            ),
        )
        return integer(reply)

    async def release(self, tenant: str, session_id: str) -> bool:
        """Give the slot back; ``False`` when it was not held any more."""
        reply = await self._run("release", self._release(keys=[self.keys.leases(tenant)], args=[session_id]))
        return bool(reply)

    async def spend(self, tenant: str, wall: float) -> tuple[int, int]:
        """The tenant's (day, month) spend in micro-dollars."""
        keys = [self.keys.day_spend(tenant, wall), self.keys.month_spend(tenant, wall)]
        day, month = row(await self._run("spend", self.client.mget(keys)), 2)
        return integer(day), integer(month)

    async def active_leases(self, tenant: str, wall: float) -> int:
        """Unexpired leases of a tenant (for metrics and tests)."""
        return integer(
            await self._run("active", self.client.zcount(self.keys.leases(tenant), int(wall * 1000) + 1, "+inf"))
        )

    async def append_record(self, record: Mapping[str, str], wall: float) -> str:
        """XADD one session record; entries older than the retention go (MINID), and past the count bound."""
        oldest_ms = max(int((wall - self.records_retention_s) * 1000), 0)
        entry = await self._run(
            "append_record",
            # exact MINID: usually nothing or one entry goes, and a small stream is trimmed too
            self.client.xadd(self.keys.records, fields(record), minid=str(oldest_ms), approximate=False),
        )
        await self._run(
            "trim_records", self.client.xtrim(self.keys.records, maxlen=RECORDS_MAXLEN, approximate=True)
        )
        return text(entry)

    async def records_between(self, start_wall: float, end_wall: float) -> list[dict[str, str]]:
        """Session records written in ``[start_wall, end_wall]`` (the stream id is the write time), oldest first."""
        low, high = f"{int(start_wall * 1000)}-0", f"{int(end_wall * 1000)}-18446744073709551615"
        found: list[dict[str, str]] = []
        while True:
            rows = await self._run(
                "records_between", self.client.xrange(self.keys.records, min=low, max=high, count=RECORDS_PAGE)
            )
            batch = [_record(row) for row in rows] if isinstance(rows, list) else []
            found.extend(batch)
            if len(batch) < RECORDS_PAGE:
                return found
            low = f"({batch[-1]['stream_id']}"

    async def recent_records(self, count: int, before: str | None = None) -> list[dict[str, str]]:
        """The newest ``count`` session records, newest first; ``before`` (a record's ``stream_id``, which is its
        write time in ms and a sequence number) pages back through the whole retention window from there."""
        high = f"({before}" if before else "+"
        rows = await self._run("recent_records", self.client.xrevrange(self.keys.records, max=high, min="-", count=count))
        return [_record(row) for row in rows] if isinstance(rows, list) else []

    async def ping(self) -> bool:
        """Whether the store answers right now."""
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except (RedisError, OSError) as exc:
            log.debug("closing the accounting store failed", exc_info=exc)
