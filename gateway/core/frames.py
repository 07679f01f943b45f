"""What a text frame means, read once: proven canonical audio frames pass as they are, the rest is parsed.

The gateway must enforce on exactly what the peer will receive, whatever JSON parser the peer
uses (the upstream keeps the *last* of two duplicate keys; others keep the first, accept ``NaN``,
or read escapes differently). So a frame is forwarded as received only when it is **proven** to
have one meaning under every JSON parser; every other frame is parsed in full and the gateway
forwards its own serialization of what it understood (:func:`encode`).

The proof (:func:`canonical_audio`) covers the hot frames, audio appends and audio deltas. A
frame passes when, with the base64 audio text cut out, what is left is a flat object that matches
a strict grammar:

* keys from the event type's known set, each exactly once, in any order;
* the audio value is strict base64 (alphabet ``A–Z a–z 0–9 + /``, length a multiple of 4, at most
  two ``=`` at the end), so its decoded size is exact and no parser can read it otherwise;
* ``type`` is ``[a-z_.]``, ids (``event_id``, ``response_id``, ``item_id``) are
  ``[A-Za-z0-9_-]{1,128}`` (a client's ``event_id`` not in the gateway's ``gw_`` namespace:
  :mod:`gateway.core.event_ids`), counters are non-negative decimal integers without sign, fraction or
  leading zero, ``format`` is ``[a-z0-9_/]``: no escapes, no quotes, no colon inside any value;
* no whitespace at all, or exactly one space after each ``:`` and ``,`` (the spellings of
  ``JSON.stringify``/orjson and of Python's ``json.dumps``); nothing before ``{`` or after ``}``.

Anything else (other spacing, escapes, extra or repeated keys, other value shapes) is not an
error: it takes the parsed path. There, client frames with a duplicate key anywhere are refused
(an honest client never sends one; which one counts depends on the parser), as are ``NaN`` and
``Infinity`` and invalid base64 audio; upstream frames are normalised (last duplicate wins, as
the upstream itself reads them) and frames the gateway cannot parse are dropped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Final, NamedTuple

import orjson

from gateway.core.errors import GatewayError, InvalidJson, InvalidRequest, MissingEventType

from gateway.core.jsontypes import JsonObject

#: event type → key of its base64 audio, for frames from the client
CLIENT_AUDIO: Final[dict[str, str]] = {
    "input_audio_buffer.append": "audio",
    "session.input_audio_buffer.append": "audio",
}
#: the same for frames from the upstream (always the GA dialect)
UPSTREAM_AUDIO: Final[dict[str, str]] = {
    "response.output_audio.delta": "delta",
    "session.output_audio.delta": "delta",
}
#: every key a canonical frame of each hot type may carry (besides ``type`` and its audio key)
_ALLOWED_KEYS: Final[dict[str, frozenset[str]]] = {
    "input_audio_buffer.append": frozenset({"type", "audio", "event_id"}),
    "session.input_audio_buffer.append": frozenset({"type", "audio", "event_id"}),
    "response.output_audio.delta": frozenset(
        {"type", "delta", "event_id", "response_id", "item_id", "output_index", "content_index"}),
    "session.output_audio.delta": frozenset(
        {"type", "delta", "event_id", "format", "sample_rate", "channels", "elapsed_ms"}),
}

_SP: Final = " ?"
_ID: Final = r'"[A-Za-z0-9_-]{1,128}"'
#: a client's id outside the gateway's reserved ``gw_`` namespace (such a frame takes the parsed path and is refused there)
_CLIENT_ID: Final = r'"(?!gw_)[A-Za-z0-9_-]{1,128}"'
_UINT: Final = r"(?:0|[1-9][0-9]{0,9})"
_TYPE: Final = r'"(?P<type>[a-z_.]{1,64})"'


class _Shape(NamedTuple):
    """The proof's grammar for one direction: the usual key order first (one fast match), then any order."""

    audio_key: str
    #: the usual layout up to the audio's opening quote, with the audio as the last member
    head: re.Pattern[str]
    usual: re.Pattern[str]
    any_order: re.Pattern[str]
    #: per hot type, the ``"key":`` spellings it may carry, to count each key once
    keys: dict[str, tuple[str, ...]]


def _any_order(*members: str) -> re.Pattern[str]:
    """A flat object of known members in any order (each member's leading quote factored out)."""
    member = '"(?:' + "|".join(members) + ")"
    # each member is followed by a separator and another member, or by the closing brace
    return re.compile(rf'\{{(?:{member}(?:,{_SP}|(?=\}}\Z)))+\}}')


def _shape(audio_key: str, head: str, usual: str, members: tuple[str, ...], allowed: dict[str, frozenset[str]]) -> _Shape:
    return _Shape(audio_key, re.compile(head), re.compile(usual), _any_order(*members),
                  {t: tuple(f'"{k}":' for k in sorted(keys)) for t, keys in allowed.items()})


