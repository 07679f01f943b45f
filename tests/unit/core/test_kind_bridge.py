"""A voice-agent client on a translation model keeps its protocol: every client event is mapped, answered or
refused; translation output arrives inside responses of the bridge's own, with well-formed unique ids."""

from __future__ import annotations

import base64
import math
import re
import struct

import pytest
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent
from openai.types.realtime import RealtimeTranslationClientEvent
from pydantic import TypeAdapter

from gateway.core.errors import (
    GatewayError,
    InvalidRequest,
    NotServedByKind,
    ResponseCancelNotActive,
    RetiredParameter,
    UnknownEventType,
)
from gateway.core.jsontypes import JsonObject
from gateway.core.kind_bridge import AgentOverTranslation, TranslationOverAgent, bridge_for, translation_opening
from gateway.core.kind_bridges.base import is_quiet
from gateway.core.kind_bridges.turns import Ids
from gateway.core.kinds import Dialect, SessionKind

GA_SERVER = TypeAdapter(RealtimeServerEvent)
BETA_SERVER = TypeAdapter(BetaServerEvent)
TRANSLATION_CLIENT = TypeAdapter(RealtimeTranslationClientEvent)
ID = re.compile(r"^(event|resp|item|conv|sess)_[A-Za-z0-9]{21}$")


def pcm(ms: int, amplitude: int) -> str:
    """Base64 PCM16 24 kHz: a square-ish wave of ``amplitude`` (0 = digital silence)."""
    samples = [amplitude if (i // 20) % 2 else -amplitude for i in range(ms * 24)]
    return base64.b64encode(struct.pack(f"<{len(samples)}h", *samples)).decode()


LOUD, QUIET = pcm(200, 8000), pcm(200, 40)


def out_audio(delta: str = LOUD, elapsed: int = 200) -> JsonObject:
    return {"type": "session.output_audio.delta", "event_id": "event_up1", "delta": delta, "format": "pcm16",
            "sample_rate": 24000, "channels": 1, "elapsed_ms": elapsed}


def out_text(delta: str) -> JsonObject:
    return {"type": "session.output_transcript.delta", "event_id": "event_up2", "delta": delta, "elapsed_ms": 200}


def in_text(delta: str) -> JsonObject:
    return {"type": "session.input_transcript.delta", "event_id": "event_up3", "delta": delta, "elapsed_ms": 200}


def bridge(**kwargs: object) -> AgentOverTranslation:
    made = bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION, seed=3, **kwargs)  # type: ignore[arg-type]
    assert isinstance(made, AgentOverTranslation)
    return made


def types(events: list[JsonObject]) -> list[str]:
    return [str(e["type"]) for e in events]


def utterance(b: AgentOverTranslation, now: float = 0.0) -> list[JsonObject]:
    """One spoken phrase from the model, then a pause long enough to end it."""
    out = b.to_client(out_audio(), now)
    out += b.to_client(in_text("hello"), now)
    out += b.to_client(out_text("hola"), now)
    out += b.to_client(out_audio(), now + 0.2)
    out += b.to_client(out_text(" amigos"), now + 0.2)
    out += b.poll(now + 0.2 + b.gap_s)
    return out


# --- bridge_for ------------------------------------------------------------------------------------


def test_bridge_for_same_kind_is_none() -> None:
    """Kinds that agree need no bridge."""
    for kind in SessionKind:
        assert bridge_for(kind, kind) is None


def test_bridge_for_pairs() -> None:
    """Agent→translation and translation→agent are bridged; transcription pairs are refused with a client-safe error."""
    assert isinstance(bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION), AgentOverTranslation)
    assert isinstance(bridge_for(SessionKind.TRANSLATION, SessionKind.REALTIME), TranslationOverAgent)
    for pair in [(SessionKind.TRANSCRIPTION, SessionKind.REALTIME), (SessionKind.REALTIME, SessionKind.TRANSCRIPTION),
                 (SessionKind.TRANSLATION, SessionKind.TRANSCRIPTION)]:
        with pytest.raises(NotServedByKind):
            bridge_for(*pair)


def test_g711_session_cannot_go_to_translation() -> None:
    """A voice-agent session in G.711 is refused: translation models take PCM16 24 kHz only."""
    session = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    with pytest.raises(NotServedByKind) as err:
        bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION, client_session=session)
    assert err.value.param == "session.audio.input.format"


