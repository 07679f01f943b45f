"""WebRtcClientSocket: events over the data channel, audio to the playout, barge-in truncates."""

from __future__ import annotations

import asyncio
import base64
import fractions

import orjson
from av import AudioFrame

from gateway.core.ports import Closed
from gateway.webrtc.playout import Playout, Started, Stopped
from gateway.webrtc.socket import WebRtcClientSocket, event_type, outbound_type

MS = 48


class FakeChannel:
    """A data channel that records what was sent."""

    def __init__(self, state: str = "open") -> None:
        self.readyState = state
        self.sent: list[dict[str, object]] = []

    def send(self, data: str) -> None:
        self.sent.append(orjson.loads(data))

    def close(self) -> None:
        self.readyState = "closed"

    def types(self) -> list[str]:
        return [str(e["type"]) for e in self.sent]


def _delta(ms: int, response_id: str = "resp_1", item_id: str = "item_1") -> str:
    audio = base64.b64encode(b"\x01\x00" * (ms * 24)).decode()
    return orjson.dumps(
        {"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id, "output_index": 0,
         "content_index": 0, "delta": audio}
    ).decode()


def _socket(channel: FakeChannel | None = None, translation: bool = False) -> tuple[WebRtcClientSocket, FakeChannel]:
    channel = channel or FakeChannel()
    sock = WebRtcClientSocket(translation=translation, playout=Playout(target_ms=60))
    sock.attach_channel(channel)
    return sock, channel


async def test_audio_deltas_go_to_the_playout_and_other_events_to_the_channel() -> None:
    """Output audio never crosses the data channel; control events do, unchanged."""
    sock, channel = _socket()
    await sock.send('{"type":"response.created","response":{"id":"resp_1"}}')
    await sock.send(_delta(200))
    await sock.send(b'{"type":"response.output_audio_transcript.delta","delta":"hi"}')
    assert channel.types() == ["response.created", "response.output_audio_transcript.delta"]
    assert sock.playout.buffered_ms == 200


async def test_translation_output_audio_is_played_not_forwarded() -> None:
    """``session.output_audio.delta`` of a translation session goes to the playout."""
    sock, channel = _socket(translation=True)
    audio = base64.b64encode(bytes(480 * 10)).decode()
    await sock.send(orjson.dumps({"type": "session.output_audio.delta", "delta": audio}).decode())
    assert channel.sent == [] and sock.playout.buffered_ms == 100


async def test_events_wait_for_the_channel_to_open_and_keep_their_order() -> None:
    """Before the data channel opens, events queue; they are flushed in order when it opens."""
    channel = FakeChannel(state="connecting")
    sock, _ = _socket(channel)
    await sock.send('{"type":"session.created","session":{}}')
    await sock.send('{"type":"session.updated","session":{}}')
    assert channel.sent == []
    channel.readyState = "open"
    sock.flush()
    await sock.send('{"type":"response.created","response":{"id":"r"}}')
    assert channel.types() == ["session.created", "session.updated", "response.created"]


async def test_speech_started_while_playing_cuts_audio_and_truncates_what_was_heard() -> None:
    """Barge-in: buffer dropped, cleared event after speech_started, truncate with the heard ms goes upstream."""
    sock, channel = _socket()
    await sock.send(_delta(1000))
    for _ in range(7):
        sock.playout.next_frame()
    await sock.send('{"type":"input_audio_buffer.speech_started","item_id":"item_u","audio_start_ms":10}')
    assert channel.types() == ["input_audio_buffer.speech_started", "output_audio_buffer.cleared"]
    assert channel.sent[1]["response_id"] == "resp_1"
    assert sock.playout.buffered_ms == 0
    truncate = orjson.loads(await asyncio.wait_for(sock.receive(), 1))  # type: ignore[arg-type]
    assert truncate["type"] == "conversation.item.truncate"
    assert truncate["item_id"] == "item_1" and truncate["content_index"] == 0 and truncate["audio_end_ms"] == 140
    assert str(truncate["event_id"]).startswith("gw_")
    await sock.send(_delta(100))
    assert sock.playout.buffered_ms == 0


