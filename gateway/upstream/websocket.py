"""Upstream connector on the ``websockets`` asyncio client."""

from __future__ import annotations

from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, WebSocketException

from gateway.core.ports import Closed, Frame
from gateway.upstream.errors import ConnectFailed
from gateway.upstream.target import UpstreamTarget

_USER_AGENT: Final = "voice-gateway/0.1"


class WebsocketsUpstream:
    """A connected upstream socket (implements :class:`gateway.relay.ports.FrameSocket`)."""

    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def receive(self) -> Frame | Closed:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return Closed(rcvd.code, rcvd.reason) if rcvd is not None else Closed(1006, "")

    async def send(self, frame: Frame) -> None:
        try:
            await self._ws.send(frame)
        except ConnectionClosed:
            pass  # the receive side reports the close

    async def close(self, code: int, reason: str) -> None:
        """Closing handshake; if it is cut short (a caller's timeout, an upstream that no longer reads), drop the TCP connection."""
        try:
            await self._ws.close(code, reason)
        except BaseException:
            self._ws.transport.abort()
            raise


class WebsocketsConnector:
    """Opens upstream sockets with ``websockets``; registered as ``"websockets"``."""

    name = "websockets"

    def __init__(self, *, max_message_bytes: int, ping_interval_s: float, ping_timeout_s: float) -> None:
        self.max_message_bytes = max_message_bytes
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s

    async def connect(self, target: UpstreamTarget) -> WebsocketsUpstream:
        try:
            ws = await connect(
                target.url,
                additional_headers=dict(target.headers),
                user_agent_header=_USER_AGENT,
                open_timeout=target.connect_timeout_s,
                max_size=self.max_message_bytes,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_timeout_s,
                compression=None,
                max_queue=64,
            )
        except InvalidStatus as exc:
            raise ConnectFailed(target.endpoint, status=exc.response.status_code) from exc
        except (OSError, InvalidHandshake, TimeoutError, WebSocketException) as exc:
            # WebSocketException covers ConnectionClosed: the peer hung up during the handshake
            raise ConnectFailed(target.endpoint, status=None) from exc
        return WebsocketsUpstream(ws)
