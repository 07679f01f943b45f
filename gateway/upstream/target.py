"""Build the upstream URL and headers for a session: pure, and safe against injection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlencode, urlsplit

from gateway.core.catalog import UpstreamEndpoint
from gateway.core.kinds import SessionKind

#: client headers passed through to the upstream connection (names lower-cased)
PASSTHROUGH_HEADERS = frozenset({"openai-safety-identifier"})


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    endpoint: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 10.0

    def __repr__(self) -> str:  # never print header values (credentials)
        return f"UpstreamTarget(endpoint={self.endpoint!r}, url={self.url!r})"


def _clean(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("header value contains a control character")
    return value


def upstream_headers(
    endpoint: UpstreamEndpoint, credential: str | None, client_headers: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The credential header and the client headers passed through, checked for header injection."""
    headers: dict[str, str] = {}
    if credential:
        scheme = f"{endpoint.auth_scheme} " if endpoint.auth_scheme else ""
        headers[endpoint.auth_header] = _clean(f"{scheme}{credential}")
    for name, value in (client_headers or {}).items():
        if name in PASSTHROUGH_HEADERS:
            headers[name] = _clean(value)
    return headers


def build_target(
    endpoint: UpstreamEndpoint,
    *,
    kind: SessionKind,
    model: str,
    credential: str | None,
    client_headers: Mapping[str, str] | None = None,
    call_id: str | None = None,
) -> UpstreamTarget:
    """Upstream URL by session kind: agent ``?model=``, transcription ``?intent=transcription`` (no model), translation
    ``/translations?model=``; a call's sideband is ``/realtime?call_id=`` whatever the kind."""
    base = endpoint.url.rstrip("/")
    if urlsplit(base).scheme not in ("ws", "wss"):
        raise ValueError(f"endpoint {endpoint.name!r} must use ws:// or wss://")
    deployed = endpoint.deployments.get(model, model)
    if call_id is not None:
        path, query = "/realtime", {"call_id": call_id}
    elif kind is SessionKind.TRANSLATION:
        path, query = "/realtime/translations", {"model": deployed}
    elif kind is SessionKind.TRANSCRIPTION:
        path, query = "/realtime", {"intent": "transcription"}
    else:
        path, query = "/realtime", {"model": deployed}
    query.update(endpoint.query)
    headers = upstream_headers(endpoint, credential, client_headers)
    return UpstreamTarget(
        endpoint=endpoint.name,
        url=f"{base}{path}?{urlencode(query)}",
        headers=headers,
        connect_timeout_s=endpoint.connect_timeout_s,
    )
