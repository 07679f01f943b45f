"""The WebSocket shell around the pure session machines (websockets 15, asyncio API).

HTTP-level behaviour: ``/v1/realtime`` and ``/v1/realtime/translations`` only (else 404 JSON),
an ``Authorization: Bearer …``/``api-key`` header or ``openai-insecure-api-key.…`` subprotocol is
required (else 401 JSON), knobs are parsed from ``emu_*``/``X-Emulator-*`` (bad ones → 400 JSON),
and the ``refuse``/``refuse429``/``slow_accept`` faults act before the upgrade. Session-level faults
(``drop``, ``drop1011``, ``malformed``, ``stall``) are applied by ``Outbox`` as frames go out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from gateway.emulator.audio import PCM, voice
from gateway.emulator.calls.http import CallsApi, CallsServer, start_calls_server
from gateway.emulator.calls.registry import CallRegistry, serve_sideband
from gateway.emulator.errors import CLOSE_INVALID_SESSION, error_event
from gateway.emulator.ids import IdFactory
from gateway.emulator.machine import CloseRequest, Outgoing, SessionMachine
from gateway.emulator.models import realtime_model_ok, reported_name, translation_model_ok
from gateway.emulator.realtime import RealtimeSession
from gateway.emulator.script import Script, ScriptError, knobs_from_request
from gateway.emulator.stats import SessionRecord
from gateway.emulator.translation import TranslationSession
from gateway.emulator.types import Json

log = logging.getLogger(__name__)

BASE_PATH: Final = "/v1"
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
_PATHS: Final = (f"{BASE_PATH}/realtime", f"{BASE_PATH}/realtime/translations")
_MALFORMED: Final = '{"type": "response.output_audio.delta", "delta": "AAAA'
#: a large audio delta that only a lenient parser reads (``NaN`` is not JSON): 100 ms of silence
_NAN_DELTA: Final = ('{"type":"response.output_audio.delta","event_id":"event_nan","response_id":"resp_nan",'
                     '"item_id":"item_nan","output_index":0,"content_index":0,"delta":"' + "A" * 6400 + '","gain":NaN}')


@dataclass(slots=True)
class RejectedSession:
    """A session refused after the upgrade (bad model): one ``error``, then close 4000."""

    code: str
    message: str
    record: SessionRecord
    close: CloseRequest | None = None

    def start(self, now: float) -> list[Outgoing]:
        """Send the error and ask for the close."""
        self.close = CloseRequest(CLOSE_INVALID_SESSION, self.code)
        self.record.errors.append(self.code)
        return [error_event(IdFactory(), self.code, self.message, param="model")]

    def receive(self, frame: str | bytes, now: float) -> list[Outgoing]:
        """Nothing more is processed."""
        return []

    def poll(self, now: float) -> list[Outgoing]:
        """Nothing is ever due."""
        return []

    def next_deadline(self) -> float | None:
        """No timers."""
        return None


def make_machine(path: str, query: dict[str, str], script: Script) -> SessionMachine:
    """Pick the session kind from the path and query, as OpenAI does."""
    model = query.get("model")
    if path.endswith("/translations"):
        if not model or not translation_model_ok(model):
            return _rejected("translation", model, "invalid_model" if model else "missing_model",
                             f"Invalid model for translation sessions: {model!r}." if model
                             else "Missing required parameter: 'model'.")
        return TranslationSession(model, reported_name(model, script.snapshot), script)
    if model:
        if not realtime_model_ok(model):
            return _rejected("realtime", model, "invalid_model", f"Invalid model: {model!r} is not a "
                             "Realtime conversation model.")
        return RealtimeSession("realtime", model, reported_name(model, script.snapshot), script)
    if query.get("intent") == "transcription":
        return RealtimeSession("transcription", None, None, script)
    return _rejected("realtime", None, "missing_model", "Missing required parameter: 'model' "
                     "(or connect with ?intent=transcription).")


def _rejected(kind: str, model: str | None, code: str, message: str) -> RejectedSession:
    """A ``RejectedSession`` with its own record."""
    return RejectedSession(code, message, SessionRecord(kind=kind, model=model))


class Outbox:
    """Serialises events to the socket, counting frames and injecting scripted faults."""

    def __init__(self, ws: ServerConnection, script: Script, record: SessionRecord) -> None:
        """Bind to one connection."""
        self.ws, self.script, self.record = ws, script, record
        self.stalled = False
        self.dropped = False
        self._malformed_sent = False

    async def send(self, events: Sequence[Outgoing]) -> None:
        """Send events in order, applying the fault once ``fault_after`` frames went out."""
        for event in events:
            if self.stalled or self.dropped:
                return
            if self.record.frames_out >= self.script.fault_after and await self._fault():
                return
            await self.ws.send(event if isinstance(event, str) else orjson.dumps(event).decode())
            self.record.frames_out += 1

    async def _fault(self) -> bool:
        """Apply the scripted fault; ``True`` when nothing more may be sent."""
        fault = self.script.fault
        if fault in ("malformed", "nan") and not self._malformed_sent:
            self._malformed_sent = True
            await self.ws.send(_MALFORMED if fault == "malformed" else _NAN_DELTA)
        elif fault == "stall":
            self.stalled = True
        elif fault == "drop":
            self.dropped = True
            self.ws.transport.abort()
        elif fault == "drop1011":
            self.dropped = True
            await self.ws.close(1011, "emulated upstream failure")
        return self.stalled or self.dropped


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens, what it saw, and how to stop it."""

    server: Server
    host: str
    port: int
    defaults: Script
    sessions: list[SessionRecord] = field(default_factory=list)
    calls: CallRegistry = field(default_factory=CallRegistry)
    calls_server: CallsServer | None = None

    @property
    def url(self) -> str:
        """WebSocket base URL, e.g. ``ws://127.0.0.1:PORT/v1`` (the SDK appends ``/realtime``)."""
        return f"ws://{self.host}:{self.port}{BASE_PATH}"

    @property
    def calls_url(self) -> str:
        """HTTP base URL of the calls API, e.g. ``http://127.0.0.1:PORT/v1`` (``/realtime/calls`` appended)."""
        port = self.calls_server.port if self.calls_server is not None else self.port
        return f"http://{self.host}:{port}{BASE_PATH}"

    async def close(self) -> None:
        """Stop listening and close every open session and call."""
        await self.calls.close()
        if self.calls_server is not None:
            await self.calls_server.close()
        self.server.close()
        await self.server.wait_closed()


