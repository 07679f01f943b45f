"""Realtime sessions on uvicorn's ASGI WebSocket messages, dispatched before any middleware."""
