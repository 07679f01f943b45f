"""Gateway API keys: pure generation helpers and the ``voice-gateway keys`` commands."""
