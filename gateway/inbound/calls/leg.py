"""The caller's side of a direct-media call, as the relay's client socket, and the owner's sideband watchers on it.

The caller talks to the model endpoint directly, so no frames come from the caller. The call's owner may attach
its own servers, as it would attach to OpenAI's sideband (``/v1/realtime?call_id=…``, :meth:`CallLeg.watch`):
every frame the relay sends the client side goes to each watcher, and each watcher's client events come in here,
in arrival order, to go through the session core like any client's (its enforcement, then the call's sideband).
With no watcher, what the relay sends is counted, not sent. Closing the leg ends the call (the owner's
``on_close`` decides whether that means a hang-up through the calls API) and closes every watcher with the
session's close code.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Awaitable, Callable, Final

from gateway.core.errors import TooManyWatchers
from gateway.core.ports import Closed, Frame, FrameSocket

log = logging.getLogger("voice_gateway.inbound.calls")

#: watchers' frames waiting for the relay before a watcher's socket is read no further (backpressure)
MAX_PENDING: Final = 64
#: servers attached to one call at once
MAX_WATCHERS: Final = 4


class CallLeg:
    """A FrameSocket for the relay's client side of a direct-media call: the end of the call, and the watchers."""

    def __init__(self, on_close: Callable[[int, str], Awaitable[None]]) -> None:
        self._on_close = on_close
        self._ended = False
        self._closing = False
        self._closed: Closed | None = None
        self._frames: collections.deque[Frame] = collections.deque()
        self._ready = asyncio.Event()  # a watcher's frame is pending, or the call ended
        self._room = asyncio.Event()  # fewer than MAX_PENDING frames are pending
        self._room.set()
        self._watchers: list[FrameSocket] = []
        #: gateway events (warnings, errors) and server events that no watcher was attached to receive
        self.undelivered = 0

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def check_room(self) -> None:
        """Refuse another watcher now (at the handshake) when the call has as many as it takes."""
        if len(self._watchers) >= MAX_WATCHERS:
            raise TooManyWatchers()

    def end(self) -> None:
        """The call is over (the sideband said so): ``receive`` returns once the pending frames are read."""
        self._ended = True
        self._ready.set()
        self._room.set()

    async def receive(self) -> Frame | Closed:
        while True:
            if self._frames:
                frame = self._frames.popleft()
                self._room.set()
                return frame
            if self._ended:
                return Closed(1000, "call ended")
            self._ready.clear()
            await self._ready.wait()

    async def send(self, frame: Frame) -> None:
        if not self._watchers:
            self.undelivered += 1
            return
        for watcher in tuple(self._watchers):
            try:
                await watcher.send(frame)
            except Exception:  # noqa: BLE001 - a broken watcher is dropped; the call goes on
                log.warning("a sideband watcher could not be written to; detached")
                self._detach(watcher)
                await _close_quietly(watcher, 1011, "")

    async def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._closed = Closed(code, reason)
        try:
            await self._on_close(code, reason)
        finally:
            self.end()
            for watcher in tuple(self._watchers):
                await _close_quietly(watcher, code, reason)

    async def watch(self, watcher: FrameSocket) -> None:
        """Attach an owner's socket until it leaves or the call ends: it gets what the relay sends the client side
        from now on, and its frames go to the relay in order (at most ``MAX_PENDING`` waiting)."""
        if self._ended or self._closing:
            closed = self._closed or Closed(1000, "call ended")
            await _close_quietly(watcher, closed.code, closed.reason)
            return
        if len(self._watchers) >= MAX_WATCHERS:  # others attached since this one's handshake
            await _close_quietly(watcher, TooManyWatchers.close_code, "too many sideband connections")
            return
        self._watchers.append(watcher)
        try:
            await self._pump(watcher)
        finally:
            self._detach(watcher)
            if self._ended and not self._closing:  # the call is over; the relay's close follows for the others
                await _close_quietly(watcher, 1000, "call ended")

    async def _pump(self, watcher: FrameSocket) -> None:
        while not self._ended:
            item = await watcher.receive()
            if isinstance(item, Closed):
                return
            while len(self._frames) >= MAX_PENDING and not self._ended:
                self._room.clear()
                await self._room.wait()
            if self._ended:
                return
            self._frames.append(item)
            self._ready.set()

    def _detach(self, watcher: FrameSocket) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)


async def _close_quietly(watcher: FrameSocket, code: int, reason: str) -> None:
    try:
        await watcher.close(code, reason)
    except Exception:  # noqa: BLE001 - the watcher's connection may be gone already
        log.debug("a sideband watcher's close failed", exc_info=True)
