"""The shared accounting state in Redis: one Lua script per atomic operation, plus the record stream.

A flush's checkpoints go as one charge call per tenant (atomic: all of a tenant's keys share its hash tag), the
calls as one pipeline (not a transaction: on a cluster each call goes to its tenant's node), so a flush of N sessions
is one write and one read instead of N round trips, and one script reply per tenant instead of one per session.

Implements :class:`gateway.accounting.ports.AccountingStorePort`.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Awaitable, Callable, Mapping, Sequence, TypeVar

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway.store.batch import PassBatch, exchange
from gateway.store.calls import STORE_FAILURES, RedisClient, integer, row, store_failures_as, text
from gateway.store.keyspace import DAY_TTL_S, MONTH_TTL_S, SESSION_TTL_S, KeySpace
from gateway.accounting.limits import TenantLimits
from gateway.accounting.ports import AdmitResult, ChargeResult, Checkpoint
from gateway.core.errors import StoreError

log = logging.getLogger("voice_gateway.store.accounting_store")

#: a bound on the record stream's length whatever the retention (a flood of short sessions)
RECORDS_MAXLEN = 1_000_000
#: session records older than this are trimmed (``VOICE_GATEWAY_RECORDS_RETENTION_DAYS``)
DEFAULT_RECORDS_RETENTION_S = 35 * 86_400.0
#: stream entries read per XRANGE call when reporting over a period
RECORDS_PAGE = 1000
#: script calls sent in one pipeline (a bigger flush goes as several, one after another)
PIPELINE_CALLS = 500
#: sessions of one tenant checkpointed by one charge call (a call runs alone in Redis: it is kept short)
SESSIONS_PER_CALL = 200

T = TypeVar("T")
#: a script call's keys and arguments
ScriptCall = tuple[list[str], list[int | str]]


def _scripttext(name: str) -> str:
    return resources.files("gateway.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _record(entry_row: object) -> dict[str, str]:
    """One XRANGE row, ``(stream id, {field: value})``, as text."""
    entry, values_raw = row(entry_row, 2)
    values = values_raw if isinstance(values_raw, dict) else {}
    return {"stream_id": text(entry), **{text(k): text(v) for k, v in values.items()}}


def _charge_results(reply: object, sessions: int) -> list[ChargeResult | StoreError]:
    """One charge call's reply as each of its sessions' result, or why the call failed (the pipeline's other calls
    stand): every session of the call gets the tenant's totals after the call, and its own delta."""
    answer = _answer("charge", reply, lambda r: _charged(r, sessions))
    return [answer] * sessions if isinstance(answer, StoreError) else list(answer)


def _charged(reply: object, sessions: int) -> list[ChargeResult]:
    day, month, exhausted, *deltas = row(reply, 3 + sessions)
    totals = integer(day), integer(month)
    return [ChargeResult(*totals, integer(delta), bool(exhausted)) for delta in deltas]


def _answer(op: str, reply: object, parse: Callable[[object], T]) -> T | StoreError:
    """One pipelined call's reply parsed, or why that call failed (the pipeline's other calls stand)."""
    try:
        if isinstance(reply, STORE_FAILURES):
            raise StoreError(f"accounting store failed in {op}") from reply
        return parse(reply)
    except StoreError as exc:
        return exc


def _day_month(reply: object) -> tuple[int, int]:
    day, month = row(reply, 2)
    return integer(day), integer(month)