class _App:
    """Connection handling bound to server-wide defaults and the handle's session list."""

    def __init__(self, defaults: Script, sessions: list[SessionRecord], calls: CallRegistry) -> None:
        """Keep the defaults, where to record sessions, and the calls a sideband may attach to."""
        self.defaults, self.sessions, self.calls = defaults, sessions, calls

    def _script(self, request: Request) -> tuple[str, dict[str, str], Script]:
        """Path, query and the per-connection script of a request."""
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query))
        headers = {k: v for k, v in request.headers.raw_items()}
        return parts.path.rstrip("/"), query, self.defaults.with_overrides(knobs_from_request(query, headers))

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """HTTP checks before the upgrade: path, auth, knobs, pre-upgrade faults."""
        try:
            path, query, script = self._script(request)
        except ScriptError as exc:
            return _json_response(connection, HTTPStatus.BAD_REQUEST, str(exc), "invalid_request_error", None)
        if path not in _PATHS:
            return _json_response(connection, HTTPStatus.NOT_FOUND, f"Invalid URL (GET {path}).",
                                  "invalid_request_error", None)
        if not _authorised(request.headers):
            return _json_response(connection, HTTPStatus.UNAUTHORIZED,
                                  "You didn't provide an API key. You need to provide your API key in an "
                                  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                  "invalid_request_error", None)
        if "call_id" in query and not self.calls.attachable(query["call_id"]):
            return _json_response(connection, HTTPStatus.NOT_FOUND, "No active call with that call_id.",
                                  "invalid_request_error", "call_not_found")
        if script.fault == "refuse":
            return _json_response(connection, HTTPStatus.SERVICE_UNAVAILABLE, "The server is overloaded or "
                                  "not ready yet (emulated).", "server_error", "service_unavailable")
        if script.fault == "refuse429":
            response = _json_response(connection, HTTPStatus.TOO_MANY_REQUESTS, "Rate limit reached for "
                                      "requests (emulated).", "requests", "rate_limit_exceeded")
            response.headers["Retry-After"] = "1"
            return response
        if script.fault == "slow_accept":
            await asyncio.sleep(script.delay_ms / 1000)
        return None

    async def handle(self, ws: ServerConnection) -> None:
        """Run one session: start, then alternate between client frames and due timers."""
        assert ws.request is not None
        path, query, script = self._script(ws.request)
        call = self.calls.get(query["call_id"]) if "call_id" in query else None
        if call is not None:  # the sideband of a call: no session of its own
            await serve_sideband(ws, call)
            return
        machine = make_machine(path, query, script)
        self.sessions.append(machine.record)
        outbox = Outbox(ws, script, machine.record)
        try:
            await outbox.send(machine.start(time.monotonic()))
            await self._loop(ws, machine, outbox)
        except ConnectionClosed:
            pass
        finally:
            machine.record.closed = True
            machine.record.close_code = ws.close_code

    async def _loop(self, ws: ServerConnection, machine: SessionMachine, outbox: Outbox) -> None:
        """Feed frames and time into the machine until either side closes."""
        while not outbox.dropped:
            if machine.close is not None and not outbox.stalled:
                await ws.close(machine.close.code, machine.close.reason)
                return
            deadline = machine.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                async with asyncio.timeout(timeout):
                    frame = await ws.recv()
            except TimeoutError:
                await outbox.send(machine.poll(time.monotonic()))
                continue
            await outbox.send(machine.receive(frame, time.monotonic()))


