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


class Targets:
    """:func:`build_target` for a pool, reusing the target last built for an endpoint, session kind and model when no
    call id and no passed-through client header make it differ (the URL's parse, query encoding and credential header
    are then made once, not on every connect). A target is immutable; one is reused only while its endpoint is the
    very object it was built from (a reloaded catalog's endpoints are new objects) and the credential is the same."""

    #: distinct (endpoint, kind, model) kept at most; the lot is dropped when full (the models come from the policy)
    MAX_KEPT = 256

    def __init__(self) -> None:
        self._built: dict[tuple[str, SessionKind, str], tuple[UpstreamEndpoint, str | None, UpstreamTarget]] = {}

    def target(
        self,
        endpoint: UpstreamEndpoint,
        *,
        kind: SessionKind,
        model: str,
        credential: str | None,
        client_headers: Mapping[str, str] | None = None,
        call_id: str | None = None,
    ) -> UpstreamTarget:
        if call_id is not None or (client_headers and any(name in client_headers for name in PASSTHROUGH_HEADERS)):
            return build_target(
                endpoint, kind=kind, model=model, credential=credential, client_headers=client_headers, call_id=call_id
            )
        key = (endpoint.name, kind, model)
        kept = self._built.get(key)
        if kept is not None and kept[0] is endpoint and kept[1] == credential:
            return kept[2]
        target = build_target(endpoint, kind=kind, model=model, credential=credential)
        if len(self._built) >= self.MAX_KEPT:
            self._built.clear()
        self._built[key] = (endpoint, credential, target)
        return target
