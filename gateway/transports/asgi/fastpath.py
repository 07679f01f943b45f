"""The realtime WebSocket paths, dispatched before any middleware.

Starlette's exception middleware and the app's HTTP middlewares wrap ``send`` and ``receive``
for every message of a connection; on a session that is two closures per audio frame. The
session endpoints do their own error handling, so their connections skip the stack.
"""

from __future__ import annotations

from typing import Mapping, MutableMapping

from fastapi import FastAPI
from starlette.types import Receive, Send

from gateway.transports.asgi.endpoint import SessionEndpoint

Scope = MutableMapping[str, object]


class RealtimeFastPath:
    """ASGI entry: WebSocket sessions go straight to their endpoint; everything else to the app."""

    def __init__(self, app: FastAPI, endpoints: Mapping[str, SessionEndpoint]) -> None:
        self.app = app
        self.endpoints = dict(endpoints)

    @property
    def state(self) -> object:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.endpoints.get(str(scope["path"]))
            if endpoint is not None:
                scope["app"] = self.app
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
