"""Calls whose media bypasses the gateway: direct WebRTC and SIP, observed and controlled over the sideband."""
