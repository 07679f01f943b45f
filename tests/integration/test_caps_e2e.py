"""Per-session caps end to end: a real gateway process, the official SDK, the emulator, a real Redis.

Each cut-off is checked the way a client sees it (a ``gateway.cap_warning``, then an ``error``
event, then the close code) and the way billing sees it (what the emulator generated, priced
with ``config/models.yaml``, and the session record in Redis).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
import redis
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter
from websockets.exceptions import ConnectionClosed

from gateway.emulator import start_emulator
from gateway.emulator.stats import SessionRecord
from gateway.policy.catalog import load_catalog
from tests.integration.conftest import (
    REPO,
    GatewayFactory,
    GatewayProcess,
    emulator_env,
)
from tests.support.audio import b64, chunks, silence, speech

SERVER_EVENTS = TypeAdapter(RealtimeServerEvent)
PCM_BYTES_PER_S = 48_000
CAP_WARNING_FIELDS = {"type", "event_id", "cap", "used", "limit", "ratio"}


# --- helpers shared by the e2e suites (budgets, policies, scale-out import them) -----------------


class Closed(Exception):
    """The gateway closed the client connection."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


@dataclass
class Recorder:
    """Reads an SDK connection; validates OpenAI events against the SDK union and gateway events by shape."""

    conn: object
    events: list[dict] = field(default_factory=list)
    audio_bytes: int = 0
    closed: Closed | None = None

    async def next(self, timeout: float = 10.0) -> dict:
        try:
            raw = await asyncio.wait_for(self.conn.recv_bytes(), timeout)  # type: ignore[attr-defined]
        except ConnectionClosed as exc:
            close = exc.rcvd
            self.closed = Closed(close.code if close else None, close.reason if close else "")
            raise self.closed from exc
        event = orjson.loads(raw)
        if str(event.get("type", "")).startswith("gateway."):
            assert isinstance(event.get("event_id"), str) and event["event_id"], event
        else:
            SERVER_EVENTS.validate_python(event)
        if event["type"] == "response.output_audio.delta":
            self.audio_bytes += len(base64.b64decode(event["delta"]))
        self.events.append(event)
        return event

    async def until(self, event_type: str, timeout: float = 10.0) -> dict:
        while True:
            event = await self.next(timeout)
            if event["type"] == event_type:
                return event

    async def until_closed(self, timeout: float = 15.0) -> Closed:
        """Read everything until the gateway closes the connection."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.next(max(deadline - time.monotonic(), 0.01))
            except Closed as closed:
                return closed

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, event_type: str) -> tuple[int, dict]:
        for index, event in enumerate(self.events):
            if event["type"] == event_type:
                return index, event
        raise AssertionError(f"no {event_type} in {self.types()}")


def client_for(gw: GatewayProcess, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key or gw.key, base_url=f"{gw.http_url}/v1", max_retries=0)


def store_env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {"VOICE_GATEWAY_REDIS_URL": redis_url, "VOICE_GATEWAY_REDIS_KEY_PREFIX": prefix, **extra}


def session_records(redis_url: str, prefix: str, *, count: int = 1, timeout_s: float = 5.0) -> list[dict[str, str]]:
    """The ``<prefix>:sessions`` stream entries, waiting until at least ``count`` are there."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            entries = [fields for _id, fields in client.xrange(f"{prefix}:sessions")]
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)
    finally:
        client.close()


