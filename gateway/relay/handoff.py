"""The I/O of a mid-session handoff: open the target, replay, swap the upstream under the client.

The decisions are the core's (:mod:`gateway.core.handoff`; :mod:`gateway.core.kind_handoff` for which core serves
the target — the client's own, or one of the target's kind behind a kind bridge);
this module only awaits: the target's upstream (opened by a :class:`TargetOpener` through the same
pool, failover and admission checks as a new session), the old upstream's response in flight, the
sends of the replay and of the client frames held meanwhile. The swap itself is synchronous, after
the last held frame went out, so no client frame overtakes another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from gateway.core.errors import GatewayError
from gateway.core.handoff import HandoffRequest
from gateway.core.kind_handoff import Driver, PreparedSwitch, complete_switch, prepare_switch
from gateway.core.ports import Closed, Frame, FrameSocket
from gateway.core.session import HandoffTarget
from gateway.waiting import within

if TYPE_CHECKING:
    from gateway.relay.session import RelaySession

log = logging.getLogger("voice_gateway.relay.handoff")

#: how long the old model may finish the response it is giving before the switch cancels it
DRAIN_S: Final = 3.0
#: how long a cancelled response may take to report done
CANCEL_WAIT_S: Final = 0.5
#: how long the target may take to answer the replayed session.update (it carries the route's rules)
CONFIGURE_WAIT_S: Final = 5.0
_POLL_S: Final = 0.005


class Closer(Protocol):
    async def close(self) -> None: ...


@dataclass(slots=True)
class OpenedTarget:
    """A handoff target, open: its upstream, what the core needs of its route, and its tool runner."""

    upstream: FrameSocket
    endpoint: str
    target: HandoffTarget
    #: the target route's gateway tool runner, already sending to ``upstream`` (None: no gateway tools)
    runner: Closer | None = None


class TargetOpener(Protocol):
    """Opens a handoff target for one session (``gateway.inbound.handoff.SessionTargets``)."""

    async def open(self, to: str) -> OpenedTarget:
        """Resolve route ``to``, check the session may use it, connect its upstream; raise a GatewayError if not."""
        ...


async def _close_quietly(sock: FrameSocket | None, runner: Closer | None) -> None:
    with contextlib.suppress(Exception):
        if runner is not None:
            await runner.close()
        if sock is not None:
            await within(sock.close(1000, "handoff"), 1.0)


async def _drain_old_response(relay: "RelaySession") -> None:
    """Let the old model finish the response it is giving (bounded), then cancel what is left."""
    core, clock = relay.core, relay.clock
    deadline = clock() + DRAIN_S
    while core.response_in_flight and not relay.finished and clock() < deadline:
        await asyncio.sleep(_POLL_S)
    if core.response_in_flight and not relay.finished:
        for frame in core.cancel_frames():
            await relay.upstream.send(frame)
        deadline = clock() + CANCEL_WAIT_S
        while core.response_in_flight and not relay.finished and clock() < deadline:
            await asyncio.sleep(_POLL_S)


async def _await_configuration(relay: "RelaySession", upstream: FrameSocket) -> list[Frame] | str:
    """Read the target until it answers the replayed ``session.update``: the frames read (for the serving core, in
    order, once the switch completes), or why the switch cannot go on (refused, silent, dropped)."""
    handoff = relay.core.handoff
    assert handoff is not None
    early: list[Frame] = []
    deadline = relay.clock() + CONFIGURE_WAIT_S
    while not relay.finished:
        try:
            frame = await within(upstream.receive(), max(0.0, deadline - relay.clock()))
        except asyncio.TimeoutError:
            return "The new model did not confirm the session's configuration."
        if isinstance(frame, Closed):
            return "The target dropped while taking over."
        answer = handoff.configuration_answer(frame)
        if answer is False:
            return "The new model refused the session's configuration."
        early.append(frame)
        if answer:
            break
    return early


async def _send_held(relay: "RelaySession", upstream: FrameSocket, driver: Driver) -> bool:
    """Send the client frames held so far (and any that arrive meanwhile) to ``upstream``, decided by the ``driver``
    that serves it, in order."""
    handoff = relay.core.handoff
    assert handoff is not None
    while handoff.has_held and not relay.finished:
        emit = driver.release_held(relay.clock())
        for frame in emit.to_upstream:
            await upstream.send(frame)
        for frame in emit.to_client:
            relay.send_client(frame)
        if emit.close is not None:
            relay.terminate(emit.close)
            return False
    return not relay.finished


async def _fail(relay: "RelaySession", message: str, prepared: PreparedSwitch | None = None) -> None:
    """Stay on the old upstream: tell the client, answer a transfer call, replay the held frames there."""
    core = relay.core
    if prepared is not None:
        prepared.abandon()
    emit = core.handoff_failed(relay.clock(), message)
    for frame in emit.to_client:
        relay.send_client(frame)
    try:
        for out in emit.to_upstream:
            await relay.upstream.send(out)
        await _send_held(relay, relay.upstream, relay.driver)
    except Exception as exc:  # noqa: BLE001 - the old upstream is gone too: the session ends as a drop
        relay.upstream_failed(exc)
    if core.handoff is not None and core.handoff.has_held:
        core.handoff.take_held()  # the session ended meanwhile: nothing to send them to
    core.handoff_settled()


async def run_handoff(relay: "RelaySession", opener: TargetOpener, request: HandoffRequest) -> None:
    """One switch, from the core's ``begin()`` to completed (the target serves) or failed (the old one still does)."""
    try:
        opened = await opener.open(request.to)
    except GatewayError as exc:
        await _fail(relay, exc.client_message)
        return
    except Exception:  # noqa: BLE001 - a target that cannot be opened leaves the session where it was
        log.warning("handoff target failed to open", exc_info=True, extra={"session_id": relay.session_id})
        await _fail(relay, "The target could not be reached.")
        return
    if relay.finished:
        await _close_quietly(opened.upstream, opened.runner)
        return
    if not relay.can_relay(opened.upstream):
        await _close_quietly(opened.upstream, opened.runner)
        await _fail(relay, "The target's connection cannot be relayed by this session.")
        return
    prepared: PreparedSwitch | None = None
    try:
        await _drain_old_response(relay)
        prepared = prepare_switch(relay.home, relay.driver, opened.target, relay.clock())
        for frame in prepared.to_client:
            relay.send_client(frame)
        configuration, *rest = prepared.frames
        await opened.upstream.send(configuration)
        # nothing else goes to the target before it has accepted the route's rules: a refused configuration (a
        # setting the target does not take) would otherwise leave replies asked meanwhile without them
        early = await _await_configuration(relay, opened.upstream)
        if isinstance(early, str):
            await _close_quietly(opened.upstream, opened.runner)
            if not relay.finished:
                await _fail(relay, early, prepared)
            return
        for frame in rest:
            await opened.upstream.send(frame)
        if not await _send_held(relay, opened.upstream, prepared.driver):
            await _close_quietly(opened.upstream, opened.runner)
            return
    except GatewayError as exc:
        await _close_quietly(opened.upstream, opened.runner)
        await _fail(relay, exc.client_message, prepared)
        return
    except Exception:  # noqa: BLE001 - the target dropped while being configured
        log.warning("handoff target failed while replaying", exc_info=True, extra={"session_id": relay.session_id})
        await _close_quietly(opened.upstream, opened.runner)
        await _fail(relay, "The target dropped while taking over.", prepared)
        return
    if relay.finished:
        await _close_quietly(opened.upstream, opened.runner)
        return
    # synchronous from here to the swap: no frame of either side is handled in between. The core
    # completes first: a push socket hands over the target's queued frames while it is attached.
    for frame in complete_switch(relay.driver, prepared.driver, relay.clock()):
        relay.send_client(frame)
    relay.serve_with(prepared.driver)
    old_upstream = relay.swap_upstream(opened.upstream, first=early)
    old_runner, relay.tool_runner = relay.tool_runner, opened.runner
    log.info("handoff completed", extra={"session_id": relay.session_id, "to": request.to, "upstream": opened.endpoint})
    relay.retire(_close_quietly(old_upstream, old_runner))
