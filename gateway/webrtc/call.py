"""One WebRTC call: the peer connection that answers a browser's offer, wired to a :class:`WebRtcClientSocket`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Final

from aiortc import RTCDataChannel, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from gateway.webrtc import codecs, ntp
from gateway.webrtc.ice import IceOptions, announce
from gateway.webrtc.socket import WebRtcClientSocket
from gateway.webrtc.track import PlayoutTrack

log = logging.getLogger("voice_gateway.webrtc")

EVENTS_LABEL: Final = "oai-events"
#: a call whose ICE/DTLS has not connected by then is given up
CONNECT_TIMEOUT_S: Final = 20.0
#: microphone packets held before decoding. aiortc's audio default (4 × 20 ms) smooths playback, but the
#: gateway does not play the microphone, it forwards it: each held frame is pure added latency
INPUT_PREFETCH_FRAMES: Final = 1
_JITTER_ATTR: Final = "_RTCRtpReceiver__jitter_buffer"

# aioice logs every ICE candidate-pair check at INFO; keep the gateway's logs about sessions
logging.getLogger("aioice").setLevel(logging.WARNING)
# mono voice Opus instead of aiortc's stereo music settings (see gateway.webrtc.codecs)
codecs.install()
# aiortc's per-packet wall-clock reads without datetime arithmetic (same values; see gateway.webrtc.ntp)
ntp.install()


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    socket: WebRtcClientSocket
    answer_sdp: str


async def answer_offer(
    offer_sdp: str,
    *,
    translation: bool,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    echo: Callable[[str], None] | None = None,
    ice: IceOptions | None = None,
    cut_on_speech: Callable[[], bool] | None = None,
) -> AnsweredCall:
    """Accept an SDP offer; the answer is complete (ICE gathered). Raises ``ValueError`` for an unusable offer.

    ``echo`` also receives the WebRTC-only events the socket itself sends the peer (``output_audio_buffer.*``);
    ``cut_on_speech`` decides whether upstream VAD's ``speech_started`` cuts the playout (default: always).
    """
    # no ICE servers unless configured: aiortc's default would ask a public STUN server
    ice = ice or IceOptions()
    pc = RTCPeerConnection(ice.configuration())
    socket = WebRtcClientSocket(translation=translation, closer=pc.close, echo=echo, cut_on_speech=cut_on_speech)
    track = PlayoutTrack(socket.playout, socket.on_notice)
    _wire(pc, socket, track)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if not pc.getTransceivers() and pc.sctp is None:
            raise ValueError("the offer has neither audio nor a data channel")
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        for transceiver in audio:
            shorten_input_jitter_buffer(transceiver.receiver)
            if not codecs.decode_inline(transceiver.receiver, socket.from_decoded):
                log.warning("aiortc's receiver internals moved: microphone audio decodes on aiortc's thread")
        if audio:
            pc.addTrack(track)
        await pc.setLocalDescription(await pc.createAnswer())
        if sends_opus(pc.localDescription.sdp):
            track.encode_with(codecs.VoiceOpusEncoder())
    except Exception as exc:
        await pc.close()
        raise ValueError("unusable SDP offer") from exc
    socket.spawn(_connect_deadline(pc, socket, connect_timeout_s))
    return AnsweredCall(socket, announce(pc.localDescription.sdp, ice.announced_address))


def sends_opus(answer_sdp: str) -> bool:
    """Whether the answer's audio goes out as Opus (aiortc sends with the first codec of the answered m-line)."""
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind == "audio" and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.lower() == codecs.OPUS
    return False


def shorten_input_jitter_buffer(receiver: RTCRtpReceiver) -> bool:
    """Hold one microphone frame instead of four (aiortc has no public knob; False if its internals moved)."""
    if not isinstance(getattr(receiver, _JITTER_ATTR, None), JitterBuffer):
        return False
    setattr(receiver, _JITTER_ATTR, JitterBuffer(capacity=16, prefetch=INPUT_PREFETCH_FRAMES))
    return True


def _wire(pc: RTCPeerConnection, socket: WebRtcClientSocket, track: PlayoutTrack) -> None:
    @pc.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL:
            return
        socket.attach_channel(channel)
        channel.on("message", socket.from_channel)
        channel.on("open", socket.flush)
        channel.on("close", lambda: socket.peer_gone(1000, "data channel closed"))

    @pc.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        if remote.kind == "audio":
            socket.start_microphone(remote)

    @pc.on("connectionstatechange")
    def on_state() -> None:
        state = pc.connectionState
        if state == "failed":
            socket.peer_gone(1006, "ICE failed")
        elif state == "closed":
            track.stop()
            socket.peer_gone(1000, "peer connection closed")


async def _connect_deadline(pc: RTCPeerConnection, socket: WebRtcClientSocket, timeout_s: float) -> None:
    await asyncio.sleep(timeout_s)
    if pc.connectionState not in ("connected", "closed"):
        socket.peer_gone(1006, "the call did not connect")
