"""Reading frames: canonical audio proven and forwarded as is, everything else parsed strictly, audio metered exactly."""

import base64
import json

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.core import frames
from gateway.core.errors import InvalidJson, InvalidRequest, MissingEventType
from gateway.core.frames import b64_decoded_len, canonical_audio, read_client, read_upstream

#: every test here runs with the compiled and with the pure-Python audio check
pytestmark = pytest.mark.usefixtures("hot_path")

AUDIO = base64.b64encode(b"\x01\x02" * 480).decode()  # 20 ms of PCM16 at 24 kHz: 960 bytes


def _append(audio: str = AUDIO, **extra: object) -> str:
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": audio, **extra}).decode()


def _delta(audio: str = AUDIO) -> str:
    return orjson.dumps({"type": "response.output_audio.delta", "event_id": "event_1", "response_id": "resp_1",
                         "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": audio}).decode()


@pytest.mark.parametrize("frame", [
    _append(),
    _append(event_id="evt-123_x"),
    json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}),  # Python's default spacing
    json.dumps({"event_id": "e1", "audio": AUDIO, "type": "input_audio_buffer.append"}),  # any key order
    '{"audio":"%s","type":"session.input_audio_buffer.append"}' % AUDIO,
])
def test_canonical_appends_are_proven(frame: str) -> None:
    """Appends of the accepted spellings go on as received, metered to the exact decoded size."""
    reading = read_client(frame)
    assert reading.event is None
    assert reading.audio_bytes == 960
    assert reading.type in ("input_audio_buffer.append", "session.input_audio_buffer.append")


def test_canonical_deltas_are_proven() -> None:
    """GA and translation audio deltas from the upstream are proven and metered."""
    assert read_upstream(_delta()) == ("response.output_audio.delta", 960, None)
    translation = orjson.dumps({"type": "session.output_audio.delta", "event_id": "event_9", "delta": AUDIO,
                                "format": "pcm16", "sample_rate": 24000, "channels": 1, "elapsed_ms": 200}).decode()
    assert read_upstream(translation) == ("session.output_audio.delta", 960, None)


@pytest.mark.parametrize("frame", [
    '{"type":"input_audio_buffer.append","audio":"%s","type":"session.update"}' % AUDIO,  # second type
    '{"type":"session.update","type":"input_audio_buffer.append","audio":"%s"}' % AUDIO,
    '{"type":"input_audio_buffer.append","audio":"%s","audio":"AAAA"}' % AUDIO,  # second audio
    '{"type":"input_audio_buffer.\\u0061ppend","audio":"%s"}' % AUDIO,  # escaped value
    '{"\\u0074ype":"input_audio_buffer.append","audio":"%s"}' % AUDIO,  # escaped key
    '{"type" : "input_audio_buffer.append","audio":"%s"}' % AUDIO,  # space before a colon
    '{"type":"input_audio_buffer.append",\n"audio":"%s"}' % AUDIO,  # newline
    ' {"type":"input_audio_buffer.append","audio":"%s"}' % AUDIO,  # leading space
    '{"type":"input_audio_buffer.append","audio":"%s","session":{}}' % AUDIO,  # unknown key
    '{"type":"input_audio_buffer.append","event_id":"audio","audio":"%s"}' % AUDIO[:-1],  # length not /4
    '{"type":"input_audio_buffer.append","event_id":"a.b","audio":"%s"}' % AUDIO,  # id outside the set
    '{"type":"input_audio_buffer.append","audio":"%s=="}' % AUDIO[:-4],  # padding mid-string
    '{"type":"input_audio_buffer.append","audio":"AB=A"}',
    '{"type":"response.create","audio":"%s"}' % AUDIO,  # not an audio type
])
def test_anything_else_is_not_proven(frame: str) -> None:
    """Duplicates, escapes, other spacing, extra keys and odd values never pass the proof."""
    assert canonical_audio(frame, upstream=False) is None


def test_duplicate_keys_are_refused_from_clients() -> None:
    """A client frame with a duplicate key, even nested, is refused with a message naming the key."""
    with pytest.raises(InvalidRequest, match="Duplicate key 'type'"):
        read_client('{"type":"input_audio_buffer.append","audio":"AAAA","type":"session.update"}')
    with pytest.raises(InvalidRequest, match="Duplicate key 'name'"):
        read_client('{"type":"session.update","session":{"tools":[{"type":"function","name":"a","name":"b"}]}}')
    with pytest.raises(InvalidRequest, match="Duplicate key 'type'"):
        read_client('{"type":"session.update","\\u0074ype":"response.create"}')


