"""The operator API under ``/admin``: live sessions on every replica, ending one, policy reloads, records.

Off (every route 404) unless ``VOICE_GATEWAY_ADMIN_TOKEN`` is set; then each call needs
``Authorization: Bearer <admin token>`` (compared in constant time). Client keys are refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import time
from datetime import datetime
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping, Protocol, Sequence

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gateway.core.usage import PeriodError, parse_group_by, parse_period, summarize
from gateway.core.errors import AuthenticationFailed, InvalidRequest, NotFound
from gateway.core.jsontypes import as_list, as_number
from gateway.core.money import micros_to_usd
from gateway.inbound.errors_route import GatewayErrorRoute
from gateway.inbound.admin_handoff import HandoffAnswer, add_handoff_route
from gateway.inbound.calls.refer import ReferBody, refer_live_call

if TYPE_CHECKING:  # the services object holds this module's AdminServices: no runtime import
    from gateway.inbound.gateway_services import GatewayServices

Entry = dict[str, object]
#: session records read per page when an ended session's timeline is looked up (back through the retention window)
RECENT_SEARCH = 1000
#: a record's stream id (its write time in ms, a sequence number): the cursor of the ended-session pages
STREAM_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"
#: how long ending a session waits to see it gone before answering ``ending`` instead of ``ended``
END_CONFIRM_S = 3.0


class LiveDirectory(Protocol):
    """Live sessions across replicas (``gateway.directory.service.SessionDirectory``)."""

    async def list_sessions(self) -> list[Entry]: ...

    async def find(self, session_id: str) -> Entry | None: ...

    async def request_end(self, session_id: str) -> bool: ...

    async def request_hangup(self, session_id: str) -> bool: ...

    async def request_handoff(self, session_id: str, to: str, reason: str) -> HandoffAnswer: ...

    async def replicas(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AdminServices:
    """What the admin API needs (part of the services object the composition root builds)."""

    directory: LiveDirectory
    #: newest session records first, before an optional stream id (``AccountingService.recent_records``)
    recent_records: Callable[[int, str | None], Awaitable[list[dict[str, str]]]]
    #: reload the routing policy now; returns the status afterwards (a mapping or a dataclass)
    reload_policies: Callable[[], object]
    #: the current policy status (version, loaded_at, last_error, …)
    policy_status: Callable[[], object]
    jaeger_ui_url: str | None = None
    wall: Callable[[], float] = time.time
    #: session records written in a period, oldest first (``AccountingService.records_between``)
    records_between: Callable[[float, float], Awaitable[list[dict[str, str]]]] | None = None


# --- response models --------------------------------------------------------------------------------


class CapsView(BaseModel):
    max_cost_micros: int | None = None
    max_duration_s: float | None = None
    idle_timeout_s: float | None = None


class LiveSessionView(BaseModel):
    """One running session, as the replica holding it last published it (at most ~2 s old)."""

    session_id: str
    replica: str
    tenant: str | None = None
    key_id: str | None = None
    labels: dict[str, str] = {}
    endpoint: str
    kind: str
    route: str
    rule_id: str
    model: str
    requested_model: str | None = None
    upstream: str = ""
    #: websocket, webrtc (media through the gateway), webrtc-direct or sip (media bypasses it)
    transport: str = "websocket"
    #: the upstream call id of a direct-media call (the admin can refer or hang it up)
    call_id: str | None = None
    client_address: str = ""
    started_at: float
    duration_s: float
    spend_micros: int | None = None
    spend_usd: str | None = None
    caps: CapsView
    trace_id: str | None = None
    trace_url: str | None = None
    responses: int = 0
    bytes_from_client: int = 0
    bytes_from_upstream: int = 0
    updated_at: float


class SessionList(BaseModel):
    sessions: list[LiveSessionView]
    replicas: list[str]
    count: int


class EndResult(BaseModel):
    session_id: str
    #: ``ended``: gone from the directory; ``ending``: requested, not yet confirmed
    status: str
    replica: str | None = None


class ReferResult(BaseModel):
    session_id: str
    status: str
    target_uri: str


class PolicyStatusView(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str | None = None
    loaded_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None


class RecordList(BaseModel):
    records: list[dict[str, str]]
    #: pass as ``before`` for the next, older page (``None``: this page reached the oldest kept record)
    next_before: str | None = None


class TurnView(BaseModel):
    """One turn of a session's timeline (``gateway.core.timeline``); offsets in ms from the session start."""

    n: int
    kind: str
    trigger: str
    start_ms: int
    end_ms: int
    ttfa_ms: int | None = None
    status: str
    interrupted: bool = False
    tools: list[str] = []
    handoffs: list[str] = []
    cost_micros: int
    total_micros: int
    #: the turn's own span (a voice-agent turn, with tracing on) and its link in Jaeger
    span_id: str | None = None
    trace_url: str | None = None