def create_key(redis_url: str, prefix: str, *args: str) -> dict:
    """``voice-gateway keys create --json …`` against the shared Redis; returns key_id, secret, limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_GATEWAY_")}
    env.update({"VOICE_GATEWAY_REDIS_URL": redis_url, "VOICE_GATEWAY_REDIS_KEY_PREFIX": prefix})
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "create", "--json", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["secret"] and created["key_id"]
    return created


@pytest.fixture
async def long_reply_emulator() -> AsyncIterator[object]:
    """An emulator whose spoken replies last 8 s, paced in real time in 100 ms chunks."""
    handle = await start_emulator("127.0.0.1", 0, ttfa_ms=50, reply_ms=8000, chunk_ms=100, pace=True, asr_ms=50,
                                  speed=1, burst_ms=0)
    try:
        yield handle
    finally:
        await handle.close()


async def ask_for_a_long_reply(conn: object, rec: Recorder) -> None:
    """Manual turn: 300 ms of speech, commit, ask for a reply."""
    await rec.until("session.created")
    await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})  # type: ignore[attr-defined]
    await rec.until("session.updated")
    await conn.input_audio_buffer.append(audio=b64(speech(300)))  # type: ignore[attr-defined]
    await conn.input_audio_buffer.commit()  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Overshoot:
    """How far past a cost cap a voice session got, priced from what the upstream generated."""

    cost_micros: int
    cap_micros: int
    audio_out_s: float
    audio_at_cap_s: float

    @property
    def micros(self) -> int:
        return self.cost_micros - self.cap_micros

    @property
    def audio_s(self) -> float:
        return self.audio_out_s - self.audio_at_cap_s


def voice_overshoot(record: SessionRecord, cap_micros: int, model: str = "gpt-realtime-2") -> Overshoot:
    """Price the emulator's audio at the catalog's token rates (1 token/100 ms in, 1 token/50 ms out)."""
    pricing = load_catalog(REPO / "config" / "models.yaml").resolve(model).pricing  # type: ignore[union-attr]
    assert pricing.audio is not None
    in_tokens = math.ceil(record.audio_in_bytes * 1000 / PCM_BYTES_PER_S / 100)
    out_ms = record.audio_out_bytes * 1000 / PCM_BYTES_PER_S
    out_tokens = math.ceil(out_ms / 50)
    cost = math.ceil((in_tokens * pricing.audio.input + out_tokens * pricing.audio.output) / 1_000_000)
    room = cap_micros * 1_000_000 - in_tokens * pricing.audio.input
    tokens_at_cap = math.ceil(room / pricing.audio.output)
    return Overshoot(cost, cap_micros, out_ms / 1000, tokens_at_cap * 50 / 1000)


def check_cap_warning(event: dict, cap: str, limit: object) -> None:
    """The documented ``gateway.cap_warning`` shape."""
    assert CAP_WARNING_FIELDS <= event.keys(), event
    assert event["cap"] == cap and event["limit"] == limit, event
    assert 0.8 <= event["ratio"] < 1.0, event
    if cap in ("cost", "budget"):
        assert isinstance(event["used_micros"], int) and isinstance(event["limit_micros"], int), event
        assert event["used_micros"] < event["limit_micros"], event


def check_cut_off(rec: Recorder, closed: Closed, *, code: str, close_code: int, warn: str | None) -> None:
    """Warning (if any) first, then one ``error`` with ``code``, then the close with ``close_code``."""
    assert closed.code == close_code and closed.reason == code, (closed, rec.types()[-6:])
    error_at, error = rec.first("error")
    assert error["error"]["code"] == code and error["error"]["message"], error
    assert error_at == len(rec.events) - 1 or all(e["type"] != "error" for e in rec.events[error_at + 1 :])
    if warn is not None:
        warn_at, _ = rec.first("gateway.cap_warning")
        assert warn_at < error_at


def write_policy(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the tests -----------------------------------------------------------------------------------


async def ask_until_cut(conn: object, rec: Recorder) -> Closed:
    """Ask for reply after reply (each clamped to what the cap leaves) until the gateway ends the session."""
    for _ in range(20):
        try:
            await rec.until("response.done", timeout=15.0)
            await conn.response.create()  # type: ignore[attr-defined]
        except (Closed, ConnectionClosed):
            break
    return rec.closed or await rec.until_closed()


async def test_cost_cap_holds_within_a_second_of_audio(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """A $0.002 session cap: replies asked for 8 s are clamped to what is left; warning at 80%, then error
    session_cost_cap_reached and close 4100, < 1 s of output audio past the cap."""
    env = emulator_env(long_reply_emulator, VOICE_GATEWAY_MAX_SESSION_USD="0.002", **store_env(redis_url, redis_prefix))
    gw = gateway_factory(env=env)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await ask_for_a_long_reply(conn, rec)
        closed = await ask_until_cut(conn, rec)
    check_cut_off(rec, closed, code="session_cost_cap_reached", close_code=4100, warn="cost")
    _, warning = rec.first("gateway.cap_warning")
    check_cap_warning(warning, "cost", "0.002000")
    assert warning["limit_micros"] == 2000
    upstream = long_reply_emulator.sessions[-1]  # type: ignore[attr-defined]
    first = upstream.response_configs[0]  # the 8 s reply was asked for with what the cap left: 2,000 µ$ / 64 µ$ per token
    assert first["max_output_tokens"] <= 2000 // 64
    over = voice_overshoot(upstream, 2000)
    relayed_s = rec.audio_bytes / PCM_BYTES_PER_S
    print(
        f"\ncost cap overshoot: {over.audio_s:.3f} s of output audio past the cap, {over.micros} µ$ "
        f"(upstream generated {over.audio_out_s:.2f} s, cap reached at {over.audio_at_cap_s:.2f} s; "
        f"client received {relayed_s:.2f} s; {len(upstream.response_configs)} replies asked)"
    )
    assert over.audio_out_s < 8.0 and over.audio_s < 1.0
    [record] = session_records(redis_url, redis_prefix)
    assert record["end_reason"] == "session_cost_cap_reached" and record["error_code"] == "session_cost_cap_reached"
    assert 2000 <= int(record["cost_micros"]) <= 2000 + 20 * 64  # at most one second of output audio past the cap
    assert record["model_routed"] == "gpt-realtime-2" and record["tenant"] == "default"


async def test_route_cap_from_the_policy_tightens_the_gateway_wide_cap(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """A policy route with max_cost_usd 0.002 cuts the session although the gateway-wide cap is $5."""
    policy = write_policy(
        tmp_path / "tight.yaml",
        """version: 1
