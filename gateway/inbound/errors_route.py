"""A FastAPI route class that answers any ``GatewayError`` (raised in a handler or a dependency) in OpenAI's shape."""

from __future__ import annotations

from typing import Any, Callable, Coroutine

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gateway.core.errors import GatewayError


class GatewayErrorRoute(APIRoute):
    """``{"error": {type, code, message, param}}`` with the error's HTTP status, instead of a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:
                return JSONResponse(exc.http_body(), status_code=exc.http_status)

        return answer
