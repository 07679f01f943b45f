"""The emulator's calls API over HTTP (Starlette), next to its WebSocket server.

Like OpenAI's: ``POST /v1/realtime/calls`` (and ``/v1/realtime/translations/calls``) answers an
SDP offer (raw ``application/sdp`` with ``?model=``, or ``multipart/form-data`` with ``sdp`` and
``session`` parts) with ``201``, the SDP answer and ``Location: /v1/realtime/calls/<call_id>``;
``/accept`` (body: a session configuration), ``/reject`` (``status_code``, SIP 603 by default),
``/refer`` (``target_uri``) and ``/hangup`` answer ``200`` with an empty body; problems answer an
OpenAI-shaped JSON error. Test-only, under ``/v1/_emulator/``: ring a simulated SIP call that posts
a signed ``realtime.call.incoming`` webhook, make its caller speak or hang up, read a call's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core.jsontypes import as_int
from gateway.emulator.calls.call import CallStateError, CallStatus, EmulatedCall
from gateway.emulator.calls.registry import RING_TIMEOUT_S, CallRegistry, new_call_id
from gateway.emulator.calls.sip import SimulatedCaller, deliver, incoming_event
from gateway.emulator.machine import SessionMachine
from gateway.emulator.realtime import RealtimeSession
from gateway.emulator.translation import TranslationSession
from gateway.emulator.script import Script
from gateway.webrtc.call import answer_offer
from gateway.waiting import within

MAX_BODY_BYTES: Final = 256 * 1024
DEFAULT_ACCEPT_MODEL: Final = "gpt-realtime"
#: the simulated SIP caller's pause between the answer and its first word
CALLER_DELAY_S: Final = 0.5
_SIP_URI_SCHEMES: Final = ("sip:", "sips:", "tel:")

MakeMachine = Callable[[str, dict[str, str], Script], SessionMachine]


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param

    def response(self) -> JSONResponse:
        error = {"message": str(self), "type": "invalid_request_error", "param": self.param, "code": self.code}
        return JSONResponse({"error": error}, status_code=self.status)


def _authorised(request: Request) -> None:
    bearer = request.headers.get("authorization", "")
    if not (bearer.lower().startswith("bearer ") and bearer[7:].strip()):
        raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                       "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


async def _json_body(request: Request, *, required: bool = True) -> dict[str, object]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "The request body is too large.")
    if not raw.strip():
        if required:
            raise ApiError(400, "The request body must be a JSON object.")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "We could not parse the JSON body of your request.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _configure(machine: SessionMachine, session: dict[str, object]) -> None:
    """Apply a session configuration as a ``session.update`` would; its first error is an HTTP 400."""
    config = {k: v for k, v in session.items() if k != "model"}
    if not config:
        return
    if not isinstance(machine, TranslationSession):  # translation sessions have no ``type``
        config.setdefault("type", getattr(machine, "kind", "realtime"))
    for event in machine.receive(orjson.dumps({"type": "session.update", "session": config}), time.monotonic()):
        if isinstance(event, dict) and event.get("type") == "error":
            detail = event.get("error")
            detail = detail if isinstance(detail, dict) else {}
            param = detail.get("param")
            raise ApiError(400, str(detail.get("message")), str(detail.get("code")), param if isinstance(param, str) else None)


@dataclass
class CallsApi:
    registry: CallRegistry
    make_machine: MakeMachine
    defaults: Script

    # --- WebRTC ----------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        _authorised(request)
        translation = request.url.path.rstrip("/").endswith("/translations/calls")
        sdp, session = await self._offer(request)
        query = dict(parse_qsl(request.url.query))
        requested = session.get("model")
        model = requested if isinstance(requested, str) else query.get("model")
        machine_query = {"model": model} if model else {}
        if not model and session.get("type") == "transcription":
            machine_query = {"intent": "transcription"}
        path = "/v1/realtime/translations" if translation else "/v1/realtime"
        machine = self.make_machine(path, machine_query, self.defaults)
        if not isinstance(machine, (RealtimeSession, TranslationSession)):
            opening = machine.start(time.monotonic())
            detail = opening[0].get("error") if opening and isinstance(opening[0], dict) else {}
            detail = detail if isinstance(detail, dict) else {}
            raise ApiError(400, str(detail.get("message")), str(detail.get("code")), "model")
        _configure(machine, session)
        call = EmulatedCall(call_id=new_call_id(), transport="webrtc")
        try:
            # as the real service: speech cuts the caller's audio only under server VAD's interrupt_response
            interrupts = machine.interrupts_on_speech if isinstance(machine, RealtimeSession) else None
            answered = await answer_offer(sdp, translation=translation, echo=call.echo, cut_on_speech=interrupts)
        except ValueError as exc:
            raise ApiError(400, "The SDP offer could not be answered.", "invalid_offer", "sdp") from exc
        self.registry.add(call).start(machine, answered.socket)
        return Response(answered.answer_sdp, status_code=201, media_type="application/sdp",
                        headers={"Location": f"/v1/realtime/calls/{call.call_id}"})

    async def _offer(self, request: Request) -> tuple[str, dict[str, object]]:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "multipart/form-data":
            form = await request.form(max_files=2, max_fields=8, max_part_size=MAX_BODY_BYTES)
            sdp, raw_session = form.get("sdp"), form.get("session")
            sdp = sdp if isinstance(sdp, str) else (await sdp.read()).decode() if sdp is not None else None
            if raw_session is not None and not isinstance(raw_session, str):
                raw_session = (await raw_session.read()).decode()
            session = orjson.loads(raw_session) if raw_session else {}
            if not isinstance(session, dict):
                raise ApiError(400, "The 'session' part must be a JSON object.", param="session")
        else:
            sdp, session = (await request.body()).decode("utf-8", "replace"), {}
        if not sdp or not sdp.lstrip().startswith("v=0"):
            raise ApiError(400, "Missing or invalid SDP offer.", "invalid_offer", "sdp")
        return sdp, session

    # --- call control ----------------------------------------------------------------------------

    def _call(self, request: Request) -> EmulatedCall:
        _authorised(request)
        call = self.registry.get(request.path_params["call_id"])
        if call is None:
            raise ApiError(404, "Call not found.", "call_not_found", "call_id")
        return call

    async def accept(self, request: Request) -> Response:
        call = self._call(request)
        session = await _json_body(request)
        if call.status is not CallStatus.INCOMING:
            raise CallStateError("incoming", call.status)
        if session.get("type") != "realtime":
            raise ApiError(400, "Invalid value for 'type': expected 'realtime'.", "invalid_value", "type")
        model = session.get("model") if isinstance(session.get("model"), str) else DEFAULT_ACCEPT_MODEL
        machine = self.make_machine("/v1/realtime", {"model": str(model)}, self.defaults)
        if not isinstance(machine, RealtimeSession):
            raise ApiError(400, f"Invalid model: {model!r}.", "invalid_model", "model")
        _configure(machine, session)
        caller = SimulatedCaller.for_session(getattr(machine, "session", {}))
        call.start(machine, caller)
        if call.speak_ms > 0:  # the caller starts talking a moment after the answer, as people do
            asyncio.get_running_loop().call_later(CALLER_DELAY_S, caller.speak, call.speak_ms)
        return Response(status_code=200)

    async def reject(self, request: Request) -> Response:
        call = self._call(request)
        body = await _json_body(request, required=False)
        status = body.get("status_code", 603)
        if not isinstance(status, int) or not 400 <= status <= 699:
            raise ApiError(400, "Invalid value for 'status_code': expected a SIP status from 400 to 699.",
                           "invalid_value", "status_code")
        if call.status is not CallStatus.INCOMING:
            raise CallStateError("incoming", call.status)
        call.reject_status = status
        call.end("api", CallStatus.REJECTED)
        return Response(status_code=200)

    async def refer(self, request: Request) -> Response:
        call = self._call(request)
        body = await _json_body(request)
        target = body.get("target_uri")
        if not isinstance(target, str) or not target.startswith(_SIP_URI_SCHEMES) or len(target) > 2048:
            raise ApiError(400, "Invalid value for 'target_uri': expected a sip:, sips: or tel: URI.",
                           "invalid_value", "target_uri")
        if call.transport != "sip" or not call.live:
            raise CallStateError("a live SIP call", call.status)
        call.refer_target = target
        call.end("refer", CallStatus.REFERRED)
        return Response(status_code=200)

    async def hangup(self, request: Request) -> Response:
        call = self._call(request)
        if not call.live:
            raise CallStateError("active or incoming", call.status)
        call.end("api")
        return Response(status_code=200)

    # --- test-only SIP -----------------------------------------------------------------------------

    async def ring(self, request: Request) -> Response:
        """Start an incoming SIP call and post its signed webhook; body: webhook_url, webhook_secret, sip_headers…"""
        body = await _json_body(request)
        url, secret = body.get("webhook_url"), body.get("webhook_secret")
        if not isinstance(url, str) or not isinstance(secret, str):
            raise ApiError(400, "webhook_url and webhook_secret are required.")
        headers = body.get("sip_headers", [])
        if not isinstance(headers, list) or not all(isinstance(h, dict) for h in headers):
            raise ApiError(400, "sip_headers must be a list of {name, value}.")
        call = self.registry.add(EmulatedCall(call_id=new_call_id(), transport="sip", status=CallStatus.INCOMING,
                                              sip_headers=[{"name": str(h.get("name")), "value": str(h.get("value"))} for h in headers]))
        call.speak_ms = as_int(body.get("speak_ms"), 1200)
        webhook_id = str(body.get("webhook_id") or f"wh_{secrets.token_hex(12)}")
        security = body.get("sip_media_security")
        event = incoming_event(f"evt_{secrets.token_hex(12)}", call.call_id, call.sip_headers,
                               security if isinstance(security, str) else None, time.time())
        timestamp = body.get("timestamp")
        statuses = await deliver(url, secret, webhook_id, event, attempts=as_int(body.get("deliveries"), 1),
                                 timestamp=float(timestamp) if isinstance(timestamp, (int, float)) else None)
        asyncio.get_running_loop().call_later(RING_TIMEOUT_S, self._unanswered, call)
        return JSONResponse({"call_id": call.call_id, "webhook_id": webhook_id, "delivery_statuses": statuses})

    @staticmethod
    def _unanswered(call: EmulatedCall) -> None:
        if call.status is CallStatus.INCOMING:
            call.end("not_answered")

    async def speak(self, request: Request) -> Response:
        caller = self._sip_caller(request)
        body = await _json_body(request, required=False)
        caller.speak(as_int(body.get("ms"), 1200))
        return Response(status_code=200)

    async def caller_hangup(self, request: Request) -> Response:
        self._sip_caller(request).hang_up()
        return Response(status_code=200)

    def _sip_caller(self, request: Request) -> SimulatedCaller:
        """The simulated caller of a live SIP call (404 for anything else)."""
        call = self.registry.get(request.path_params["call_id"])
        if call is None or not isinstance(call.peer, SimulatedCaller) or not call.live:
            raise ApiError(404, "No live simulated SIP call with that id.")
        return call.peer

    async def drop_sidebands(self, request: Request) -> Response:
        """Test fault: cut every sideband of the call without a close frame and refuse new ones."""
        call = self.registry.get(request.path_params["call_id"])
        if call is None:
            raise ApiError(404, "Call not found.", "call_not_found")
        call.sidebands_refused = True
        for sideband in list(call.sidebands):
            transport = getattr(sideband, "transport", None)
            if transport is not None:
                transport.abort()
        call.sidebands.clear()
        return Response(status_code=200)

    async def state(self, request: Request) -> Response:
        call = self.registry.get(request.path_params["call_id"])
        if call is None:
            raise ApiError(404, "Call not found.", "call_not_found")
        caller = call.peer if isinstance(call.peer, SimulatedCaller) else None
        return JSONResponse({
            "call_id": call.call_id, "transport": call.transport, "status": call.status.value,
            "ended_by": call.ended_by, "refer_target": call.refer_target, "reject_status": call.reject_status,
            "sidebands": len(call.sidebands), "sidebands_seen": call.sidebands_seen,
            "sideband_events": call.sideband_events,
            "heard_audio_ms": caller.heard_audio_ms if caller else None,
            "session": getattr(call.machine, "session", None),
            "created_at": call.created_at, "ended_at": call.ended_at,
        })


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except CallStateError as exc:
            return ApiError(400, str(exc), "invalid_call_state").response()
    return run


def calls_app(api: CallsApi) -> Starlette:
    base = "/v1/realtime/calls/{call_id}"
    routes = [
        Route("/v1/realtime/calls", _guarded(api.create), methods=["POST"]),
        Route("/v1/realtime/translations/calls", _guarded(api.create), methods=["POST"]),
        Route(f"{base}/accept", _guarded(api.accept), methods=["POST"]),
        Route(f"{base}/reject", _guarded(api.reject), methods=["POST"]),
        Route(f"{base}/refer", _guarded(api.refer), methods=["POST"]),
        Route(f"{base}/hangup", _guarded(api.hangup), methods=["POST"]),
        Route("/v1/_emulator/sip/calls", _guarded(api.ring), methods=["POST"]),
        Route("/v1/_emulator/sip/calls/{call_id}/speak", _guarded(api.speak), methods=["POST"]),
        Route("/v1/_emulator/sip/calls/{call_id}/caller_hangup", _guarded(api.caller_hangup), methods=["POST"]),
        Route("/v1/_emulator/calls/{call_id}", _guarded(api.state), methods=["GET"]),
        Route("/v1/_emulator/calls/{call_id}/drop_sidebands", _guarded(api.drop_sidebands), methods=["POST"]),
    ]
    return Starlette(routes=routes)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a running loop: the host process keeps its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class CallsServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def close(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await within(self.task, 5.0)


async def start_calls_server(host: str, api: CallsApi, port: int = 0) -> CallsServer:
    """Serve the calls API on ``host`` (a free port unless given); returns once it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # log_config=None: an embedded server must not reconfigure the host process's logging
    config = uvicorn.Config(calls_app(api), lifespan="off", log_config=None, access_log=False, ws="none")
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="emulator-calls-http")
    while not server.started and not task.done():
        await asyncio.sleep(0.005)
    return CallsServer(server, task, int(sock.getsockname()[1]))