def _by_tenant(checkpoints: Sequence[Checkpoint]) -> dict[tuple[str, int, int], list[int]]:
    """The checkpoints' indexes by tenant and budgets (a charge call reports against one pair of budgets)."""
    groups: dict[tuple[str, int, int], list[int]] = {}
    for i, c in enumerate(checkpoints):
        key = (c.tenant, _limit(c.limits.daily_budget_micros), _limit(c.limits.monthly_budget_micros))
        groups.setdefault(key, []).append(i)
    return groups


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
        #: single commands of one event-loop pass in one round trip (admissions, and the handshakes' other reads)
        self.batch = PassBatch(client)
        self._admit = client.register_script(_scripttext("admit"))
        self._charge = client.register_script(_scripttext("charge"))
        self._renew = client.register_script(_scripttext("renew"))
        self._release = client.register_script(_scripttext("release"))

    async def _run(self, op: str, coro: Awaitable[object]) -> object:
        try:
            return await coro
        except STORE_FAILURES as exc:
            raise StoreError(f"accounting store failed in {op}") from exc

    async def admit(
        self, session_id: str, tenant: str, limits: TenantLimits, wall: float, lease_ttl_s: float
    ) -> AdmitResult:
        """Reclaim expired leases, check budget, concurrency and rate, and take a slot."""
        now_ms = int(wall * 1000)
        rate = limits.sessions_per_minute
        keys = (
            self.keys.leases(tenant),
            self.keys.bucket(tenant),
            self.keys.day_spend(tenant, wall),
            self.keys.month_spend(tenant, wall),
        )
        args = (
            session_id,
            now_ms,
            now_ms + int(lease_ttl_s * 1000),
            _limit(limits.max_concurrent_sessions),
            repr(float(rate)) if rate is not None else -1,
            limits.bucket_size,
            _limit(limits.daily_budget_micros),
            _limit(limits.monthly_budget_micros),
        )
        reply = await self._run("admit", self._batched_script(self._admit, keys, args))
        status, day, month, detail = row(reply, 4)
        return AdmitResult(text(status), integer(day), integer(month), integer(detail))

    async def _batched_script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[int | str]) -> object:
        """``EVALSHA`` with the other commands of this event-loop pass; a server without the script (restarted, failed
        over, flushed) answers ``NOSCRIPT`` before running anything: the script is loaded (on every master of a
        cluster) and the call sent again."""
        try:
            return await self.batch.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.client.script_load(script.script)
            return await self.batch.call("EVALSHA", script.sha, len(keys), *keys, *args)

    async def charge(
        self, session_id: str, tenant: str, cumulative_micros: int, limits: TenantLimits, wall: float
    ) -> ChargeResult:
        """Checkpoint the session's cost so far; the tenant's spend moves by the unflushed difference."""
        (result,) = await self.charge_many([Checkpoint(session_id, tenant, cumulative_micros, limits)], wall)
        if isinstance(result, StoreError):
            raise result
        return result

    async def charge_many(self, checkpoints: Sequence[Checkpoint], wall: float) -> list[ChargeResult | StoreError]:
        """Checkpoint many sessions in one round trip: one atomic charge call per tenant (idempotent: each session's
        last checkpoint is kept), all in one pipeline. Each checkpoint's result carries its tenant's totals after its
        call; a call that failed alone has its ``StoreError`` in each of its checkpoints' places."""
        calls: list[ScriptCall] = []
        members: list[list[int]] = []  # the checkpoints (indexes) each call charges
        for (tenant, daily, monthly), indexes in _by_tenant(checkpoints).items():
            spend = [self.keys.day_spend(tenant, wall), self.keys.month_spend(tenant, wall)]
            for start in range(0, len(indexes), SESSIONS_PER_CALL):
                part = indexes[start : start + SESSIONS_PER_CALL]
                keys = [*spend, *(self.keys.session(tenant, checkpoints[i].session_id) for i in part)]
                args: list[int | str] = [DAY_TTL_S, MONTH_TTL_S, SESSION_TTL_S, daily, monthly]
                args.extend(checkpoints[i].cumulative_micros for i in part)
                calls.append((keys, args))
                members.append(part)
        results: list[ChargeResult | StoreError] = [StoreError("not charged")] * len(checkpoints)
        for start in range(0, len(calls), PIPELINE_CALLS):
            replies = await self._script_calls("charge", self._charge, calls[start : start + PIPELINE_CALLS])
            for part, reply in zip(members[start : start + PIPELINE_CALLS], replies):
                for i, result in zip(part, _charge_results(reply, len(part))):
                    results[i] = result
        return results

    async def _script_calls(self, op: str, script: AsyncScript, calls: Sequence[ScriptCall]) -> list[object]:
        """One pipeline of ``EVALSHA``: the replies in order, a call that failed alone with its exception in its place.

        A server without the script (restarted, failed over, flushed) answers ``NOSCRIPT``: the script is loaded
        (on every master of a cluster) and the calls it refused are sent again; a call that ran is never resent.
        """
        replies = await self._evalsha_pipeline(op, script.sha, calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._run(op, self.client.script_load(script.script))
            again = await self._evalsha_pipeline(op, script.sha, [calls[i] for i in missing])
            for i, reply in zip(missing, again):
                replies[i] = reply
        return replies

    async def _evalsha_pipeline(self, op: str, sha: str, calls: Sequence[ScriptCall]) -> list[object]:
        with store_failures_as(op):  # entering, queueing and executing may all fail on a cluster
            return await exchange(self.client, [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in calls])

    async def renew(self, tenant: str, session_ids: Sequence[str], wall: float, lease_ttl_s: float) -> int:
        """Heartbeat the leases of running sessions; returns how many had lapsed (and were re-added)."""
        (lapsed,) = await self.renew_many([(tenant, session_ids)], wall, lease_ttl_s)
        if isinstance(lapsed, StoreError):
            raise lapsed
        return lapsed

    async def renew_many(
        self, leases: Sequence[tuple[str, Sequence[str]]], wall: float, lease_ttl_s: float
    ) -> list[int | StoreError]:
        """Heartbeat each tenant's running sessions (one atomic call per tenant), all in one round trip: per tenant
        how many had lapsed (and were re-added), or its ``StoreError``."""
        now_ms = int(wall * 1000)
        expiry_ms = now_ms + int(lease_ttl_s * 1000)
        calls: list[ScriptCall] = [([self.keys.leases(t)], [now_ms, expiry_ms, *ids]) for t, ids in leases]
        lapsed: list[int | StoreError] = []
        for start in range(0, len(calls), PIPELINE_CALLS):
            for reply in await self._script_calls("renew", self._renew, calls[start : start + PIPELINE_CALLS]):
                lapsed.append(_answer("renew", reply, integer))
        return lapsed

    async def release(self, tenant: str, session_id: str) -> bool:
        """Give the slot back; ``False`` when it was not held any more."""
        reply = await self._run("release", self._batched_script(self._release, [self.keys.leases(tenant)], [session_id]))
        return bool(reply)

    async def spend(self, tenant: str, wall: float) -> tuple[int, int]:
        """The tenant's (day, month) spend in micro-dollars: one ``MGET`` (its keys share a slot), sent with the other
        commands of this event-loop pass (a budgeted key's handshake reads it before routing)."""
        command = ("MGET", self.keys.day_spend(tenant, wall), self.keys.month_spend(tenant, wall))
        return _day_month(await self._run("spend", self.batch.call(*command)))

    async def spend_many(self, tenants: Sequence[str], wall: float) -> list[tuple[int, int] | StoreError]:
        """Each tenant's (day, month) spend in micro-dollars (one ``MGET`` each: its keys share a slot), all in one
        round trip; a tenant whose read failed has its ``StoreError`` in its place."""
        # not ``pipe.mget``: a cluster pipeline refuses it by name (for keys over several slots; these share their
        # tenant's): as a command it goes to the tenant's node, one atomic read
        commands = [("MGET", self.keys.day_spend(t, wall), self.keys.month_spend(t, wall)) for t in tenants]
        with store_failures_as("spend"):
            replies = await exchange(self.client, commands)
        return [_answer("spend", reply, _day_month) for reply in row(replies, len(tenants))]

    async def active_leases(self, tenant: str, wall: float) -> int:
        """Unexpired leases of a tenant (for metrics and tests)."""
        return integer(
            await self._run("active", self.client.zcount(self.keys.leases(tenant), int(wall * 1000) + 1, "+inf"))
        )

    async def append_record(self, record: Mapping[str, str], wall: float) -> str:
        """XADD one session record; entries older than the retention go (MINID), and past the count bound: sent with
        the other commands of this event-loop pass (one stream key: one node on a cluster). The record is written once
        its XADD is: a failed trim (the next append trims again) does not fail it, so the record is not queued again
        and written twice."""
        oldest_ms = max(int((wall - self.records_retention_s) * 1000), 0)
        key = self.keys.records
        # exact MINID: usually nothing or one entry goes, and a small stream is trimmed too
        add = self.batch.call("XADD", key, "MINID", str(oldest_ms), "*", *(part for item in record.items() for part in item))
        trim = self.batch.call("XTRIM", key, "MAXLEN", "~", RECORDS_MAXLEN)
        entry, trimmed = await asyncio.gather(add, trim, return_exceptions=True)
        if isinstance(entry, STORE_FAILURES):
            raise StoreError("accounting store failed in append_record") from entry
        if isinstance(entry, BaseException):
            raise entry
        if isinstance(trimmed, BaseException):
            log.warning("trimming the session record stream failed: %s", type(trimmed).__name__)
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
        except STORE_FAILURES:
            return False

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except STORE_FAILURES as exc:
            log.debug("closing the accounting store failed", exc_info=exc)
