"""``POST /v1/realtime/calls`` and ``POST /v1/realtime/translations/calls``: OpenAI-compatible WebRTC signalling.

The body is the browser's SDP offer, either raw (``application/sdp``, model in ``?model=``) or
``multipart/form-data`` with an ``sdp`` part and a ``session`` part (JSON session config, applied
as the session's first ``session.update``). The answer is ``201`` with the SDP answer and a
``Location: /v1/realtime/calls/<session id>``; refusals carry the error's status and JSON body.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from gateway.core.errors import BodyTimeout, BodyTooLarge, GatewayError, InvalidRequest, UpstreamRefused, UpstreamUnavailable
from gateway.core.kinds import EndpointKind
from gateway.inbound.calls.kinds import TERMINATED_WEBRTC
from gateway.inbound.calls.service import CallServices
from gateway.inbound.gateway_services import GatewayServices, services_of
from gateway.inbound.setup import Handshake, SessionSetup
from gateway.webrtc.call import answer_offer
from gateway.webrtc.socket import WebRtcClientSocket

log = logging.getLogger("voice_gateway.inbound.webrtc")

MAX_SDP_BYTES: Final = 64 * 1024
CALLS_PATH: Final = "/v1/realtime/calls"
_FORMAT_HINT: Final = "Send the SDP offer as 'application/sdp', or as 'multipart/form-data' with 'sdp' and 'session' parts."
from gateway.core.jsontypes import JsonObject


@dataclass(frozen=True, slots=True)
class Offer:
    """What a call request carried: the SDP offer and, optionally, the session configuration."""

    sdp: str
    session: JsonObject | None = None


def _check_sdp(sdp: str) -> str:
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise InvalidRequest("The SDP offer is too large.", param="sdp")
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidRequest("The body is not an SDP offer (it must start with 'v=0').", param="sdp")
    return sdp.lstrip()


def parse_session(raw: str | bytes) -> JsonObject:
    """The ``session`` part: a JSON object."""
    try:
        session = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("The 'session' part is not valid JSON.", param="session") from exc
    if not isinstance(session, dict):
        raise InvalidRequest("The 'session' part must be a JSON object.", param="session")
    return session


async def _part_text(value: str | UploadFile | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return (await value.read(MAX_SDP_BYTES + 1)).decode("utf-8", "replace")


async def read_offer(request: Request) -> Offer:
    """Parse a call request body (raw SDP or multipart), or raise a client-safe 400."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("application/sdp", "text/plain"):
        body = await request.body()
        return Offer(_check_sdp(body.decode("utf-8", "replace")))
    if content_type != "multipart/form-data":
        raise InvalidRequest(_FORMAT_HINT)
    try:
        form = await request.form(max_files=2, max_fields=8, max_part_size=MAX_SDP_BYTES)
    except (BodyTooLarge, BodyTimeout):
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart's errors vary by version
        raise InvalidRequest("The multipart body could not be read.") from exc
    sdp = await _part_text(form.get("sdp"))
    if sdp is None:
        raise InvalidRequest("The multipart body has no 'sdp' part.", param="sdp")
    session_raw = await _part_text(form.get("session"))
    session = parse_session(session_raw) if session_raw is not None and session_raw.strip() else None
    return Offer(_check_sdp(sdp), session)


def handshake_for(request: Request, endpoint: EndpointKind, offer: Offer) -> tuple[Handshake, JsonObject | None]:
    """The transport-independent handshake, and the session config to replay (its model moved to the query)."""
    query = dict(request.query_params)
    session = dict(offer.session) if offer.session is not None else None
    if session is not None:
        model = session.pop("model", None)
        if isinstance(model, str) and model and not query.get("model"):
            query["model"] = model
        if session.get("type") == "transcription" and not query.get("intent"):
            query["intent"] = "transcription"
    headers = {k.lower(): v for k, v in request.headers.items()}
    client = request.client.host if request.client else ""
    return Handshake(endpoint=endpoint, path=request.url.path, headers=headers, query=query, client_address=client), session


def _refuse(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.http_body(), status_code=exc.http_status)


