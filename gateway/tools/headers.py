"""Header values for one request: secret ones read from the environment at call time, never logged."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from gateway.core.gateway_tools import HeaderSpec
from gateway.tools.errors import ToolFailed


def resolve_headers(specs: Sequence[HeaderSpec], env: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if env is None else env
    out: dict[str, str] = {}
    for spec in specs:
        if spec.env is not None:
            value = environ.get(spec.env)
            if value is None:
                raise ToolFailed(f"a secret header's environment variable is not set ({spec.env})", "error")
            out[spec.name] = value
        elif spec.value is not None:
            out[spec.name] = spec.value
    return out


def secret_values(specs: Sequence[HeaderSpec], env: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret headers (to scrub them from anything a tool answers)."""
    environ = os.environ if env is None else env
    return [value for spec in specs if spec.env is not None and (value := environ.get(spec.env))]


def redact(text: str, secrets: Sequence[str]) -> str:
    """A tool that echoes its credentials back never hands them to the model."""
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text
