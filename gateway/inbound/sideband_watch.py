"""An owner's server attaching to a call's sideband through the gateway: ``/v1/realtime?call_id=…``.

On OpenAI a server watches and steers a call whose media it does not carry over the call's sideband. Through the
gateway the sideband belongs to the gateway (it meters, caps and traces the call there), so an owner's
connection attaches to the gateway's session of the call instead: it gets every event the gateway relays for the
call, and its client events go through the session core — the route's overrides, tool rules and reply clamps —
before they reach the call's sideband. Only a gateway key of the call's tenant may attach (a client secret, a
browser key, another tenant: refused as for a call that does not exist).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Protocol

from gateway.core.errors import CallOnAnotherReplica, Forbidden, NotFound, SidebandUnavailable
from gateway.core.ports import FrameSocket
from gateway.inbound.calls.kinds import DIRECT_MEDIA, TERMINATED_WEBRTC
from gateway.inbound.services import InboundServices
from gateway.inbound.setup import Handshake, authenticate

log = logging.getLogger("voice_gateway.inbound")

#: a live session's directory entry on any replica (``SessionDirectory.find``)
FindEntry = Callable[[str], Awaitable["Mapping[str, object] | None"]]


class WatchableCall(Protocol):
    """A direct-media call followed on this replica (``gateway.inbound.calls.direct.DirectCall``)."""

    @property
    def session_id(self) -> str: ...

    @property
    def tenant(self) -> str | None: ...

    def check_watchable(self) -> None: ...

    async def watch(self, client: FrameSocket) -> None: ...


class LiveCalls(Protocol):
    """The direct-media calls this replica follows, by session id or upstream call id (``CallRunner``)."""

    def find(self, call_id: str) -> WatchableCall | None: ...


@dataclass(frozen=True, slots=True)
class SidebandWatch:
    """What the handshake hands a transport for a sideband connection: the same surface as a session set-up."""

    call: WatchableCall

    @property
    def session_id(self) -> str:
        return self.call.session_id

    async def run(self, client: FrameSocket) -> None:
        log.info("sideband connection attached", extra={"session_id": self.call.session_id})
        try:
            await self.call.watch(client)
        finally:
            log.info("sideband connection detached", extra={"session_id": self.call.session_id})

    async def release(self) -> None:
        """Nothing is held for a sideband connection (the call holds its own lease)."""


async def attach_to_call(
    svc: InboundServices, handshake: Handshake, calls: LiveCalls | None, find_entry: FindEntry | None
) -> SidebandWatch:
    """Authenticate an owner's sideband connection and find its call, or refuse."""
    key = await authenticate(svc, handshake.headers, handshake.subprotocols)
    if key.browser or key.is_client_secret:
        raise Forbidden("A client secret cannot attach to a call's sideband: use a gateway key.")
    call_id = handshake.query.get("call_id", "")
    call = calls.find(call_id) if calls is not None and call_id else None
    if call is not None and call.tenant == key.tenant:
        call.check_watchable()
        return SidebandWatch(call)
    entry = await find_entry(call_id) if call is None and find_entry is not None and call_id else None
    if entry is not None and entry.get("tenant") == key.tenant:
        transport = entry.get("transport")
        if transport == TERMINATED_WEBRTC:
            raise SidebandUnavailable()
        if transport in DIRECT_MEDIA:
            raise CallOnAnotherReplica()
    raise NotFound(f"No live call '{call_id[:100]}' to attach a sideband to.", param="call_id")
