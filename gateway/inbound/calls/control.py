"""The calls API for the owners of calls the gateway serves: hang up and refer, as OpenAI's ``/v1/realtime/calls``.

A call placed through the gateway (``POST /v1/realtime/calls`` answers ``Location: /v1/realtime/calls/<id>``) or
accepted by its SIP front door is the gateway's to end: the owner's server hangs it up or transfers it here, with a
gateway key of the call's tenant, on whichever replica holds the call. ``{call_id}`` is the gateway's session id or
the upstream call id. Accepting and rejecting incoming calls is the routing policy's job (409). Another tenant's
call is "not found", as a call that does not exist.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from gateway.core.errors import CallControlledByGateway, GatewayError, InvalidRequest, NotFound
from gateway.core.kinds import EndpointKind
from gateway.inbound.calls.kinds import CALLS
from gateway.inbound.calls.refer import ReferBody, refer_live_call
from gateway.inbound.gateway_services import GatewayServices, services_of

CALL_PATH = "/v1/realtime/calls/{call_id}"

Act = Callable[[GatewayServices, Request, str], Awaitable[None]]


async def find_call(services: GatewayServices, call_id: str, tenant: str) -> Mapping[str, object]:
    """The live call ``call_id`` (a session id or an upstream call id) of ``tenant``; ``NotFound`` otherwise."""
    directory = services.admin.directory
    entry = await directory.find(call_id)
    if entry is None:
        entry = next((e for e in await directory.list_sessions() if e.get("call_id") == call_id), None)
    if entry is None or entry.get("transport") not in CALLS or entry.get("tenant") != tenant:
        raise NotFound(f"No live call '{call_id[:100]}'.", param="call_id")
    return entry


async def _owned_call(services: GatewayServices, request: Request, call_id: str) -> Mapping[str, object]:
    """The live call, when the request's gateway key (never a client secret) is of the call's tenant."""
    address = request.client.host if request.client else ""
    key = await services.handshakes.server_key(request.headers, address, "control calls")
    return await find_call(services, call_id, key.tenant)


async def _hang_up(services: GatewayServices, request: Request, call_id: str) -> None:
    entry = await _owned_call(services, request, call_id)
    if not await services.admin.directory.request_hangup(str(entry["session_id"])):
        raise NotFound(f"No live call '{call_id[:100]}'.", param="call_id")  # it ended meanwhile


async def _refer(services: GatewayServices, request: Request, call_id: str) -> None:
    entry = await _owned_call(services, request, call_id)
    try:
        body = ReferBody.model_validate_json(await request.body())
    except ValidationError as exc:
        raise InvalidRequest("The body must be {\"target_uri\": \"sip:…\" | \"tel:…\"}.", param="target_uri") from exc
    await refer_live_call(services.calls, services.inbound.catalog, entry, body.target_uri)


async def _controlled_by_gateway(services: GatewayServices, request: Request, call_id: str) -> None:
    await _owned_call(services, request, call_id)
    raise CallControlledByGateway()


def _endpoint(act: Act) -> Callable[[Request, str], Awaitable[Response]]:
    async def answer(request: Request, call_id: str) -> Response:
        services = services_of(request.app)
        try:
            await act(services, request, call_id)
        except GatewayError as exc:
            address = request.client.host if request.client else ""
            await services.handshakes.refused(exc, EndpointKind.REALTIME, address, request.url.path)
            return JSONResponse(exc.http_body(), status_code=exc.http_status)
        return Response(status_code=200)

    return answer


def calls_control_router() -> APIRouter:
    """``/hangup`` and ``/refer`` of a live call; ``/accept`` and ``/reject`` answered 409."""
    router = APIRouter(tags=["calls"])
    acts: dict[str, tuple[Act, str]] = {
        "hangup": (_hang_up, "End a live call the gateway serves (200, empty body)"),
        "refer": (_refer, "Transfer a live SIP call to a sip:/tel: URI (200, empty body)"),
        "accept": (_controlled_by_gateway, "Refused: the routing policy accepts incoming calls (409)"),
        "reject": (_controlled_by_gateway, "Refused: the routing policy rejects incoming calls (409)"),
    }
    for name, (act, summary) in acts.items():
        router.add_api_route(f"{CALL_PATH}/{name}", _endpoint(act), methods=["POST"], summary=summary)
    return router
