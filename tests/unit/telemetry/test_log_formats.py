"""Log formats: readable lines on a terminal, JSON lines elsewhere, the same fields either way."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from gateway.settings import Settings
from gateway.telemetry import configure_logging
from gateway.telemetry.logs import current_log_style, resolve_log_format, wants_color


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def install() -> Iterator[object]:
    """Installs the gateway handler on a given stream and removes it afterwards."""
    root = logging.getLogger()
    level, installed = root.level, []

    def run(stream: io.StringIO, log_format: str = "auto") -> logging.Handler:
        handler = configure_logging(Settings(_env_file=None, log_format=log_format), stream=stream)  # type: ignore[call-arg]
        installed.append(handler)
        return handler

    yield run
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(level)


def _session_line() -> None:
    logging.getLogger("voice_gateway.telemetry").info(
        "turn ended", extra={"session_id": "sess_1", "turn_id": "sess_1/2", "trace_id": "ab" * 16, "timings": {"ttfa_ms": 412}}
    )


def test_auto_is_json_off_a_terminal(install) -> None:  # type: ignore[no-untyped-def]
    """With ``auto`` a pipe or file gets JSON lines and a terminal gets readable text."""
    assert resolve_log_format("auto", io.StringIO()) == "json"
    assert resolve_log_format("auto", _Terminal()) == "text"
    assert resolve_log_format("json", _Terminal()) == "json"
    assert resolve_log_format("text", io.StringIO()) == "text"
    stream = io.StringIO()
    install(stream)
    _session_line()
    assert json.loads(stream.getvalue().splitlines()[-1])["msg"] == "turn ended"
    style = current_log_style()
    assert style is not None and not style.human


def test_same_fields_in_text_and_json(install) -> None:  # type: ignore[no-untyped-def]
    """Session, turn and trace ids and timings appear in both formats."""
    text, js = _Terminal(), io.StringIO()
    install(text, "text")
    _session_line()
    logging.getLogger().removeHandler(logging.getLogger().handlers[-1])
    install(js, "json")
    _session_line()
    line = json.loads(js.getvalue().splitlines()[-1])
    painted = text.getvalue().splitlines()[-1]
    human = re.sub(r"\x1b\[[0-9;]*m", "", painted)
    for key in ("session_id", "turn_id", "trace_id", "timings"):
        assert key in line
        assert f"{key}=" in human
    assert "session_id=sess_1" in human and 'timings={"ttfa_ms": 412}' in human
    assert "\x1b[" in painted  # a terminal gets colour


def test_no_colour_without_terminal_or_with_no_color(monkeypatch: pytest.MonkeyPatch, install) -> None:  # type: ignore[no-untyped-def]
    """Forced text into a file has no ANSI codes; NO_COLOR turns colour off on a terminal too."""
    stream = io.StringIO()
    install(stream, "text")
    _session_line()
    assert "\x1b[" not in stream.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(_Terminal())


def test_library_fields_never_leak_into_json(install) -> None:  # type: ignore[no-untyped-def]
    """uvicorn's colour_message (with ANSI codes) and asyncio's taskName are not in JSON lines."""
    stream = io.StringIO()
    install(stream, "json")
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s", "http://127.0.0.1:1", extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"}
    )
    logging.getLogger("uvicorn.error").info("\x1b[32mgreen\x1b[0m text")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert set(lines[0]) == {"ts", "level", "logger", "msg"}
    assert lines[0]["msg"] == "Uvicorn running on http://127.0.0.1:1"
    assert lines[1]["msg"] == "green text"
    assert "\\u001b" not in stream.getvalue() and "\x1b" not in stream.getvalue()