_CLIENT: Final = _shape(
    "audio",
    rf'\{{"type":{_SP}"((?:session\.)?input_audio_buffer\.append)",{_SP}(?:"event_id":{_SP}{_CLIENT_ID},{_SP})?"audio":{_SP}"',
    rf'\{{"type":{_SP}"(?P<type>(?:session\.)?input_audio_buffer\.append)",{_SP}(?:"event_id":{_SP}{_CLIENT_ID},{_SP})?"audio":{_SP}""\}}',
    (f"type\":{_SP}{_TYPE}", f'audio":{_SP}""', f"event_id\":{_SP}{_CLIENT_ID}"),
    {t: k for t, k in _ALLOWED_KEYS.items() if t in CLIENT_AUDIO},
)
_UPSTREAM: Final = _shape(
    "delta",
    rf'\{{"type":{_SP}"(?:(response\.output_audio\.delta)",{_SP}"event_id":{_SP}{_ID},{_SP}"response_id":{_SP}{_ID},{_SP}'
    rf'"item_id":{_SP}{_ID},{_SP}"output_index":{_SP}{_UINT},{_SP}"content_index":{_SP}{_UINT},{_SP}'
    rf'|(session\.output_audio\.delta)",{_SP}"event_id":{_SP}{_ID},{_SP})"delta":{_SP}"',
    # the order in which the service writes its deltas
    rf'\{{"type":{_SP}"(?:(?P<type>response\.output_audio\.delta)",{_SP}"event_id":{_SP}{_ID},{_SP}'
    rf'"response_id":{_SP}{_ID},{_SP}"item_id":{_SP}{_ID},{_SP}"output_index":{_SP}{_UINT},{_SP}'
    rf'"content_index":{_SP}{_UINT},{_SP}"delta":{_SP}""'
    rf'|(?P<translation>session\.output_audio\.delta)",{_SP}"event_id":{_SP}{_ID},{_SP}"delta":{_SP}""'
    rf'(?:,{_SP}"format":{_SP}"pcm16")?(?:,{_SP}"sample_rate":{_SP}{_UINT})?(?:,{_SP}"channels":{_SP}{_UINT})?'
    rf'(?:,{_SP}"elapsed_ms":{_SP}{_UINT})?)\}}',
    (f"type\":{_SP}{_TYPE}", f'delta":{_SP}""', f"(?:event_id|response_id|item_id)\":{_SP}{_ID}",
     f"(?:output_index|content_index|sample_rate|channels|elapsed_ms)\":{_SP}{_UINT}",
     f'format":{_SP}"[a-z0-9_/]{{1,32}}"'),
    {t: k for t, k in _ALLOWED_KEYS.items() if t in UPSTREAM_AUDIO},
)
_B64: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: a skeleton longer than this is not one of the hot shapes (seven members with 128-char ids fit)
_MAX_SKELETON: Final = 1200


class Reading(NamedTuple):
    """What a frame is (a tuple: cheap to build on the hot path)."""

    type: str
    #: decoded bytes of the frame's audio (0 for events without audio)
    audio_bytes: int
    #: the parsed event; ``None`` when the frame is proven canonical and goes on as received
    event: JsonObject | None


def b64_decoded_len(text: str) -> int | None:
    """Decoded size of strict, padded base64 text; ``None`` when it is not strict base64."""
    n = len(text)
    if n % 4 or not text.isascii():
        return None
    rest = text.encode().translate(None, _B64)
    if rest and (len(rest) > 2 or rest.strip(b"=") or not text.endswith(rest.decode())):
        return None
    return n // 4 * 3 - len(rest)


def b64_span_len_py(text: str, start: int, end: int) -> int | None:
    """:func:`b64_decoded_len` of ``text[start:end]`` (the pure-Python twin of the compiled helper)."""
    if start < 0 or end > len(text) or end < start:
        return None
    return b64_decoded_len(text[start:end])


