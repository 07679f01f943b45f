"""Operator reports over what the gateway records (``voice-gateway usage``)."""
