"""The sideband as the relay's upstream socket: re-forces overrides, re-attaches once lost, reports a loss.

Every server event of the call arrives here; a ``session.updated`` that moved a forced field (the
caller can send ``session.update`` over its data channel) is answered at once with the correcting
``session.update``. A sideband that drops (any close but a normal 1000, which means the call is
over) is re-attached with the same ``call_id`` up to ``reattach_attempts`` times; if that fails the
loss is reported (``lost``) and the owner applies the fail-closed / fail-open setting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Final, Sequence

import orjson

from gateway.core.calls import corrective_update
from gateway.core.frames import dumps
from gateway.core.jsontypes import JsonObject
from gateway.core.ports import Closed, Frame, FrameSocket
from gateway.core.routing import SessionOverrides

log = logging.getLogger("voice_gateway.inbound.calls")

_SESSION_UPDATED: Final = '"session.updated"'
_REATTACH_DELAY_S: Final = 0.2


class SidebandSocket:
    """Wraps the upstream sideband connection (a FrameSocket) for one call."""

    def __init__(
        self,
        socket: FrameSocket,
        *,
        overrides: SessionOverrides,
        reconnect: Callable[[], Awaitable[FrameSocket]],
        reattach_attempts: int,
        session_id: str,
        on_lost: Callable[[], None] | None = None,
        gateway_tools: Sequence[JsonObject] = (),
    ) -> None:
        #: the route's gateway tool definitions the call's session must keep declaring
        self._gateway_tools = gateway_tools
        self._on_lost = on_lost
        self._socket = socket
        self._overrides = overrides
        self._reconnect = reconnect
        self._attempts = reattach_attempts
        self._session_id = session_id
        self._closing = False
        #: the sideband was lost (not closed by the call's end, nor by us) and could not be re-attached
        self.lost: Closed | None = None
        #: the sideband closed normally: the call is over upstream
        self.call_over = False
        self.reattached = 0
        self.corrections = 0

    async def receive(self) -> Frame | Closed:
        while True:
            frame = await self._socket.receive()
            if isinstance(frame, Closed):
                if self._closing or frame.code == 1000:
                    self.call_over = not self._closing
                    return frame
                if await self._reattach(frame):
                    continue
                self.lost = frame
                if self._on_lost is not None:
                    self._on_lost()
                return frame
            if isinstance(frame, str) and _SESSION_UPDATED in frame[:200]:
                await self._enforce(frame)
            return frame

    async def _enforce(self, frame: str) -> None:
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        session = event.get("session") if isinstance(event, dict) and event.get("type") == "session.updated" else None
        if not isinstance(session, dict):
            return
        update = corrective_update(session, self._overrides, self._gateway_tools)
        if update is not None:
            self.corrections += 1
            log.info("call session moved off its overrides; re-forced", extra={"session_id": self._session_id})
            await self._socket.send(dumps(update).decode())

    async def _reattach(self, closed: Closed) -> bool:
        for attempt in range(self._attempts):
            await asyncio.sleep(_REATTACH_DELAY_S * (attempt + 1))
            if self._closing:
                return False
            try:
                self._socket = await self._reconnect()
            except Exception:  # noqa: BLE001 - any failure is one failed attempt
                continue
            self.reattached += 1
            log.warning("sideband re-attached", extra={"session_id": self._session_id, "code": closed.code})
            return True
        return False

    async def send(self, frame: Frame) -> None:
        await self._socket.send(frame)

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
        await self._socket.close(code, reason)
