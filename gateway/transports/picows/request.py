"""Pure parts of the picows handshake: the upgrade request uvicorn replays, and the refusal response."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Mapping
from urllib.parse import parse_qsl, unquote

import orjson

from gateway.core.errors import GatewayError
from gateway.core.kinds import EndpointKind
from gateway.inbound.setup import Handshake


@dataclass(frozen=True, slots=True)
class UpgradeRequest:
    """The request line and headers of a WebSocket upgrade (names lower-cased, values latin-1)."""

    path: str
    query_string: str
    headers: Mapping[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    subprotocols: tuple[str, ...]


def parse_upgrade(head: bytes) -> UpgradeRequest:
    """Parse the request head uvicorn replays (``GET <target> HTTP/1.1`` + ``name: value`` lines)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise ValueError("malformed request line")
    target = parts[1].decode("latin-1")
    raw_path, _, query = target.partition("?")
    raw: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("malformed header line")
        raw.append((name.strip().lower(), value.strip()))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
    protocols = [
        token.strip() for k, v in raw if k == b"sec-websocket-protocol" for token in v.decode("latin-1").split(",")
    ]
    return UpgradeRequest(unquote(raw_path), query, headers, tuple(raw), tuple(p for p in protocols if p))


def handshake_of(request: UpgradeRequest, endpoint: EndpointKind, client_address: str) -> Handshake:
    """The transport-independent handshake, as the ASGI endpoint builds it from a scope."""
    return Handshake(
        endpoint=endpoint,
        path=request.path,
        headers=request.headers,
        query=dict(parse_qsl(request.query_string, keep_blank_values=True)),
        subprotocols=request.subprotocols,
        client_address=client_address,
    )


def refusal_response(error: GatewayError) -> bytes:
    """An HTTP refusal with the OpenAI-shaped JSON body; the connection closes after it."""
    body = orjson.dumps(error.http_body())
    status = error.http_status
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body

