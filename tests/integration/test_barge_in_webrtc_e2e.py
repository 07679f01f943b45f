"""Barge-in over the gateway's terminating WebRTC transport: a real aiortc peer ⇄ gateway (plays the audio) ⇄ emulator.

The gateway's bridge plays the model's audio into the call, so it knows what was heard exactly: on
the upstream's ``speech_started`` it cuts its playout and truncates at what it played; the core
adds ``response.cancel`` after the grace period when the client has not. Forgetful, correct and
late clients; server VAD with and without ``interrupt_response``. What was heard is counted from
the audio packets the caller received; talk-over is the gateway's own histogram.
"""

from __future__ import annotations

import asyncio
import time

from gateway.emulator import EmulatorHandle
from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.integration.test_barge_in_e2e import bursty_emulator, long_reply_emulator  # noqa: F401 - fixtures
from tests.support.barge_in import talk_over
from tests.support.rtc import RtcCaller

#: the route default
GRACE_MS = 150
#: the truncation point vs what the caller's frames show was heard
HEARD_TOLERANCE_MS = 40
TERMINATE = {"VOICE_GATEWAY_WEBRTC_MEDIA": "terminate"}


def _session(interrupt_response: bool) -> dict[str, object]:
    vad = {"type": "server_vad", "interrupt_response": interrupt_response}
    return {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Be brief.", "audio": {"input": {"turn_detection": vad}}}


async def _barge_in(gw: GatewayProcess, caller: RtcCaller, *, interrupt_response: bool) -> dict[str, object]:
    """Call, ask, let 600 ms of the answer play, speak over it; the truncation."""
    reply = await caller.call(gw.http_url, gw.key, _session(interrupt_response))
    assert reply.status_code == 201, reply.text
    await asyncio.wait_for(caller.channel_open.wait(), 15)
    caller.mic.say(900)
    await caller.wait_heard(20)
    await asyncio.sleep(0.6)
    caller.mic.say(600)
    await caller.wait_for("output_audio_buffer.cleared", 15)
    return await caller.wait_for("conversation.item.truncated", 10)


async def _measured(gw: GatewayProcess, stopped_by: str) -> float:
    """The one interruption in the gateway's histogram: stopped by ``stopped_by``; its talk-over (ms)."""
    measured: dict[str, object] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        measured = dict(await asyncio.to_thread(talk_over, gw.http_url))
        if measured:
            break
        await asyncio.sleep(0.1)
    assert list(measured) == [stopped_by], measured
    figure = measured[stopped_by]
    assert figure.count == 1, measured  # type: ignore[attr-defined]
    return float(figure.mean_ms)  # type: ignore[attr-defined]


def _errors(caller: RtcCaller) -> list[object]:
    return [e.get("error") for e in caller.events if e.get("type") == "error"]


def _check_heard(caller: RtcCaller, truncated: dict[str, object]) -> int:
    """The truncation is what the caller received between the bridge's output_audio_buffer.started and .cleared
    (its audio RTP packets, 20 ms each, counted as each event arrives), within 40 ms; returns that."""
    heard = caller.received_between("output_audio_buffer.started", "output_audio_buffer.cleared")
    end = int(truncated["audio_end_ms"])  # type: ignore[arg-type]
    assert abs(end - heard) <= HEARD_TOLERANCE_MS, (end, heard)
    assert end >= 600 - HEARD_TOLERANCE_MS
    return heard


async def test_forgetful_client_is_cut_at_what_it_heard(gateway_factory: GatewayFactory, bursty_emulator: EmulatorHandle) -> None:  # noqa: F811
    """Server VAD with interrupt_response, the client does nothing: the bridge cuts its playout on speech_started and
    truncates within 40 ms of what the caller received; no error; talk-over (gateway-measured) within the grace."""
    gw = gateway_factory(env=emulator_env(bursty_emulator, **TERMINATE))
    caller = RtcCaller()
    try:
        truncated = await _barge_in(gw, caller, interrupt_response=True)
        heard = _check_heard(caller, truncated)
        talk_ms = await _measured(gw, "gateway")
    finally:
        await caller.close()
    assert caller.types().count("conversation.item.truncated") == 1 and _errors(caller) == []
    assert talk_ms <= GRACE_MS + 20, talk_ms
    print(f"\nwebrtc forgetful: truncated {truncated['audio_end_ms']} ms, caller heard {heard} ms, talk-over {talk_ms:.0f} ms")


async def test_forgetful_client_without_server_interrupt_gets_the_cancel(
    gateway_factory: GatewayFactory, long_reply_emulator: EmulatorHandle  # noqa: F811
) -> None:
    """Server VAD without interrupt_response: the bridge cuts and truncates, and after grace the gateway cancels the
    still-generating response and says so (gateway.barge_in sent: response.cancel); no error."""
    gw = gateway_factory(env=emulator_env(long_reply_emulator, **TERMINATE))
    caller = RtcCaller()
    try:
        truncated = await _barge_in(gw, caller, interrupt_response=False)
        notice = await caller.wait_for("gateway.barge_in", 10)
        done = await caller.wait_for("response.done", 10)
        _check_heard(caller, truncated)
        talk_ms = await _measured(gw, "gateway")
    finally:
        await caller.close()
    assert notice["sent"] == ["response.cancel"] and notice["item_id"] == truncated["item_id"]
    assert done["response"]["status"] == "cancelled"  # type: ignore[index]
    assert _errors(caller) == [] and talk_ms <= GRACE_MS + 20, talk_ms


async def test_client_that_cancels_and_clears_itself_is_left_alone(
    gateway_factory: GatewayFactory, long_reply_emulator: EmulatorHandle  # noqa: F811
) -> None:
    """Without interrupt_response, the client sends response.cancel and output_audio_buffer.clear on speech_started:
    no gateway.barge_in, its own cancel is the one, truncated once, no error."""
    gw = gateway_factory(env=emulator_env(long_reply_emulator, **TERMINATE))
    caller = RtcCaller()

    def stop(_event: dict[str, object]) -> None:
        if caller.first_heard_at is not None and "conversation.item.truncated" not in caller.types():
            caller.send({"type": "response.cancel"})
            caller.send({"type": "output_audio_buffer.clear"})

    caller.on["input_audio_buffer.speech_started"] = stop
    try:
        truncated = await _barge_in(gw, caller, interrupt_response=False)
        done = await caller.wait_for("response.done", 10)
        _check_heard(caller, truncated)
        await asyncio.sleep(0.5)
    finally:
        await caller.close()
    assert done["response"]["status"] == "cancelled"  # type: ignore[index]
    assert "gateway.barge_in" not in caller.types() and _errors(caller) == []
    assert caller.types().count("conversation.item.truncated") == 1


async def test_client_that_cancels_late_gets_no_error(
    gateway_factory: GatewayFactory, long_reply_emulator: EmulatorHandle  # noqa: F811
) -> None:
    """Without interrupt_response, the client cancels and clears 500 ms after speech_started: the gateway already did;
    the late cancel is dropped (no response_cancel_not_active), nothing is truncated twice."""
    gw = gateway_factory(env=emulator_env(long_reply_emulator, **TERMINATE))
    caller = RtcCaller()
    loop = asyncio.get_running_loop()

    def late(_event: dict[str, object]) -> None:
        if caller.first_heard_at is not None and "conversation.item.truncated" not in caller.types():
            loop.call_later(0.5, lambda: (caller.send({"type": "response.cancel"}),
                                          caller.send({"type": "output_audio_buffer.clear"})))

    caller.on["input_audio_buffer.speech_started"] = late
    try:
        await _barge_in(gw, caller, interrupt_response=False)
        await caller.wait_for("gateway.barge_in", 10)
        await asyncio.sleep(1.0)
    finally:
        await caller.close()
    assert _errors(caller) == [], _errors(caller)
    assert caller.types().count("conversation.item.truncated") == 1 and caller.types().count("gateway.barge_in") == 1
