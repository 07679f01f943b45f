"""What the relay needs of a socket; the inbound and upstream adapters implement these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Frame = bytes | str


@dataclass(frozen=True, slots=True)
class Closed:
    """The peer closed (or vanished); ``code`` 1006 means no close frame arrived."""

    code: int
    reason: str = ""


class FrameSocket(Protocol):
    """A message-oriented socket: whole frames in and out."""

    async def receive(self) -> Frame | Closed: ...

    async def send(self, frame: Frame) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...