class EndView(BaseModel):
    reason: str
    error_code: str | None = None
    ended_at: float


class TimelineView(BaseModel):
    """A session's turns on a time axis, live (from the directory) or recently ended (from its record)."""

    session_id: str
    live: bool
    tenant: str | None = None
    key_id: str | None = None
    kind: str
    route: str
    model: str
    started_at: float
    duration_s: float
    spend_micros: int | None = None
    cap_micros: int | None = None
    max_duration_s: float | None = None
    turns: list[TurnView]
    turns_total: int
    turns_dropped: int = 0
    ended: EndView | None = None
    trace_id: str | None = None
    trace_url: str | None = None


# --- helpers ----------------------------------------------------------------------------------------


def _view(entry: Entry, now: float, jaeger_ui_url: str | None) -> LiveSessionView:
    started = as_number(entry.get("started_at")) or now
    spend = entry.get("spend_micros")
    trace_id = entry.get("trace_id")
    trace_url = f"{jaeger_ui_url.rstrip('/')}/trace/{trace_id}" if jaeger_ui_url and trace_id else None
    return LiveSessionView.model_validate(
        {
            **entry,
            "duration_s": round(max(0.0, now - started), 3),
            "spend_usd": micros_to_usd(spend) if isinstance(spend, int) else None,
            "trace_url": trace_url,
        }
    )


def _turn_views(turns: Sequence[object], trace_id: str | None, jaeger_ui_url: str | None) -> list[TurnView]:
    """Each turn with a link to its own span in the session's trace (Jaeger's ``uiFind`` selects it), when known."""
    views = [TurnView.model_validate(t) for t in turns if isinstance(t, dict)]
    if jaeger_ui_url and trace_id:
        base = f"{jaeger_ui_url.rstrip('/')}/trace/{trace_id}"
        for view in views:
            if view.span_id:
                view.trace_url = f"{base}?uiFind={view.span_id}"
    return views


def _live_timeline(entry: Entry, now: float, jaeger_ui_url: str | None) -> TimelineView:
    view = _view(entry, now, jaeger_ui_url)
    turns = _turn_views(as_list(entry.get("turns")), view.trace_id, jaeger_ui_url)
    return TimelineView(
        session_id=view.session_id, live=True, tenant=view.tenant, key_id=view.key_id, kind=view.kind,
        route=view.route, model=view.model, started_at=view.started_at, duration_s=view.duration_s,
        spend_micros=view.spend_micros, cap_micros=view.caps.max_cost_micros, max_duration_s=view.caps.max_duration_s,
        turns=turns, turns_total=len(turns), trace_id=view.trace_id, trace_url=view.trace_url,
    )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _optional_number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _ended_timeline(record: Mapping[str, str], jaeger_ui_url: str | None) -> TimelineView:
    """The timeline kept in a session record (``gateway.accounting.records``)."""
    try:
        kept = json.loads(record.get("turns") or "[]")
    except ValueError:
        kept = []
    turns = _turn_views(kept if isinstance(kept, list) else [], record.get("trace_id") or None, jaeger_ui_url)
    started, ended = _epoch(record["started_at"]), _epoch(record["ended_at"])
    cap = _optional_number(record.get("cap_micros"))
    return TimelineView(
        session_id=record["session_id"], live=False, tenant=record.get("tenant"), key_id=record.get("key_id") or None,
        kind=record.get("kind", ""), route=record.get("route", ""),
        model=record.get("model_served") or record.get("model_routed", ""),
        started_at=started, duration_s=float(record.get("duration_s") or 0), spend_micros=int(record.get("cost_micros") or 0),
        cap_micros=int(cap) if cap is not None else None, max_duration_s=_optional_number(record.get("max_duration_s")),
        turns=turns, turns_total=int(record.get("turns_total") or len(turns)), turns_dropped=int(record.get("turns_dropped") or 0),
        ended=EndView(reason=record.get("end_reason", ""), error_code=record.get("error_code") or None, ended_at=ended),
        trace_id=record.get("trace_id") or None,
        trace_url=f"{jaeger_ui_url.rstrip('/')}/trace/{record['trace_id']}" if jaeger_ui_url and record.get("trace_id") else None,
    )


