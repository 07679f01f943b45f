"""A bound on every HTTP request body, applied before any endpoint reads one.

Endpoints read bodies whole (``request.body()``, ``request.form()``, FastAPI's JSON bodies), some before
authentication (an SDP offer, a webhook whose signature covers the body): without a bound one client could
make a replica buffer gigabytes. A declared ``Content-Length`` over the bound is answered 413 before the
endpoint runs; a chunked body is counted as it arrives and refused at the first byte past the bound
(:class:`BodyTooLarge` raised from ``receive``; whatever the endpoint answers then is replaced by the 413).
No byte past the bound is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.errors import BodyTooLarge


#: a refused body is still read (and dropped) up to this many times the bound before the 413 goes out
LINGER_FACTOR: Final = 8
#: and for at most this long
LINGER_S: Final = 2.0


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes``; WebSocket and lifespan scopes pass."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= self.max_bytes * LINGER_FACTOR:
                await _discard(receive, declared)
            await _refuse(scope, receive, send)
            return
        bounded = _BoundedExchange(scope, receive, send, self.max_bytes)
        try:
            await self.app(scope, bounded.receive, bounded.send)
        except BodyTooLarge:
            if bounded.refused:  # the endpoint's own answer was already replaced by the 413
                return
            if bounded.started:
                raise
            await bounded.refuse()


async def _discard(receive: Receive, max_bytes: int) -> None:
    """Read and drop up to ``max_bytes`` more of the body, for at most :data:`LINGER_S` (a lingering close, as
    nginx's): a client still sending when the socket closes gets a reset that can destroy the 413 before it
    reads it. Nothing is kept, so memory stays flat; past either bound the 413 goes out regardless."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while max_bytes >= 0:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                max_bytes -= len(message.get("body", b""))


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """413 with an OpenAI-shaped body; the connection closes after it (the rest of the body is never read)."""
    error = BodyTooLarge()
    response = JSONResponse(error.http_body(), status_code=error.http_status, headers={"connection": "close"})
    await response(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` (None: absent or not a number, as with a chunked body)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class _BoundedExchange:
    """One request's ``receive`` and ``send``: past ``max_bytes`` of body, ``receive`` raises
    :class:`BodyTooLarge`, and whatever the endpoint answers instead (a framework's generic 400 for a body it
    could not read) is replaced by the 413. An endpoint that answers before reading the whole body (a refused
    credential) has the rest read and dropped first, within the lingering bounds, so the client sees its answer."""

    __slots__ = ("_scope", "_receive", "_send", "_max_bytes", "_left", "exceeded", "started", "refused", "body_done")

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        self._scope, self._receive, self._send = scope, receive, send
        self._max_bytes = max_bytes
        self._left = max_bytes
        self.exceeded = False
        self.started = False
        self.refused = False
        self.body_done = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        if message["type"] == "http.request":
            self._left -= len(message.get("body", b""))
            if self._left < 0:
                self.exceeded = True
                raise BodyTooLarge()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if self.exceeded:
                await self.refuse()
            elif not self.body_done:  # answered without reading it all (a refused credential): the rest is dropped
                await _discard(self._receive, self._left + self._max_bytes * (LINGER_FACTOR - 1))
        if not self.exceeded:
            await self._send(message)

    async def refuse(self) -> None:
        """The 413 in the endpoint's place, after a lingering read of what the client is still sending."""
        self.refused = True
        await _discard(self._receive, self._max_bytes * (LINGER_FACTOR - 1))
        await _refuse(self._scope, self._receive, self._send)