def _authorised(headers: Headers) -> bool:
    """Any non-empty bearer token, ``api-key``, or browser subprotocol key is accepted."""
    bearer = headers.get("Authorization", "")
    if bearer.lower().startswith("bearer ") and bearer[7:].strip():
        return True
    if headers.get("api-key", "").strip():
        return True
    protocols = ",".join(headers.get_all("Sec-WebSocket-Protocol"))
    return any(p.strip().startswith("openai-insecure-api-key.") and len(p.strip()) > 24
               for p in protocols.split(","))


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """Answer browser clients' ``realtime`` subprotocol; others get none."""
    return Subprotocol("realtime") if "realtime" in offered else None


def _json_response(connection: ServerConnection, status: HTTPStatus, message: str, kind: str,
                   code: str | None) -> Response:
    """An OpenAI-shaped JSON error body for a refused upgrade."""
    body: dict[str, Json] = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    response = connection.respond(status, "")
    response.body = orjson.dumps(body)
    response.headers["Content-Type"] = "application/json"
    del response.headers["Content-Length"]
    response.headers["Content-Length"] = str(len(response.body))
    return response


async def start_emulator(host: str = "127.0.0.1", port: int = 0, *, max_size: int = MAX_FRAME_BYTES,
                         calls_port: int = 0, script: Script | None = None,
                         **script_defaults: int | bool | str) -> EmulatorHandle:
    """Start the emulator in this event loop; ``script`` or ``script_defaults`` (``Script`` field names) set its knobs."""
    defaults = (script or Script()).with_values(script_defaults)
    voice(PCM, 0, 1)  # render the synthetic voice now, not during the first timed response
    sessions: list[SessionRecord] = []
    calls = CallRegistry()
    app = _App(defaults, sessions, calls)
    server = await serve(app.handle, host, port, process_request=app.process_request,
                         select_subprotocol=_select_subprotocol, max_size=max_size, compression=None)
    bound = next(iter(server.sockets)).getsockname()
    calls_server = await start_calls_server(host, CallsApi(calls, make_machine, defaults), calls_port)
    return EmulatorHandle(server, host, int(bound[1]), defaults, sessions, calls, calls_server)


async def serve_emulator(host: str, port: int, **script_defaults: int | bool | str) -> EmulatorHandle:
    """Alias of ``start_emulator`` for callers that think of it as a server."""
    return await start_emulator(host, port, script=Script().with_values(script_defaults))


def main_emulator(host: str, port: int, *, calls_port: int | None = None, knobs: dict[str, str] | None = None) -> None:
    """Blocking entry point for ``voice-gateway emulator --port N`` (calls API on ``--calls-port``, default N+1)."""
    script = Script().with_overrides(knobs or {})
    main = _serve_forever(host, port, port + 1 if calls_port is None and port else calls_port or 0, script)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve_forever(host: str, port: int, calls_port: int, script: Script) -> None:
    """Run until cancelled (Ctrl-C)."""
    handle = await start_emulator(host, port, calls_port=calls_port, script=script)
    log.info("voice-gateway emulator listening on %s (calls API on %s)", handle.url, handle.calls_url)
    print(f"emulator listening on {handle.url} (calls API on {handle.calls_url})", flush=True)
    try:
        await asyncio.Future()
    finally:
        await handle.close()


def run(host: str, port: int) -> None:
    """Same as ``main_emulator``."""
    main_emulator(host, port)
