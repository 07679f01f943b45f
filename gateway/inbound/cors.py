"""CORS limited to the browser-facing HTTP paths (the client-secret endpoints).

(Auth-failure limiting, which used to be a middleware here, is part of the handshake service:
``gateway.inbound.handshake``.)
"""

from __future__ import annotations

from typing import Collection

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


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
