"""The HTTP request-body bound: refused unread when declared too large, at the first byte past it when chunked."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import Message

from gateway.inbound import body_limit
from gateway.inbound.body_limit import LINGER_FACTOR, BodyLimit, declared_length

LIMIT = 1024
TIMEOUT_S = 0.2


class _Thing(BaseModel):
    name: str


def _app() -> BodyLimit:
    app = FastAPI()

    @app.post("/raw")
    async def raw(request: Request) -> JSONResponse:
        return JSONResponse({"read": len(await request.body())})

    @app.post("/early")
    async def early() -> JSONResponse:
        return JSONResponse({"error": "no"}, status_code=401)

    @app.post("/model")
    async def model(thing: _Thing) -> dict[str, str]:
        return {"name": thing.name}

    return BodyLimit(app, max_bytes=LIMIT, timeout_s=TIMEOUT_S)


async def _post(
    path: str, chunks: list[bytes], *, declare: bool, stall_after: int | None = None
) -> tuple[int, dict[str, object], int, dict[bytes, bytes]]:
    """Run one request through the middleware: status, JSON body, how many chunks were pulled, headers
    (``stall_after``: the client sends nothing more after that many chunks, without ending the body)."""
    headers = [(b"content-type", b"application/json")]
    if declare:
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
             "root_path": "", "asgi": {"version": "3.0"}}
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if stall_after is not None and pulled >= stall_after:
            await asyncio.sleep(3600)
        pulled += 1
        if pulled > len(chunks):
            return {"type": "http.disconnect"}
        more = pulled < len(chunks) or stall_after is not None
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    await _app()(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], orjson.loads(body), pulled, dict(start["headers"])


async def test_a_body_within_the_bound_reaches_the_endpoint() -> None:
    """A body of exactly the bound, declared or chunked, is read by the endpoint as sent."""
    for declare in (True, False):
        status, body, _, _ = await _post("/raw", [b"a" * 512, b"b" * 512], declare=declare)
        assert (status, body) == (200, {"read": LIMIT})


async def test_a_declared_oversize_body_is_refused_without_the_endpoint_reading_it() -> None:
    """Content-Length over the bound: 413 with an OpenAI-shaped error and the connection closed; the endpoint never
    runs, and the body (within the lingering bound) is read and dropped first so the client sees the answer."""
    status, body, pulled, headers = await _post("/raw", [b"a" * (LIMIT + 1)], declare=True)
    assert status == 413 and pulled == 1
    assert body["error"] == {"type": "invalid_request_error", "code": "request_too_large",  # type: ignore[comparison-overlap]
                             "message": "The request body exceeds the gateway's size limit.", "param": None, "event_id": None}
    assert headers[b"connection"] == b"close"


async def test_a_declared_body_past_the_lingering_bound_is_refused_unread() -> None:
    """A declared length over the lingering bound is answered at once: not one chunk is pulled."""
    status, _, pulled, _ = await _post("/raw", [b"a" * (LIMIT * LINGER_FACTOR + 1)], declare=True)
    assert status == 413 and pulled == 0


async def test_a_chunked_oversize_body_is_refused_at_the_first_byte_past_the_bound() -> None:
    """Undeclared length: the endpoint is stopped by the chunk that crosses the bound; the rest is drained, not kept."""
    chunks = [b"a" * 600, b"b" * 600, b"c" * 600, b"d" * 600]
    status, body, pulled, _ = await _post("/raw", chunks, declare=False)
    assert status == 413 and pulled == 4
    assert body["error"]["code"] == "request_too_large"  # type: ignore[index]


async def test_the_lingering_read_stops_at_its_byte_bound() -> None:
    """A chunked body far past the bound is drained only up to the lingering bound before the 413 goes out."""
    chunks = [b"z" * LIMIT] * (LINGER_FACTOR * 4)
    status, _, pulled, _ = await _post("/raw", chunks, declare=False)
    assert status == 413 and pulled <= LINGER_FACTOR + 2


async def test_the_lingering_read_stops_at_its_time_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stops sending mid-body gets the 413 once the lingering time is up."""
    monkeypatch.setattr(body_limit, "LINGER_S", 0.05)
    status, _, _, _ = await _post("/raw", [b"a" * 600, b"b" * 600], declare=False, stall_after=2)
    assert status == 413


async def test_a_body_not_complete_by_the_deadline_is_answered_408() -> None:
    """A trickled body (the client stops mid-body) gets 408 ``request_timeout`` at the deadline, whatever reads it."""
    for path in ("/raw", "/model"):
        status, body, pulled, headers = await _post(path, [b'{"name": ', b'"x"}'], declare=False, stall_after=1)
        assert (status, pulled) == (408, 1)
        assert body["error"]["code"] == "request_timeout" and headers[b"connection"] == b"close"  # type: ignore[index]


async def test_an_early_answer_waits_no_longer_than_the_deadline_for_the_unread_body() -> None:
    """An endpoint's early answer to a client that stops mid-body goes out after the lingering time, unchanged."""
    status, body, _, _ = await _post("/early", [b"a" * 10], declare=False, stall_after=1)
    assert (status, body) == (401, {"error": "no"})


async def test_a_framework_parsed_body_gets_the_413_not_a_parse_error() -> None:
    """A FastAPI model body that cannot be read because it is too long is a 413, not FastAPI's generic 400."""
    payload = b'{"name": "' + b"x" * 2000 + b'"}'
    status, body, _, _ = await _post("/model", [payload[:700], payload[700:]], declare=False)
    assert status == 413 and body["error"]["code"] == "request_too_large"  # type: ignore[index]
    status, body, _, _ = await _post("/model", [b'{"name": "ok"}'], declare=False)
    assert (status, body) == (200, {"name": "ok"})


def test_the_declared_length_is_read_only_when_it_is_a_number() -> None:
    """A missing or malformed Content-Length leaves the body to be counted as it arrives."""
    assert declared_length({"headers": [(b"content-length", b"42")]}) == 42
    assert declared_length({"headers": [(b"content-length", b"-1")]}) is None
    assert declared_length({"headers": [(b"content-length", b"4x")]}) is None
    assert declared_length({"headers": []}) is None


async def test_an_early_answer_is_sent_after_the_unread_body_is_drained() -> None:
    """An endpoint that answers without reading the body keeps its answer; the body is pulled and dropped first."""
    status, body, pulled, _ = await _post("/early", [b"a" * 600, b"b" * 600, b"c" * 600], declare=False)
    assert (status, body, pulled) == (401, {"error": "no"}, 3)
