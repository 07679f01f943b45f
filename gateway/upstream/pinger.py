"""One keep-alive pinger for every picows socket of a kind, instead of picows' auto-ping task per socket.

picows' auto-ping runs a task per connection (its coroutine, a sleep future and a timer while it waits: ~0.6 KiB,
two per session). A :class:`Pinger` keeps the same rule for all the sockets given to it with one timer on the
event loop: a socket that has received no frame for ``interval_s`` is sent a PING; if no PONG comes back within
``timeout_s`` it is sent a close (1001, the reason picows gives) and its connection is aborted right after, as
picows does. A socket's listener notes each frame it receives in its ``_seen`` flag (one store per frame, in C
when compiled); a sweep every eighth of the shorter period reads and clears the flags, so a ping goes out up to
that much later than picows' would (and never earlier). picows still answers the peer's PINGs itself
(auto-pong), and a PONG reaches the socket's ``slow_frame``, which calls :meth:`PingedSocket.pong_received`.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from picows import WSCloseCode, WSTransport

#: how soon after the close frame a silent peer's connection is aborted (picows' own delay)
ABORT_AFTER_S: Final = 0.01
#: sweeps per the shorter of the two periods
SWEEPS_PER_PERIOD: Final = 8


class PingedSocket(Protocol):
    """What the pinger reads and sets on a socket (the picows frame socket's fields)."""

    transport: WSTransport | None
    #: a frame was received since the last sweep (set by the listener on every frame)
    _seen: bool
    #: loop time since which no frame was seen (as of a sweep)
    _idle_since: float
    #: loop time by which a PONG is due (0.0: no PING outstanding)
    _pong_due: float


class Pinger:
    """Pings idle sockets and drops the ones that do not answer, for every socket :meth:`add` was given."""

    __slots__ = ("interval_s", "timeout_s", "period_s", "_sockets", "_timer", "_loop")

    def __init__(self, interval_s: float, timeout_s: float) -> None:
        if not 0 < timeout_s <= interval_s:
            raise ValueError("the pong timeout must be positive and no longer than the ping interval")
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.period_s = timeout_s / SWEEPS_PER_PERIOD
        #: the sockets being kept alive (a dict: ordered, and a removal during a sweep is safe)
        self._sockets: dict[PingedSocket, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, sock: PingedSocket) -> None:
        """Keep ``sock`` alive from now on (its listener connected; it is idle from now)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests run several): what the old one held is gone with it
            self._sockets.clear()
            self._timer = None
            self._loop = loop
        sock._seen = False
        sock._idle_since = loop.time()
        sock._pong_due = 0.0
        self._sockets[sock] = None
        if self._timer is None:
            self._timer = loop.call_at(sock._idle_since + self.period_s, self._sweep)

    def discard(self, sock: PingedSocket) -> None:
        """Stop pinging ``sock`` (its connection is gone)."""
        self._sockets.pop(sock, None)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        interval, timeout = self.interval_s, self.timeout_s
        for sock in list(self._sockets):
            transport = sock.transport
            if transport is None or transport.is_disconnected:
                del self._sockets[sock]
                continue
            if sock._seen:
                sock._seen = False
                sock._idle_since = now
            due = sock._pong_due
            if due:
                if now >= due:
                    del self._sockets[sock]
                    _drop(loop, transport, timeout)
            elif now - sock._idle_since >= interval and not transport.is_close_frame_sent:
                sock._pong_due = now + timeout
                transport.send_ping()
        self._timer = loop.call_at(now + self.period_s, self._sweep) if self._sockets else None


def _drop(loop: asyncio.AbstractEventLoop, transport: WSTransport, timeout_s: float) -> None:
    """No PONG in time: what picows' auto-ping does (a 1001 close frame, then abort without waiting for it)."""
    if not transport.is_close_frame_sent:
        transport.send_close(
            WSCloseCode.GOING_AWAY, f"peer has not replied to ping/heartbeat request within {timeout_s} second(s)".encode()
        )
    loop.call_later(ABORT_AFTER_S, transport.underlying_transport.abort)
