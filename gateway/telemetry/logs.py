"""Logs for people and for machines, with secrets redacted before anything is written.

``configure_logging(settings)`` installs one handler on the root logger. ``log_format``:

* ``json``: one JSON object per line (``ts``, ``level``, ``logger``, ``msg``, then whatever the
  caller passed in ``extra``: ``session_id``, ``turn_id``, ``trace_id``, ``span_id``, ``route``,
  ``timings``…);
* ``text``: one readable line per record (time, level, logger, message, then the same extras as
  ``key=value``), coloured when the stream is a terminal (``NO_COLOR`` turns colour off);
* ``auto`` (the default): ``text`` when the stream is a terminal, ``json`` otherwise.

Library-internal record attributes (uvicorn's ``color_message``, asyncio's ``taskName``) are
never output, and ANSI colour codes are stripped from messages. The filter redacts bearer tokens,
``sk-…``/``ek_…``/``vg_…`` keys, ``api-key`` values and every value registered with
:func:`register_secret`, in the message, the extras and tracebacks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from gateway.telemetry.config import TelemetrySettings as Settings

REDACTED = "[REDACTED]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:-]{4,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(?:sk|rk)-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bek_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bvg_[A-Za-z0-9_-]{8,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(api[-_]?key|x-api-key|authorization)(\"?\s*[:=]\s*\"?)(?!bearer\b|basic\b|\[REDACTED\])[^\s\",;]{4,}"
        ),
        r"\1\2" + REDACTED,
    ),
)
#: registered secrets shorter than this are ignored (redacting "a" would wreck every line)
MIN_SECRET_LENGTH = 6
_MARKER = "_voice_gateway_handler"
_STYLE = "_voice_gateway_style"


class SecretRedactor:
    """Pattern and exact-value redaction of text; values may be registered at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        """Treat ``value`` as a secret from now on."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                # longest first, so a secret containing another is replaced whole
                self._values = tuple(
                    sorted((*self._values, value), key=len, reverse=True)
                )

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: object) -> object:
        """Redact strings inside a log ``extra`` value (dicts, lists and tuples walked)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(item) for item in value]
        return value


REDACTOR = SecretRedactor()


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line (upstream keys, gateway keys, admin token)."""
    if value:
        REDACTOR.add(value)


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
#: attributes libraries put on records for their own formatters; never part of our output
_INTERNAL_ATTRS = frozenset({"color_message", "taskName"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The caller's extras of a record (session, turn and trace ids, timings…), in insertion order."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRS and key not in _INTERNAL_ATTRS and value is not None
    }


class RedactingFilter(logging.Filter):
    """Rewrites each record in place: secrets out of message, extras and traceback; trace ids in."""

    def __init__(self, redactor: SecretRedactor = REDACTOR) -> None:
        super().__init__()
        self._redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self._redactor.redact
        record.msg = _ANSI.sub("", redact(record.getMessage()))
        record.args = None
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key in _INTERNAL_ATTRS:
            record.__dict__.pop(key, None)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = self._redactor.redact_value(value)
        if not hasattr(record, "trace_id"):
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = trace.format_trace_id(context.trace_id)
                record.span_id = trace.format_span_id(context.span_id)
        return True


class GatewayJsonFormatter(JsonFormatter):
    """JSON lines with ``ts`` first, ``None`` fields dropped, and a last redaction pass."""

    def __init__(self, redactor: SecretRedactor = REDACTOR) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "message": "msg"},
            json_ensure_ascii=False,
            json_default=str,
            reserved_attrs=[*_STANDARD_ATTRS, *_INTERNAL_ATTRS],
        )
        self._redactor = redactor

    def add_fields(
        self,
        log_data: dict[str, object],
        record: logging.LogRecord,
        message_dict: dict[str, object],
    ) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, object]) -> dict[str, object]:
        return {key: value for key, value in log_data.items() if value is not None}

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


_LEVEL_COLORS = {
    "DEBUG": "\x1b[2m",
    "INFO": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
_DIM, _KEY, _RESET = "\x1b[2m", "\x1b[36m", "\x1b[0m"


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def resolve_log_format(setting: str, stream: IO[str]) -> str:
    """``json`` or ``text``: ``auto`` picks text for a terminal, JSON for a pipe, file or collector."""
    if setting in ("json", "text"):
        return setting
    return "text" if _is_terminal(stream) else "json"


def wants_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    return _is_terminal(stream) and not os.environ.get("NO_COLOR")


def _field_text(value: object) -> str:
    """A value as ``key=value`` shows it: plain words bare, other strings quoted, the rest as JSON."""
    if isinstance(value, str):
        plain = value and not any(c in value for c in ' "=\n')
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``12:01:02.345 INFO  logger  message  key=value …``: the JSON line's fields, for a person."""

    def __init__(self, *, color: bool = False, redactor: SecretRedactor = REDACTOR) -> None:
        super().__init__()
        self.color = color
        self._redactor = redactor

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.") + f"{int(record.msecs):03d}"
        level = self._paint(_LEVEL_COLORS.get(record.levelname, ""), f"{record.levelname:<7}")
        parts = [self._paint(_DIM, stamp), level, self._paint(_DIM, record.name), record.getMessage()]
        fields = " ".join(f"{self._paint(_KEY, key)}={_field_text(value)}" for key, value in record_fields(record).items())
        line = "  ".join(parts) + (f"  {fields}" if fields else "")
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + record.stack_info
        return self._redactor.redact(line)


@dataclass(frozen=True, slots=True)
class LogStyle:
    """How the installed handler writes: for a person (``human``, maybe ``color``) or as JSON lines."""

    human: bool
    color: bool
    stream: IO[str]


def current_log_style() -> LogStyle | None:
    """The style of the handler :func:`configure_logging` installed (``None`` when it was not called)."""
    for handler in logging.getLogger().handlers:
        style = getattr(handler, _STYLE, None)
        if isinstance(style, LogStyle):
            return style
    return None


def configure_logging(
    settings: Settings, *, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the gateway's one root handler (idempotent) and register the configured secrets."""
    for secret in _settings_secrets(settings):
        register_secret(secret)
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    setattr(handler, _MARKER, True)
    human = resolve_log_format(settings.log_format, out) == "text"
    color = human and wants_color(out)
    handler.setFormatter(HumanFormatter(color=color) if human else GatewayJsonFormatter())
    setattr(handler, _STYLE, LogStyle(human=human, color=color, stream=out))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)  # the root's level governs (an earlier uvicorn config may have set one)
        server_logger.disabled = False
    return handler


def _settings_secrets(settings: Settings) -> Iterable[str]:
    for secret in (*settings.api_keys, settings.openai_api_key, settings.admin_token):
        if secret is not None:
            yield secret.get_secret_value()
