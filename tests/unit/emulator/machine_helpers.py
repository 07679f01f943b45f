"""Drive the pure session machines with JSON frames and a fake clock."""

from __future__ import annotations

import base64

import orjson

from gateway.emulator.audio import PCM, silence, voice
from gateway.emulator.ids import IdFactory
from gateway.emulator.machine import Outgoing
from gateway.emulator.realtime import RealtimeSession
from gateway.emulator.script import Script
from gateway.emulator.translation import TranslationSession
from gateway.emulator.types import Event

FAST = Script(ttfa_ms=0, pace=False, reply_ms=500, asr_ms=0)


def realtime(script: Script = FAST, kind: str = "realtime") -> RealtimeSession:
    """A started voice-agent (or transcription) machine with seeded ids."""
    machine = RealtimeSession(kind, "gpt-realtime-2" if kind == "realtime" else None, None, script,
                              ids=IdFactory(7), wall_clock=lambda: 1_800_000_000.0)
    machine.start(0.0)
    return machine


def translation(script: Script = FAST) -> TranslationSession:
    """A started translation machine with seeded ids."""
    machine = TranslationSession("gpt-realtime-translate", "gpt-realtime-translate", script, ids=IdFactory(7))
    machine.start(0.0)
    return machine


def send(machine: RealtimeSession | TranslationSession, event: dict[str, object], now: float = 0.0) -> list[Event]:
    """Feed one client event; return the (dict) events produced."""
    return events(machine.receive(orjson.dumps(event), now))


def events(out: list[Outgoing]) -> list[Event]:
    """Only the dict events (no raw text frames)."""
    return [e for e in out if isinstance(e, dict)]


def speech(ms: int, offset: int = 0) -> str:
    """Base64 PCM speech."""
    return base64.b64encode(voice(PCM, offset, ms)).decode()


def quiet(ms: int) -> str:
    """Base64 PCM silence."""
    return base64.b64encode(silence(PCM, ms)).decode()


def kinds(evts: list[Event]) -> list[str]:
    """Event types in order."""
    return [str(e["type"]) for e in evts]