rules:
  - id: tight-agent
    match: {intent: realtime}
    route: {model: gpt-realtime-2, caps: {max_cost_usd: "0.002", warn_ratio: 0.5}}
defaults:
  otherwise: {deny: {reason: "only voice agents here"}}
""",
    )
    env = emulator_env(
        long_reply_emulator,
        VOICE_GATEWAY_MAX_SESSION_USD="5.00",
        VOICE_GATEWAY_POLICY_FILES=str(policy),
        **store_env(redis_url, redis_prefix),
    )
    gw = gateway_factory(env=env)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await ask_for_a_long_reply(conn, rec)
        closed = await ask_until_cut(conn, rec)
    check_cut_off(rec, closed, code="session_cost_cap_reached", close_code=4100, warn="cost")
    _, warning = rec.first("gateway.cap_warning")
    assert warning["limit_micros"] == 2000 and 0.5 <= warning["ratio"] < 0.8  # the route's warn_ratio applies
    over = voice_overshoot(long_reply_emulator.sessions[-1], 2000)  # type: ignore[attr-defined]
    print(f"\nroute cap overshoot: {over.audio_s:.3f} s of output audio, {over.micros} µ$")
    assert over.audio_s < 1.0
    [record] = session_records(redis_url, redis_prefix)
    assert record["rule_id"] == "tight-agent" and record["end_reason"] == "session_cost_cap_reached"


async def test_duration_cap_ends_a_streaming_session_at_two_seconds(
    gateway_factory: GatewayFactory, emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """A 2 s duration cap: warning, error session_duration_cap_reached, close 4101; < 1 s of audio past it."""
    env = emulator_env(emulator, VOICE_GATEWAY_MAX_SESSION_SECONDS="2", **store_env(redis_url, redis_prefix))
    gw = gateway_factory(env=env)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        reader = asyncio.create_task(rec.until_closed(timeout=10))
        started = time.monotonic()
        for chunk in chunks(speech(6000)):  # real-time pace, 20 ms chunks, longer than the cap
            if reader.done():
                break
            try:
                await conn.input_audio_buffer.append(audio=chunk)
            except ConnectionClosed:
                break
            await asyncio.sleep(0.02)
        closed = await reader
        elapsed = time.monotonic() - started
    check_cut_off(rec, closed, code="session_duration_cap_reached", close_code=4101, warn="duration")
    _, warning = rec.first("gateway.cap_warning")
    check_cap_warning(warning, "duration", 2.0)
    upstream_in_s = emulator.sessions[-1].audio_in_bytes / PCM_BYTES_PER_S  # type: ignore[attr-defined]
    print(f"\nduration cap: closed after {elapsed:.2f} s of streaming; upstream got {upstream_in_s:.2f} s of audio")
    assert 1.5 < elapsed < 3.0
    assert upstream_in_s - 2.0 < 1.0
    [record] = session_records(redis_url, redis_prefix)
    assert record["end_reason"] == "session_duration_cap_reached"
    past_cap_s = float(record["duration_s"]) - 2.0
    print(f"duration cap overshoot: the session lasted {past_cap_s:.3f} s past its 2 s cap")
    assert 0.0 <= past_cap_s < 1.0


async def test_idle_timeout_ends_a_silent_session_but_not_a_streaming_one(
    gateway_factory: GatewayFactory, emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """With a 1 s idle timeout, 1.5 s of streaming keeps the session; 1 s of silence ends it with 4102."""
    env = emulator_env(emulator, VOICE_GATEWAY_IDLE_TIMEOUT_SECONDS="1", **store_env(redis_url, redis_prefix))
    gw = gateway_factory(env=env)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await rec.until("session.created")
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await rec.until("session.updated")
        for chunk in chunks(silence(1500), ms=100):
            await conn.input_audio_buffer.append(audio=chunk)
            await asyncio.sleep(0.1)
        assert rec.closed is None
        stopped = time.monotonic()
        closed = await rec.until_closed(timeout=5)
        idle_for = time.monotonic() - stopped
    check_cut_off(rec, closed, code="session_idle_timeout", close_code=4102, warn=None)
    print(f"\nidle timeout: closed {idle_for:.2f} s after the client went quiet (timeout 1 s)")
    assert 0.9 < idle_for < 2.0
    [record] = session_records(redis_url, redis_prefix)
    assert record["end_reason"] == "session_idle_timeout" and float(record["duration_s"]) >= 2.4
