"""A lean echo upstream on picows: the same frames as the emulator's echo mode, at a fraction of the CPU.

The project's emulator (websockets + its full session machine) saturates half a core below 100
echo sessions, so as the floor it would measure itself. This server sends the emulator's own
``session.created`` (built by its session machine, once per session) and answers each
``input_audio_buffer.append`` with one ``response.output_audio.delta`` carrying the same base64
payload, by slicing bytes instead of parsing JSON.
"""

from __future__ import annotations

import argparse
import asyncio
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import orjson
import uvloop
from picows import (WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, WSUpgradeResponse,
                    WSUpgradeResponseWithListener, ws_create_server)

from gateway.emulator.script import Script
from gateway.emulator.server import make_machine

_AUDIO_KEY: Final = b'"audio"'
_APPEND: Final = b'"input_audio_buffer.append"'
_DELTA_HEAD: Final = (b'{"type":"response.output_audio.delta","event_id":"event_bench","response_id":"resp_bench",'
                      b'"item_id":"item_bench","output_index":0,"content_index":0,"delta":"')
_DELTA_TAIL: Final = b'"}'


def echo_reply(payload: bytes) -> bytes | None:
    """The delta answering an append (same audio text), or ``None`` for any other frame."""
    if _APPEND not in payload:
        return None
    key = payload.find(_AUDIO_KEY)
    if key < 0:
        return None
    start = payload.find(b'"', key + len(_AUDIO_KEY)) + 1
    end = payload.find(b'"', start) if start > 0 else -1
    return None if end < 0 else b"".join((_DELTA_HEAD, payload[start:end], _DELTA_TAIL))


def opening_frames(path: str) -> list[bytes]:
    """What the emulator sends first for this request path (``session.created`` …)."""
    parts = urlsplit(path)
    machine = make_machine(parts.path.rstrip("/"), dict(parse_qsl(parts.query)), Script(mode="echo"))
    return [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in machine.start(0.0)]


class EchoListener(WSListener):  # type: ignore[misc]
    """One upstream session."""

    def __init__(self, opening: list[bytes]) -> None:
        """Keep the frames to send on connect."""
        self.opening = opening

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Send ``session.created`` (and what else the emulator sends first)."""
        for frame in self.opening:
            transport.send(WSMsgType.TEXT, frame)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Echo appends; answer a close."""
        if frame.msg_type == WSMsgType.TEXT:
            reply = echo_reply(frame.get_payload_as_bytes())
            if reply is not None:
                transport.send(WSMsgType.TEXT, reply)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


def _accept(request: WSUpgradeRequest) -> EchoListener | WSUpgradeResponseWithListener:
    """Bearer auth as OpenAI's (any non-empty key), then the session."""
    auth = request.headers.get("Authorization", "") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_error_response(HTTPStatus.UNAUTHORIZED, b'{"error":"missing key"}'), None)
    return EchoListener(opening_frames(request.path.decode() if isinstance(request.path, bytes) else request.path))


async def serve(host: str, port: int) -> None:
    """Listen until killed."""
    server = await ws_create_server(_accept, host, port, websocket_handshake_timeout=15)
    print(f"fast echo ready ws://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """``python -m bench.fast_echo --port N``."""
    parser = argparse.ArgumentParser(prog="python -m bench.fast_echo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
