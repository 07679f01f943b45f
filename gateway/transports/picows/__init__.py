"""The realtime WebSocket sessions on picows (Cython frames) behind uvicorn's HTTP parser, on the app's port."""

from gateway.transports.picows.protocol import PicowsSessionProtocol

__all__ = ["PicowsSessionProtocol"]
