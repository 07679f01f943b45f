"""Bounds on every HTTP request body, in size and in time, applied before any endpoint reads one.

Endpoints read bodies whole (``request.body()``, ``request.form()``, FastAPI's JSON bodies), some before
authentication (an SDP offer, a webhook whose signature covers the body): without a bound one client could
make a replica buffer gigabytes, or hold connections open for ever by trickling a body a byte at a time (the
header deadline ends when the head is complete). A declared ``Content-Length`` over the size bound is answered
413 before the endpoint runs; a chunked body is counted as it arrives and refused at the first byte past the
bound; a body not complete by the deadline is answered 408. The refusal is raised from ``receive``, and
whatever the endpoint answers then is replaced by it. No byte past the bound is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.errors import BodyTimeout, BodyTooLarge

#: a refused body is still read (and dropped) up to this many times the bound before the answer goes out
LINGER_FACTOR: Final = 8
#: and for at most this long
LINGER_S: Final = 2.0

BodyRefusal = BodyTooLarge | BodyTimeout


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes``, complete within ``timeout_s`` of the
    request reaching the app; WebSocket and lifespan scopes pass untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        exchange = _BoundedExchange(scope, receive, send, self.max_bytes, deadline)
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:  # read on only if the whole body is within reach
            await exchange.refuse(BodyTooLarge(), linger=declared <= self.max_bytes * LINGER_FACTOR)
            return
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except (BodyTooLarge, BodyTimeout) as refusal:
            if exchange.refused:  # the endpoint's own answer was already replaced
                return
            if exchange.started:
                raise
            await exchange.refuse(refusal)


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` (None: absent or not a number, as with a chunked body)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class _BoundedExchange:
    """One request's ``receive`` and ``send``. Past ``max_bytes`` of body, or past the deadline, ``receive``
    raises the refusal, and whatever the endpoint answers instead (a framework's generic 400 for a body it could
    not read) is replaced by it. An endpoint that answers before reading the whole body (a refused credential)
    has the rest read and dropped first, within the lingering bounds, so the client sees its answer."""

    __slots__ = ("_scope", "_receive", "_send", "_max_bytes", "_left", "_deadline", "refusal", "started", "refused",
                 "body_done")

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_bytes: int, deadline: float) -> None:
        self._scope, self._receive, self._send = scope, receive, send
        self._max_bytes = max_bytes
        self._left = max_bytes
        self._deadline = deadline
        self.refusal: BodyRefusal | None = None
        self.started = False
        self.refused = False
        self.body_done = False

    async def receive(self) -> Message:
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.refusal = BodyTimeout()
            raise self.refusal from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        if message["type"] == "http.request":
            self._left -= len(message.get("body", b""))
            if self._left < 0:
                self.refusal = BodyTooLarge()
                raise self.refusal
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if self.refusal is not None:
                await self.refuse(self.refusal)
            elif not self.body_done:
                await self._linger(self._left + self._max_bytes * (LINGER_FACTOR - 1))
        if self.refusal is None:
            await self._send(message)

    async def refuse(self, refusal: BodyRefusal, *, linger: bool = True) -> None:
        """The refusal in the endpoint's place (a too-large body read on and dropped first, so the client sees it);
        the connection closes after it."""
        self.refused = True
        if linger and isinstance(refusal, BodyTooLarge) and not self.body_done:
            await self._linger(self._max_bytes * (LINGER_FACTOR - 1))
        response = JSONResponse(refusal.http_body(), status_code=refusal.http_status, headers={"connection": "close"})
        await response(self._scope, self._receive, self._send)

    async def _linger(self, max_bytes: int) -> None:
        """Read and drop up to ``max_bytes`` more of the body, for at most :data:`LINGER_S` (a lingering close, as
        nginx's): a client still sending when the socket closes gets a reset that can destroy the answer before it
        reads it. Nothing is kept; past either bound the answer goes out regardless."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_S):
                while max_bytes >= 0:
                    message = await self._receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        return
                    max_bytes -= len(message.get("body", b""))
