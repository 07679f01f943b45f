"""FastAPI's own refusals (no such path, wrong method, parameters that fail validation) in OpenAI's error shape.

Routes raise :class:`~gateway.core.errors.GatewayError` (answered by ``GatewayErrorRoute``); these handlers cover
what the framework answers before a handler runs, so every HTTP refusal has the same ``{"error": {...}}`` body.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.core.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound, UnprocessableRequest


def _answer(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error.http_body(), status_code=error.http_status, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 404:
        return _answer(NotFound(f"No endpoint at {request.method} {request.url.path[:200]}."), headers)
    if exc.status_code == 405:
        return _answer(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path[:200]}."), headers)
    error = InvalidRequest(str(exc.detail)[:300])
    return JSONResponse(error.http_body(), status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    message = str(first.get("msg", "The request is invalid."))[:300]
    return _answer(UnprocessableRequest(message, param=".".join(location) or None))


def install_http_errors(app: FastAPI) -> None:
    """Answer the framework's own 404, 405 and validation refusals with OpenAI-shaped JSON bodies."""
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
