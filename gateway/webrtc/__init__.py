"""WebRTC media termination: a peer connection's audio tracks and ``oai-events`` data channel as a FrameSocket.

Shared by the gateway's terminating bridge (``gateway.inbound.webrtc``) and the emulator's calls API.
aiortc (and PyAV, which comes with it) is used here only: this package is its one home.
"""
