"""Hostile clients against a mid-session handoff: the real gateway, the emulator as both routes' upstream, real Redis."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import GatewayFactory
from tests.integration.test_caps_e2e import Recorder, client_for
from tests.integration.test_handoff_e2e import MINI, _admin_handoff, _ask, _live_session_id, _setup, _start
from tests.support.audio import chunks, silence, speech


async def test_a_handoff_near_the_cap_does_not_give_the_target_an_unbounded_ceiling(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """After a switch on a $0.01-capped session, a reply the target starts itself (server VAD) runs with max_output_tokens
    bounded by what the cap leaves, not with the target's default "inf" (the old upstream's lowered ceiling does not carry over)."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix, caps='caps: {max_cost_usd: "0.01"}')
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        await _ask(conn, rec, "What is my balance?")
        session_id = await _live_session_id(gw)
        assert (await _admin_handoff(gw, session_id, "mini")).status_code == 200
        event = await rec.until("gateway.handoff", timeout=20.0)
        assert event["status"] == "completed", event
        vad = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
        await conn.session.update(session=vad)  # type: ignore[attr-defined]
        for chunk in chunks(speech(600) + silence(900)):
            await conn.input_audio_buffer.append(audio=chunk)  # type: ignore[attr-defined]
        await rec.until("response.done", timeout=20.0)
    target = emulator.sessions[-1]  # type: ignore[attr-defined]
    assert target.model == MINI
    limits = [config["max_output_tokens"] for config in target.response_configs]
    assert limits and all(isinstance(n, int) and n < 4096 for n in limits), limits
