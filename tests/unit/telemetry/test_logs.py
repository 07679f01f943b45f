"""Structured logs: JSON lines, one per session start/end and turn, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from gateway.core.kinds import SessionKind
from gateway.settings import Settings
from gateway.telemetry import configure_logging, register_secret
from gateway.telemetry.logs import REDACTED, SecretRedactor
from tests.unit.telemetry.conftest import Traced
from tests.unit.telemetry.scripts import (
    CLIENT_TRACE_ID,
    T0,
    TRANSCRIPT_TEXT,
    VOICE_AGENT_END,
    drive,
    session_info,
    voice_agent_script,
)

UPSTREAM_KEY = "sk-proj-UpstreamSecretValue1234567890"
GATEWAY_KEY = "vg_live_GatewayKeySecret98765"
ADMIN_TOKEN = "admin-token-plain-value-xyz"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The gateway's root handler writing to a buffer; removed afterwards."""
    stream = io.StringIO()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key=SecretStr(UPSTREAM_KEY),
        api_keys=[SecretStr(GATEWAY_KEY)],
        admin_token=SecretStr(ADMIN_TOKEN),
    )
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(settings, stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_session_and_turn_lines(traced: Traced, log_stream: io.StringIO) -> None:
    """A session logs one start, one line per turn and one end, each a JSON object with ids and timings."""
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.REALTIME, "sess_log", "gpt-realtime-2"),
        T0,
        voice_agent_script(),
        VOICE_AGENT_END,
    )
    lines = [
        line for line in _lines(log_stream) if line.get("session_id") == "sess_log"
    ]
    assert [line["msg"] for line in lines] == ["session started"] + [
        "turn ended"
    ] * 4 + ["session ended"]
    for line in lines:
        assert {
            "ts",
            "level",
            "logger",
            "msg",
            "session_id",
            "trace_id",
            "span_id",
            "route",
        } <= set(line)
        assert line["trace_id"] == CLIENT_TRACE_ID
        assert line["level"] == "INFO" and line["route"] == "rule-realtime"
    first_turn = lines[1]
    assert first_turn["turn_id"] == 1
    assert first_turn["timings"] == {
        "duration_ms": 2000,
        "time_to_first_audio_ms": 400,
        "time_to_first_transcript_ms": 300,
    }
    assert first_turn["cost_micros"] == 26240
    assert lines[-1]["timings"] == {"duration_ms": 8000}
    assert TRANSCRIPT_TEXT not in log_stream.getvalue()


async def test_no_session_lines_when_info_is_off(traced: Traced, log_stream: io.StringIO) -> None:
    """With the gateway's level above INFO a session writes no start, turn or end line (nothing is gathered for them)."""
    logging.getLogger().setLevel(logging.WARNING)
    await drive(
        traced.telemetry.observer_factory,
        session_info(SessionKind.REALTIME, "sess_quiet", "gpt-realtime-2"),
        T0,
        voice_agent_script(),
        VOICE_AGENT_END,
    )
    assert [line for line in _lines(log_stream) if line.get("session_id") == "sess_quiet"] == []


def test_configured_secrets_and_patterns_are_redacted(log_stream: io.StringIO) -> None:
    """Keys from settings, bearer tokens, sk-/ek_/vg_ keys and registered values never reach a line."""
    register_secret("tenant-private-value-777")
    log = logging.getLogger("gateway.test")
    log.warning(
        "upstream said %s with key %s",
        "Authorization: Bearer abc.def.ghi-token",
        UPSTREAM_KEY,
    )
    log.warning("client key %s admin %s", GATEWAY_KEY, ADMIN_TOKEN)
    log.warning(
        "ephemeral ek_68af0a9b1c2d3e4f5 and sk-other0123456789abcdef and api-key=azurekey123456"
    )
    log.warning(
        "extra field",
        extra={
            "headers": {"authorization": "Bearer zzzzyyyyxxxx"},
            "note": "tenant-private-value-777",
        },
    )
    try:
        raise RuntimeError(f"connect failed with {UPSTREAM_KEY}")
    except RuntimeError:
        log.exception("boom")
    text = log_stream.getvalue()
    for secret in (
        UPSTREAM_KEY,
        GATEWAY_KEY,
        ADMIN_TOKEN,
        "abc.def.ghi-token",
        "ek_68af0a9b1c2d3e4f5",
        "sk-other0123456789abcdef",
        "azurekey123456",
        "zzzzyyyyxxxx",
        "tenant-private-value-777",
    ):
        assert secret not in text
    lines = _lines(log_stream)
    assert len(lines) == 5
    assert (
        lines[0]["msg"]
        == f"upstream said Authorization: Bearer {REDACTED} with key {REDACTED}"
    )
    assert lines[3]["headers"] == {"authorization": f"Bearer {REDACTED}"}
    assert "RuntimeError" in str(lines[4]["exc_info"]) and REDACTED in str(
        lines[4]["exc_info"]
    )


def test_redactor_keeps_ordinary_text() -> None:
    """Ordinary text, ids and short values pass through untouched."""
    redactor = SecretRedactor()
    redactor.add("abc")  # too short to be treated as a secret
    text = "session sess_123 turn 4 used key_id key_42 at task-breakdown; abc"
    assert redactor.redact(text) == text


def test_text_format_is_also_redacted() -> None:
    """log_format=text still goes through the redaction filter."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        Settings(_env_file=None, log_format="text"), stream=stream
    )  # type: ignore[call-arg]
    try:
        logging.getLogger("gateway.test").warning("token Bearer sekrit-token-value")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert "sekrit-token-value" not in stream.getvalue()
    assert f"Bearer {REDACTED}" in stream.getvalue()
