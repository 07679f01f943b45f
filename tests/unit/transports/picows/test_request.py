"""The picows handshake's pure parts: the replayed upgrade request and the refusal response."""

import orjson
import pytest

from gateway.core.errors import AuthenticationFailed, RateLimited
from gateway.core.kinds import EndpointKind
from picows.picows import _parse_http_request, _validate_upgrade_request  # type: ignore[attr-defined]  # picows' own handshake checks

from picows import WSUpgradeResponse

from gateway.transports.picows.request import SwitchingProtocols, handshake_of, parse_upgrade, picows_head, refusal_response

HEAD = (
    b"GET /v1/realtime%2Ftranslations?model=gpt-realtime-2&x=%0d%0a HTTP/1.1\r\n"
    b"host: gw\r\nAuthorization: Bearer vg_k\r\n"
    b"sec-websocket-protocol: realtime, openai-insecure-api-key.ek_1\r\n"
    b"sec-websocket-protocol: openai-beta.realtime-v1\r\n\r\n"
)


def test_request_line_and_headers_are_parsed_as_uvicorn_scopes_them() -> None:
    """The path is percent-decoded, the query kept raw, header names lower-cased, subprotocols split."""
    request = parse_upgrade(HEAD.split(b"\r\n\r\n")[0])
    assert request.path == "/v1/realtime/translations"
    assert request.query_string == "model=gpt-realtime-2&x=%0d%0a"
    assert request.headers["authorization"] == "Bearer vg_k"
    assert request.subprotocols == ("realtime", "openai-insecure-api-key.ek_1", "openai-beta.realtime-v1")


def test_common_header_names_and_values_are_one_string_for_every_request_and_the_rest_decode_as_before() -> None:
    """Two upgrades share the strings of common names and values (an open session keeps its headers); the others
    are decoded from latin-1 as before, with the same mapping."""
    head = (b"GET /v1/realtime HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nX-Team: caf\xe9")
    first, second = parse_upgrade(head), parse_upgrade(head)
    assert first.headers == {"host": "gw", "upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13",
                             "x-team": "caf\u00e9"}
    shared = {id(k) for k in first.headers} & {id(k) for k in second.headers}
    assert shared == {id(k) for k in first.headers if k != "x-team"}
    assert first.headers["upgrade"] is second.headers["upgrade"] and first.headers["sec-websocket-version"] is second.headers["sec-websocket-version"]
    assert first.headers["x-team"] is not second.headers["x-team"]


@pytest.mark.parametrize("head", [b"GET /v1/realtime\r\nhost: x", b"GET /v1/realtime HTTP/1.1\r\nno-colon-here"])
def test_malformed_request_is_rejected(head: bytes) -> None:
    """A request line without three parts or a header without a colon is not parsed."""
    with pytest.raises(ValueError):
        parse_upgrade(head)


def test_handshake_carries_decoded_query_and_client_address() -> None:
    """The handshake has the decoded query (CR/LF included, for the router to refuse) and the address."""
    handshake = handshake_of(parse_upgrade(HEAD.split(b"\r\n\r\n")[0]), EndpointKind.TRANSLATIONS, "10.0.0.7")
    assert handshake.query == {"model": "gpt-realtime-2", "x": "\r\n"}
    assert handshake.endpoint is EndpointKind.TRANSLATIONS and handshake.client_address == "10.0.0.7"
    assert handshake.subprotocols[0] == "realtime"


def test_refusal_is_an_http_error_with_json_body_and_connection_close() -> None:
    """A refused handshake gets the error's status, an OpenAI-shaped JSON body, and Connection: close."""
    raw = refusal_response(AuthenticationFailed())
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 401 Unauthorized"
    assert b"connection: close" in lines and b"content-type: application/json" in lines
    assert f"content-length: {len(body)}".encode() in lines
    assert orjson.loads(body)["error"]["code"] == AuthenticationFailed.code
    assert refusal_response(RateLimited()).startswith(b"HTTP/1.1 429 Too Many Requests\r\n")


UPGRADE = (
    b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer vg_secret\r\n"
    b"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"sec-websocket-version: 13\r\nsec-websocket-protocol: realtime\r\nx-voice-intent: agent"
)


def _picows_verdict(head: bytes) -> bytes | str:
    """What picows' server handshake makes of a head: the accept key, or its refusal."""
    try:
        return _validate_upgrade_request(_parse_http_request(head.split(b"\r\n\r\n")[0]))
    except RuntimeError as exc:
        return f"refused: {str(exc).split(':')[0]}"


def test_picows_is_handed_only_the_lines_it_reads() -> None:
    """The request line and the upgrade headers go to picows; the credential and the rest stay out of its transport."""
    head = picows_head(UPGRADE)
    assert head.endswith(b"\r\n\r\n") and head.startswith(b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\n")
    assert b"vg_secret" not in head and b"x-voice-intent" not in head and b"host:" not in head
    assert _picows_verdict(head) == _picows_verdict(UPGRADE + b"\r\n\r\n") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    "change",
    [
        (b"upgrade: websocket", b"upgrade: h2c"),
        (b"connection: Upgrade", b"connection: keep-alive"),
        (b"sec-websocket-version: 13", b"sec-websocket-version: 12"),
        (b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==", b"sec-websocket-key: short"),
        (b"host: gw", b"host: gw\r\ntransfer-encoding: chunked"),
        (b"host: gw", b"host: gw\r\ncontent-length: 5"),
        (b"host: gw", b"host: gw\r\ncontent-length: 0\r\ncontent-length: 0"),
        (b"upgrade: websocket", b"Upgrade : websocket"),
    ],
)
def test_picows_refuses_the_same_upgrades_on_the_lines_it_is_handed(change: tuple[bytes, bytes]) -> None:
    """An upgrade picows refuses whole, it refuses (for the same reason) when handed only the lines it reads."""
    full = UPGRADE.replace(*change)
    verdict = _picows_verdict(full + b"\r\n\r\n")
    assert isinstance(verdict, str)
    assert _picows_verdict(picows_head(full)) == verdict


def test_a_head_over_picows_line_limit_is_handed_whole() -> None:
    """Past picows' header-line limit the whole head goes to picows, which refuses it as before."""
    full = UPGRADE + b"".join(b"\r\nx-h%d: v" % i for i in range(130))
    assert picows_head(full) == full + b"\r\n\r\n"
    assert isinstance(_picows_verdict(picows_head(full)), str)


def test_the_101_is_the_bytes_picows_own_response_writes() -> None:
    """The session's 101, with picows' accept header added as picows adds it, is byte for byte picows' own 101."""
    extra = {"x-voice-gateway-session-id": "vgs_1", "Sec-WebSocket-Protocol": "realtime"}
    ours, theirs = SwitchingProtocols(extra), WSUpgradeResponse.create_101_response(extra_headers=extra)
    for response in (ours, theirs):
        response.headers["Sec-WebSocket-Accept"] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert ours.status == theirs.status == 101
    assert ours.to_bytes() == theirs.to_bytes()
    assert ours.to_bytes().startswith(b"HTTP/1.1 101 Switching Protocols\r\nx-voice-gateway-session-id: vgs_1\r\n")