class CallRunner:
    """Runs answered calls' sessions in the background, holding their tasks until they end."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, setup: SessionSetup, socket: WebRtcClientSocket) -> None:
        task = asyncio.create_task(self._run(setup, socket), name=f"webrtc:{setup.session_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _run(setup: SessionSetup, socket: WebRtcClientSocket) -> None:
        try:
            await setup.run(socket)
        except Exception:  # noqa: BLE001 - a failed session must not take the others with it
            log.exception("webrtc session failed", extra={"session_id": setup.session_id})
        finally:
            await socket.close(1000, "")


async def answer_call(request: Request, endpoint: EndpointKind, runner: CallRunner) -> Response:
    """Through the handshake service (authenticate, rate-limit, route, admit); answer the offer; relay in the background.

    Every refusal, of the offer as of the credential, is recorded by the handshake service: auth-failure
    limiting and the admission-refused metric see WebRTC calls exactly as WebSocket handshakes.
    """
    services = services_of(request.app)
    handshakes = services.handshakes
    address = request.client.host if request.client else ""
    try:
        offer = await read_offer(request)
        handshake, session = handshake_for(request, endpoint, offer)
    except GatewayError as exc:
        await handshakes.refused(exc, endpoint, address, request.url.path)
        return _refuse(exc)
    try:
        setup = await handshakes.open_session(handshake, initial_session=session)
    except GatewayError as exc:  # recorded by open_session
        return _refuse(exc)
    try:
        direct = await _answer_direct(services, setup, offer, session)
    except GatewayError as exc:  # routing or admission of a direct-media call, after the handshake
        await handshakes.refused(exc, endpoint, address, request.url.path)
        return _refuse(exc)
    if direct is not None:
        return _answer(direct, setup.session_id)
    setup.transport = TERMINATED_WEBRTC
    try:
        call = await answer_offer(
            offer.sdp, translation=endpoint is EndpointKind.TRANSLATIONS, ice=services.webrtc_ice
        )
    except ValueError as exc:
        await setup.release()
        log.info("call refused: unusable offer", extra={"session_id": setup.session_id}, exc_info=exc)
        error = InvalidRequest("The SDP offer could not be answered.", param="sdp")
        await handshakes.refused(error, endpoint, address, request.url.path)
        return _refuse(error)
    runner.start(setup, call.socket)
    return _answer(call.answer_sdp, setup.session_id)


def _answer(sdp: str, session_id: str) -> Response:
    return Response(sdp, status_code=201, media_type="application/sdp", headers={"Location": f"{CALLS_PATH}/{session_id}"})


async def _answer_direct(
    services: GatewayServices, setup: SessionSetup, offer: Offer, session: JsonObject | None
) -> str | None:
    """Direct media when the route and its upstream allow it: the upstream's SDP answer; ``None`` → terminate here."""
    svc = services.inbound
    calls: CallServices | None = services.calls
    if calls is None or not calls.wants_direct():
        return None
    try:
        await setup.decide_now()
        assert setup.decision is not None and setup.decision.route is not None
        endpoints = calls.direct_endpoints(setup.decision.route, svc.catalog)
        if not endpoints:
            return None
        try:
            return await calls.answer_webrtc(svc, setup, endpoints, offer.sdp, session)
        except (UpstreamUnavailable, UpstreamRefused) as exc:
            if calls.media_of(setup.decision.route) != "auto":
                raise
            # no calls API where we looked (an emulator on another port, an upstream without WebRTC):
            # the gateway terminates the media itself rather than failing the call
            log.warning("direct media unavailable upstream; terminating the call here", extra={"code": exc.code})
            return None
    except BaseException:
        await setup.release()
        raise


def webrtc_router() -> APIRouter:
    """The WebRTC call endpoints; services are read from ``app.state.services`` at request time."""
    router = APIRouter(tags=["webrtc"])
    runner = CallRunner()

    @router.post(CALLS_PATH, status_code=201, summary="Start a WebRTC session: SDP offer in, SDP answer out")
    async def create_call(request: Request) -> Response:
        return await answer_call(request, EndpointKind.REALTIME, runner)

    @router.post("/v1/realtime/translations/calls", status_code=201, summary="Start a WebRTC translation session")
    async def create_translation_call(request: Request) -> Response:
        return await answer_call(request, EndpointKind.TRANSLATIONS, runner)

    return router
