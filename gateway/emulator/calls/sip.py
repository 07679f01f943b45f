"""The test-only SIP side: a simulated caller on an accepted call, and the signed ``realtime.call.incoming`` webhook.

A real SIP call reaches OpenAI from a trunk; here a test asks the emulator to "ring" and names
the URL to notify. The webhook follows the standard-webhooks scheme OpenAI uses (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``), signed with the given
``whsec_…`` secret. Once accepted, the caller speaks an utterance in the session's input format
(so server VAD hears a turn) and hears the model's audio; it can speak again or hang up on request.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Final

import httpx
import orjson
from standardwebhooks import Webhook

from gateway.emulator.audio import PCM, AudioFormat, format_from_json, silence, voice
from gateway.emulator.types import Json

#: append size the caller sends (the media arrives in 20 ms RTP packets; 100 ms keeps the emulator light)
CHUNK_MS: Final = 100
#: silence after an utterance, long enough for server VAD's default 500 ms to end the turn
TRAILING_SILENCE_MS: Final = 800
WEBHOOK_TIMEOUT_S: Final = 5.0


@dataclass
class SimulatedCaller:
    """The SIP leg of an accepted call as a peer: appends out, model audio in."""

    input_format: AudioFormat = PCM
    output_format: AudioFormat = PCM
    heard_audio_bytes: int = 0
    heard_events: list[str] = field(default_factory=list)
    _queue: asyncio.Queue[str | object] = field(default_factory=asyncio.Queue)
    _hung_up: bool = False

    @classmethod
    def for_session(cls, session: dict[str, Json]) -> SimulatedCaller:
        audio = session.get("audio")
        audio = audio if isinstance(audio, dict) else {}
        sides = [audio.get(side) for side in ("input", "output")]
        formats = [format_from_json(s.get("format")) if isinstance(s, dict) else None for s in sides]
        return cls(input_format=formats[0] or PCM, output_format=formats[1] or PCM)

    @property
    def heard_audio_ms(self) -> int:
        return self.output_format.ms(self.heard_audio_bytes)

    def speak(self, duration_ms: int) -> None:
        """Queue an utterance followed by enough silence to end the turn."""
        sent = 0
        while sent < duration_ms:
            step = min(CHUNK_MS, duration_ms - sent)
            self._append(voice(self.input_format, sent, step))
            sent += step
        for _ in range(0, TRAILING_SILENCE_MS, CHUNK_MS):
            self._append(silence(self.input_format, CHUNK_MS))

    def _append(self, audio: bytes) -> None:
        event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
        self._queue.put_nowait(orjson.dumps(event).decode())

    def hang_up(self) -> None:
        self._hung_up = True
        self._queue.put_nowait(None)

    # --- Peer ------------------------------------------------------------------------------------

    async def receive(self) -> str | object:
        return await self._queue.get()

    async def send(self, frame: str) -> None:
        if '"response.output_audio.delta"' in frame[:80]:
            delta = orjson.loads(frame).get("delta")
            if isinstance(delta, str):
                self.heard_audio_bytes += len(base64.b64decode(delta))
            return
        kind = orjson.loads(frame).get("type")
        self.heard_events.append(str(kind))

    async def close(self, code: int, reason: str) -> None:
        if not self._hung_up:
            self.hang_up()


def incoming_event(event_id: str, call_id: str, sip_headers: list[dict[str, str]], media_security: str | None, now: float) -> bytes:
    """The ``realtime.call.incoming`` webhook body, as ``RealtimeCallIncomingWebhookEvent`` shapes it."""
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": int(now),
            "type": "realtime.call.incoming",
            "data": {"call_id": call_id, "sip_headers": sip_headers, "sip_media_security": media_security},
        }
    )


def signed_headers(secret: str, webhook_id: str, body: bytes, timestamp: float) -> dict[str, str]:
    """Standard-webhooks headers for one delivery."""
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": Webhook(secret).sign(webhook_id, when, body),
        "content-type": "application/json",
    }


async def deliver(url: str, secret: str, webhook_id: str, body: bytes, *, attempts: int = 1, timestamp: float | None = None) -> list[int]:
    """POST the webhook ``attempts`` times with the same ``webhook-id`` (a retry); the status codes seen (0 = unreachable)."""
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
        for _ in range(attempts):
            headers = signed_headers(secret, webhook_id, body, time.time() if timestamp is None else timestamp)
            try:
                response = await client.post(url, content=body, headers=headers)
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(0)
    return statuses
