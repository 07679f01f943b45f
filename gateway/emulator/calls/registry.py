"""The emulator's live calls by id, and the sideband WebSocket (``/v1/realtime?call_id=…``) attached to one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Final, Protocol

import orjson

from gateway.emulator.calls.call import CallStatus, EmulatedCall, Sideband

#: how long an incoming SIP call rings before it is given up when nobody accepts it
RING_TIMEOUT_S: Final = 30.0


def new_call_id() -> str:
    return f"rtc_{secrets.token_hex(16)}"


class SidebandSocket(Sideband, Protocol):
    """A sideband connection that can also be read (websockets' ServerConnection fits)."""

    async def recv(self) -> str | bytes: ...


@dataclass
class CallRegistry:
    """Calls the emulator knows, live or finished (finished ones stay for tests to inspect)."""

    calls: dict[str, EmulatedCall] = field(default_factory=dict)

    def add(self, call: EmulatedCall) -> EmulatedCall:
        self.calls[call.call_id] = call
        return call

    def get(self, call_id: str) -> EmulatedCall | None:
        return self.calls.get(call_id)

    def attachable(self, call_id: str) -> bool:
        """A sideband can attach to an active call (a SIP call once accepted)."""
        call = self.calls.get(call_id)
        return call is not None and call.status is CallStatus.ACTIVE and call.machine is not None and not call.sidebands_refused

    async def close(self) -> None:
        for call in list(self.calls.values()):
            call.end("shutdown")
            await call.wait_ended(3.0)


async def serve_sideband(ws: SidebandSocket, call: EmulatedCall) -> None:
    """Attach ``ws`` to ``call``: ``session.created`` with the current session, then every server event."""
    machine = call.machine
    session = getattr(machine, "session", None)
    if isinstance(session, dict):
        event = {"type": "session.created", "event_id": f"event_{secrets.token_hex(8)}", "session": session}
        await ws.send(orjson.dumps(event).decode())
    call.sidebands.add(ws)
    call.sidebands_seen += 1
    try:
        while call.live:
            call.client_event(await ws.recv())
    except Exception:  # noqa: BLE001 - ConnectionClosed (or any read failure) detaches the sideband only
        pass
    finally:
        call.sidebands.discard(ws)
