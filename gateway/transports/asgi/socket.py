"""The client side of a relayed session on raw ASGI WebSocket messages (no per-frame wrapper objects)."""

from __future__ import annotations

from typing import Final, Mapping, MutableMapping

import orjson
from starlette.types import Receive, Send

from gateway.core.errors import GatewayError
from gateway.core.ports import Closed, Frame

Scope = MutableMapping[str, object]
_DISCONNECT: Final = "websocket.disconnect"


class AsgiClientSocket:
    """Implements :class:`gateway.core.ports.FrameSocket` over an accepted ASGI WebSocket."""

    __slots__ = ("_receive", "_send", "closed")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def receive(self) -> Frame | Closed:
        message = await self._receive()
        if message["type"] == _DISCONNECT:
            self.closed = True
            return Closed(int(message.get("code") or 1005), str(message.get("reason") or ""))
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, frame: Frame) -> None:
        if self.closed:
            return
        try:
            if isinstance(frame, str):
                await self._send({"type": "websocket.send", "text": frame})
            else:
                await self._send({"type": "websocket.send", "text": frame.decode()})
        except (OSError, RuntimeError):
            self.closed = True  # client went away; its receive side reports the close

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (OSError, RuntimeError):
            pass


async def accept(receive: Receive, send: Send, subprotocol: str | None, headers: Mapping[str, str]) -> bool:
    """Complete the handshake; False when the client left before it finished."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return False
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": subprotocol,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
    return True


async def deny(scope: Scope, receive: Receive, send: Send, error: GatewayError) -> None:
    """Refuse the handshake with an HTTP status and an OpenAI-shaped JSON body."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    extensions = scope.get("extensions")
    if isinstance(extensions, dict) and "websocket.http.response" in extensions:
        body = orjson.dumps(error.http_body())
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": error.close_code, "reason": error.close_reason})
