"""Plain HTTP endpoints: liveness and readiness."""

from __future__ import annotations

from typing import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()

ReadinessCheck = Callable[[], tuple[bool, dict[str, object]]]


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: config loaded, store and upstreams usable, not draining")
async def readyz(request: Request) -> JSONResponse:
    check: ReadinessCheck = request.app.state.services.readiness
    ready, details = check()
    return JSONResponse({"ready": ready, **details}, status_code=200 if ready else 503)
