"""Mid-session handoff end to end: the official openai SDK stays connected while the gateway moves the
conversation to another route's upstream (emulator), triggered by an operator, by spend, or by the model."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from pathlib import Path

import httpx
import pytest

from gateway.policy.catalog import load_catalog
from tests.integration.conftest import REPO, UPSTREAM_TEST_KEY, GatewayFactory, GatewayProcess, emulator_env
from tests.integration.keys_support import ADMIN_TOKEN
from tests.integration.test_caps_e2e import (
    PCM_BYTES_PER_S,
    Recorder,
    client_for,
    session_records,
    store_env,
    write_policy,
)
from tests.support.audio import b64

MINI = "gpt-realtime-2.1-mini"

POLICY = """version: 1
rules:
  - id: mini
    match: {query: {tier: mini}}
    route: {model: gpt-realtime-2.1-mini}
  - id: broken
    match: {query: {tier: broken}}
    route: {model: gpt-realtime-2.1-mini, upstreams: [dead]}
defaults:
  by_kind:
    realtime:
      model: gpt-realtime-2
      name: agent
      CAPS
      handoff:
        targets: [mini, broken]
        transfer_tool: true
        TRIGGERS
"""


def _policy(tmp_path: Path, *, caps: str = "", triggers: str = "") -> Path:
    text = POLICY.replace("CAPS", caps or "media: auto").replace("TRIGGERS", triggers or "on_language: {}")
    return write_policy(tmp_path / "handoff.yaml", text)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _catalog(tmp_path: Path, emulator_url: str) -> Path:
    """The shipped catalog with its endpoint pointed at the emulator, plus an endpoint nothing listens on."""
    text = (REPO / "config" / "models.yaml").read_text()
    text = text.replace("url: wss://api.openai.com/v1", f"url: {emulator_url}", 1)
    dead = f"  dead:\n    url: ws://127.0.0.1:{_closed_port()}/v1\n    auth_header: Authorization\n    auth_scheme: Bearer\n    auth_env: OPENAI_API_KEY\n"
    text = text.replace("endpoints:\n", "endpoints:\n" + dead, 1)
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


def _start(factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, prefix: str, **policy: str) -> GatewayProcess:
    env = {
        "VOICE_GATEWAY_CATALOG_FILE": str(_catalog(tmp_path, emulator.url)),  # type: ignore[attr-defined]
        "OPENAI_API_KEY": UPSTREAM_TEST_KEY,
        "VOICE_GATEWAY_POLICY_FILES": str(_policy(tmp_path, **policy)),
        "VOICE_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        **store_env(redis_url, prefix),
    }
    return factory(env=env)


async def _admin_handoff(gw: GatewayProcess, session_id: str, to: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
        return await http.post(f"/admin/sessions/{session_id}/handoff", json={"to": to, "reason": "operator test"})


async def _setup(conn: object, rec: Recorder, instructions: str = "You are the bank's assistant.") -> str:
    created = await rec.until("session.created")
    session = {"type": "realtime", "instructions": instructions, "output_modalities": ["audio"], "audio": {"input": {"turn_detection": None}}}
    await conn.session.update(session=session)  # type: ignore[attr-defined]
    await rec.until("session.updated")
    return str(created["session"]["id"]) if "id" in created["session"] else ""


async def _ask(conn: object, rec: Recorder, text: str) -> dict:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]
    return await rec.until("response.done", timeout=20.0)


async def _live_session_id(gw: GatewayProcess) -> str:
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
        for _ in range(100):
            sessions = (await http.get("/admin/sessions")).json()["sessions"]
            if sessions:
                return str(sessions[0]["session_id"])
            await asyncio.sleep(0.05)
    raise AssertionError("the session never showed up in the directory")


def _price_micros(model: str, audio_in_bytes: int, audio_out_bytes: int) -> int:
    pricing = load_catalog(REPO / "config" / "models.yaml").resolve(model).pricing  # type: ignore[union-attr]
    assert pricing.audio is not None
    in_tokens = math.ceil(audio_in_bytes * 1000 / PCM_BYTES_PER_S / 100)
    out_tokens = math.ceil(audio_out_bytes * 1000 / PCM_BYTES_PER_S / 50)
    return math.ceil((in_tokens * pricing.audio.input + out_tokens * pricing.audio.output) / 1_000_000)


async def test_admin_handoff_moves_the_conversation_and_bills_each_model_at_its_price(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The operator moves a live session to the mini route: the client gets gateway.handoff and keeps talking on the
    same socket; the target got the client's instructions and the earlier turns; the record lists both models priced apart."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        await _ask(conn, rec, "What is my balance?")
        session_id = await _live_session_id(gw)
        refused = await _admin_handoff(gw, session_id, "nowhere")
        assert refused.status_code == 400 and "not a handoff target" in refused.json()["error"]["message"]
        answer = await _admin_handoff(gw, session_id, "mini")
        assert answer.status_code == 200 and answer.json()["status"] == "started", answer.text
        event = await rec.until("gateway.handoff")
        assert {k: event[k] for k in ("status", "from", "to", "reason", "trigger", "model")} == {
            "status": "completed", "from": "agent", "to": "mini", "reason": "operator test", "trigger": "admin", "model": MINI,
        }
        done = await _ask(conn, rec, "And my savings?")
        assert done["response"]["status"] == "completed"
    old, new = emulator.sessions[-2], emulator.sessions[-1]  # type: ignore[attr-defined]
    assert (old.model, new.model) == ("gpt-realtime-2", MINI)
    (config,) = new.response_configs
    assert config["instructions"] == "You are the bank's assistant."
    assert config["context"][:2] == ["user: What is my balance?", f"assistant: {_first_reply(rec)}"]
    assert config["context"][-1] == "user: And my savings?"
    assert "session.created" not in rec.types()[rec.types().index("gateway.handoff"):]  # the target's own was swallowed
    [record] = session_records(redis_url, redis_prefix)
    models = json.loads(record["models"])
    assert [m["model"].startswith(("gpt-realtime-2", MINI)) for m in models] == [True, True] and models[1]["model"].startswith(MINI)
    first_expected = _price_micros("gpt-realtime-2", old.audio_in_bytes, old.audio_out_bytes)
    second_expected = _price_micros(MINI, new.audio_in_bytes, new.audio_out_bytes)
    print(f"\nper-model cost: {models} (audio-priced estimate: {first_expected} µ$ and {second_expected} µ$)")
    assert models[0]["cost_micros"] > models[1]["cost_micros"] > 0  # the mini model's price is far lower
    assert sum(m["cost_micros"] for m in models) == int(record["cost_micros"])
    (handoff,) = json.loads(record["handoffs"])
    assert (handoff["from_route"], handoff["to_route"], handoff["trigger"], handoff["ok"]) == ("agent", "mini", "admin", True)


def _first_reply(rec: Recorder) -> str:
    return next(e["transcript"] for e in rec.events if e["type"] == "response.output_audio_transcript.done")


async def test_spend_share_downgrades_to_the_cheaper_route_without_ending_the_session(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """A route with a $0.01 cap hands off to mini at 30% of it: gateway.handoff (trigger spend), then replies keep coming."""
    gw = _start(
        gateway_factory, emulator, tmp_path, redis_url, redis_prefix,
        caps='caps: {max_cost_usd: "0.01"}', triggers="on_spend: {share: 0.3, to: mini}",
    )
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        handed: dict | None = None
        for turn in range(12):
            await _ask(conn, rec, f"Tell me about account number {turn}.")
            handed = next((e for e in rec.events if e["type"] == "gateway.handoff"), None)
            if handed is not None:
                break
        assert handed is not None, rec.types()
        assert (handed["status"], handed["to"], handed["trigger"]) == ("completed", "mini", "spend")
        done = await _ask(conn, rec, "Thanks, anything else?")
        assert done["response"]["status"] == "completed"
    assert emulator.sessions[-1].model == MINI  # type: ignore[attr-defined]
    [record] = session_records(redis_url, redis_prefix)
    models = json.loads(record["models"])
    assert len(models) == 2 and models[1]["model"].startswith(MINI)
    assert models[0]["cost_micros"] >= 3000  # 30% of the cap was spent on the first model
    assert record["end_reason"] == "client_closed"


async def test_unreachable_target_leaves_the_session_where_it_was(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """A target whose endpoint does not answer: gateway.handoff status failed, and the old model keeps answering."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        session_id = await _live_session_id(gw)
        sessions_before = len(emulator.sessions)  # type: ignore[attr-defined]
        assert (await _admin_handoff(gw, session_id, "broken")).status_code == 200
        event = await rec.until("gateway.handoff", timeout=20.0)
        assert (event["status"], event["to"], event["from"]) == ("failed", "broken", "agent")
        assert event["message"]
        done = await _ask(conn, rec, "Are you still there?")
        assert done["response"]["status"] == "completed"
    assert len(emulator.sessions) == sessions_before  # type: ignore[attr-defined]
    assert "error" not in rec.types()
    [record] = session_records(redis_url, redis_prefix)
    assert [m["model"] for m in json.loads(record["models"])][0].startswith("gpt-realtime-2")
    assert json.loads(record["handoffs"])[0]["ok"] is False