def test_translation_opening_carries_the_clients_settings() -> None:
    """The opening translation config: target language, input transcription (model only), noise reduction."""
    session = {"audio": {"input": {"transcription": {"model": "gpt-realtime-whisper", "language": "en"},
                                   "noise_reduction": {"type": "near_field"}}}}
    body = translation_opening("es", session)
    assert body == {"audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"},
                                        "noise_reduction": {"type": "near_field"}},
                              "output": {"language": "es"}}}
    TRANSLATION_CLIENT.validate_python({"type": "session.update", "session": body})
    assert translation_opening(None) == {"audio": {}}


# --- client → upstream -----------------------------------------------------------------------------


def test_append_maps_and_keeps_the_event_id() -> None:
    """input_audio_buffer.append → session.input_audio_buffer.append with the same audio and event_id."""
    b = bridge()
    up = b.to_upstream({"type": "input_audio_buffer.append", "event_id": "c1", "audio": LOUD})
    assert up == [{"type": "session.input_audio_buffer.append", "audio": LOUD, "event_id": "c1"}]
    TRANSLATION_CLIENT.validate_python(up[0])
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "input_audio_buffer.append", "audio": 5})


def test_session_update_maps_translation_fields_and_keeps_realtime_ones_in_the_view() -> None:
    """Transcription, noise reduction and the target language go up; instructions/tools/voice stay in the client's view."""
    b = bridge()
    up = b.to_upstream({"type": "session.update", "event_id": "c2", "session": {
        "type": "realtime", "instructions": "be nice", "tools": [], "output_modalities": ["audio"],
        "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper", "prompt": "x"},
                            "noise_reduction": None, "turn_detection": {"type": "semantic_vad"}},
                  "output": {"voice": "cedar", "language": "de", "format": {"type": "audio/pcm", "rate": 24000}}}}})
    assert up == [{"type": "session.update", "event_id": "c2", "session": {"audio": {
        "input": {"transcription": {"model": "gpt-realtime-whisper"}, "noise_reduction": None},
        "output": {"language": "de"}}}}]
    TRANSLATION_CLIENT.validate_python(up[0])
    assert b.poll(0.0) == []  # the upstream's session.updated answers it
    [updated] = b.to_client({"type": "session.updated", "event_id": "event_u", "session": {
        "id": "sess_x", "type": "translation", "model": "gpt-realtime-translate", "audio": {}}}, 0.0)
    GA_SERVER.validate_python(updated)
    session = updated["session"]
    assert isinstance(session, dict) and session["instructions"] == "be nice" and session["model"] == "gpt-realtime-translate"
    assert session["audio"]["output"]["voice"] == "cedar" and "language" not in session["audio"]["output"]  # type: ignore[index]


def test_realtime_only_update_is_answered_by_the_bridge() -> None:
    """An update with nothing a translation model applies goes nowhere; the bridge answers session.updated itself."""
    b = bridge()
    assert b.to_upstream({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}) == []
    assert b.due_at == -math.inf
    [updated] = b.poll(0.0)
    assert updated["type"] == "session.updated" and GA_SERVER.validate_python(updated)
    assert b.due_at is None


@pytest.mark.parametrize("session,param", [
    ({"type": "transcription"}, "session.type"),
    ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcma"}}}}, "session.audio.input.format"),
    ({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "session.audio.output.format"),
])
def test_session_update_refused_for_what_translation_cannot_do(session: JsonObject, param: str) -> None:
    """A transcription session or a non-PCM16-24k format is refused with the offending param."""
    with pytest.raises(NotServedByKind) as err:
        bridge().to_upstream({"type": "session.update", "session": session})
    assert err.value.param == param and not err.value.fatal


def test_session_update_refuses_unknown_and_retired_fields() -> None:
    """Unknown session fields are refused as the API does; the shut-down prompt field too."""
    b = bridge()
    with pytest.raises(InvalidRequest) as err:
        b.to_upstream({"type": "session.update", "session": {"type": "realtime", "colour": "red"}})
    assert err.value.param == "session.colour"
    with pytest.raises(RetiredParameter):
        b.to_upstream({"type": "session.update", "session": {"type": "realtime", "prompt": {"id": "pmpt_1"}}})
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "session.update", "session": {"output_modalities": ["audio", "text"]}})