def test_an_event_id_spelled_audio_is_metered_from_the_audio() -> None:
    """An append whose event_id is the string "audio" is metered on its audio field, not the id."""
    frame = '{"type":"input_audio_buffer.append","event_id":"audio","audio":"%s"}' % AUDIO
    assert read_client(frame).audio_bytes == 960
    frame = '{"event_id":"audio", "type":"input_audio_buffer.append", "audio":"%s"}' % AUDIO
    assert read_client(frame) == ("input_audio_buffer.append", 960, None)


def test_parsed_appends_are_metered_from_the_parse() -> None:
    """An append that takes the parsed path is metered from the parsed audio, escapes and all."""
    frame = '{"type":"input_audio_buffer.append","audio":"%s","x":1}' % AUDIO.replace("A", "\\u0041")
    reading = read_client(frame)
    assert reading.event is not None and reading.audio_bytes == 960


def test_invalid_base64_audio_is_refused() -> None:
    """Audio that is not strict base64 is refused: a lenient decoder could read audio the gateway did not meter."""
    with pytest.raises(InvalidRequest):
        read_client('{"type":"input_audio_buffer.append","audio":"QUJD\\nREVG"}')
    with pytest.raises(InvalidRequest):
        read_client('{"type":"input_audio_buffer.append","audio":"QUJ"}')


@pytest.mark.parametrize("size", [0, 1, 2, 3, 100, 959, 960, 4801])
def test_decoded_size_is_exact_for_any_padding(size: int) -> None:
    """Base64 padding of one or two characters is accounted for exactly."""
    assert b64_decoded_len(base64.b64encode(b"\x00" * size).decode()) == size
    assert read_client(_append(base64.b64encode(b"\x07" * size).decode())).audio_bytes == size


@pytest.mark.parametrize("frame", ['{"type":"x","a":NaN}', '{"type":"x","a":Infinity}', "not json", "[1]", '{"a":1}'])
def test_unusable_client_frames_raise_client_safe_errors(frame: str) -> None:
    """NaN, Infinity, non-JSON and non-objects are invalid JSON; an object without type is refused."""
    with pytest.raises((InvalidJson, MissingEventType)):
        read_client(frame)


def test_nan_in_a_large_upstream_delta_is_not_proven_and_does_not_parse() -> None:
    """A large upstream audio delta carrying NaN cannot be read: the core drops it."""
    frame = _delta()[:-1] + ',"x":NaN}'
    assert canonical_audio(frame, upstream=True) is None
    with pytest.raises(InvalidJson):
        read_upstream(frame)


def test_upstream_duplicates_are_normalised_last_wins() -> None:
    """Upstream frames are read as the upstream's own parser reads them: the last duplicate wins."""
    reading = read_upstream('{"type":"response.output_audio.delta","delta":"AAAA","type":"response.done","response":{}}')
    assert reading.type == "response.done" and reading.event == {"type": "response.done", "delta": "AAAA", "response": {}}


@pytest.mark.parametrize("frame", [
    '{"type":"input_audio_buffer.append","audio":"}',  # the opening quote is the one before '}'
    '{"type":"input_audio_buffer.append","audio":"AAAA"},"x":{"a":"}',
    '{"type":"input_audio_buffer.append","audio":"AAAA\\"}',
    '{"type":"input_audio_buffer.append","audio":"AAAA"}\n',
    '{"type":"input_audio_buffer.append","audio":"AAAA"} ',
])
def test_the_usual_layout_check_does_not_overreach(frame: str) -> None:
    """Frames that look like the usual layout at both ends but are not one flat append are not proven."""
    assert canonical_audio(frame, upstream=False) is None


def test_an_empty_append_is_proven_with_no_audio() -> None:
    """An append with empty audio is canonical and meters nothing."""
    assert canonical_audio('{"type":"input_audio_buffer.append","audio":""}', upstream=False) == ("input_audio_buffer.append", 0)


_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_B64_CHARS + '"é\x00 -_\u20ac'), max_size=24), st.integers(-2, 26), st.integers(-2, 26))
def test_compiled_audio_check_agrees_with_the_pure_one_on_any_span(text: str, start: int, end: int) -> None:
    """The compiled base64 span check gives exactly the pure-Python answer (size or None) for any text and span."""
    if frames.B64_COMPILED is None:
        pytest.skip("the compiled hot path is not built here")
    assert frames.B64_COMPILED(text, start, end) == frames.b64_span_len_py(text, start, end)


def test_the_pure_span_check_is_the_decoded_length_of_the_slice() -> None:
    """b64_span_len_py reads text[start:end] like b64_decoded_len and refuses spans outside the text."""
    assert frames.b64_span_len_py('x"AAA="', 2, 6) == b64_decoded_len("AAA=") == 2
    assert frames.b64_span_len_py("AAAA", 0, 8) is None
    assert frames.b64_span_len_py("AAAA", 3, 2) is None


# --- the listener's proof on raw bytes (gateway/core/hotgate.pyx) ---------------------------------------------------

