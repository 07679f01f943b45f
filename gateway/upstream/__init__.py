"""Connectors to model endpoints; the only home of the WebSocket client library."""