def _compiled_span_len() -> Callable[[str, int, int], int | None] | None:
    """The compiled twin (``gateway/core/b64span.pyx``) unless absent or ``VOICE_GATEWAY_PURE_PYTHON`` is set."""
    if os.environ.get("VOICE_GATEWAY_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from gateway.core.b64span import b64_span_len as compiled  # built at install when a compiler is there
    except ImportError:
        return None
    return compiled


#: the compiled helper (no copy of the audio text, one table lookup per character) when built
B64_COMPILED: Final = _compiled_span_len()
#: decoded size of ``text[start:end]`` as strict base64 (``None``: not strict base64); what the hot path calls
b64_span_len: Final[Callable[[str, int, int], int | None]] = B64_COMPILED or b64_span_len_py


def usual_audio(frame: str, upstream: bool) -> tuple[str, int] | None:
    """:func:`canonical_audio` of a frame in the usual layout (the head in the service's key order, the audio last);
    ``None`` for every other frame, canonical or not. The compiled listener (``gateway/core/hotgate.pyx``:
    ``usual_audio``) gives the same answer on the frame's UTF-8 bytes."""
    head = (_UPSTREAM if upstream else _CLIENT).head.match(frame)
    if head is not None and head.end() <= len(frame) - 2 and frame.endswith('"}'):
        # what lies between the head and '"}' must be base64 alone
        audio_bytes = b64_span_len(frame, head.end(), len(frame) - 2)
        if audio_bytes is not None:
            return head[head.lastindex or 0], audio_bytes  # the one type group that matched
    return None


def canonical_audio(frame: str, upstream: bool) -> tuple[str, int] | None:
    """``(type, decoded audio bytes)`` when the frame is a hot audio event of proven meaning, else ``None``."""
    usual = usual_audio(frame, upstream)
    if usual is not None:
        return usual
    shape = _UPSTREAM if upstream else _CLIENT
    marker = f'"{shape.audio_key}":'
    at = frame.find(marker)
    if at < 0 or not frame.isascii():
        return None
    start = at + len(marker)
    if frame.startswith(' "', start):
        start += 1
    elif not frame.startswith('"', start):
        return None
    end = frame.find('"', start + 1)
    if end < 0 or len(frame) - (end - start) > _MAX_SKELETON:
        return None
    audio_bytes = b64_span_len(frame, start + 1, end)
    if audio_bytes is None:
        return None
    # the frame with its audio text cut out; no value may hold a quote, so the cut is at the key
    skeleton = frame[:start + 1] + frame[end:]
    match = shape.usual.fullmatch(skeleton)
    if match is not None:
        return match.group("type") or match.group("translation"), audio_bytes
    match = shape.any_order.fullmatch(skeleton)
    keys = shape.keys.get(match.group("type")) if match is not None else None
    # every member holds exactly one colon: as many members as distinct allowed keys means no
    # key repeats and none is foreign to the type
    if match is None or keys is None or skeleton.count(":") != sum(map(skeleton.__contains__, keys)):
        return None
    return match.group("type"), audio_bytes


# --- the parsed path ---------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, object]]) -> JsonObject:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidRequest(f"Duplicate key '{key[:64]}' in the event; send each key once.", param=key[:64])
        seen.add(key)
    raise AssertionError("unreachable")


def _no_constant(name: str) -> object:
    raise InvalidJson(f"'{name}' is not valid JSON.")


def parse_event(frame: bytes | str) -> JsonObject:
    """Parse a whole frame as a JSON object with a string ``type`` (duplicates: last wins); raise a client-safe error otherwise."""
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson() from exc
    if not isinstance(event, dict):
        raise InvalidJson("The frame must be a JSON object.")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MissingEventType()
    return event


def parse_client_event(frame: str) -> JsonObject:
    """Parse a client frame strictly: valid JSON for every parser, no duplicate key at any depth."""
    event = parse_event(frame)
    try:
        json.loads(frame, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except GatewayError:
        raise
    except (ValueError, RecursionError) as exc:  # orjson read it; a stdlib limit is still a refusal
        raise InvalidJson() from exc
    return event


def _audio_of(event: JsonObject, key: str, event_type: str) -> int:
    value = event.get(key)
    if value is None:
        return 0
    size = b64_decoded_len(value) if isinstance(value, str) else None
    if size is None:
        raise InvalidRequest(f"Invalid '{key}' of {event_type}: expected padded base64 audio.", param=key)
    return size


def read_client(frame: str) -> Reading:
    """What a client text frame is; raises a client-safe :class:`GatewayError` when it cannot be used."""
    return _read(frame, upstream=False)


def read_upstream(frame: str) -> Reading:
    """What an upstream text frame is; raises :class:`GatewayError` when it must not reach the client."""
    return _read(frame, upstream=True)


def _read(frame: str, upstream: bool) -> Reading:
    proven = canonical_audio(frame, upstream)
    if proven is not None:
        return Reading(proven[0], proven[1], None)
    return read_parsed(frame, upstream)


def read_parsed(frame: str, upstream: bool) -> Reading:
    """What a frame :func:`canonical_audio` did not prove is, parsed in full (client frames strictly)."""
    event = parse_event(frame) if upstream else parse_client_event(frame)
    event_type = str(event["type"])
    key = (UPSTREAM_AUDIO if upstream else CLIENT_AUDIO).get(event_type)
    return Reading(event_type, 0 if key is None else _audio_of(event, key, event_type), event)


def event_type_of(frame: str) -> str | None:
    """The ``type`` of a client text frame read as :func:`read_client` reads it; ``None`` when unusable."""
    try:
        return read_client(frame).type
    except GatewayError:
        return None


def dumps(event: JsonObject) -> bytes:
    """Serialise an event to a compact JSON text frame body."""
    return orjson.dumps(event)


def encode(event: JsonObject) -> str:
    """The gateway's own serialization of an event it understood, as a text frame."""
    return orjson.dumps(event).decode()
