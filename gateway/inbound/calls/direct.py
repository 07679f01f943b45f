"""A direct-media call's life in the gateway: create or accept it upstream, then follow it on the sideband.

The media path is caller ↔ model endpoint; the gateway holds the call's sideband instead, relays it
through the same session core and observers as a WebSocket session (metering, caps, budgets, turn
spans), and ends the call through the calls API when an observer, an operator or a drain cuts it
off. A lost sideband is re-attached; failing that the call is hung up (``sideband_loss=hangup``,
fail-closed) or left running unobserved (``continue``, fail-open), and the session record says which.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal

from gateway.core.catalog import UpstreamEndpoint
from gateway.core.errors import GatewayError, SidebandLost, SidebandLostOpen
from gateway.core.ports import FrameSocket
from gateway.inbound.calls.leg import CallLeg
from gateway.inbound.calls.sideband import SidebandSocket
from gateway.inbound.services import CallsApi, InboundServices
from gateway.inbound.setup import SessionSetup

log = logging.getLogger("voice_gateway.inbound.calls")

SidebandLoss = Literal["hangup", "continue"]


@dataclass(frozen=True, slots=True)
class CallSettings:
    """What the gateway does with direct-media calls (from settings)."""

    media: Literal["auto", "direct", "terminate"] = "auto"
    sideband_loss: SidebandLoss = "hangup"
    reattach_attempts: int = 2


@dataclass(eq=False)
class DirectCall:
    """One call followed on its sideband; ``run`` lasts as long as the session does."""

    svc: InboundServices
    calls: CallsApi
    setup: SessionSetup
    endpoint: UpstreamEndpoint
    call_id: str
    transport: str
    settings: CallSettings
    sideband: SidebandSocket | None = None
    #: what happened to the call at the end: "hung_up", "ended_upstream", "left_running"
    outcome: str | None = None
    _leg: CallLeg = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._leg = CallLeg(self._leg_closed)

    @property
    def session_id(self) -> str:
        return self.setup.session_id

    @property
    def tenant(self) -> str | None:
        """The tenant of the key that placed the call (an incoming SIP call: the front door's tenant)."""
        return self.setup.key.tenant if self.setup.key is not None else None

    def check_watchable(self) -> None:
        """Refuse one more of the owner's sideband connections now, when the call has as many as it takes."""
        self._leg.check_room()

    async def watch(self, client: FrameSocket) -> None:
        """Serve an owner's sideband connection until it leaves or the call ends (:meth:`CallLeg.watch`)."""
        await self._leg.watch(client)

    async def run(self) -> None:
        setup = self.setup
        route = setup.decision.route if setup.decision is not None else None
        assert route is not None and setup.request is not None
        try:
            upstream = await self._connect()
        except GatewayError as exc:
            log.warning("sideband could not attach", extra={"session_id": setup.session_id, "code": exc.code})
            await self._lost_before_start()
            return
        self.sideband = SidebandSocket(
            upstream,
            overrides=route.overrides,
            reconnect=self._connect,
            reattach_attempts=self.settings.reattach_attempts,
            session_id=setup.session_id,
            on_lost=self._sideband_lost,
            gateway_tools=setup.call_tool_definitions(),
        )
        await setup.relay_call(self._leg, self.sideband, self.endpoint.name, call_id=self.call_id, transport=self.transport)

    async def _connect(self) -> FrameSocket:
        setup = self.setup
        assert setup.decision is not None and setup.decision.route is not None and setup.request is not None
        route = setup.decision.route
        socket, _name = await self.svc.upstreams.connect(
            endpoints=(self.endpoint.name,), kind=route.kind, model=route.model,
            client_headers=setup.request.headers, call_id=self.call_id,
        )
        return socket

    def _sideband_lost(self) -> None:
        """Re-attaching failed: end the session with the loss policy's error (the first cause wins)."""
        relay = self.svc.sessions.get(self.setup.session_id)
        error = SidebandLost() if self.settings.sideband_loss == "hangup" else SidebandLostOpen()
        log.warning("sideband lost", extra={"session_id": self.setup.session_id, "policy": self.settings.sideband_loss})
        if relay is not None:
            relay.terminate(error)

    async def _lost_before_start(self) -> None:
        try:
            if self.settings.sideband_loss == "hangup":
                await self.hang_up()
            else:
                self.outcome = "left_running"
        finally:
            await self.setup.release()

    async def _leg_closed(self, code: int, reason: str) -> None:
        """The session ended: hang the call up unless it is already over, or the loss policy keeps it."""
        sideband = self.sideband
        if sideband is not None and sideband.call_over:
            self.outcome = "ended_upstream"
            return
        if sideband is not None and sideband.lost is not None and self.settings.sideband_loss == "continue":
            self.outcome = "left_running"
            return
        await self.hang_up()

    async def hang_up(self) -> None:
        try:
            await self.calls.hangup(self.endpoint, self.call_id)
            self.outcome = "hung_up"
        except GatewayError as exc:
            log.error("call hangup failed", extra={"session_id": self.setup.session_id, "code": exc.code})
            self.outcome = "hangup_failed"


class CallRunner:
    """Holds direct calls' tasks until they end."""

    def __init__(self) -> None:
        self.calls: dict[str, DirectCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def find(self, call_id: str) -> DirectCall | None:
        """A call followed here, by the gateway's session id or the upstream call id."""
        call = self.calls.get(call_id)
        if call is None:
            call = next((c for c in self.calls.values() if c.call_id == call_id), None)
        return call

    def start(self, call: DirectCall) -> None:
        self.calls[call.setup.session_id] = call
        task = asyncio.create_task(self._run(call), name=f"call:{call.setup.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: DirectCall) -> None:
        try:
            await call.run()
        except Exception:  # noqa: BLE001 - one failed call must not take the others with it
            log.exception("direct call failed", extra={"session_id": call.setup.session_id})
            await call.hang_up()
        finally:
            await call.setup.release()
            self.calls.pop(call.setup.session_id, None)
