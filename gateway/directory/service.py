"""Live sessions across replicas, and ending one wherever it runs.

Each replica keeps its running sessions in memory (a ``directory`` observer notes start, stats and
end without I/O) and publishes them every ``period_s`` on a :class:`~gateway.directory.ports.DirectoryBoard`
with a short TTL (the whole hash rewritten: spend and stats move). A session that starts or ends between
two such passes is published at once, alone: the publisher is woken and writes only what changed, so a
burst of handshakes costs one entry each, not a rewrite of every live session per handshake. End requests (``{"session_id": …}`` or ``{"key_id": …}``) are broadcast on the
board and every replica ends the matching sessions it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Collection, Mapping

import orjson

from gateway.core.errors import StoreError, StoreUnavailable
from gateway.core.jsontypes import as_number
from gateway.core.observers import SessionEnded, SessionEvent, SessionInfo, SessionStats, Verdict
from gateway.core.routing import Caps
from gateway.directory.ports import DirectoryBoard
from gateway.waiting import cancel_pending, within

log = logging.getLogger("voice_gateway.directory.service")

PERIOD_S = 2.0
TTL_S = 6.0
#: a start or an end wakes the publisher, which waits this long for the next ones before writing: while sessions are
#: being set up one transaction carries many of them instead of one or two each
SETTLE_S = 0.05
Entry = dict[str, object]
EndLocal = Callable[[str], bool]
LiveSpend = Callable[[str], "int | None"]
TraceIdOf = Callable[[str], "str | None"]
TurnsOf = Callable[[str], "list[dict[str, object]] | None"]
#: (session id, route, reason) → ``False``: not held here; ``True``: the switch started; a string: why not
HandoffLocal = Callable[[str, str, str], "bool | str"]


@dataclass(frozen=True, slots=True)
class HandoffAnswer:
    """What a handoff request found: the replica holding the session, and why not (``None``: started or sent)."""

    found: bool
    refusal: str | None = None
    #: the switch runs on this replica (else the request was broadcast to the one holding the session)
    local: bool = False


async def publish_end(board: DirectoryBoard, *, session_id: str | None = None, key_id: str | None = None) -> int:
    """Ask every replica to end a session, or all sessions of a key; returns how many replicas listened."""
    message = {"session_id": session_id} if session_id else {"key_id": key_id}
    return await board.send_end(json.dumps(message))


@dataclass(slots=True)
class _Local:
    info: SessionInfo
    started_wall: float
    stats: SessionStats | None = None


def caps_view(caps: Caps) -> dict[str, object]:
    return {
        "max_cost_micros": caps.max_cost_micros,
        "max_duration_s": caps.max_duration_s,
        "idle_timeout_s": caps.idle_timeout_s,
    }


def entry_of(local: _Local, replica_id: str, spend: int | None, trace_id: str | None, wall: float) -> Entry:
    """The published view of one session: what an operator needs, never a secret or a transcript."""
    info, stats = local.info, local.stats
    return {
        "session_id": info.session_id,
        "replica": replica_id,
        "tenant": info.tenant,
        "key_id": info.key_id,
        "labels": dict(info.labels),
        "endpoint": info.endpoint.value,
        "kind": info.kind.value,
        "route": info.route.name or info.decision.rule_id,
        "rule_id": info.decision.rule_id,
        "model": info.route.model,
        "requested_model": info.requested_model,
        "upstream": info.upstream,
        "transport": info.transport,
        "call_id": info.call_id,
        "client_address": info.client_address,
        "started_at": local.started_wall,
        "updated_at": wall,
        "spend_micros": spend,
        "caps": caps_view(info.caps),
        "trace_id": trace_id,
        "responses": stats.responses if stats else 0,
        "bytes_from_client": stats.bytes_from_client if stats else 0,
        "bytes_from_upstream": stats.bytes_from_upstream if stats else 0,
    }


class DirectoryObserver:
    """Notes a session's stats for the directory; never does I/O and never ends a session.

    The stats are the session's for its life (every core serving it shares them, updated in place): once noted, a
    tick has nothing to do (``ticks``), and its hooks never wait (a :class:`~gateway.core.observers.DirectObserver`)."""

    def __init__(self, directory: "SessionDirectory", local: _Local) -> None:
        self._directory = directory
        self._local = local
        #: the stats are not noted yet
        self.ticks = True

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        return self.event_now(event, stats)

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        return self.tick_now(now, stats)

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        self._local.stats, self.ticks = stats, False
        return None

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        self._local.stats, self.ticks = stats, False
        return None

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        self._directory.forget(self._local.info.session_id)


@dataclass
class DirectoryHooks:
    """What the composition root supplies: how to end a local session, its spend, its trace id."""

    end_local: EndLocal
    live_spend: LiveSpend = lambda _sid: None
    trace_id_of: TraceIdOf = lambda _sid: None
    #: the session's per-turn summaries so far (``AccountingService.turns_of``), for the timeline page
    turns_of: TurnsOf = lambda _sid: None
    #: move a local session to another route (``RelaySession.request_handoff``)
    handoff_local: HandoffLocal = lambda _sid, _to, _reason: False
    #: end a local call because its owner hung it up (``False``: not held here)
    hang_up_local: EndLocal = lambda _sid: False


class SessionDirectory:
    """Publishes this replica's sessions, answers cross-replica lookups, relays end requests."""

    name = "directory"

    def __init__(
        self,
        board: DirectoryBoard,
        hooks: DirectoryHooks,
        *,
        replica_id: str | None = None,
        period_s: float = PERIOD_S,
        ttl_s: float = TTL_S,
        wall: Callable[[], float] = time.time,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.board = board
        self.hooks = hooks
        self.replica_id = replica_id or f"r_{secrets.token_hex(6)}"
        self.period_s = period_s
        self.settle_s = settle_s
        self.ttl_s = ttl_s
        self._wall = wall
        self._local: dict[str, _Local] = {}
        #: sessions started / ended since the last pass (published by the next one, alone)
        self._started: set[str] = set()
        self._ended: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- the observer factory ----------------------------------------------------------------------

    def create(self, info: SessionInfo, now: float) -> DirectoryObserver:
        """Register a starting session (published on the next pass, which is woken now)."""
        local = _Local(info, self._wall())
        self._local[info.session_id] = local
        self._started.add(info.session_id)
        self._ended.discard(info.session_id)
        self._wake.set()
        return DirectoryObserver(self, local)

    def forget(self, session_id: str) -> None:
        if self._local.pop(session_id, None) is not None:
            self._started.discard(session_id)
            self._ended.add(session_id)
            self._wake.set()

    def local_ids_for_key(self, key_id: str) -> list[str]:
        return [sid for sid, local in self._local.items() if local.info.key_id == key_id]

    # --- publishing --------------------------------------------------------------------------------

    def snapshot(self, only: Collection[str] | None = None) -> dict[str, Entry]:
        """This replica's entries right now (spend and trace id asked of the hooks); ``only`` those sessions."""
        wall = self._wall()
        entries: dict[str, Entry] = {}
        chosen = list(self._local.items()) if only is None else [(s, self._local[s]) for s in only if s in self._local]
        for sid, local in chosen:
            spend = _safe(self.hooks.live_spend, sid)
            trace = _safe(self.hooks.trace_id_of, sid)
            spend = spend if isinstance(spend, int) else None
            trace = trace if isinstance(trace, str) else traceparent_trace_id(local.info.traceparent)
            entries[sid] = entry_of(local, self.replica_id, spend, trace, wall)
            turns = _safe(self.hooks.turns_of, sid)
            entries[sid]["turns"] = turns if isinstance(turns, list) else []
        return entries

    async def publish(self) -> None:
        """Rewrite this replica's hash and refresh its liveness; one transaction on one key."""
        self._started.clear()
        self._ended.clear()
        entries = {sid: _entry_json(e) for sid, e in self.snapshot().items()}
        ttl_ms = int(self.ttl_s * 1000)
        await self.board.publish(self.replica_id, entries, ttl_ms, int(self._wall() * 1000) + ttl_ms)

    async def publish_changes(self) -> None:
        """Publish only the sessions started or ended since the last pass (nothing when none did)."""
        started, ended = self._started, self._ended
        if not started and not ended:
            return
        self._started, self._ended = set(), set()
        entries = {sid: _entry_json(e) for sid, e in self.snapshot(started).items()}
        await self.board.update(self.replica_id, entries, sorted(ended), int(self.ttl_s * 1000))

    async def withdraw(self) -> None:
        """Remove this replica's entries at shutdown."""
        with contextlib.suppress(StoreError):
            await self.board.withdraw(self.replica_id)

    # --- reading (any replica) ---------------------------------------------------------------------

    async def replicas(self) -> list[str]:
        """Replicas that published within their TTL (expired ones are pruned)."""
        now_ms = int(self._wall() * 1000)
        try:
            return await self.board.live_replicas(now_ms)
        except StoreError as exc:
            raise StoreUnavailable("The session directory cannot be read right now.") from exc

    async def _hash(self, replica: str) -> dict[str, Entry]:
        try:
            raw = await self.board.entries(replica)
        except StoreError as exc:
            raise StoreUnavailable("The session directory cannot be read right now.") from exc
        return {k: json.loads(v) for k, v in raw.items()}

    async def list_sessions(self) -> list[Entry]:
        """Every live session on every replica, oldest first."""
        found: list[Entry] = list(self.snapshot().values())  # this replica: current, not as last published
        for replica in await self.replicas():
            if replica != self.replica_id:
                found.extend((await self._hash(replica)).values())
        return sorted(found, key=lambda e: (as_number(e.get("started_at")), str(e["session_id"])))

    async def find(self, session_id: str) -> Entry | None:
        """One live session's entry, from whichever replica holds it."""
        local = self._local.get(session_id)
        if local is not None:
            return self.snapshot().get(session_id)
        for replica in await self.replicas():
            if replica == self.replica_id:
                continue
            entry = (await self._hash(replica)).get(session_id)
            if entry is not None:
                return entry
        return None

    async def request_end(self, session_id: str) -> bool:
        """End a session wherever it runs; ``False`` when no replica lists it."""
        if self.hooks.end_local(session_id):
            return True
        if await self.find(session_id) is None:
            return False
        try:
            await publish_end(self.board, session_id=session_id)
        except StoreError as exc:
            raise StoreUnavailable("The end request could not be sent to the other replicas.") from exc
        return True

    async def request_hangup(self, session_id: str) -> bool:
        """End a call because its owner hung it up, wherever it runs (broadcast as ``hangup_session_id``; a
        replica that predates it ignores the message); ``False`` when no replica lists it."""
        if self.hooks.hang_up_local(session_id):
            return True
        if await self.find(session_id) is None:
            return False
        try:
            await self.board.send_end(json.dumps({"hangup_session_id": session_id}))
        except StoreError as exc:
            raise StoreUnavailable("The hang-up could not be sent to the other replicas.") from exc
        return True

    async def request_handoff(self, session_id: str, to: str, reason: str) -> HandoffAnswer:
        """Move a session to route ``to`` wherever it runs (broadcast as ``handoff_session_id``, which replicas
        that predate handoffs ignore rather than ending the session)."""
        answer = self.hooks.handoff_local(session_id, to, reason)
        if answer is not False:
            return HandoffAnswer(found=True, refusal=answer if isinstance(answer, str) else None, local=True)
        if await self.find(session_id) is None:
            return HandoffAnswer(found=False)
        message = json.dumps({"handoff_session_id": session_id, "to": to, "reason": reason})
        try:
            await self.board.send_end(message)
        except StoreError as exc:
            raise StoreUnavailable("The handoff request could not be sent to the other replicas.") from exc
        return HandoffAnswer(found=True)

    # --- the end-session listener ------------------------------------------------------------------

    def handle_message(self, data: str | bytes) -> int:
        """Apply one end request to the sessions held here; returns how many were ended."""
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignored a malformed end-session message")
            return 0
        if not isinstance(message, Mapping):
            return 0
        if isinstance(message.get("handoff_session_id"), str):
            to, reason = message.get("to"), message.get("reason")
            if not isinstance(to, str):
                return 0
            answer = self.hooks.handoff_local(message["handoff_session_id"], to, reason if isinstance(reason, str) else "admin")
            return int(answer is True)
        if isinstance(message.get("hangup_session_id"), str):
            return int(self.hooks.hang_up_local(message["hangup_session_id"]))
        if isinstance(message.get("session_id"), str):
            return int(self.hooks.end_local(message["session_id"]))
        if isinstance(message.get("key_id"), str):
            return sum(self.hooks.end_local(sid) for sid in self.local_ids_for_key(message["key_id"]))
        return 0

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._publish_forever(), name="directory-publish"),
                asyncio.create_task(self._listen_forever(), name="directory-listen"),
            ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.withdraw()

    async def _publish_forever(self) -> None:
        """A full pass every ``period_s``; in between, woken by a start or an end, only what changed (after
        ``settle_s``, with whatever started or ended meanwhile)."""
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        while True:
            cancel_pending()
            full = loop.time() >= next_full
            try:
                if full:
                    next_full = loop.time() + self.period_s
                    await self.publish()
                else:
                    await self.publish_changes()
            except StoreError as exc:
                log.warning("publishing live sessions failed: %s", type(exc.__cause__).__name__)
                if not full:
                    next_full = loop.time()  # what failed is published by a full pass
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), timeout=max(next_full - loop.time(), 0.0))
            if self._wake.is_set():
                await asyncio.sleep(min(self.settle_s, max(next_full - loop.time(), 0.0)))
            self._wake.clear()

    async def _listen_forever(self) -> None:
        while True:
            cancel_pending()
            try:
                async for message in self.board.end_requests():
                    self.handle_message(message)
            except StoreError as exc:
                log.warning("end-session listener lost the store (%s); retrying", type(exc.__cause__).__name__)
                await asyncio.sleep(1.0)


def traceparent_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` the client sent (its session span joins that trace)."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or set(parts[1]) - set("0123456789abcdef") or parts[1] == "0" * 32:
        return None
    return parts[1]


def _entry_json(entry: Entry) -> str:
    """One entry as JSON text (orjson: a tenth of the stdlib's CPU, and every set-up publishes one)."""
    return orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS).decode()


def _safe(hook: Callable[[str], object], session_id: str) -> object:
    """A failing hook must not stop publishing: its value is left out."""
    try:
        value = hook(session_id)
    except Exception:  # noqa: BLE001
        log.debug("directory hook failed", exc_info=True)
        return None
    return value

