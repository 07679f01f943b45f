"""A session's handoff targets are checked like a handshake's route before any upstream is opened."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import cast

import pytest

from gateway.core.api_keys import KeyRecord
from gateway.core.errors import NotServedByKind, UnknownModel
from gateway.core.kinds import EndpointKind, SessionKind
from gateway.core.routing import Route, SessionRequest
from gateway.inbound.handoff import SessionTargets
from gateway.inbound.services import InboundServices
from gateway.inbound.setup import SessionSetup
from tests.support.services import Unused
from tests.unit.core.test_kind_handoff import _agent


def _spec(retired: bool) -> SimpleNamespace:
    return SimpleNamespace(retired=lambda today: retired, successor="gpt-realtime-2", shutdown=date(2026, 1, 1), pricing=None)


def _targets(route: Route, *, retired: bool) -> SessionTargets:
    """The targets of a set-up's session (as ``SessionSetup._targets`` makes them); opening an upstream fails the test."""
    svc = SimpleNamespace(
        router=SimpleNamespace(route_named=lambda name: route if name == route.name else None),
        catalog=SimpleNamespace(resolve=lambda model: _spec(retired), fallback_pricing=None),
        upstreams=Unused("upstreams"), admission=Unused("admission"),
    )
    setup = SimpleNamespace(svc=cast(InboundServices, svc), session_id="sess_1")
    key = KeyRecord(key_id="k1", tenant="t1")
    request = SessionRequest(endpoint=EndpointKind.REALTIME, path="/v1/realtime")
    return SessionSetup._targets(cast(SessionSetup, setup), key, request, _agent())


async def test_a_retired_target_model_is_refused_before_an_upstream_is_opened() -> None:
    """A target whose model was shut down is refused as a handshake's would be, with no upstream opened."""
    route = Route(kind=SessionKind.REALTIME, model="gpt-old", upstreams=("a",), name="old")
    with pytest.raises(UnknownModel, match="was shut down"):
        await _targets(route, retired=True).open("old")


async def test_a_target_of_a_kind_the_session_cannot_be_served_by_is_refused_before_an_upstream_is_opened() -> None:
    """A transcription target for a voice-agent session is refused (no bridge serves it), with no upstream opened."""
    route = Route(kind=SessionKind.TRANSCRIPTION, model="gpt-transcribe", upstreams=("a",), name="notes")
    with pytest.raises(NotServedByKind):
        await _targets(route, retired=False).open("notes")
