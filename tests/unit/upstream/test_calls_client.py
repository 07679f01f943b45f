"""The upstream calls API client: request shapes, the call id from Location, refusals mapped to gateway errors."""

from __future__ import annotations

import httpx
import pytest

from gateway.core.catalog import UpstreamEndpoint
from gateway.core.errors import InvalidRequest, UpstreamRefused, UpstreamUnavailable
from gateway.core.kinds import SessionKind
from gateway.upstream.calls import CallsClient

ENDPOINT = UpstreamEndpoint(name="openai", url="wss://api.example.test/v1")
SECRET = "sk-upstream-secret-value"


def _client(handler: httpx.MockTransport) -> CallsClient:
    return CallsClient({"openai": SECRET}, transport=handler)


async def test_create_posts_multipart_sdp_and_session_and_reads_the_call_id() -> None:
    """POST https://…/v1/realtime/calls, bearer credential, sdp + session parts; answer and call id back."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, text="v=0\r\nanswer", headers={"Location": "/v1/realtime/calls/rtc_abc123"})

    created = await _client(httpx.MockTransport(handle)).create(ENDPOINT, kind=SessionKind.REALTIME, sdp="v=0\r\n", session={"type": "realtime"})
    assert created.call_id == "rtc_abc123" and created.answer_sdp.startswith("v=0")
    request = seen[0]
    assert str(request.url) == "https://api.example.test/v1/realtime/calls"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = request.content.decode()
    assert 'name="sdp"' in body and 'name="session"' in body and '{"type":"realtime"}' in body


@pytest.mark.parametrize("status,error", [(400, InvalidRequest), (503, UpstreamUnavailable), (429, UpstreamUnavailable), (401, UpstreamRefused)])
async def test_refusals_become_client_safe_gateway_errors_without_the_secret(status: int, error: type[Exception]) -> None:
    """Upstream 4xx/5xx map to gateway errors; nothing of the credential appears in them."""
    transport = httpx.MockTransport(lambda r: httpx.Response(status, json={"error": {"message": "bad sdp"}}))
    with pytest.raises(error) as raised:
        await _client(transport).create(ENDPOINT, kind=SessionKind.REALTIME, sdp="v=0", session={})
    assert SECRET not in str(raised.value)


async def test_an_answer_without_a_call_id_is_refused() -> None:
    """A 201 lacking a usable Location cannot be followed: refused rather than left unobserved."""
    transport = httpx.MockTransport(lambda r: httpx.Response(201, text="v=0\r\n", headers={"Location": "/v1/realtime/calls/../../x y"}))
    with pytest.raises(UpstreamRefused):
        await _client(transport).create(ENDPOINT, kind=SessionKind.REALTIME, sdp="v=0", session={})


async def test_hangup_of_a_call_that_is_already_over_is_not_an_error() -> None:
    """400 invalid_call_state / 404 on hangup → False (the call ended on its own)."""
    gone = httpx.MockTransport(lambda r: httpx.Response(400, json={"error": {"code": "invalid_call_state", "message": "ended"}}))
    assert await _client(gone).hangup(ENDPOINT, "rtc_1") is False
    ok = httpx.MockTransport(lambda r: httpx.Response(200))
    assert await _client(ok).hangup(ENDPOINT, "rtc_1") is True


async def test_translation_calls_use_the_translations_path() -> None:
    """Translation sessions are offered at /realtime/translations/calls."""
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(201, text="v=0\r\n", headers={"Location": "/v1/realtime/calls/rtc_t"})

    await _client(httpx.MockTransport(handle)).create(ENDPOINT, kind=SessionKind.TRANSLATION, sdp="v=0", session={})
    assert paths == ["/v1/realtime/translations/calls"]
