"""The one services object: frozen once built, and a clear error when read before the lifespan built it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from gateway.inbound.gateway_services import services_of
from tests.support.services import gateway_services


def test_services_are_read_from_the_app_state() -> None:
    """services_of returns the object the composition root put on app.state.services."""
    services = gateway_services()
    assert services_of(SimpleNamespace(state=SimpleNamespace(services=services))) is services


def test_services_before_the_lifespan_are_an_error() -> None:
    """An app whose lifespan has not run has no services: a RuntimeError says so."""
    with pytest.raises(RuntimeError, match="not built"):
        services_of(SimpleNamespace(state=SimpleNamespace()))


def test_the_services_object_cannot_be_changed_after_it_is_built() -> None:
    """Frozen: nothing sets attributes on it after the composition root built it."""
    services = gateway_services()
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.demo = None  # type: ignore[misc]
