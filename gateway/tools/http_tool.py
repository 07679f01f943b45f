"""Run an HTTP tool: one request to its configured URL (never a URL from the model), bounded answer."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx2

from gateway.core.gateway_tools import HttpToolSpec
from gateway.tools.errors import ToolFailed
from gateway.tools.headers import redact, resolve_headers, secret_values


def _query(arguments: Mapping[str, object]) -> dict[str, str]:
    """GET arguments as query parameters (scalars as text, anything else as JSON)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()}


async def call_http_tool(
    client: httpx2.AsyncClient, spec: HttpToolSpec, arguments: Mapping[str, object], max_bytes: int
) -> str:
    """The response body as text; a non-2xx status, a transport error or an over-long body raise ``ToolFailed``."""
    headers = resolve_headers(spec.headers)
    request = client.build_request(
        spec.method,
        spec.url,
        headers=headers,
        params=_query(arguments) if spec.method == "GET" else None,
        json=None if spec.method == "GET" else dict(arguments),
        timeout=spec.limits.timeout_s,
    )
    try:
        response = await client.send(request, stream=True)
    except httpx2.TimeoutException:
        raise ToolFailed("timed out", "timeout") from None
    except httpx2.HTTPError as exc:
        raise ToolFailed(f"unreachable ({type(exc).__name__})") from None
    try:
        if response.status_code >= 300:  # redirects are not followed: only the configured URL is called
            raise ToolFailed(f"HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ToolFailed("answer too large", "too_large")
    except httpx2.TimeoutException:
        raise ToolFailed("timed out", "timeout") from None
    except httpx2.HTTPError as exc:
        raise ToolFailed(f"broken answer ({type(exc).__name__})") from None
    finally:
        await response.aclose()
    return redact(body.decode("utf-8", errors="replace"), secret_values(spec.headers))
