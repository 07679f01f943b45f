"""Frame peeking reads type and audio size without decoding audio."""

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.errors import InvalidJson, MissingEventType
from gateway.core.frames import FULL_PARSE_LIMIT, peek


def _append(audio: bytes, **extra: object) -> bytes:
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode(), **extra})


def test_large_audio_append_is_peeked_without_parsing() -> None:
    """A 20 ms PCM16 append reports its type and exact decoded size, and is not parsed."""
    big = _append(b"\x01" * 4800)
    assert len(big) > FULL_PARSE_LIMIT
    result = peek(big)
    assert result.type == "input_audio_buffer.append"
    assert result.audio_bytes == 4800
    assert result.event is None


@pytest.mark.parametrize("size", [1, 2, 3, 100, 959, 960, 4801, 48000])
def test_decoded_size_is_exact_for_any_padding(size: int) -> None:
    """Base64 padding of one or two characters is accounted for exactly."""
    assert peek(_append(b"\x00" * size)).audio_bytes == size


def test_type_after_payload_falls_back_to_full_parse() -> None:
    """When an object opens before the type key, peeking does not trust the match and parses."""
    frame = orjson.dumps({"session": {"type": "realtime", "instructions": "x" * 5000}, "type": "session.update"})
    result = peek(frame)
    assert result.type == "session.update"
    assert result.event is not None


def test_output_delta_size_is_read_from_delta_field() -> None:
    """Output audio deltas are measured on their ``delta`` field."""
    frame = orjson.dumps(
        {"type": "response.output_audio.delta", "event_id": "e1", "response_id": "r", "item_id": "i",
         "output_index": 0, "content_index": 0, "delta": base64.b64encode(b"\x02" * 9600).decode()}
    )
    assert peek(frame).audio_bytes == 9600


def test_invalid_json_raises_client_safe_error() -> None:
    """Non-JSON text raises the invalid_json error."""
    with pytest.raises(InvalidJson):
        peek(b"not json")


def test_missing_type_raises() -> None:
    """A JSON object without a string type is refused."""
    with pytest.raises(MissingEventType):
        peek(b'{"audio": "AAAA"}')


def test_non_object_json_raises() -> None:
    """A JSON array is not an event."""
    with pytest.raises(InvalidJson):
        peek(b"[1, 2, 3]")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_peek_never_crashes_on_garbage(data: bytes) -> None:
    """Arbitrary bytes either peek or raise a client-safe gateway error, nothing else."""
    try:
        peek(data)
    except (InvalidJson, MissingEventType):
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=3000), st.integers(min_value=-(2**63), max_value=2**63 - 1)), max_size=5), st.sampled_from(["input_audio_buffer.append", "session.update", "x"]))
def test_peek_agrees_with_full_parse(body: dict, event_type: str) -> None:
    """For any JSON object, the peeked type equals the parsed top-level type."""
    body = {**body, "type": event_type}
    assert peek(orjson.dumps(body)).type == event_type
