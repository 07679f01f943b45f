"""Slow down credential guessing: after N failed authentications from one address, answer 429 for a while.

A pure ASGI middleware, so it covers WebSocket handshakes and HTTP alike without touching the
endpoints: it counts the 401s they answer, and refuses blocked addresses before they run.
Also here: CORS limited to the browser-facing HTTP paths (the client-secret endpoints).
"""

from __future__ import annotations

import time
from typing import Callable, Collection, MutableMapping

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.errors import CloseCode, RateLimited
from gateway.keys.auth_failures import FailureLimiter, LocalFailureLimiter



def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _is_auth_failure(message: Message) -> bool:
    kind = message["type"]
    if kind in ("http.response.start", "websocket.http.response.start"):
        return int(message.get("status", 0)) == 401
    return kind == "websocket.close" and message.get("code") == CloseCode.UNAUTHORIZED


class AuthFailureLimitMiddleware:
    """Answers 429 (HTTP, WebSocket handshake) to an address with too many recent 401s."""

    def __init__(self, app: ASGIApp, limiter: FailureLimiter | None = None, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.limiter = limiter
        self._local = LocalFailureLimiter()
        self.clock = clock

    def _limiter(self, scope: Scope) -> FailureLimiter:
        """The given limiter, else the one the app put on ``app.state.auth_failure_limiter`` at start-up."""
        if self.limiter is not None:
            return self.limiter
        state = getattr(scope.get("app"), "state", None)
        found: FailureLimiter | None = getattr(state, "auth_failure_limiter", None)
        return found or self._local

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address = _address(scope)
        limiter = self._limiter(scope)
        if address and await limiter.blocked(address, self.clock()):
            await _refuse(scope, receive, send)
            return
        failed = False

        async def watch(message: Message) -> None:
            nonlocal failed
            if not failed and _is_auth_failure(message):
                failed = True
                await limiter.failed(address, self.clock())
            await send(message)

        await self.app(scope, receive, watch if address else send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    error = RateLimited("Too many failed authentication attempts from this address; try again later.")
    body = orjson.dumps(error.http_body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"retry-after", b"60")]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    extensions = scope.get("extensions")
    if isinstance(extensions, MutableMapping) and "websocket.http.response" in extensions:
        await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": error.close_code, "reason": error.close_reason})


class ScopedCORS:
    """Starlette's CORS middleware, applied only under the given path prefixes (browser-facing endpoints)."""

    def __init__(self, app: ASGIApp, paths: Collection[str], allow_origins: Collection[str]) -> None:
        self.app = app
        self.paths = tuple(paths)
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(allow_origins),
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.paths):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
