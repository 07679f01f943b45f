"""The picows handshake's pure parts: the replayed upgrade request and the refusal response."""

import orjson
import pytest

from gateway.core.errors import AuthenticationFailed, RateLimited
from gateway.core.kinds import EndpointKind
from gateway.transports.picows.request import handshake_of, parse_upgrade, refusal_response

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
