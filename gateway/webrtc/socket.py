"""The client side of a WebRTC session as a :class:`gateway.core.ports.FrameSocket`.

Inbound: JSON events from the ``oai-events`` data channel, unchanged, plus ``*.append`` events
synthesized from the microphone track. Outbound: model audio goes to the :class:`Playout` (and so
to the outgoing track), never over the data channel; every other event goes over the data channel
as text, plus the WebRTC-only ``output_audio_buffer.started``/``stopped``/``cleared`` events.
Barge-in (upstream VAD ``speech_started`` while audio plays, or the client's
``output_audio_buffer.clear``) empties the playout at once and tells the model, with a
``conversation.item.truncate``, how much of the item the user actually heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Awaitable, Callable, Final, Protocol

import orjson
import pybase64
from av import AudioFrame

from gateway.core.errors import GatewayError
from gateway.core.frames import canonical_audio, dumps, event_type_of
from gateway.core.ports import Closed, Frame
from gateway.core.protocol import GATEWAY_EVENT_PREFIX
from gateway.webrtc.audio_in import MicResampler, chunker_for
from gateway.webrtc.playout import Cleared, Notice, Playout, Started
from gateway.waiting import within

log = logging.getLogger("voice_gateway.webrtc")

AUDIO_DELTAS: Final = frozenset({"response.output_audio.delta", "session.output_audio.delta"})
CLIENT_CLEAR: Final = "output_audio_buffer.clear"
SPEECH_STARTED: Final = "input_audio_buffer.speech_started"
_CHANNEL_CLOSE_S: Final = 1.0


class EventChannel(Protocol):
    """What the socket needs of a data channel (aiortc's ``RTCDataChannel`` fits)."""

    @property
    def readyState(self) -> str: ...  # noqa: N802 - the WebRTC name

    def send(self, data: str) -> None: ...

    def close(self) -> None: ...


class AudioSource(Protocol):
    """A decoded incoming media track (aiortc's remote track fits)."""

    async def recv(self) -> object: ...


def event_type(text: str) -> str | None:
    """The event's ``type``, read as the session core reads it; ``None`` when unusable."""
    return event_type_of(text)


def outbound_type(text: str) -> str | None:
    """:func:`event_type` of an event going to the peer; an audio delta in the canonical shape is read without parsing.

    A delta the hot-path check proves (:func:`canonical_audio`: the usual keys once each, base64 audio) has the
    type the strict parse would give it; every other event is parsed as :func:`event_type` does.
    """
    proven = canonical_audio(text, True)
    if proven is not None and proven[0] in AUDIO_DELTAS:
        return proven[0]
    return event_type(text)


class WebRtcClientSocket:
    """Implements FrameSocket over a peer connection's event channel and audio tracks."""

    def __init__(
        self,
        *,
        translation: bool,
        playout: Playout | None = None,
        closer: Callable[[], Awaitable[None]] | None = None,
        echo: Callable[[str], None] | None = None,
        cut_on_speech: Callable[[], bool] | None = None,
    ) -> None:
        self.translation = translation
        #: whether upstream VAD's speech_started cuts the playout (default: always; the emulator asks its session)
        self._cut_on_speech = cut_on_speech
        #: also told of the WebRTC-only events this socket synthesizes (an emulated call's sideband wants them)
        self._echo = echo
        self.playout = playout or Playout()
        self._closer = closer
        self._inbox: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self._closed: Closed | None = None
        self._closing = False
        self._channel: EventChannel | None = None
        self._outbox: list[str] = []
        self._ids = itertools.count(1)
        #: ids for what this socket sends upstream in the client's place (the session core's: it knows them)
        self._issue: Callable[[str], str] | None = None
        self._chunker = chunker_for(translation)
        self._mic: MicResampler | None = None
        self._mic_failed = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- fed by the transport ------------------------------------------------------------------

    def attach_channel(self, channel: EventChannel) -> None:
        """The client's ``oai-events`` channel arrived; flush what waited for it."""
        self._channel = channel
        self.flush()

    def flush(self) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open" or not self._outbox:
            return
        pending, self._outbox = self._outbox, []
        for text in pending:
            channel.send(text)

    def from_channel(self, message: str | bytes) -> None:
        """One data-channel message: consumed if it is the WebRTC-only clear, else queued for the relay."""
        if isinstance(message, str) and CLIENT_CLEAR in message and event_type(message) == CLIENT_CLEAR:
            self._cut()
            return
        self._inbox.put_nowait(message)

    def from_microphone(self, pcm: bytes) -> None:
        """Resampled microphone PCM16 24 kHz: queue the appends it completes."""
        for text in self._chunker.push(pcm):
            self._inbox.put_nowait(text)

    def from_decoded(self, frame: object) -> None:
        """Decoded microphone audio, handed over as the receiver decodes it (no track queue, no task wake-up).

        PCM16 mono 24 kHz bytes (Opus decoded by libopus at the API's rate) or a frame to resample.
        """
        if isinstance(frame, bytes):
            self.from_microphone(frame)
            return
        if not isinstance(frame, AudioFrame) or self._mic_failed:
            return
        if self._mic is None:
            self._mic = MicResampler()
        try:
            pcm = self._mic.convert(frame)
        except Exception:  # noqa: BLE001 - as a failing track pump would: the microphone stops, the call goes on
            log.debug("microphone frame not convertible: microphone stopped")
            self._mic_failed = True
            return
        self.from_microphone(pcm)

    def start_microphone(self, track: AudioSource) -> None:
        """Read the client's audio track until it ends (frames decoded inline come through :meth:`from_decoded`)."""
        self.spawn(self._pump_microphone(track, MicResampler()))

    async def _pump_microphone(self, track: AudioSource, resampler: MicResampler) -> None:
        with contextlib.suppress(Exception):  # the track ends with MediaStreamError when the peer goes
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame):
                    self.from_microphone(resampler.convert(frame))

    def peer_gone(self, code: int, reason: str) -> None:
        """The peer closed or vanished: ``receive`` reports it (first cause wins)."""
        if self._closed is None:
            self._closed = Closed(code, reason)
            self._inbox.put_nowait(self._closed)

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a helper task for this session's lifetime (held so it is not garbage-collected)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- FrameSocket -----------------------------------------------------------------------------

    async def receive(self) -> Frame | Closed:
        if self._closed is not None and self._inbox.empty():
            return self._closed
        return await self._inbox.get()

    async def send(self, frame: Frame) -> None:
        text = frame if isinstance(frame, str) else frame.decode()
        kind = outbound_type(text)
        if kind in AUDIO_DELTAS:
            self._play(text)
            return
        self._send_text(text)
        if kind == "response.done":
            self._response_done(text)
        elif kind == SPEECH_STARTED and self.playout.active and (self._cut_on_speech is None or self._cut_on_speech()):
            self._cut()

    async def close(self, code: int, reason: str) -> None:
        """Close the event channel (after what was sent reached the peer), then the peer connection."""
        if self._closing:
            return
        self._closing = True
        self.peer_gone(code, reason)
        self.flush()
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await within(self._channel_closed(channel), _CHANNEL_CLOSE_S)
        for task in list(self._tasks):
            task.cancel()
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer()

    @staticmethod
    async def _channel_closed(channel: EventChannel) -> None:
        while channel.readyState != "closed":
            await asyncio.sleep(0.01)

    # --- outgoing audio --------------------------------------------------------------------------

    def _play(self, text: str) -> None:
        try:
            event = orjson.loads(text)
            pcm = pybase64.b64decode(event["delta"])  # CPython's semantics (non-alphabet characters skipped), SIMD
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # not playable; the core already counted and observed it
        self.playout.push(pcm, _opt_str(event.get("response_id")), _opt_str(event.get("item_id")))

    def _response_done(self, text: str) -> None:
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            response = orjson.loads(text).get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self.playout.response_done(response["id"])

    def on_notice(self, notice: Notice) -> None:
        """Playout started/stopped a response's audio: tell the client, as OpenAI's WebRTC does."""
        if notice.response_id is None:
            return
        kind = "output_audio_buffer.started" if isinstance(notice, Started) else "output_audio_buffer.stopped"
        self._send_text(self._event({"type": kind, "response_id": notice.response_id}))

    def _cut(self) -> Cleared:
        """Barge-in: drop buffered audio, truncate the heard item upstream, confirm to the client."""
        cut = self.playout.clear()
        if cut.item_id is not None and not self.translation:
            self._inbox.put_nowait(self.truncate_event(cut))
        cleared: dict[str, object] = {"type": "output_audio_buffer.cleared"}
        if cut.response_id is not None:
            cleared["response_id"] = cut.response_id
        self._send_text(self._event(cleared))
        return cut

    def issue_event_ids_with(self, issue: Callable[[str], str]) -> None:
        """The session core issues the ids of the events this socket sends in the client's place
        (:class:`gateway.core.ports.ClientSideBridge`): only those are taken as the gateway's."""
        self._issue = issue

    def truncate_event(self, cut: Cleared) -> str:
        """The ``conversation.item.truncate`` telling the model how much of the item was heard."""
        event: dict[str, object] = {
            "type": "conversation.item.truncate", "item_id": cut.item_id, "content_index": 0, "audio_end_ms": cut.played_ms,
        }
        if self._issue is not None:
            return dumps({"event_id": self._issue("rtc_truncate"), **event}).decode()
        return self._event(event)

    # --- helpers ---------------------------------------------------------------------------------

    def _event(self, event: dict[str, object]) -> str:
        text = dumps({"event_id": f"{GATEWAY_EVENT_PREFIX}rtc_{next(self._ids)}", **event}).decode()
        if self._echo is not None and event.get("type") != "conversation.item.truncate":
            self._echo(text)
        return text

    def _send_text(self, text: str) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open" and not self._outbox:
            try:
                channel.send(text)
            except Exception:  # noqa: BLE001 - a channel closing under us reports itself via peer_gone
                log.debug("data channel send failed")
            return
        if not self._closing:
            self._outbox.append(text)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
