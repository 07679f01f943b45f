"""Telemetry fixtures: a Telemetry with an in-memory span exporter and no OTEL_* leaking in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.settings import Settings
from gateway.telemetry import Telemetry, setup_telemetry
from tests.unit.telemetry.scripts import CATALOG


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No exporter configured unless a test asks for one."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@dataclass
class Traced:
    telemetry: Telemetry
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def by_name(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.by_name(name)
        assert len(found) == 1, (
            f"expected one {name!r} span, got {[s.name for s in self.spans()]}"
        )
        return found[0]


def make_traced(**settings: object) -> Traced:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        Settings(_env_file=None, **settings),  # type: ignore[arg-type]
        catalog=CATALOG,
        span_processors=[SimpleSpanProcessor(exporter)],
    )
    return Traced(telemetry, exporter)


@pytest.fixture
def traced() -> Iterator[Traced]:
    result = make_traced()
    yield result
    result.telemetry.shutdown()
