"""Barge-in on direct-media calls: the upstream plays the audio, the gateway watches and acts through the sideband.

A scripted aiortc caller talks to the emulator's calls API directly (server VAD *without*
``interrupt_response``, so the upstream keeps talking unless someone stops it); the gateway
follows the call on its sideband. Forgetful, correct and late callers; the gateway's own
measurement is read from its ``voice_gateway.barge_in.talk_over`` histogram and the session record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.emulator import EmulatorHandle, start_emulator
from tests.integration.calls.conftest import calls_env, policy_file
from tests.integration.calls.test_direct_webrtc import upstream_call
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.integration.test_caps_e2e import session_records
from tests.support.barge_in import talk_over
from tests.support.rtc import RtcCaller

pytestmark = pytest.mark.redis
GRACE_MS = 150
NO_AUTO_INTERRUPT = {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Be brief.",
                     "audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}}


@pytest.fixture
async def long_calls_emulator() -> AsyncIterator[EmulatorHandle]:
    """Paced like the real service, 20 s replies: the answer still plays (and generates) when the caller barges in."""
    handle = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=20000, chunk_ms=100, pace=True, asr_ms=50)
    yield handle
    await handle.close()


async def _barge_in(gw: GatewayProcess, emulator: EmulatorHandle, caller: RtcCaller) -> dict[str, object]:
    """Call, ask, let 600 ms of the answer play, speak over it; the first item truncated upstream."""
    reply = await caller.call(gw.http_url, gw.key, NO_AUTO_INTERRUPT)
    assert reply.status_code == 201, reply.text
    await upstream_call(emulator)
    await asyncio.wait_for(caller.channel_open.wait(), 10)
    caller.mic.say(900)
    await caller.wait_heard(15)
    await asyncio.sleep(0.6)
    caller.mic.say(600)
    return await caller.wait_for("conversation.item.truncated", 15)


async def _gateway_measure(gw: GatewayProcess, stopped_by: str) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        measured = await asyncio.to_thread(talk_over, gw.http_url)
        if stopped_by in measured:
            assert set(measured) == {stopped_by}, measured
            assert measured[stopped_by].count == 1, measured
            return measured[stopped_by].mean_ms
        await asyncio.sleep(0.1)
    raise AssertionError(f"no interruption stopped by {stopped_by} measured: {measured}\n{gw.log_text()[-3000:]}")


def _errors(caller: RtcCaller) -> list[object]:
    return [e.get("error") for e in caller.events if e.get("type") == "error"]


async def test_forgetful_caller_is_stopped_through_the_sideband(
    gateway_factory: GatewayFactory, long_calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The caller never stops the answer: after the grace period the gateway cancels and clears over the sideband, the
    upstream truncates at what it played, no error; talk-over is about the grace period (gateway-measured)."""
    env = calls_env(long_calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller = RtcCaller()
    try:
        truncated = await _barge_in(gw, long_calls_emulator, caller)
        cancelled = await caller.wait_for("response.done", 10)
        talk_ms = await _gateway_measure(gw, "gateway")
    finally:
        await caller.close()
    assert cancelled["response"]["status"] == "cancelled"  # type: ignore[index]
    assert 600 - 40 <= int(truncated["audio_end_ms"]) < 20000  # type: ignore[arg-type]
    assert caller.types().count("conversation.item.truncated") == 1 and _errors(caller) == []
    assert "output_audio_buffer.cleared" in caller.types()
    assert GRACE_MS <= talk_ms < 2000, talk_ms  # generous: a loaded host; the figure itself goes in the report
    [record] = await asyncio.to_thread(session_records, redis_url, redis_prefix, timeout_s=10)
    assert record["interruptions"] == "1"
    print(f"\ndirect call, forgetful caller: talk-over {talk_ms:.0f} ms (gateway-measured), "
          f"truncated at {truncated['audio_end_ms']} ms")


async def test_caller_that_cancels_and_clears_itself_is_left_alone(
    gateway_factory: GatewayFactory, long_calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The caller sends response.cancel and output_audio_buffer.clear on speech_started: the gateway sends nothing
    (one clear, one truncation, no error) and counts the client's stop."""
    env = calls_env(long_calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller = RtcCaller()

    def stop(_event: dict[str, object]) -> None:
        if caller.first_heard_at is not None and "conversation.item.truncated" not in caller.types():
            caller.send({"type": "response.cancel"})
            caller.send({"type": "output_audio_buffer.clear"})

    caller.on["input_audio_buffer.speech_started"] = stop
    try:
        await _barge_in(gw, long_calls_emulator, caller)
        await caller.wait_for("response.done", 10)
        await _gateway_measure(gw, "client")
        await asyncio.sleep(0.5)
    finally:
        await caller.close()
    assert caller.types().count("conversation.item.truncated") == 1
    assert caller.types().count("output_audio_buffer.cleared") == 1 and _errors(caller) == []


async def test_caller_that_cancels_late_gets_only_its_own_refusal(
    gateway_factory: GatewayFactory, long_calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The caller cancels and clears 500 ms after speech_started, after the gateway did: its cancel goes straight to
    the upstream (the gateway cannot drop it) and is refused as not active — the only error; truncated once."""
    env = calls_env(long_calls_emulator, redis_url, redis_prefix, VOICE_GATEWAY_POLICY_FILES=str(policy_file(tmp_path)))
    gw = gateway_factory(env=env)
    caller = RtcCaller()
    loop = asyncio.get_running_loop()

    def late(_event: dict[str, object]) -> None:
        if caller.first_heard_at is not None and "conversation.item.truncated" not in caller.types():
            loop.call_later(0.5, lambda: (caller.send({"type": "response.cancel"}),
                                          caller.send({"type": "output_audio_buffer.clear"})))

    caller.on["input_audio_buffer.speech_started"] = late
    try:
        await _barge_in(gw, long_calls_emulator, caller)
        await _gateway_measure(gw, "gateway")
        await asyncio.sleep(1.0)
    finally:
        await caller.close()
    assert caller.types().count("conversation.item.truncated") == 1
    codes = [e.get("code") for e in _errors(caller) if isinstance(e, dict)]
    assert codes in ([], ["response_cancel_not_active"]), _errors(caller)
