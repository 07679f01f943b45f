"""The accounting service the composition root wires: observers, admission, and the flush/heartbeat loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from typing import Callable, Sequence

from gateway.accounting.admission import Admission, StoreHealth
from gateway.accounting.config import AccountingSettings
from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.meter import PriceBook
from gateway.accounting.observer import AccountingObserverFactory
from gateway.accounting.records import session_record
from gateway.accounting.ports import AccountingStorePort, ChargeResult, Checkpoint
from gateway.core.catalog import Catalog
from gateway.core.errors import StoreError, StoreUnavailable
from gateway.core.money import Pricing, PricingUnit, usd_to_micros
from gateway.core.observers import SessionEnded
from gateway.core.timeline import with_spans
from gateway.core.work_slice import WorkSlice
from gateway.waiting import cancel_pending, within

log = logging.getLogger("voice_gateway.accounting")

DEFAULT_LEASE_TTL_S = 30.0
#: how often an otherwise idle store is pinged, so /readyz and metrics tell the truth
HEALTH_PROBE_INTERVAL_S = 2.0
#: records kept in memory while the store is down (oldest dropped past this, with an error log)
MAX_QUEUED_RECORDS = 100_000


def fallback_pricing(settings: AccountingSettings) -> Pricing | None:
    """``fallback_usd_per_minute`` as a duration price; unset → the catalog's own fallback (or refusal)."""
    if not settings.fallback_usd_per_minute:
        return None
    return Pricing(unit=PricingUnit.MINUTES, per_minute=usd_to_micros(settings.fallback_usd_per_minute))