async def test_the_bridges_truncate_carries_the_id_the_session_core_issued_and_the_core_takes_it_once() -> None:
    """Wired to a session core, the socket's own truncate names an id the core issued: the core takes it as the
    gateway's (forwarded), and the same id from the data channel afterwards is refused (param event_id)."""
    from gateway.core.kinds import Dialect, SessionKind
    from gateway.core.ports import ClientSideBridge
    from gateway.core.session import Emit, SessionCore

    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0)
    sock, _ = _socket()
    assert isinstance(sock, ClientSideBridge)
    sock.issue_event_ids_with(core.bridge_ids.issue)
    await sock.send(_delta(1000))
    sock.playout.next_frame()
    await sock.send('{"type":"input_audio_buffer.speech_started","item_id":"item_u","audio_start_ms":10}')
    frame = await asyncio.wait_for(sock.receive(), 1)
    assert isinstance(frame, str)
    action = core.from_client(frame, 0.1)
    assert isinstance(action, Emit)
    assert [orjson.loads(f)["type"] for f in action.to_upstream] == ["conversation.item.truncate"]
    again = core.from_client(frame, 0.2)
    assert isinstance(again, Emit)
    assert again.to_upstream == [] and orjson.loads(again.to_client[0])["error"]["param"] == "event_id"


async def test_speech_started_with_nothing_playing_is_just_forwarded() -> None:
    """No audio playing: no clear, no truncate."""
    sock, channel = _socket()
    await sock.send('{"type":"input_audio_buffer.speech_started","item_id":"item_u","audio_start_ms":10}')
    assert channel.types() == ["input_audio_buffer.speech_started"]
    assert sock._inbox.empty()


async def test_client_clear_is_consumed_answered_and_turned_into_a_truncate() -> None:
    """``output_audio_buffer.clear`` never reaches the relay; the client gets ``cleared``, upstream a truncate."""
    sock, channel = _socket()
    await sock.send(_delta(500))
    for _ in range(3):
        sock.playout.next_frame()
    sock.from_channel('{"type":"output_audio_buffer.clear","event_id":"c1"}')
    sock.from_channel('{"type":"response.create"}')
    first = orjson.loads(await sock.receive())  # type: ignore[arg-type]
    second = orjson.loads(await sock.receive())  # type: ignore[arg-type]
    assert (first["type"], first["audio_end_ms"]) == ("conversation.item.truncate", 60)
    assert second == {"type": "response.create"}
    assert channel.types() == ["output_audio_buffer.cleared"]


async def test_client_events_pass_through_unchanged() -> None:
    """Data-channel text reaches the relay byte for byte; a text mentioning the clear type is not mistaken for it."""
    sock, _ = _socket()
    text = '{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"output_audio_buffer.clear"}]}}'
    sock.from_channel(text)
    assert await sock.receive() == text


async def test_playout_notices_become_started_and_stopped_events() -> None:
    """Started/Stopped notices from the track are sent as OpenAI's WebRTC-only events."""
    sock, channel = _socket()
    sock.on_notice(Started("resp_9"))
    sock.on_notice(Stopped("resp_9"))
    sock.on_notice(Started(None))
    assert [(e["type"], e["response_id"]) for e in channel.sent] == [
        ("output_audio_buffer.started", "resp_9"),
        ("output_audio_buffer.stopped", "resp_9"),
    ]


async def test_response_done_lets_the_tail_play_and_reports_stopped() -> None:
    """After response.done the playout drains and the stopped notice names the response."""
    sock, _ = _socket()
    await sock.send(_delta(30))
    await sock.send('{"type":"response.done","response":{"id":"resp_1","status":"completed"}}')
    notices = []
    for _ in range(4):
        notices += sock.playout.next_frame()[1]
    assert notices == [Started("resp_1"), Stopped("resp_1")]


async def test_microphone_pcm_becomes_append_events() -> None:
    """Resampled microphone PCM arrives at the relay as 40 ms GA append events."""
    sock, _ = _socket()
    sock.from_microphone(bytes(1920 * 2 + 100))
    events = [orjson.loads(await sock.receive()) for _ in range(2)]  # type: ignore[arg-type]
    assert [e["type"] for e in events] == ["input_audio_buffer.append"] * 2
    assert all(len(base64.b64decode(e["audio"])) == 1920 for e in events)


