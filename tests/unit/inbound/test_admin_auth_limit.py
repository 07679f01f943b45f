"""Failed-authentication limiting per address: the pure window, and the middleware on HTTP and WebSocket."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.core.errors import AuthenticationFailed
from gateway.transports.asgi.socket import deny
from gateway.inbound.auth_limit import AuthFailureLimitMiddleware, LocalFailureLimiter

GOOD = "good-key"


async def test_window_blocks_after_n_failures_and_resets() -> None:
    """N failures inside the window block the address; a new window unblocks it; other addresses are unaffected."""
    limiter = LocalFailureLimiter(max_failures=3, window_s=10.0)
    for t in (0.0, 1.0, 2.0):
        assert not await limiter.blocked("a", t)
        await limiter.failed("a", t)
    assert await limiter.blocked("a", 3.0)
    assert not await limiter.blocked("b", 3.0)
    assert not await limiter.blocked("a", 10.0)


async def _http(request: Request) -> JSONResponse:
    ok = request.headers.get("authorization") == f"Bearer {GOOD}"
    return JSONResponse({"ok": ok}, status_code=200 if ok else 401)


class _Ws:
    """A raw ASGI WebSocket endpoint refusing like the gateway's handshake does."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _ws(scope, receive, send)


async def _ws(scope: Scope, receive: Receive, send: Send) -> None:
    headers = dict(scope["headers"])
    if headers.get(b"authorization") != f"Bearer {GOOD}".encode():
        await deny(scope, receive, send, AuthenticationFailed())
        return
    socket = WebSocket(scope, receive, send)
    await socket.accept()
    await socket.send_text("hello")
    await socket.close()


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/http", _http, methods=["GET"]), WebSocketRoute("/ws", _Ws())])
    wrapped = AuthFailureLimitMiddleware(app, LocalFailureLimiter(max_failures=3, window_s=60.0))
    return TestClient(wrapped)


def test_http_failures_lead_to_429(client: TestClient) -> None:
    """Three 401s from one address, then even a good key gets 429 with an OpenAI-shaped body."""
    for _ in range(3):
        assert client.get("/http", headers={"authorization": "Bearer bad"}).status_code == 401
    blocked = client.get("/http", headers={"authorization": f"Bearer {GOOD}"})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["type"] == "rate_limit_error"


def test_websocket_handshake_failures_lead_to_429(client: TestClient) -> None:
    """Refused handshakes count too; the next handshake is answered 429 before authentication."""
    with client.websocket_connect("/ws", headers={"authorization": f"Bearer {GOOD}"}) as ws:
        assert ws.receive_text() == "hello"
    for _ in range(3):
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect("/ws", headers={"authorization": "Bearer bad"}):
                pass
        assert denied.value.status_code == 401
    with pytest.raises(WebSocketDenialResponse) as blocked:
        with client.websocket_connect("/ws", headers={"authorization": f"Bearer {GOOD}"}):
            pass
    assert blocked.value.status_code == 429


def test_successes_do_not_count(client: TestClient) -> None:
    """Many good requests never block an address."""
    for _ in range(10):
        assert client.get("/http", headers={"authorization": f"Bearer {GOOD}"}).status_code == 200
