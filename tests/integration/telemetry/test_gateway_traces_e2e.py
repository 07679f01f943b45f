"""A real gateway process exports every session as a trace over OTLP/HTTP: the span tree of each kind."""

from __future__ import annotations

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.integration.conftest import UPSTREAM_TEST_KEY, GatewayFactory, emulator_env
from tests.integration.telemetry.conftest import Receiver
from tests.integration.test_sessions_e2e import TRANSLATION_EVENTS, WEATHER_TOOL, Recorder, _client
from tests.support.audio import chunks, silence, speech

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _env(emulator: object, receiver: Receiver) -> dict[str, str]:
    return emulator_env(
        emulator,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_SERVICE_NAME="voice-gateway-e2e",
    )


def _named(spans: list[Span], prefix: str) -> list[Span]:
    return [s for s in spans if s.name.startswith(prefix)]


def _children(spans: list[Span], parent: Span, prefix: str) -> list[Span]:
    return [s for s in _named(spans, prefix) if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]


def _attrs(span: Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value or v.int_value or v.double_value or v.bool_value
    return out


async def test_voice_agent_session_is_one_trace_with_turns_tool_call_and_barge_in(
    gateway_factory: GatewayFactory, emulator: object, otlp_receiver: Receiver
) -> None:
    """Session span (SERVER, on the client's traceparent) → turn spans → execute_tool and interruption spans."""
    gw = gateway_factory(env=_env(emulator, otlp_receiver))
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    async with _client(gw).realtime.connect(model="gpt-realtime-2", extra_headers={"traceparent": traceparent}) as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        await rec.until("session.updated")
        for chunk in chunks(speech(800) + silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        delta = await rec.until("response.output_audio.delta")
        for chunk in chunks(speech(500)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("response.done")
        await conn.conversation.item.truncate(item_id=delta["item_id"], content_index=0, audio_end_ms=100)
        await rec.until("conversation.item.truncated")
        for chunk in chunks(silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("response.done")
        await conn.response.create(response={"tool_choice": {"type": "function", "name": "get_weather"}})
        call = await rec.until("response.function_call_arguments.done")
        await rec.until("response.done")
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call["call_id"], "output": "{}"})
        await conn.response.create()
        await rec.until("response.done")
    received = otlp_receiver.received

    def session_done(r: object) -> bool:
        return any(s.name == "realtime.session realtime" for _, s in received.spans())

    assert received.wait_for(session_done, 15)
    services = {service for service, _ in received.spans()}
    assert services == {"voice-gateway-e2e"}
    spans = [s for _, s in received.spans() if s.trace_id.hex() == TRACE_ID]
    (session,) = _named(spans, "realtime.session realtime")
    assert session.kind == Span.SPAN_KIND_SERVER and session.parent_span_id.hex() == PARENT_ID
    attrs = _attrs(session)
    assert attrs["voice_gateway.session.id"] and attrs["gen_ai.request.model"] == "gpt-realtime-2"
    turns = _children(spans, session, "realtime.turn")
    assert len(turns) >= 4  # VAD turn (cancelled), barge-in reply, tool call, reply to the tool result
    assert any(_children(spans, t, "execute_tool get_weather") for t in turns)
    assert any(_children(spans, t, "realtime.interruption") for t in turns)
    statuses = {_attrs(t).get("voice_gateway.turn.status") for t in turns}
    assert {"cancelled", "completed"} <= statuses
    exported = b"".join(s.SerializeToString() for s in spans).decode("latin-1")
    assert UPSTREAM_TEST_KEY not in exported and gw.key not in exported


async def test_transcription_and_translation_sessions_have_utterance_and_segment_spans(
    gateway_factory: GatewayFactory, emulator: object, otlp_receiver: Receiver
) -> None:
    """Transcription → transcription.utterance spans; translation → translation.segment spans, under their sessions."""
    gw = gateway_factory(env=_env(emulator, otlp_receiver))
    client = _client(gw)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        await conn.session.update(session={"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": None}}})
        await rec.until("session.updated")
        for chunk in chunks(speech(800)):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        await rec.until("conversation.item.input_audio_transcription.completed")
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as tconn:
        trec = Recorder(tconn, TRANSLATION_EVENTS)
        await trec.until("session.created")
        for chunk in chunks(speech(1200) + silence(1400), ms=200):
            await tconn.session.input_audio_buffer.append(audio=chunk)
        await trec.until("session.output_transcript.delta")
        await tconn.session.close()
        await trec.until("session.closed")
    received = otlp_receiver.received

    def both_done(r: object) -> bool:
        names = {s.name for _, s in received.spans()}
        return {"realtime.session transcription", "realtime.session translation"} <= names

    assert received.wait_for(both_done, 15)
    spans = [s for _, s in received.spans()]
    (transcription,) = _named(spans, "realtime.session transcription")
    utterances = _children(spans, transcription, "transcription.utterance")
    assert utterances and "voice_gateway.transcript" not in _attrs(utterances[0])  # no transcripts by default
    (translation,) = _named(spans, "realtime.session translation")
    assert _children(spans, translation, "translation.segment")
    assert orjson.dumps([_attrs(s) for s in spans]).find(UPSTREAM_TEST_KEY.encode()) < 0
