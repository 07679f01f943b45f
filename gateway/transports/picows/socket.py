"""The client side of a session on picows: the shared picows frame socket, plus a bounded close.

``close`` queues the close frame even behind a full write buffer and cuts the connection off if
the client has not finished the closing handshake within ``linger_s`` (picows' own
``WSTransport.wait_disconnected`` tells when the connection is gone).
"""

from __future__ import annotations

import asyncio

from picows import WSFrame, WSTransport

from gateway.upstream.picows_socket import PicowsFrameSocket


class PicowsClientSocket(PicowsFrameSocket):
    """A client WebSocket served by picows (implements :class:`gateway.core.ports.FrameSocket`)."""

    __slots__ = ("linger_s", "_abort")

    def __init__(self, *, max_message_bytes: int, linger_s: float) -> None:
        super().__init__(max_message_bytes=max_message_bytes)
        self.linger_s = linger_s
        self._abort: asyncio.TimerHandle | None = None

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        super()._peer_closed(transport, frame)
        self._arm_abort(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        super().on_ws_disconnected(transport)

    async def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        self.begin_close(transport, code, reason)

    def begin_close(self, transport: WSTransport, code: int, reason: str) -> None:
        """Queue the close frame (even behind a full write buffer) and bound the closing handshake."""
        super().begin_close(transport, code, reason)
        self._arm_abort(transport)

    def _arm_abort(self, transport: WSTransport) -> None:
        if self._abort is None and not transport.is_disconnected:
            self._abort = asyncio.get_running_loop().call_later(self.linger_s, transport.disconnect, False)
