"""The emulator's calls API: WebRTC calls answered with aiortc, SIP calls simulated, sidebands by ``call_id``."""