async def test_audio_sent_during_the_switch_arrives_complete_and_in_order(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Audio streamed at real-time pace across a switch: what the old and the new upstream received, concatenated,
    is exactly what the client sent (no frame lost, duplicated or reordered)."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    sent = bytearray()
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        session_id = await _live_session_id(gw)
        reader = asyncio.create_task(rec.until("gateway.handoff", timeout=30.0))
        for index in range(150):  # 3 s in 20 ms frames, each frame's samples carry its index
            chunk = (index % 65536).to_bytes(2, "little") * 480
            sent += chunk
            await conn.input_audio_buffer.append(audio=b64(chunk))  # type: ignore[attr-defined]
            if index == 40:
                assert (await _admin_handoff(gw, session_id, "mini")).status_code == 200
            await asyncio.sleep(0.02)
        event = await reader
        assert event["status"] == "completed"
        await conn.session.update(session={"type": "realtime"})  # type: ignore[attr-defined]
        await rec.until("session.updated")  # every append before it has been processed upstream
    old, new = emulator.sessions[-2], emulator.sessions[-1]  # type: ignore[attr-defined]
    assert new.model == MINI and old.audio_in_bytes > 0 and new.audio_in_bytes > 0
    assert bytes(old.input_audio) + bytes(new.input_audio) == bytes(sent)


async def test_the_model_transfers_the_conversation_with_the_gateway_tool(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The model calls transfer(to=mini): the client never sees the call, gets gateway.handoff, and the new model speaks."""
    gw = _start(gateway_factory, emulator, tmp_path, redis_url, redis_prefix)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        await _setup(conn, rec)
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Please hand the conversation over to another assistant."}]}
        await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
        await conn.response.create()  # type: ignore[attr-defined]
        event = await rec.until("gateway.handoff", timeout=20.0)
        assert (event["status"], event["to"], event["trigger"]) == ("completed", "mini", "transfer")
        done = await rec.until("response.done", timeout=20.0)  # the new model takes over by itself
        assert done["response"]["status"] == "completed"
    assert not any("function_call" in json.dumps(e) for e in rec.events)
    old, new = emulator.sessions[-2], emulator.sessions[-1]  # type: ignore[attr-defined]
    assert "transfer" in [t.get("name") for t in old.response_configs[0]["tools"]]
    assert new.model == MINI and new.responses >= 1


@pytest.fixture(autouse=True)
def _quiet_httpx(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every admin request at INFO; the assertions read the client's events, not logs."""
    caplog.set_level("WARNING", logger="httpx")
