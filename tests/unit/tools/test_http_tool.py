"""One HTTP tool request: the configured URL only, secrets from the environment and never echoed, bounded answers."""

from __future__ import annotations

import httpx2
import pytest

from gateway.core.gateway_tools import HeaderSpec, HttpToolSpec
from gateway.tools.errors import ToolFailed
from gateway.tools.http_tool import call_http_tool

SECRET = "Bearer tok-0123456789"


def _spec(method: str = "POST", url: str = "https://orders.example.com/status") -> HttpToolSpec:
    headers = (HeaderSpec("Authorization", env="VG_TEST_TOOL_TOKEN"), HeaderSpec("X-Team", value="voice"))
    return HttpToolSpec("lookup_order", "", {"type": "object"}, url, method, headers)


async def _call(handler: object, spec: HttpToolSpec, arguments: dict[str, object], max_bytes: int = 1000) -> str:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:  # type: ignore[arg-type]
        return await call_http_tool(client, spec, arguments, max_bytes)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VG_TEST_TOOL_TOKEN", SECRET)


async def test_post_sends_the_arguments_and_headers_to_the_configured_url() -> None:
    """JSON body, secret and plain headers; a body echoing the secret comes back redacted."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, text=f'{{"status": "shipped", "echo": "{request.headers["authorization"]}"}}')

    answer = await _call(handler, _spec(), {"order_id": "42", "url": "https://evil.example.com"})
    assert str(seen[0].url) == "https://orders.example.com/status"
    assert seen[0].headers["authorization"] == SECRET and seen[0].headers["x-team"] == "voice"
    assert seen[0].content == b'{"order_id":"42","url":"https://evil.example.com"}'
    assert SECRET not in answer and "[redacted]" in answer


async def test_get_puts_the_arguments_in_the_query() -> None:
    """GET: scalars as text, the rest as JSON; the host and path stay the configured ones."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, text="ok")

    await _call(handler, _spec("GET"), {"order_id": "42", "items": [1, 2]})
    assert seen[0].url.host == "orders.example.com" and seen[0].url.path == "/status"
    assert dict(seen[0].url.params) == {"order_id": "42", "items": "[1, 2]"}


@pytest.mark.parametrize(
    "response,outcome",
    [
        (httpx2.Response(500, text="db password"), "error"),
        (httpx2.Response(302, headers={"location": "https://elsewhere.example.com/"}), "error"),
        (httpx2.Response(200, text="x" * 2000), "too_large"),
    ],
)
async def test_failures_raise_without_the_body(response: httpx2.Response, outcome: str) -> None:
    """Error statuses, redirects (never followed) and over-long bodies fail; the reason carries no body."""
    with pytest.raises(ToolFailed) as info:
        await _call(lambda request: response, _spec(), {})
    assert info.value.outcome == outcome and "password" not in info.value.reason


async def test_unreachable_and_missing_secret_fail_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transport error names only its class; a secret header whose variable vanished is a failure, not a blank header."""
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused to orders.example.com")

    with pytest.raises(ToolFailed) as info:
        await _call(refuse, _spec(), {})
    assert info.value.reason == "unreachable (ConnectError)"
    monkeypatch.delenv("VG_TEST_TOOL_TOKEN")
    with pytest.raises(ToolFailed):
        await _call(lambda request: httpx2.Response(200), _spec(), {})
