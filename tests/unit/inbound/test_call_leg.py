"""A direct call's client side: the end of the call, and its owner's sideband watchers (fan-out, merge, limits)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.errors import TooManyWatchers
from gateway.core.ports import Closed, Frame
from gateway.inbound.calls.leg import MAX_PENDING, MAX_WATCHERS, CallLeg


class Watcher:
    """A FrameSocket an owner's server stands behind: frames it will send, what it got, how it was closed."""

    def __init__(self, *, broken: bool = False) -> None:
        self.inbound: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self.got: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        self.reads = 0
        self.broken = broken

    async def receive(self) -> Frame | Closed:
        self.reads += 1
        return await self.inbound.get()

    async def send(self, frame: Frame) -> None:
        if self.broken:
            raise ConnectionResetError
        self.got.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.inbound.put_nowait(Closed(code, reason))


def _leg(closes: list[tuple[int, str]]) -> CallLeg:
    async def on_close(code: int, reason: str) -> None:
        closes.append((code, reason))

    return CallLeg(on_close)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_without_a_watcher_what_the_relay_sends_is_counted() -> None:
    """No owner attached: frames for the client side are counted as undelivered."""
    leg = _leg([])
    await leg.send('{"type":"response.done"}')
    assert leg.undelivered == 1


async def test_a_watcher_hears_every_frame_and_its_frames_reach_the_relay_in_order() -> None:
    """Frames sent after the attach reach the watcher; its own frames come out of ``receive`` in order."""
    leg, watcher = _leg([]), Watcher()
    task = asyncio.create_task(leg.watch(watcher))
    await _settle()
    await leg.send("a")
    for frame in ("x", "y"):
        watcher.inbound.put_nowait(frame)
    assert [await leg.receive(), await leg.receive()] == ["x", "y"]
    assert watcher.got == ["a"] and leg.undelivered == 0
    watcher.inbound.put_nowait(Closed(1000, "bye"))
    await task
    assert leg.watchers == 0


async def test_a_watcher_is_read_no_further_while_the_relay_has_a_backlog() -> None:
    """With MAX_PENDING frames waiting, the watcher's socket is not read again until the relay takes one."""
    leg, watcher = _leg([]), Watcher()
    for i in range(MAX_PENDING + 5):
        watcher.inbound.put_nowait(f"f{i}")
    task = asyncio.create_task(leg.watch(watcher))
    await _settle()
    assert watcher.reads == MAX_PENDING + 1  # the last one read waits for room
    assert await leg.receive() == "f0"
    await _settle()
    assert watcher.reads == MAX_PENDING + 2
    task.cancel()


async def test_closing_the_leg_ends_the_call_once_and_closes_every_watcher_with_the_sessions_code() -> None:
    """A cap's close (4100) reaches each watcher; on_close runs once; ``receive`` then says the call ended."""
    closes: list[tuple[int, str]] = []
    leg, first, second = _leg(closes), Watcher(), Watcher()
    tasks = [asyncio.create_task(leg.watch(w)) for w in (first, second)]
    await _settle()
    await leg.close(4100, "cost cap")
    await leg.close(4100, "cost cap")
    await asyncio.gather(*tasks)
    assert closes == [(4100, "cost cap")]
    assert first.closed == second.closed == (4100, "cost cap")
    assert isinstance(await leg.receive(), Closed)


async def test_a_watcher_after_the_end_is_closed_at_once_with_the_calls_close() -> None:
    """Attaching to a call that already ended closes the watcher with the code the call ended with."""
    leg, late = _leg([]), Watcher()
    await leg.close(1000, "call ended")
    await leg.watch(late)
    assert late.closed == (1000, "call ended")


async def test_a_call_takes_a_bounded_number_of_watchers() -> None:
    """The handshake refuses one more than MAX_WATCHERS; one attached anyway is closed with 1013."""
    leg = _leg([])
    watchers = [Watcher() for _ in range(MAX_WATCHERS)]
    tasks = [asyncio.create_task(leg.watch(w)) for w in watchers]
    await _settle()
    with pytest.raises(TooManyWatchers):
        leg.check_room()
    extra = Watcher()
    await leg.watch(extra)
    assert extra.closed is not None and extra.closed[0] == 1013
    await leg.close(1000, "done")
    await asyncio.gather(*tasks)


async def test_a_broken_watcher_is_dropped_and_the_others_still_hear_the_call() -> None:
    """A watcher whose socket fails on write is detached; the next watcher gets the frame."""
    leg, broken, good = _leg([]), Watcher(broken=True), Watcher()
    tasks = [asyncio.create_task(leg.watch(w)) for w in (broken, good)]
    await _settle()
    await leg.send("event")
    assert good.got == ["event"] and leg.watchers == 1 and broken.closed == (1011, "")
    await leg.close(1000, "done")
    await asyncio.gather(*tasks)