class AccountingService:
    """Meters sessions locally, checkpoints spend to the store every flush period, writes session records."""

    def __init__(
        self,
        settings: AccountingSettings,
        catalog: Catalog,
        store: AccountingStorePort,
        *,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        wall: Callable[[], float] = time.time,
        work_clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.store = store
        #: how long a flush pass has held the event loop (it lets ready frames through between slices)
        self._work_clock = work_clock
        self.flush_interval_s = settings.flush_interval_ms / 1000
        self.lease_ttl_s = lease_ttl_s
        self._wall = wall
        self.prices = PriceBook(catalog, fallback_pricing(settings))
        self.ledger = Ledger()
        self.health = StoreHealth()
        self.admission = Admission(
            store,
            self.ledger,
            self.health,
            failure_mode=settings.store_failure_mode,
            lease_ttl_s=lease_ttl_s,
            is_priced=lambda model: self.prices.model(model) is not None,
        )
        self.observer_factory = AccountingObserverFactory(self.ledger, self.prices, self, wall)
        self._records: deque[dict[str, str]] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_heartbeat = 0.0
        self._last_probe = 0.0
        #: the session's trace id for its record (the composition root connects telemetry here)
        self.trace_id_of: Callable[[str], str | None] = lambda _sid: None
        #: the session's turn span ids by turn number (per-turn links to Jaeger; connected like ``trace_id_of``)
        self.turn_spans_of: Callable[[str], dict[int, str]] = lambda _sid: {}

    # --- what the app reads ----------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Whether the store answered its last call (for /readyz and metrics)."""
        return self.health.healthy

    def live_spend(self, session_id: str) -> int:
        """The session's projected cost so far in micro-dollars (0 when unknown)."""
        live = self.ledger.sessions.get(session_id)
        return live.cost_micros if live is not None else 0

    def turns_of(self, session_id: str) -> list[dict[str, object]] | None:
        """The live session's per-turn summaries so far (``None`` when not metered here)."""
        live = self.ledger.sessions.get(session_id)
        if live is None or live.timeline is None:
            return None
        return with_spans(live.timeline.summaries(), _turn_spans(self.turn_spans_of, session_id))

    @property
    def queued_records(self) -> int:
        return len(self._records)

    async def recent_records(self, count: int, before: str | None = None) -> list[dict[str, str]]:
        """Newest session records first, from the shared stream; ``before`` (a ``stream_id``) pages back."""
        try:
            return await self.store.recent_records(count, before)
        except StoreError as exc:
            self.health.down(exc)
            raise StoreUnavailable() from exc

    async def records_between(self, start: float, end: float) -> list[dict[str, str]]:
        """Session records written in ``[start, end]`` (wall seconds), oldest first (usage reports)."""
        try:
            return await self.store.records_between(start, end)
        except StoreError as exc:
            self.health.down(exc)
            raise StoreUnavailable() from exc

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background flush / heartbeat / reconnect loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="accounting-flush")

    async def close(self) -> None:
        """Stop the loop, checkpoint every session, release leases, write queued records."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sync()
        for lease in list(self.ledger.leases.values()):
            await self.admission.release(lease)
        if self._records or self.admission.pending_releases:
            log.error(
                "accounting store unreachable at shutdown: %d session records and %d releases not written",
                len(self._records),
                len(self.admission.pending_releases),
            )
        await self.store.close()

    async def _run(self) -> None:
        while True:
            cancel_pending()
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), timeout=self.flush_interval_s)
            self._wake.clear()
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the loop must outlive any single failure
                log.exception("accounting flush failed")

    # --- the Flusher protocol used by observers --------------------------------------------------

    def request_flush(self) -> None:
        """A turn ended: flush soon rather than at the next period."""
        self._wake.set()

    async def finish(self, live: LiveSession, ended: SessionEnded) -> None:
        """Final checkpoint, slot release and session record; whatever fails is retried by the loop."""
        live.ended = True
        async with self._lock:
            await self._checkpoint([live])
        if live.lease is not None:
            await self.admission.release(live.lease)
        sid = live.info.session_id
        self._queue_record(
            session_record(live, ended, self._wall(), _trace_id(self.trace_id_of, sid), _turn_spans(self.turn_spans_of, sid))
        )
        live.record_queued = True
        async with self._lock:
            await self._drain_records()
        if live.unflushed_micros == 0:
            self.ledger.drop(live.info.session_id)

    # --- one sync pass ---------------------------------------------------------------------------

    async def sync(self) -> None:
        """One pass: reconnect check, checkpoint dirty sessions, heartbeat, retry releases, write records."""
        async with self._lock:
            if not self.health.healthy and not await self.store.ping():
                return
            if not await self._probe():
                return
            await self._flush_all()
            if self.health.healthy and self._wall() - self._last_heartbeat >= self.lease_ttl_s / 3:
                await self._heartbeat()
            if self.health.healthy:
                await self.admission.retry_releases()
            await self._drain_records()

    async def _probe(self) -> bool:
        """Ping a store nothing else has touched lately; a failed ping marks it down."""
        wall = self._wall()
        if wall - self._last_probe < HEALTH_PROBE_INTERVAL_S:
            return True
        self._last_probe = wall
        if await self.store.ping():
            self.health.up()
            return True
        self.health.down(StoreError("the store did not answer a ping"))
        return False

    async def _checkpoint(self, sessions: Sequence[LiveSession]) -> tuple[list[LiveSession], bool]:
        """Write the sessions' costs so far to the store in one round trip (atomic per tenant): the
        sessions the store holds current now, and whether none failed (what failed stays unflushed for the next
        pass, and the store is marked down)."""
        due = [live for live in sessions if live.unflushed_micros != 0 or live.charged_micros == 0]
        done = [live for live in sessions if live.unflushed_micros == 0 and live.charged_micros != 0]
        if not due:
            return done, True
        wall, targets = self._wall(), [live.cost_micros for live in due]
        checkpoints = [Checkpoint(live.info.session_id, live.tenant, t, live.limits) for live, t in zip(due, targets)]
        try:
            results = await self.store.charge_many(checkpoints, wall)
        except StoreError as exc:
            self.health.down(exc)
            return done, False
        failed: StoreError | None = None
        work = WorkSlice(self._work_clock)
        totals: dict[str, ChargeResult] = {}  # every session of a tenant's call carries the tenant's totals after it
        for live, target, result in zip(due, targets, results):
            if isinstance(result, StoreError):
                failed = failed or result
                continue
            self.ledger.set_charged(live, target)
            totals[live.tenant] = result
            done.append(live)
            if work.spent():
                await asyncio.sleep(0)
        for tenant, result in totals.items():
            self.ledger.note_spend(tenant, wall, result.day_spend_micros, result.month_spend_micros)
        if failed is not None:
            self.health.down(failed)
            return done, False
        self.health.up()
        return done, True

    async def _flush_all(self) -> None:
        dirty: list[LiveSession] = []
        work = WorkSlice(self._work_clock)
        for live in list(self.ledger.sessions.values()):
            self._price_before_checkpoint(live)
            if live.unflushed_micros != 0 or live.ended:
                dirty.append(live)
            if work.spent():  # ready frames go on between sessions (300 priced in one go held every frame ~ms)
                await asyncio.sleep(0)
        done, ok = await self._checkpoint(dirty)
        for live in done:
            if live.ended and live.record_queued and live.unflushed_micros == 0:
                self.ledger.drop(live.info.session_id)
        if ok:
            await self._refresh_spend({live.tenant for live in done})

    @staticmethod
    def _price_before_checkpoint(live: LiveSession) -> None:
        """A session its ticks do not price every time (no money limit) is priced before its checkpoint, so what the
        store holds is as current as if every tick had (one at a time, between the checkpoints' round trips); a
        failing one is left to its ticks (logged once)."""
        if live.price_now is None:
            return
        try:
            live.price_now()
        except Exception:  # noqa: BLE001 - one session's pricing must not stop the checkpoints
            log.exception("pricing before a checkpoint failed", extra={"session_id": live.info.session_id})
            live.price_now = None

    async def _refresh_spend(self, refreshed: set[str]) -> None:
        """Budgeted tenants with idle sessions here still learn what other instances spent (one round trip)."""
        wall = self._wall()
        budgeted = sorted({s.tenant for s in self.ledger.sessions.values() if s.limits.has_budget} - refreshed)
        if not budgeted:
            return
        try:
            answers = await self.store.spend_many(budgeted, wall)
        except StoreError as exc:
            self.health.down(exc)
            return
        for tenant, answer in zip(budgeted, answers):
            if isinstance(answer, StoreError):
                self.health.down(answer)
            else:
                self.ledger.note_spend(tenant, wall, *answer)

    async def _heartbeat(self) -> None:
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for lease in self.ledger.leases.values():
            by_tenant[lease.tenant].append(lease.session_id)
        wall = self._wall()
        try:
            answers = await self.store.renew_many(list(by_tenant.items()), wall, self.lease_ttl_s)
        except StoreError as exc:
            self.health.down(exc)
            return
        failed = next((a for a in answers if isinstance(a, StoreError)), None)
        lapsed = sum(a for a in answers if not isinstance(a, StoreError))
        if lapsed:
            log.warning("re-registered %d lapsed session lease(s) after a store outage", lapsed)
        if failed is not None:
            self.health.down(failed)
            return
        self._last_heartbeat = wall

    def _queue_record(self, record: dict[str, str]) -> None:
        if len(self._records) >= MAX_QUEUED_RECORDS:
            dropped = self._records.popleft()
            log.error("session record queue full; dropped record of session %s", dropped.get("session_id"))
        self._records.append(record)

    async def _drain_records(self) -> None:
        while self._records:
            try:
                await self.store.append_record(self._records[0], self._wall())
            except StoreError as exc:
                self.health.down(exc)
                return
            self.health.up()
            self._records.popleft()


def _trace_id(trace_id_of: Callable[[str], str | None], session_id: str) -> str | None:
    """A failing lookup leaves the trace id out of the record rather than losing the record."""
    try:
        return trace_id_of(session_id)
    except Exception:  # noqa: BLE001
        log.debug("trace id lookup failed", exc_info=True)
        return None


def _turn_spans(turn_spans_of: Callable[[str], dict[int, str]], session_id: str) -> dict[int, str]:
    """A failing lookup leaves the per-turn span ids out rather than losing the record or the live view."""
    try:
        return turn_spans_of(session_id)
    except Exception:  # noqa: BLE001
        log.debug("turn span lookup failed", exc_info=True)
        return {}