_CODES = ({1: "input_audio_buffer.append", 2: "session.input_audio_buffer.append"},
          {1: "response.output_audio.delta", 2: "session.output_audio.delta"})
_PIECES = (
    '{"type":', '{"type": ', '"input_audio_buffer.append"', '"session.input_audio_buffer.append"',
    '"response.output_audio.delta"', '"session.output_audio.delta"', ",", ", ", '"event_id":', '"event_id": ',
    '"response_id":', '"item_id":', '"output_index":', '"content_index":', '"audio":', '"delta":', '"delta": ',
    '"e_1"', '"gw_1"', '"gw"', '"a-b"', '""', '"' + "x" * 128 + '"', '"' + "x" * 129 + '"', "0", "00", "7", "1234567890",
    "12345678901", '"AAAA"', '"AAA="', '"AA=="', '"A==="', '"AAAAAA"', '"AA A"', '"é"', "}", '"}', " ", ":",
)
_USUAL_CLIENT = '{"type":"input_audio_buffer.append","event_id":"e_1","audio":"AAAA"}'
_USUAL_UPSTREAM = ('{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i",'
                   '"output_index":0,"content_index":12,"delta":"AAA="}')

APPEND_SPACED = '{"type": "session.input_audio_buffer.append", "event_id": "ev-9", "audio": "AAAAAA=="}'
DELTA_SPACED = '{"type": "session.output_audio.delta", "event_id": "e", "delta": "AAAA"}'


def _listener_answer(frame: str, upstream: bool) -> tuple[str, int] | None:
    from gateway.core.hotgate import usual_audio_bytes  # the compiled twin (present: checked by the caller)

    answer = usual_audio_bytes(frame.encode(), upstream)
    return None if answer is None else (_CODES[upstream][answer[0]], answer[1])


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_PIECES), max_size=16).map("".join),
        st.tuples(st.sampled_from((_USUAL_CLIENT, _USUAL_UPSTREAM, APPEND_SPACED, DELTA_SPACED)), st.integers(0, 200),
                  st.sampled_from(("", " ", '"', "=", ",", "A", "é", "}", ":", "0", "_"))).map(
            lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + (1 if t[2] else 0):] if t[1] < len(t[0]) else t[0]),
    ),
    st.booleans(),
)
def test_the_listeners_proof_on_bytes_agrees_with_the_usual_layout_check(frame: str, upstream: bool) -> None:
    """On any frame, the compiled listener's shape proof on the UTF-8 bytes gives usual_audio's answer on the text,
    and what usual_audio proves, canonical_audio proves the same."""
    if frames.B64_COMPILED is None:
        pytest.skip("the compiled hot path is not built here")
    usual = frames.usual_audio(frame, upstream)
    assert _listener_answer(frame, upstream) == usual
    if usual is not None:
        assert frames.canonical_audio(frame, upstream) == usual


@pytest.mark.parametrize("frame,upstream", [
    (_USUAL_CLIENT, False),
    (_USUAL_UPSTREAM, True),
    ('{"type": "session.input_audio_buffer.append", "audio": ""}', False),
    ('{"type":"session.output_audio.delta","event_id":"e","delta":"AA=="}', True),
])
def test_the_listeners_proof_accepts_the_usual_layouts(frame: str, upstream: bool) -> None:
    """The service's and the usual clients' spellings (compact, or one space after ``:`` and ``,``) are proven."""
    if frames.B64_COMPILED is None:
        pytest.skip("the compiled hot path is not built here")
    assert frames.usual_audio(frame, upstream) is not None
    assert _listener_answer(frame, upstream) == frames.usual_audio(frame, upstream)


_ALPHABET = frozenset(_B64_CHARS[:-1].encode())


@settings(max_examples=3000, deadline=None)
@given(st.integers(1, 1200), st.data(), st.integers(0, 255))
def test_the_listeners_proof_finds_one_foreign_byte_anywhere_in_long_audio(quads: int, data: st.DataObject, byte: int) -> None:
    """In audio of any length (the vectorized alphabet check's blocks and tail), one byte outside base64's alphabet
    at any position makes the compiled proof refuse the frame; one inside it keeps the frame proven."""
    if frames.B64_COMPILED is None:
        pytest.skip("the compiled hot path is not built here")
    from gateway.core.hotgate import usual_audio_bytes

    assume(byte != ord("="))  # padding: valid at the end, covered by the layout tests above
    audio = bytearray(b"QUJD" * quads)
    audio[data.draw(st.integers(0, len(audio) - 1))] = byte
    frame = b'{"type":"input_audio_buffer.append","audio":"' + bytes(audio) + b'"}'
    expected = (1, quads * 3) if byte in _ALPHABET else None
    assert usual_audio_bytes(frame, False) == expected
