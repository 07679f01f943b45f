"""Helpers: a validating websockets client and synthetic audio payloads."""

from __future__ import annotations

import asyncio
import base64

import orjson
from openai.types.realtime import RealtimeServerEvent, RealtimeTranslationServerEvent
from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection, connect

from gateway.emulator import EmulatorHandle
from gateway.emulator.audio import PCM, AudioFormat, silence, voice

REALTIME = TypeAdapter(RealtimeServerEvent)
TRANSLATION = TypeAdapter(RealtimeTranslationServerEvent)
AUTH = {"Authorization": "Bearer test-key"}


class Client:
    """A websockets client that validates every received event against the SDK union."""

    def __init__(self, ws: ClientConnection, adapter: TypeAdapter[object]) -> None:
        """Wrap a connection."""
        self.ws, self.adapter = ws, adapter
        self.received: list[dict[str, object]] = []

    async def send(self, event: dict[str, object]) -> None:
        """Send one client event."""
        await self.ws.send(orjson.dumps(event).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, object]:
        """Receive, validate and remember one server event."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        event = orjson.loads(raw)
        self.adapter.validate_python(event)
        self.received.append(event)
        return event

    async def until(self, kind: str, timeout: float = 5.0) -> list[dict[str, object]]:
        """Receive events up to and including the first of type ``kind``."""
        got: list[dict[str, object]] = []
        while True:
            event = await self.recv(timeout)
            got.append(event)
            if event["type"] == kind:
                return got


async def open_client(emu: EmulatorHandle, query: str, adapter: TypeAdapter[object] = REALTIME,
                      path: str = "/realtime") -> Client:
    """Connect to the emulator with auth."""
    ws = await connect(f"{emu.url}{path}?{query}", additional_headers=AUTH, max_size=None)
    return Client(ws, adapter)


def speech_b64(ms: int, fmt: AudioFormat = PCM, offset: int = 0) -> str:
    """Base64 speech-like audio."""
    return base64.b64encode(voice(fmt, offset, ms)).decode()


def silence_b64(ms: int, fmt: AudioFormat = PCM) -> str:
    """Base64 silence."""
    return base64.b64encode(silence(fmt, ms)).decode()
