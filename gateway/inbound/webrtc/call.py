"""One WebRTC call: the peer connection that answers a browser's offer, wired to a :class:`WebRtcClientSocket`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from gateway.inbound.webrtc.socket import WebRtcClientSocket
from gateway.inbound.webrtc.track import PlayoutTrack

EVENTS_LABEL: Final = "oai-events"
#: a call whose ICE/DTLS has not connected by then is given up
CONNECT_TIMEOUT_S: Final = 20.0


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    socket: WebRtcClientSocket
    answer_sdp: str


async def answer_offer(offer_sdp: str, *, translation: bool, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> AnsweredCall:
    """Accept an SDP offer; the answer is complete (ICE gathered). Raises ``ValueError`` for an unusable offer."""
    # no ICE servers: aiortc's default would ask a public STUN server; the gateway answers with host candidates
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    socket = WebRtcClientSocket(translation=translation, closer=pc.close)
    track = PlayoutTrack(socket.playout, socket.on_notice)
    _wire(pc, socket, track)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if not pc.getTransceivers() and pc.sctp is None:
            raise ValueError("the offer has neither audio nor a data channel")
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(track)
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:
        await pc.close()
        raise ValueError("unusable SDP offer") from exc
    socket.spawn(_connect_deadline(pc, socket, connect_timeout_s))
    return AnsweredCall(socket, pc.localDescription.sdp)


def _wire(pc: RTCPeerConnection, socket: WebRtcClientSocket, track: PlayoutTrack) -> None:
    @pc.on("datachannel")
    def on_datachannel(channel: object) -> None:
        if getattr(channel, "label", None) != EVENTS_LABEL:
            return
        socket.attach_channel(channel)  # type: ignore[arg-type]
        channel.on("message", socket.from_channel)  # type: ignore[attr-defined]
        channel.on("open", socket.flush)  # type: ignore[attr-defined]
        channel.on("close", lambda: socket.peer_gone(1000, "data channel closed"))  # type: ignore[attr-defined]

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