async def test_close_reports_closed_and_closes_channel_and_peer() -> None:
    """close() ends receive with the code, closes the data channel, then the peer connection."""
    closed_peer: list[bool] = []

    async def closer() -> None:
        closed_peer.append(True)

    channel = FakeChannel()
    sock = WebRtcClientSocket(translation=False, closer=closer)
    sock.attach_channel(channel)
    await sock.close(4001, "session_cost_cap_reached")
    assert await sock.receive() == Closed(4001, "session_cost_cap_reached")
    assert await sock.receive() == Closed(4001, "session_cost_cap_reached")
    assert channel.readyState == "closed" and closed_peer == [True]


async def test_peer_gone_first_cause_wins() -> None:
    """The first close cause is the one reported."""
    sock, _ = _socket()
    sock.peer_gone(1006, "ICE failed")
    sock.peer_gone(1000, "later")
    assert await sock.receive() == Closed(1006, "ICE failed")


def _service_delta(audio: bytes = b"\x01\x00" * 480) -> str:
    """A delta as the service writes it (its key order, event_id included): the shape the hot-path check proves."""
    return (
        '{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1",'
        '"output_index":0,"content_index":0,"delta":"' + base64.b64encode(audio).decode() + '"}'
    )


def test_outbound_type_reads_events_as_the_strict_parse_does() -> None:
    """A proven delta, a delta in another order, one with a repeated key, other and broken events: same type as event_type."""
    frames = [
        _service_delta(),
        _delta(20),
        '{"type":"response.output_audio.delta","delta":"AAAA","type":"response.done"}',
        '{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,'
        '"content_index":0,"delta":"AAAA","delta":"AAAA"}',
        '{"type":"session.output_audio.delta","event_id":"e","delta":"AAAA"}',
        '{"type":"response.done","response":{"id":"resp_1"}}',
        "not json",
    ]
    for frame in frames:
        assert outbound_type(frame) == event_type(frame), frame


async def test_service_deltas_are_played() -> None:
    """Deltas in the service's own shape (read without parsing) reach the playout with their response and item."""
    sock, channel = _socket()
    for _ in range(3):
        await sock.send(_service_delta())
    assert channel.sent == [] and sock.playout.buffered_ms == 60
    frame, notices = sock.playout.next_frame()
    assert frame == b"\x01\x00" * 480 and notices == [Started("resp_1")]


async def test_decoded_microphone_frames_become_append_events() -> None:
    """Frames handed over by inline decoding (48 kHz mono s16) arrive at the relay as 40 ms appends at 24 kHz."""
    sock, _ = _socket()
    for i in range(5):
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(b"\x10\x00" * 960)
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        sock.from_decoded(frame)
    events = [orjson.loads(await sock.receive()) for _ in range(2)]  # type: ignore[arg-type]
    assert [e["type"] for e in events] == ["input_audio_buffer.append"] * 2
    assert all(len(base64.b64decode(e["audio"])) == 1920 for e in events)


async def test_decoded_microphone_pcm_becomes_append_events_as_it_is() -> None:
    """PCM16 24 kHz bytes handed over by libopus decoding go into 40 ms appends unchanged (no resampling)."""
    sock, _ = _socket()
    pcm = bytes(range(256)) * 15  # 3840 bytes: 80 ms
    sock.from_decoded(pcm[:1000])
    sock.from_decoded(pcm[1000:])
    events = [orjson.loads(await sock.receive()) for _ in range(2)]  # type: ignore[arg-type]
    assert [e["type"] for e in events] == ["input_audio_buffer.append"] * 2
    assert b"".join(base64.b64decode(e["audio"]) for e in events) == pcm


def test_an_unconvertible_microphone_frame_stops_the_microphone_not_the_call() -> None:
    """A decoded frame the resampler refuses ends the microphone (as a failed track pump did), without raising."""
    sock, _ = _socket()
    stereo = AudioFrame(format="s16", layout="stereo", samples=960)
    stereo.planes[0].update(bytes(960 * 4))
    stereo.sample_rate, stereo.pts, stereo.time_base = 48000, 0, fractions.Fraction(1, 48000)
    mono = AudioFrame(format="s16", layout="mono", samples=960)
    mono.planes[0].update(bytes(960 * 2))
    mono.sample_rate, mono.pts, mono.time_base = 48000, 960, fractions.Fraction(1, 48000)
    sock.from_decoded(mono)
    sock.from_decoded(stereo)  # a layout change mid-stream: the resampler refuses it
    sock.from_decoded(mono)
    assert sock._mic_failed
