"""What every emulated session looks like to the server shell (Sans-I/O contract).

The shell feeds raw text frames and the current monotonic time, asks when to wake up next, and
sends whatever events come back. ``close`` tells the shell to close the socket after sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.emulator.stats import SessionRecord
from gateway.emulator.types import Event


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """Close the WebSocket with this code once pending events are sent."""

    code: int
    reason: str


#: an outgoing frame: an event to serialise, or raw text to send verbatim (echo fast path)
Outgoing = Event | str


class SessionMachine(Protocol):
    """A pure per-connection state machine."""

    record: SessionRecord
    close: CloseRequest | None

    def start(self, now: float) -> list[Outgoing]:
        """Events sent right after the handshake (``session.created`` …)."""
        ...

    def receive(self, frame: str | bytes, now: float) -> list[Outgoing]:
        """Handle one client frame."""
        ...

    def poll(self, now: float) -> list[Outgoing]:
        """Events that became due by ``now``."""
        ...

    def next_deadline(self) -> float | None:
        """Monotonic time of the next due event, if any."""
        ...
