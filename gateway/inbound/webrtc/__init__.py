"""WebRTC sessions: an SDP offer/answer over HTTP, then the same relay, core and observers as a WebSocket session.

The media termination itself (aiortc) lives in :mod:`gateway.webrtc`.
"""

from gateway.inbound.webrtc.endpoint import webrtc_router

__all__ = ["webrtc_router"]