def test_commit_and_clear_are_answered_by_the_bridge() -> None:
    """commit → input_audio_buffer.committed + the user item; clear → input_audio_buffer.cleared; nothing goes up."""
    b = bridge()
    assert b.to_upstream({"type": "input_audio_buffer.commit"}) == []
    committed, added = b.poll(0.0)
    assert committed["type"] == "input_audio_buffer.committed" and added["type"] == "conversation.item.added"
    assert committed["item_id"] == added["item"]["id"]  # type: ignore[index]
    assert b.to_upstream({"type": "input_audio_buffer.clear"}) == []
    assert types(b.poll(0.0)) == ["input_audio_buffer.cleared"]
    assert b.to_upstream({"type": "output_audio_buffer.clear"}) == [] and b.poll(0.0) == []


def test_plain_response_create_is_swallowed_agent_requests_refused() -> None:
    """A bare response.create is swallowed (translation answers unasked); instructions, input, tools or out-of-band are refused."""
    b = bridge()
    assert b.to_upstream({"type": "response.create"}) == []
    assert b.to_upstream({"type": "response.create", "response": {"metadata": {"a": "b"}}}) == []
    assert b.poll(0.0) == []
    for response in ({"instructions": "say hi"}, {"input": []}, {"tools": [{"type": "function", "name": "f"}]},
                     {"conversation": "none"}):
        with pytest.raises(NotServedByKind) as err:
            b.to_upstream({"type": "response.create", "response": response})
        assert str(err.value.param).startswith("response.")


def test_conversation_item_create_and_retrieve_are_refused() -> None:
    """A translation model keeps no conversation: creating or retrieving items is refused (the session goes on)."""
    b = bridge()
    for event in ({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": []}},
                  {"type": "conversation.item.retrieve", "item_id": "item_1"}):
        with pytest.raises(NotServedByKind) as err:
            b.to_upstream(event)
        assert not err.value.fatal and err.value.code == "unsupported_for_session_kind"


def test_truncate_and_delete_are_answered() -> None:
    """Truncate and delete have nothing to cut upstream: the bridge confirms them; bad ones are refused."""
    b = bridge()
    assert b.to_upstream({"type": "conversation.item.truncate", "item_id": "item_a", "content_index": 0, "audio_end_ms": 300}) == []
    assert b.to_upstream({"type": "conversation.item.delete", "item_id": "item_a"}) == []
    truncated, deleted = b.poll(0.0)
    assert truncated["type"] == "conversation.item.truncated" and truncated["audio_end_ms"] == 300
    assert deleted == {**deleted, "type": "conversation.item.deleted", "item_id": "item_a"}
    for event in [GA_SERVER.validate_python(truncated), GA_SERVER.validate_python(deleted)]:
        assert event is not None
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "conversation.item.truncate", "item_id": "item_a", "audio_end_ms": -1})
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "conversation.item.delete"})


def test_unknown_event_is_refused() -> None:
    """An event type outside the realtime vocabulary (including translation's own) is an unknown event."""
    for event_type in ("session.close", "response.bogus", None):
        with pytest.raises(UnknownEventType):
            bridge().to_upstream({"type": event_type})


# --- upstream → client -----------------------------------------------------------------------------


def test_one_utterance_becomes_one_response_in_the_apis_order() -> None:
    """Output deltas open a response (after the user item) and a pause closes it, in the order the API uses."""
    b = bridge()
    out = utterance(b)
    assert types(out) == [
        "conversation.item.added", "response.created", "response.output_item.added", "conversation.item.added",
        "response.content_part.added", "response.output_audio.delta",
        "conversation.item.input_audio_transcription.delta", "response.output_audio_transcript.delta",
        "response.output_audio.delta", "response.output_audio_transcript.delta",
        "conversation.item.input_audio_transcription.completed", "conversation.item.done",
        "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "conversation.item.done", "response.done",
    ]
    for event in out:
        GA_SERVER.validate_python(event)
    done = out[-1]["response"]
    assert isinstance(done, dict) and done["status"] == "completed" and done["usage"] is None
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": "hola amigos"}]
    user = out[0]["item"]
    assistant = out[3]["item"]
    assert isinstance(user, dict) and isinstance(assistant, dict)
    assert out[3]["previous_item_id"] == user["id"] and user["role"] == "user"
    assert out[10]["transcript"] == "hello" and out[10]["item_id"] == user["id"]


