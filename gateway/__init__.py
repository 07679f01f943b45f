"""voice-gateway: one URL for realtime voice AI."""

__version__ = "0.1.0"
