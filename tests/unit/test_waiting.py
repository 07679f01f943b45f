"""A bounded wait (``gateway.waiting.within``) times out like ``wait_for`` and never loses a cancellation."""

from __future__ import annotations

import asyncio
import sys
from typing import Awaitable, Callable

import pytest

from gateway.waiting import cancel_pending, within

Waiter = Callable[[Awaitable[bool], float], Awaitable[bool]]


async def _laps_after_cancel(wait: Waiter) -> tuple[bool, int]:
    """A loop waiting on an event with ``wait``; the event is set and the loop cancelled in the same pass."""
    event = asyncio.Event()
    laps = 0

    async def loop() -> None:
        nonlocal laps
        while True:
            laps += 1
            await wait(event.wait(), 10)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    stopped = task.done()
    task.cancel()
    return stopped, laps


async def test_a_loop_cancelled_as_its_wait_ends_stops() -> None:
    """The cancellation that races the event's set ends the loop after its first lap."""
    assert await _laps_after_cancel(within) == (True, 1)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's wait_for is built on asyncio.timeout")
async def test_python_311_wait_for_loses_that_cancellation() -> None:
    """The same loop on 3.11's ``asyncio.wait_for`` runs on (the reason ``within`` exists; gh-86296)."""
    assert await _laps_after_cancel(asyncio.wait_for) == (False, 2)


async def test_a_wait_past_its_bound_raises_timeout_error() -> None:
    """Past ``timeout`` seconds the wait raises ``TimeoutError``; within it the result comes back."""
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.01)
    assert await within(asyncio.sleep(0, result="done"), 1.0) == "done"


async def test_a_loop_that_checks_each_lap_stops_when_a_library_swallowed_its_cancellation() -> None:
    """A call that catches the task's cancellation and returns normally no longer keeps the loop running."""


    laps = 0
    swallowing = asyncio.Event()

    async def swallows() -> None:  # as redis-py did under load
        swallowing.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return

    async def loop() -> None:
        nonlocal laps
        while True:
            cancel_pending()
            laps += 1
            await swallows()

    task = asyncio.create_task(loop())
    await swallowing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task, 1.0)
    assert laps == 1