async def _find_record(admin: AdminServices, session_id: str) -> Mapping[str, str] | None:
    """An ended session's record, searched page by page from the newest back to the oldest kept (the retention)."""
    before: str | None = None
    while True:
        page = await admin.recent_records(RECENT_SEARCH, before)
        for record in page:
            if record.get("session_id") == session_id:
                return record
        if len(page) < RECENT_SEARCH or not page[-1].get("stream_id"):
            return None
        before = page[-1]["stream_id"]


def _as_mapping(value: object) -> Mapping[str, object]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"policy status must be a mapping or a dataclass, got {type(value).__name__}")


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else ""


def admin_router(admin_token: SecretStr | str | None) -> APIRouter:
    """The ``/admin`` routes; services are read from ``app.state.services`` at request time."""
    token = admin_token.get_secret_value() if isinstance(admin_token, SecretStr) else admin_token
    expected = token.encode() if token else None

    def enabled() -> None:
        if expected is None:
            raise NotFound()

    async def require_admin(request: Request) -> AdminServices:
        enabled()
        services: GatewayServices = request.app.state.services
        guard, address = services.handshakes.guard, request.client.host if request.client else ""
        await guard.check(address)  # the handshake service's auth-failure limiting covers the admin token too
        presented = _bearer(request).encode()
        if not presented or not hmac.compare_digest(presented, expected or b""):
            error = AuthenticationFailed("Missing or invalid admin token: send 'Authorization: Bearer <admin token>'.")
            await guard.record(error, address)
            raise error
        return services.admin

    router = APIRouter(prefix="/admin", tags=["admin"], route_class=GatewayErrorRoute)

    @router.get("/ui", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(enabled)])
    async def ui() -> HTMLResponse:
        page = resources.files("gateway.inbound.admin_ui").joinpath("index.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"cache-control": "no-store", "x-frame-options": "DENY"})

    @router.get("/sessions", response_model=SessionList, summary="Live sessions on every replica")
    async def list_sessions(admin: AdminServices = Depends(require_admin)) -> SessionList:
        entries = await admin.directory.list_sessions()
        now = admin.wall()
        views = [_view(e, now, admin.jaeger_ui_url) for e in entries]
        return SessionList(sessions=views, replicas=await admin.directory.replicas(), count=len(views))

    @router.get("/sessions/{session_id}", response_model=LiveSessionView, summary="One live session")
    async def get_session(session_id: str, admin: AdminServices = Depends(require_admin)) -> LiveSessionView:
        entry = await admin.directory.find(session_id)
        if entry is None:
            raise NotFound(f"No live session '{session_id}'.")
        return _view(entry, admin.wall(), admin.jaeger_ui_url)

    @router.get("/sessions/{session_id}/timeline", response_model=TimelineView, summary="A session's turns, live or recently ended")
    async def timeline(session_id: str, admin: AdminServices = Depends(require_admin)) -> TimelineView:
        entry = await admin.directory.find(session_id)
        if entry is not None:
            return _live_timeline(entry, admin.wall(), admin.jaeger_ui_url)
        record = await _find_record(admin, session_id)
        if record is not None:
            return _ended_timeline(record, admin.jaeger_ui_url)
        raise NotFound(f"No live or recently ended session '{session_id}'.")


    @router.post("/sessions/{session_id}/refer", response_model=ReferResult)
    async def refer_call(session_id: str, body: ReferBody, request: Request, admin: AdminServices = Depends(require_admin)) -> ReferResult:
        """Transfer a live direct-media call (SIP) to another SIP or tel: URI through the upstream's calls API."""
        entry = await admin.directory.find(session_id)
        if entry is None:
            raise NotFound(f"No live session '{session_id}'.")
        services: GatewayServices = request.app.state.services
        await refer_live_call(services.calls, services.inbound.catalog, entry, body.target_uri)
        return ReferResult(session_id=session_id, status="referred", target_uri=body.target_uri)

    @router.post("/sessions/{session_id}/end", response_model=EndResult, summary="End a session on whichever replica holds it")
    async def end_session(session_id: str, admin: AdminServices = Depends(require_admin)) -> EndResult:
        entry = await admin.directory.find(session_id)
        if entry is None or not await admin.directory.request_end(session_id):
            raise NotFound(f"No live session '{session_id}'.")
        replica = str(entry.get("replica")) if entry.get("replica") else None
        deadline = asyncio.get_running_loop().time() + END_CONFIRM_S
        while asyncio.get_running_loop().time() < deadline:
            if await admin.directory.find(session_id) is None:
                return EndResult(session_id=session_id, status="ended", replica=replica)
            await asyncio.sleep(0.1)
        return EndResult(session_id=session_id, status="ending", replica=replica)

    @router.get("/policies", response_model=PolicyStatusView, summary="Routing policy status")
    async def policy_status(admin: AdminServices = Depends(require_admin)) -> PolicyStatusView:
        return PolicyStatusView.model_validate(dict(_as_mapping(admin.policy_status())))

    @router.post("/policies/reload", response_model=PolicyStatusView, summary="Reload routing policies now")
    async def reload_policies(admin: AdminServices = Depends(require_admin)) -> PolicyStatusView:
        result = admin.reload_policies()
        if asyncio.iscoroutine(result):
            result = await result
        return PolicyStatusView.model_validate(dict(_as_mapping(result)))

    @router.get("/records", response_model=RecordList, summary="Recently ended sessions (newest first)")
    async def records(
        count: int = Query(50, ge=1, le=1000),
        before: str | None = Query(None, pattern=STREAM_ID, description="a record's stream_id: the page before it"),
        admin: AdminServices = Depends(require_admin),
    ) -> RecordList:
        page = await admin.recent_records(count, before)
        return RecordList(records=page, next_before=page[-1].get("stream_id") if len(page) == count else None)

    @router.get("/usage", summary="Spend, sessions, audio minutes and cap cut-offs over a period, grouped")
    async def usage(
        since: str = Query("30d", description="start: ISO date/time, or a duration back from now (24h, 7d)"),
        until: str = Query("now", description="end: ISO date/time, a duration back from now, or 'now'"),
        group_by: str = Query("tenant", description="comma-separated: tenant, key, route, model, kind"),
        format: str = Query("json", pattern="^(json|csv)$"),
        admin: AdminServices = Depends(require_admin),
    ) -> Response:
        try:
            start, end = parse_period(since, until, admin.wall())
            dimensions = parse_group_by(group_by)
        except PeriodError as exc:
            raise InvalidRequest(str(exc), param="since") from exc
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="group_by") from exc
        if admin.records_between is None:
            raise NotFound("Usage reports are not available on this gateway.")
        report = summarize(await admin.records_between(start, end), start, end, dimensions)
        if format == "csv":
            return Response(report.to_csv(), media_type="text/csv; charset=utf-8")
        return JSONResponse(report.as_dict())

    add_handoff_route(router, require_admin)
    return router
