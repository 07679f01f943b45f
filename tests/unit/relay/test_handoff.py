"""The relay's side of a handoff, in both strategies: frames held during the switch go to the target in order,
the old upstream is closed; a target that cannot be opened leaves everything on the old one, in order."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest

from gateway.core.errors import UpstreamUnavailable
from gateway.core.handoff import Handoff, HandoffRules, HandoffState
from gateway.core.kinds import Dialect, EndpointKind, SessionKind
from gateway.core.observers import RetiredUsage, SessionInfo
from gateway.core.ports import Closed, Frame, FrameSocket
from gateway.core.routing import Route, RouteDecision, SessionOverrides
from gateway.core.session import HandoffTarget, SessionCore
from gateway.relay.failsafe import FailsafeObserver
from gateway.relay.handoff import OpenedTarget
from gateway.relay.session import RelaySession
from tests.unit.relay.test_pull import MemSocket
from tests.unit.relay.test_push import Clock, PushMem
from tests.unit.relay.test_session import Recorder


def _append(marker: int) -> str:
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes([marker]) * 480).decode()}).decode()


UPDATED = orjson.dumps({"type": "session.updated", "session": {"type": "realtime"}}).decode()


class PushTarget(PushMem):
    """A target (push) that accepts the replayed configuration: a session.update is answered with session.updated."""

    async def send(self, frame: Frame) -> None:
        await super().send(frame)
        if '"session.update"' in str(frame):
            self.push(UPDATED)


class PullTarget(MemSocket):
    """A target (pull) that accepts the replayed configuration: a session.update is answered with session.updated."""

    async def send(self, frame: Frame) -> None:
        await super().send(frame)
        if '"session.update"' in str(frame):
            self.inbox.put_nowait(UPDATED)


def _target(mode: str) -> PushMem | MemSocket:
    return PushTarget() if mode == "push" else PullTarget()


class Opener:
    """Opens the target once the test lets it (``gate``), or fails."""

    def __init__(self, target: FrameSocket | None) -> None:
        self.target = target
        self.gate = asyncio.Event()

    async def open(self, to: str) -> OpenedTarget:
        await self.gate.wait()
        if self.target is None:
            raise UpstreamUnavailable("The target could not be reached.")
        return OpenedTarget(upstream=self.target, endpoint="b", target=HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides()))


def _relay(client: object, upstream: object, opener: Opener | KindOpener, clock: Clock, targets: tuple[str, ...] = ("mini",),
           observers: list[object] | None = None) -> RelaySession:
    route = Route(kind=SessionKind.REALTIME, model="gpt-realtime-2", upstreams=("a",), name="agent")
    info = SessionInfo(session_id="s1", endpoint=EndpointKind.REALTIME, kind=SessionKind.REALTIME, dialect=Dialect.GA,
                       requested_model=None, decision=RouteDecision(rule_id="r", reason="t", route=route), route=route)
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=clock.now,
                       handoff=Handoff(HandoffRules(targets=targets), "agent", "gpt-realtime-2"))
    return RelaySession(info=info, core=core, client=client, upstream=upstream, observers=observers or [],  # type: ignore[arg-type]
                        clock=clock, opener=opener)


async def _send(client: PushMem | MemSocket, frame: Frame | Closed) -> None:
    if isinstance(client, PushMem):
        client.push(frame)
    else:
        client.inbox.put_nowait(frame)
    for _ in range(5):
        await asyncio.sleep(0)


async def _settled(relay: RelaySession) -> None:
    assert relay.core.handoff is not None
    for _ in range(500):
        if relay.core.handoff.state is HandoffState.IDLE and relay.core.handoff.current is None:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the switch did not settle")


def _client_events(client: PushMem | MemSocket) -> list[dict]:
    return [orjson.loads(f) for f in client.sent]


def _appends(sock: PushMem | MemSocket) -> list[Frame]:
    return [f for f in sock.sent if '"input_audio_buffer.append"' in str(f)]


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_frames_sent_during_the_switch_reach_the_target_in_order(mode: str) -> None:
    """Before: old upstream; during: held; after the swap: the held ones first, then the rest, all on the target."""
    make = PushMem if mode == "push" else MemSocket
    client, old, new, clock = make(), make(), _target(mode), Clock()
    opener = Opener(new)
    relay = _relay(client, old, opener, clock)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert relay.push_mode is (mode == "push")
    await _send(client, _append(1))
    assert relay.request_handoff("mini", "operator") is None
    await _send(client, _append(2))
    await _send(client, _append(3))
    assert _appends(old) == [_append(1)] and _appends(new) == []
    opener.gate.set()
    await _settled(relay)
    await _send(client, _append(4))
    assert _appends(new) == [_append(2), _append(3), _append(4)]
    assert orjson.loads(new.sent[0])["type"] == "session.update"  # the replay goes first
    assert _appends(old) == [_append(1)] and old.closed == (1000, "handoff")
    handoff = [e for e in _client_events(client) if e["type"] == "gateway.handoff"]
    assert [(e["status"], e["to"]) for e in handoff] == [("completed", "mini")]
    await _send(old, '{"type":"response.created","response":{"id":"late"}}')  # the old one is not heard any more
    assert all(e.get("response", {}).get("id") != "late" for e in _client_events(client))
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)
    assert new.closed is not None


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_an_unreachable_target_leaves_every_frame_on_the_old_upstream_in_order(mode: str) -> None:
    """The opener fails: the client hears failed, the held frames go to the old upstream, then later ones."""
    make = PushMem if mode == "push" else MemSocket
    client, old, clock = make(), make(), Clock()
    opener = Opener(None)
    relay = _relay(client, old, opener, clock)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    await _send(client, _append(1))
    assert relay.request_handoff("mini", "operator") is None
    await _send(client, _append(2))
    opener.gate.set()
    await _settled(relay)
    await _send(client, _append(3))
    assert _appends(old) == [_append(1), _append(2), _append(3)] and old.closed is None
    (event,) = [e for e in _client_events(client) if e["type"] == "gateway.handoff"]
    assert (event["status"], event["message"]) == ("failed", "The target could not be reached.")
    assert relay.request_handoff("nowhere", "x") == "route 'nowhere' is not a handoff target of route 'agent'"
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)


class KindOpener:
    """Opens a translation target for ``translate`` and a voice-agent target for anything else, one socket each."""

    def __init__(self, sockets: dict[str, FrameSocket]) -> None:
        self.sockets = sockets

    async def open(self, to: str) -> OpenedTarget:
        if to == "translate":
            target = HandoffTarget(model="gpt-realtime-translate", overrides=SessionOverrides(), kind=SessionKind.TRANSLATION,
                                   language="es", rules=HandoffRules(targets=("agent",)))
        else:
            target = HandoffTarget(model="gpt-realtime-2", overrides=SessionOverrides(), rules=HandoffRules(targets=("translate",)))
        return OpenedTarget(upstream=self.sockets[to], endpoint=to, target=target)


LOUD = base64.b64encode(b"\x40\x1f\xc0\xe0" * 2400).decode()  # 200 ms of ±8000: speech to the bridge


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_a_switch_to_another_kind_drives_the_bridge_and_back_the_clients_own_core(mode: str) -> None:
    """Agent → translation: held and later appends reach the translation upstream as translation appends, its speech
    comes back as a realtime response; translation → agent: the relay drives the client's own core again."""
    make = PushMem if mode == "push" else MemSocket
    client, old, translate, agent, clock = make(), make(), _target(mode), _target(mode), Clock()
    relay = _relay(client, old, KindOpener({"translate": translate, "agent": agent}), clock, targets=("translate",))
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert relay.request_handoff("translate", "operator") is None
    await _send(client, _append(1))
    await _settled(relay)
    await _send(client, _append(2))
    assert relay.driver is not relay.home and relay.core.kind is SessionKind.TRANSLATION
    sent = [orjson.loads(f) for f in translate.sent]
    assert sent[0]["type"] == "session.update" and sent[0]["session"]["audio"]["output"] == {"language": "es"}
    assert [base64.b64decode(e["audio"])[0] for e in sent if e["type"] == "session.input_audio_buffer.append"] == [1, 2]
    await _send(translate, orjson.dumps({"type": "session.output_audio.delta", "delta": LOUD}).decode())
    types = [e["type"] for e in _client_events(client)]
    assert types.index("gateway.handoff") < types.index("response.created") < types.index("response.output_audio.delta")
    assert relay.request_handoff("agent", "operator") is None
    await _settled(relay)
    await _send(client, _append(3))
    assert relay.driver is relay.home and relay.core is relay.home
    assert _appends(agent) == [_append(3)] and translate.closed == (1000, "handoff")
    handoffs = [(e["status"], e["to"]) for e in _client_events(client) if e["type"] == "gateway.handoff"]
    assert handoffs == [("completed", "translate"), ("completed", "agent")]
    types = [e["type"] for e in _client_events(client)]
    assert types.index("response.done") < len(types) - 1 - types[::-1].index("gateway.handoff")  # the bridged reply closed first
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)


