"""Upstream connector on picows (Cython WebSockets): a few µs per frame instead of tens.

The upstream socket is the shared picows frame socket
(:class:`gateway.upstream.picows_socket.PicowsFrameSocket`: frames in a deque, reading paused
when it is long so a slow client pushes back on the model endpoint, the push capability); it adds
only its close, which waits up to a second for the endpoint's reply before dropping the connection.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit
from typing import ClassVar, Final

from picows import WSError, WSMsgType, WSTransport, WSUpgradeRequest, WSUpgradeResponse, ws_connect

from gateway.upstream.picows_socket import READ_BUFFER, PicowsFrameSocket, forget_handshake
from gateway.upstream.pinger import Pinger
from gateway.upstream.errors import ConnectFailed
from gateway.upstream.target import UpstreamTarget
from gateway.waiting import within

_USER_AGENT: Final = "voice-gateway/0.1"
#: the logger picows uses for a client by default, resolved once (picows' ``getLogger`` per connect takes logging's
#: module lock) and given as an adapter: picows makes a child ``Logger`` per connection of a ``Logger`` it is given,
#: which the socket then keeps for its life
_CLIENT_LOG: Final = logging.LoggerAdapter(logging.getLogger("picows.client"))


class PicowsUpstream(PicowsFrameSocket):
    """A connected upstream socket (implements :class:`gateway.core.ports.FrameSocket`)."""

    #: gateway-made frames (``bytes``) go upstream as binary frames, as before the shared base
    bytes_as: ClassVar[WSMsgType] = WSMsgType.BINARY

    __slots__ = ()

    async def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        self.begin_close(transport, code, reason)
        try:
            await within(transport.wait_disconnected(), 1.0)
        except asyncio.TimeoutError:
            transport.disconnect(graceful=False)
        except asyncio.CancelledError:  # the caller's own close timeout: still drop the connection
            transport.disconnect(graceful=False)
            raise


def uses_tls(url: str) -> bool:
    """Whether picows opens the connection on aiofastnet's transport rather than the event loop's own.

    A plaintext upstream (``ws://``) goes on the loop's transport (uvloop's, in C): aiofastnet's embeds a fixed
    4.2 KiB iovec array and a write deque per connection (4.9 KiB of an idle session's heap), and a set-up runs
    ~8 % fewer instructions (docs/performance.md, fourth round). A TLS upstream (``wss://``) stays on aiofastnet:
    uvloop's SSL protocol allocates a 256 KiB read buffer per connection."""
    return urlsplit(url).scheme != "ws"


class PicowsConnector:
    """Opens upstream sockets with picows; registered as ``"picows"`` (the default)."""

    name = "picows"

    def __init__(self, *, max_message_bytes: int, ping_interval_s: float, ping_timeout_s: float) -> None:
        self.max_message_bytes = max_message_bytes
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        #: keeps every upstream socket of this connector alive (one timer, not picows' auto-ping task per socket)
        self.pinger = Pinger(ping_interval_s, min(ping_timeout_s, ping_interval_s))

    def _listener(self, request: WSUpgradeRequest, response: WSUpgradeResponse) -> PicowsUpstream:
        """picows' listener factory; it takes the handshake (picows tries that first, and on a ``TypeError`` calls
        the factory again without arguments: an exception per connect)."""
        return PicowsUpstream(max_message_bytes=self.max_message_bytes)

    async def connect(self, target: UpstreamTarget) -> PicowsUpstream:
        headers = {"User-Agent": _USER_AGENT, **target.headers}
        try:
            async with asyncio.timeout(target.connect_timeout_s):  # not wait_for: no extra task per connect
                transport, listener = await ws_connect(
                    self._listener,
                    target.url,
                    extra_headers=headers,
                    websocket_handshake_timeout=target.connect_timeout_s,
                    logger_name=_CLIENT_LOG,
                    max_frame_size=self.max_message_bytes,
                    enable_auto_ping=False,  # the connector's pinger pings idle sockets
                    # start small and let picows grow it for large frames: idle sessions stay cheap
                    read_buffer_init_size=READ_BUFFER,
                    use_aiofastnet=uses_tls(target.url),
                )
        except WSError as exc:
            response = getattr(exc, "response", None)
            status = int(response.status) if response is not None and getattr(response, "status", None) else None
            raise ConnectFailed(target.endpoint, status=status) from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(target.endpoint, status=None) from exc
        if not isinstance(listener, PicowsUpstream):  # the peer hung up during the handshake: no listener
            raise ConnectFailed(target.endpoint, status=None)
        forget_handshake(transport)
        listener.keep_alive(self.pinger)
        return listener

