"""Bounded waits that never lose a cancellation.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives as its inner wait ends or times out
(CPython gh-86296, fixed in 3.12 by rebuilding it on ``asyncio.timeout``): a loop that waits with it and is stopped
by ``task.cancel()`` may then run on, and whoever awaits the task hangs. It happened here: the directory's
publisher, cancelled at shutdown, kept looping under load. :func:`within` is ``wait_for`` on ``asyncio.timeout``,
which counts cancellations (``uncancel``) and so always lets the caller's through.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

_T = TypeVar("_T")


async def within(awaitable: Awaitable[_T], timeout: float | None) -> _T:
    """Await ``awaitable`` for at most ``timeout`` seconds (``None``: no bound); ``TimeoutError`` past it."""
    async with asyncio.timeout(timeout):
        return await awaitable


def cancel_pending() -> None:
    """In a loop that only a cancellation stops: raise the cancellation a library swallowed meanwhile.

    redis-py (with fakeredis, under load) has returned normally from a command while a ``cancel()`` of the task was
    pending; a ``while True`` loop then runs on and its closer waits for ever. Call this once per lap, never in
    clean-up code that runs after a cancellation (it would raise there too)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