class SlowClose(MemSocket):
    """An upstream whose close handshake never finishes (the relay gives it a second)."""

    async def close(self, code: int, reason: str) -> None:
        await asyncio.Event().wait()


async def test_a_switch_right_after_another_holds_at_once_while_the_old_upstream_still_closes() -> None:
    """The old upstream's close is not part of the switch: a handoff asked for right after one completed begins at
    once (client frames held), instead of waiting for that close while frames still flow to the serving upstream."""
    client, old, agent, clock = MemSocket(), SlowClose(), PullTarget(), Clock()
    translate = PullTarget()
    relay = _relay(client, old, KindOpener({"translate": translate, "agent": agent}), clock, targets=("translate",))
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert relay.request_handoff("translate", "operator") is None
    await _settled(relay)
    assert relay.request_handoff("agent", "operator") is None
    assert relay.core.handoff is not None and relay.core.handoff.state is HandoffState.OPENING  # begun: frames held
    await _settled(relay)
    assert relay.driver is relay.home
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)
@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_the_old_upstreams_late_usage_reaches_the_core_as_its_own_until_it_closes(mode: str) -> None:
    """After the swap the old upstream still reports the reply it was giving (response.done with usage): it never
    reaches the client, and the observers get it as the old model's usage (RetiredUsage), not the new model's."""
    make = PushMem if mode == "push" else MemSocket
    client, old, new, clock = make(), make(), _target(mode), Clock()
    opener, recorder = Opener(new), Recorder()
    relay = _relay(client, old, opener, clock, observers=[FailsafeObserver(recorder, "recorder")])
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert relay.request_handoff("mini", "operator") is None
    opener.gate.set()
    await _settled(relay)
    usage = {"total_tokens": 90, "input_tokens": 40, "output_tokens": 50}
    await _send(old, orjson.dumps({"type": "response.done", "response": {"id": "late", "status": "cancelled", "usage": usage}}).decode())
    assert all(e.get("response", {}).get("id") != "late" for e in _client_events(client))
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)
    (late,) = [e for e in recorder.events if isinstance(e, RetiredUsage)]
    assert (late.model, late.response_id, late.usage) == ("gpt-realtime-2", "late", usage)


