"""Barge-in on the terminating WebRTC bridge: the bridge's exact cut reaches the core, which adds only the cancel."""

from __future__ import annotations

import asyncio

import orjson

from gateway.core.barge_in import BargeInMeasured, BargeInPolicy
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.session import FORWARD, SessionCore
from tests.unit.webrtc.test_socket import _delta, _socket


async def test_bridge_truncates_at_what_it_played_and_the_core_cancels_the_running_response() -> None:
    """The bridge plays 140 ms, the user speaks: truncate at exactly 140 ms (no estimate), then only response.cancel;
    talk-over runs until the bridge's cut."""
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, barge_in=BargeInPolicy(grace_ms=150))
    sock, channel = _socket()
    sock.issue_event_ids_with(core.bridge_ids.issue)  # as session set-up wires the bridge to its core
    item = {"id": "item_1", "type": "message", "role": "assistant", "content": []}
    upstream = [
        orjson.dumps({"type": "response.created", "response": {"id": "resp_1"}}).decode(),
        orjson.dumps({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0, "item": item}).decode(),
        _delta(1000),
    ]
    for frame in upstream:
        action = core.from_upstream(frame, 0.0)
        for out in [frame] if action is FORWARD else action.to_client:
            await sock.send(out)
    for _ in range(7):
        sock.playout.next_frame()
    speech = '{"type":"input_audio_buffer.speech_started","item_id":"item_u","audio_start_ms":10}'
    action = core.from_upstream(speech, 0.3)
    for out in [speech] if action is FORWARD else action.to_client:
        await sock.send(out)
    truncate = await asyncio.wait_for(sock.receive(), 1)
    action = core.from_client(truncate, 0.32)  # type: ignore[arg-type] - the bridge's cut reaches the core 20 ms later
    assert action is not FORWARD and orjson.loads(action.to_upstream[0])["audio_end_ms"] == 140
    emit = core.tick(0.45)
    assert [orjson.loads(f)["type"] for f in emit.to_upstream] == ["response.cancel"]
    notice = orjson.loads(emit.to_client[0])
    assert notice["type"] == "gateway.barge_in" and notice["audio_end_ms"] == 140
    [measured] = [e for e in core.take_events() if isinstance(e, BargeInMeasured)]
    assert measured.stopped_by == "gateway" and measured.audio_end_ms == 140
    assert measured.talk_over_ms == 20  # until the bridge's cut, not first delivery + 140 ms (before the speech)
    assert "output_audio_buffer.cleared" in channel.types()
