"""How a session record and a directory entry name a call's transport (a WebSocket session is no call)."""

from __future__ import annotations

from typing import Final

#: WebRTC with the gateway's own peer connection (terminate mode): no upstream call, no sideband
TERMINATED_WEBRTC: Final = "webrtc"
#: a WebRTC call with direct media, and an incoming SIP call: the gateway follows both on the upstream call's sideband
WEBRTC_DIRECT: Final = "webrtc-direct"
SIP: Final = "sip"
DIRECT_MEDIA: Final = frozenset({WEBRTC_DIRECT, SIP})
#: every call the calls API can end
CALLS: Final = DIRECT_MEDIA | {TERMINATED_WEBRTC}
