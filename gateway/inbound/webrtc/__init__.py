"""WebRTC sessions: an SDP offer/answer over HTTP, then the same relay, core and observers as a WebSocket session.

aiortc (and PyAV, which comes with it) is used here only: this package is its one home.
"""

from gateway.inbound.webrtc.endpoint import webrtc_router

__all__ = ["webrtc_router"]