def test_ids_are_well_formed_unique_and_consistent() -> None:
    """Every event_id is unique; response/item ids look like the API's and stay the same across one response."""
    b = bridge()
    out = utterance(b) + utterance(b, now=5.0)
    event_ids = [e["event_id"] for e in out]
    assert len(set(event_ids)) == len(event_ids) and all(ID.match(str(i)) for i in event_ids)
    created = [e["response"] for e in out if e["type"] == "response.created"]
    assert len(created) == 2
    first, second = (str(r["id"]) for r in created)  # type: ignore[index]
    assert first != second and ID.match(first) and ID.match(second)
    for event in out:
        if "response_id" in event:
            assert event["response_id"] in (first, second)
    deltas = [e for e in out if e["type"] == "response.output_audio.delta"]
    assert {e["item_id"] for e in deltas if e["response_id"] == first} == {
        e["item"]["id"] for e in out if e["type"] == "response.output_item.added" and e["response_id"] == first}  # type: ignore[index]


def test_silence_between_utterances_is_dropped_and_keeps_nothing_open() -> None:
    """Quiet audio outside a response is not sent (a voice-agent client plays audio only inside responses)."""
    b = bridge()
    assert b.to_client(out_audio(QUIET), 0.0) == []
    assert b.to_client(out_audio(pcm(200, 0)), 0.1) == []
    assert b.due_at is None


def test_quiet_audio_inside_a_response_is_kept_and_a_pause_ends_it() -> None:
    """Quiet audio after speech stays in the response; the next speech after the gap starts a new response."""
    b = bridge()
    b.to_client(out_audio(), 0.0)
    kept = b.to_client(out_audio(QUIET), 0.3)
    assert types(kept) == ["response.output_audio.delta"]
    assert b.due_at == pytest.approx(b.gap_s)
    later = b.to_client(out_audio(), 0.1 + b.gap_s + 0.5)
    assert types(later)[:2] == ["conversation.item.done", "response.output_audio.done"]
    assert "response.done" in types(later) and types(later).count("response.created") == 1


def test_text_only_session_gets_text_deltas_and_no_audio() -> None:
    """With output_modalities ["text"] the transcript becomes output_text deltas and audio is dropped."""
    b = bridge(client_session={"type": "realtime", "output_modalities": ["text"]})
    assert b.to_client(out_audio(), 0.0) == []
    out = b.to_client(out_text("hola"), 0.0) + b.poll(5.0)
    assert "response.output_text.delta" in types(out) and "response.output_text.done" in types(out)
    assert not any("audio" in t for t in types(out) if t.startswith("response.output"))
    for event in out:
        GA_SERVER.validate_python(event)


def test_cancel_closes_the_response_and_mutes_until_a_pause() -> None:
    """response.cancel → response.done cancelled (client_cancelled); the rest of that speech is dropped."""
    b = bridge()
    b.to_client(out_audio(), 0.0)
    with pytest.raises(ResponseCancelNotActive):
        b.to_upstream({"type": "response.cancel", "response_id": "resp_other"})
    assert b.to_upstream({"type": "response.cancel"}) == []
    out = b.poll(0.1)
    done = out[-1]
    assert done["type"] == "response.done"
    response = done["response"]
    assert isinstance(response, dict) and response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert b.to_client(out_audio(), 0.2) == [] and b.to_client(out_text("x"), 0.3) == []
    resumed = b.to_client(out_audio(), 0.3 + b.gap_s)
    assert "response.created" in types(resumed)
    with pytest.raises(ResponseCancelNotActive):
        bridge().to_upstream({"type": "response.cancel"})


def test_session_created_becomes_session_updated_and_closed_ends_the_response() -> None:
    """The translation session.created is the client's session.updated (no second created); session.closed closes what is open."""
    b = bridge()
    [event] = b.to_client({"type": "session.created", "event_id": "e", "session": {
        "id": "sess_t", "type": "translation", "model": "gpt-realtime-translate", "audio": {}}}, 0.0)
    assert event["type"] == "session.updated"
    b.to_client(out_audio(), 0.0)
    closed = b.to_client({"type": "session.closed", "event_id": "e2"}, 0.1)
    assert types(closed)[-1] == "response.done" and "session.closed" not in types(closed)


