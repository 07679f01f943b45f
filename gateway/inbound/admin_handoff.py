"""``POST /admin/sessions/{id}/handoff``: move a live session to another route, on whichever replica holds it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.errors import InvalidRequest, NotFound


class HandoffAnswer(Protocol):
    """What the directory found (``gateway.directory.service.HandoffAnswer``)."""

    @property
    def found(self) -> bool: ...

    @property
    def refusal(self) -> str | None: ...

    @property
    def local(self) -> bool: ...


class HandoffDirectory(Protocol):
    async def find(self, session_id: str) -> dict[str, object] | None: ...

    async def request_handoff(self, session_id: str, to: str, reason: str) -> HandoffAnswer: ...


class WithDirectory(Protocol):
    @property
    def directory(self) -> HandoffDirectory: ...


class HandoffBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=200, description="route name to move the session to (one of its route's handoff targets)")
    reason: str = Field("operator", max_length=200, description="told to the client in the gateway.handoff event")


class HandoffResult(BaseModel):
    session_id: str
    #: ``started``: the replica holding the session is switching it (the client gets ``gateway.handoff`` with
    #: the outcome); ``requested``: sent to the replica that holds it
    status: str
    to: str
    replica: str | None = None


def add_handoff_route(router: APIRouter, require_admin: Callable[[Request], Awaitable[WithDirectory]]) -> None:
    """Register the handoff endpoint on the admin router (same admin auth as the others)."""

    @router.post("/sessions/{session_id}/handoff", response_model=HandoffResult, summary="Move a live session to another route")
    async def hand_off(session_id: str, body: HandoffBody, admin: WithDirectory = Depends(require_admin)) -> HandoffResult:
        directory = admin.directory
        entry = await directory.find(session_id)
        if entry is None:
            raise NotFound(f"No live session '{session_id}'.")
        answer = await directory.request_handoff(session_id, body.to, body.reason)
        if not answer.found:
            raise NotFound(f"No live session '{session_id}'.")
        if answer.refusal is not None:
            raise InvalidRequest(f"This session cannot move to '{body.to}': {answer.refusal}.", param="to")
        replica = str(entry.get("replica")) if entry.get("replica") else None
        return HandoffResult(session_id=session_id, status="started" if answer.local else "requested", to=body.to, replica=replica)
