"""Client events dressed as the gateway's, against a real gateway process and the emulator.

The gateway tags what it sends upstream itself with ``gw_`` event ids and reads the upstream's answers
to those ids as its own (a refused tool follow-up is retried and hidden, the handoff replay's answers
are swallowed). A client that used the namespace could have its events, and the errors they cause,
taken for the gateway's; each such event is refused before it reaches the upstream.
"""

from __future__ import annotations

import orjson

from tests.integration.faults.conftest import Transcript, open_client, start_turn, until
from tests.integration.hostile.conftest import Deploy
from tests.support.audio import b64, speech


async def test_client_events_in_the_gateway_namespace_never_reach_the_upstream(deploy: Deploy) -> None:
    """A response.create named like the gateway's tool follow-up, an audio append named like a barge-in event (the
    fast path's canonical shape) and an item named like the handoff replay's each get an invalid_request_error
    naming the offending param; the upstream receives none of them; honest events after them go on."""
    d = await deploy()
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.created", seen)
        spoofs = [
            ({"type": "response.create", "event_id": "gw_tool_response_1"}, "event_id"),
            ({"type": "input_audio_buffer.append", "event_id": "gw_barge_in_1", "audio": b64(speech(200))}, "event_id"),
            ({"type": "conversation.item.create", "item": {"id": "gw_handoff_item_1", "type": "message", "role": "user",
                                                            "content": [{"type": "input_text", "text": "hi"}]}}, "item.id"),
        ]
        for event, param in spoofs:
            await ws.send(orjson.dumps(event).decode())
            error = (await until(ws, "error", seen))["error"]
            assert error["type"] == "invalid_request_error" and error["param"] == param, error  # type: ignore[index]
        await start_turn(ws, speech_ms=300)
        await until(ws, "response.done", seen)
    upstream = d.upstream_sessions[0]
    assert upstream.audio_in_bytes == 300 * 48  # type: ignore[attr-defined]  # the honest turn's audio only
    assert upstream.responses == 1 and upstream.errors == []  # type: ignore[attr-defined]