def test_errors_and_unknown_events_pass_unchanged() -> None:
    """An upstream error keeps its shape and its echo of the client's event_id; unknown events are forwarded."""
    b = bridge()
    error = {"type": "error", "event_id": "event_e", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                                                "message": "bad", "param": None, "event_id": "c1"}}
    assert b.to_client(error, 0.0) == [error]
    novel = {"type": "session.something_new", "event_id": "event_n"}
    assert b.to_client(novel, 0.0) == [novel]


def test_input_transcript_without_output_completes_after_a_pause() -> None:
    """A source transcript with no translated output yet still completes its user item after the gap."""
    b = bridge()
    b.to_upstream({"type": "input_audio_buffer.append", "audio": pcm(1000, 0)})
    out = b.to_client(in_text("  hi there"), 0.0)
    assert types(out) == ["conversation.item.added", "conversation.item.input_audio_transcription.delta"]
    assert out[1]["delta"] == "hi there"
    assert b.due_at == pytest.approx(b.gap_s)
    completed, done = b.poll(b.gap_s)
    assert completed["transcript"] == "hi there" and completed["usage"] == {"type": "duration", "seconds": 1.0}
    assert done["type"] == "conversation.item.done"
    GA_SERVER.validate_python(completed)


# --- beta dialect ----------------------------------------------------------------------------------


def test_beta_client_speaks_beta_both_ways() -> None:
    """A beta client's events are read as beta and the synthesized events come back with beta names."""
    b = bridge(dialect=Dialect.BETA)
    up = b.to_upstream({"type": "session.update", "session": {"modalities": ["text", "audio"], "voice": "ash",
                                                              "input_audio_transcription": {"model": "whisper-1"},
                                                              "input_audio_format": "pcm16"}})
    assert up == [{"type": "session.update", "session": {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}}]
    out = utterance(b)
    names = types(out)
    assert "response.audio.delta" in names and "response.audio_transcript.delta" in names
    assert "conversation.item.created" in names and "conversation.item.done" not in names
    for event in out:
        BETA_SERVER.validate_python(event)
    with pytest.raises(InvalidRequest):
        b.to_upstream({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}})


def test_every_refusal_is_a_gateway_error() -> None:
    """What the bridge refuses is always reportable as an OpenAI-shaped error (a GatewayError, non-fatal)."""
    b = bridge()
    bad: list[JsonObject] = [{"type": "conversation.item.create", "item": {}}, {"type": "response.cancel"},
                             {"type": "nope"}, {"type": "session.update", "session": "x"}]
    for event in bad:
        with pytest.raises(GatewayError) as err:
            b.to_upstream(event)
        assert not err.value.fatal and err.value.error_body()["code"]


# --- helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("level,quiet", [(0, True), (511, True), (-512, True), (512, False), (-513, False), (8000, False)])
def test_quiet_is_a_peak_below_512(level: int, quiet: bool) -> None:
    """A delta is quiet exactly when its (probed) samples stay within ±511 (-512 included)."""
    for samples in (4800, 4801, 3):
        audio = base64.b64encode(struct.pack(f"<{samples}h", *([level] * samples))).decode()
        assert is_quiet(audio) is (quiet or samples == 3)  # too short to probe counts as quiet


def test_one_probed_loud_sample_is_speech() -> None:
    """Speech anywhere in a probed window makes the delta loud; an empty or undecodable delta is quiet."""
    samples = [0] * 4800
    samples[24 * 50] = 9000
    assert not is_quiet(base64.b64encode(struct.pack("<4800h", *samples)).decode())
    assert is_quiet("") and is_quiet("!!!!" * 10)


def test_ids_never_repeat_and_keep_the_apis_shape() -> None:
    """A bridge's ids are unique over many events and always prefix + 21 alphanumerics; seeds reproduce them."""
    ids = Ids(9)
    made = [ids.new("event") for _ in range(70_000)]
    assert len(set(made)) == len(made) and all(ID.match(i) for i in made[:: 997])
    assert Ids(9).new("resp") == Ids(9).new("resp") != Ids(10).new("resp")


def test_beta_transcription_session_update_is_refused() -> None:
    """A beta client's transcription_session.update asks for a transcription session: not available on translation."""
    with pytest.raises(NotServedByKind) as err:
        bridge(dialect=Dialect.BETA).to_upstream({"type": "transcription_session.update", "session": {}})
    assert err.value.param == "session.type"