class Refusing(MemSocket):
    """A target that refuses the replayed configuration (an error naming its event id), or closes, or stays silent."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def send(self, frame: Frame) -> None:
        await super().send(frame)
        if '"session.update"' not in str(frame):
            return
        if self.answer == "refuse":
            event_id = orjson.loads(frame)["event_id"]
            self.inbox.put_nowait(orjson.dumps({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                                                           "message": "no", "event_id": event_id}}).decode())
        elif self.answer == "close":
            self.inbox.put_nowait(Closed(1011, "gone"))


@pytest.mark.parametrize(("answer", "message"), [
    ("refuse", "The new model refused the session's configuration."),
    ("close", "The target dropped while taking over."),
    ("silent", "The new model did not confirm the session's configuration."),
])
async def test_a_target_that_does_not_accept_the_configuration_gets_nothing_else(
    answer: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused, dropped or unanswered: only the configuration reached the target (no replayed turn, no held frame, no
    reply asked), the target is closed, the client hears failed and the held frames go to the old upstream in order."""
    monkeypatch.setattr("gateway.relay.handoff.CONFIGURE_WAIT_S", 0.05)
    client, old, target, clock = MemSocket(), MemSocket(), Refusing(answer), Clock()
    opener = Opener(target)
    relay = _relay(client, old, opener, clock)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0)
    assert relay.request_handoff("mini", "operator") is None
    await _send(client, _append(1))
    await _send(client, '{"type":"response.create"}')
    opener.gate.set()
    await _settled(relay)
    assert [orjson.loads(f)["type"] for f in target.sent] == ["session.update"] and target.closed == (1000, "handoff")
    assert _appends(old) == [_append(1)] and old.sent[-1] == '{"type":"response.create"}'
    for _ in range(500):  # the client's writer sends the notice on its own turn of the loop
        if any(e["type"] == "gateway.handoff" for e in _client_events(client)):
            break
        await asyncio.sleep(0.001)
    (event,) = [e for e in _client_events(client) if e["type"] == "gateway.handoff"]
    assert (event["status"], event["message"]) == ("failed", message)
    assert relay.driver is relay.home and not relay.finished
    await _send(client, Closed(1000))
    await asyncio.wait_for(task, 5)
