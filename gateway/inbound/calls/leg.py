"""The caller's side of a direct-media call, as the relay's client socket.

No frames come from it (the caller talks to the model endpoint directly); gateway events meant
for the client cannot reach it either and are counted, not sent. Closing it ends the call: the
owner's ``on_close`` decides whether that means a hang-up through the calls API.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from gateway.core.ports import Closed, Frame


class CallLeg:
    """A FrameSocket whose only event is the end of the call."""

    def __init__(self, on_close: Callable[[int, str], Awaitable[None]]) -> None:
        self._on_close = on_close
        self._ended = asyncio.Event()
        self._closing = False
        #: gateway events (warnings, errors) that had no way to reach the caller
        self.undelivered = 0

    def end(self) -> None:
        """The call is over (the sideband said so): ``receive`` returns."""
        self._ended.set()

    async def receive(self) -> Frame | Closed:
        await self._ended.wait()
        return Closed(1000, "call ended")

    async def send(self, frame: Frame) -> None:
        self.undelivered += 1

    async def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            await self._on_close(code, reason)
        finally:
            self._ended.set()
