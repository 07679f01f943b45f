"""Pure parts of the picows handshake: the upgrade request uvicorn replays, and the refusal response."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Mapping
from urllib.parse import parse_qsl, unquote

import orjson
from picows import WSUpgradeResponse

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


#: header names and values most upgrades carry, decoded once for every session: an open session keeps its request's
#: headers (a policy may match any of them when it re-decides) and would hold its own copy of each of these
_SHARED: Final = {
    text.encode("latin-1"): text
    for text in (
        "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
        "sec-websocket-protocol", "user-agent", "origin", "openai-beta", "x-forwarded-for", "x-forwarded-proto",
        "x-request-id", "traceparent", "tracestate", "accept-encoding", "cache-control", "pragma",
        "websocket", "Upgrade", "upgrade", "13", "permessage-deflate; client_max_window_bits", "realtime=v1",
    )
}


def _shared(raw: bytes) -> str:
    """``raw`` decoded (latin-1); one shared string for the common names and values."""
    text = _SHARED.get(raw)
    return raw.decode("latin-1") if text is None else text


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
    headers = {_shared(k): _shared(v) for k, v in raw}
    protocols = [
        token.strip() for k, v in raw if k == b"sec-websocket-protocol" for token in v.decode("latin-1").split(",")
    ]
    return UpgradeRequest(unquote(raw_path), query, headers, tuple(raw), tuple(p for p in protocols if p))


#: the header lines of an upgrade request picows reads (its validation of the upgrade, its 101 answer)
_PICOWS_READS: Final = frozenset(
    {b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version", b"transfer-encoding", b"content-length"}
)
#: picows refuses (400) a request head with more header lines than this
_PICOWS_MAX_HEADER_LINES: Final = 128


def picows_head(head: bytes) -> bytes:
    """The upgrade request head as picows is given it: the request line and the header lines picows reads.

    ``head`` ends before its blank line. picows parses every header it is given into a multidict its
    transport keeps for the connection's life: an idle session would hold the client's whole head (its
    ``Authorization`` too) and every hand-over would parse it a third time. The lines kept are the ones
    picows' own checks read, verbatim, so it accepts and refuses the same upgrades; a head over picows'
    line limit is handed whole, for picows to refuse as before. The session has already read what it
    needs of the rest (:func:`parse_upgrade`), after uvicorn's parser validated every line.
    """
    lines = head.split(b"\r\n")
    if len(lines) - 1 > _PICOWS_MAX_HEADER_LINES:
        return head + b"\r\n\r\n"
    kept = [lines[0]]
    kept += [line for line in lines[1:] if line.partition(b":")[0].strip().lower() in _PICOWS_READS]
    return b"\r\n".join(kept) + b"\r\n\r\n"


class SwitchingProtocols(WSUpgradeResponse):
    """The 101 answer to a session's upgrade, as picows' ``WSUpgradeResponse.create_101_response`` makes it.

    picows adds ``Sec-WebSocket-Accept`` to ``headers`` and writes ``to_bytes()``; its own response builds a
    case-insensitive multidict and formats it line by line, per handshake (37.6 k instructions under
    callgrind), and its transport keeps the response for the connection's life. This one holds a plain dict
    and writes the same bytes in one join (20.6 k).
    """

    __slots__ = ()

    def __init__(self, extra_headers: Mapping[str, str]) -> None:
        self.version = b"HTTP/1.1"
        self.status = HTTPStatus.SWITCHING_PROTOCOLS
        self.headers = {**extra_headers, "Connection": "upgrade", "Upgrade": "websocket"}  # type: ignore[assignment]  # picows only sets and reads items
        self.body = None

    def to_bytes(self) -> bytearray:
        lines = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        return bytearray(b"HTTP/1.1 101 Switching Protocols\r\n" + lines.encode() + b"\r\n")


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

