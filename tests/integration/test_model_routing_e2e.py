"""Through a real gateway: older model names, the model named in the first session.update, unknown models."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
import websockets
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from tests.integration.conftest import GatewayFactory, GatewayProcess

SERVER_EVENTS = TypeAdapter(RealtimeServerEvent)


async def _open(gw: GatewayProcess, query: str = "") -> websockets.ClientConnection:
    url = f"{gw.ws_base}/realtime{'?' + query if query else ''}"
    return await websockets.connect(url, additional_headers={"Authorization": f"Bearer {gw.key}"}, max_size=None)


async def _until(ws: websockets.ClientConnection, kind: str, timeout: float = 10.0) -> dict:
    while True:
        event = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        SERVER_EVENTS.validate_python(event)
        if event["type"] == kind or event["type"] == "error":
            return event


async def test_model_named_in_first_session_update_is_served(gateway: GatewayProcess) -> None:
    """No ?model=: the first session.update names gpt-realtime; it is routed there and the update applies."""
    ws = await _open(gateway)
    try:
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "model": "gpt-realtime", "instructions": "Be brief.",
            "audio": {"output": {"voice": "cedar"}}}}))
        created = await _until(ws, "session.created")
        assert created["type"] == "session.created" and created["session"]["model"] == "gpt-realtime"
        updated = await _until(ws, "session.updated")
        assert updated["type"] == "session.updated", updated
        assert updated["session"]["instructions"] == "Be brief."
        assert updated["session"]["audio"]["output"]["voice"] == "cedar"
    finally:
        await ws.close()


async def test_unknown_model_in_first_session_update_is_refused(gateway: GatewayProcess) -> None:
    """An unknown model in the first session.update gets invalid_model (listing served models) and close 4000."""
    ws = await _open(gateway)
    await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "model": "gpt-9-realtime"}}))
    error = await _until(ws, "error")
    assert error["error"]["code"] == "invalid_model" and "gpt-realtime-2.1" in error["error"]["message"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4000


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-2025-08-28", "gpt-4o-realtime-preview",
                                   "gpt-realtime-mini", "gpt-realtime-2.1-mini"])
async def test_older_and_newer_names_are_accepted_in_the_url(gateway: GatewayProcess, model: str) -> None:
    """LiveKit's default gpt-realtime and the other served names open a session reporting that name."""
    ws = await _open(gateway, f"model={model}")
    try:
        created = await _until(ws, "session.created")
        assert created["type"] == "session.created" and created["session"]["model"] == model
    finally:
        await ws.close()


async def test_unknown_model_in_the_url_is_a_400_listing_served_models(gateway: GatewayProcess) -> None:
    """?model=<unknown> is refused at the handshake with HTTP 400 and a JSON body naming the served models."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        await _open(gateway, "model=gpt-9-realtime")
    response = refused.value.response
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["error"]["code"] == "invalid_model"
    for name in ("gpt-realtime", "gpt-realtime-2.1", "gpt-live-transcribe", "gpt-realtime-translate"):
        assert name in body["error"]["message"]


async def test_policy_model_map_serves_the_successor(gateway_factory: GatewayFactory, tmp_path: object) -> None:
    """A policy mapping gpt-4o-realtime-preview to gpt-realtime-2.1: upstream gets 2.1, the client sees its name."""
    from pathlib import Path

    policy = Path(str(tmp_path)) / "policy.yaml"
    policy.write_text(
        "version: 1\nmodel_map: {gpt-4o-realtime-preview: gpt-realtime-2.1}\n"
        "rules:\n  - id: agent\n    match: {intent: realtime}\n    route: {model: gpt-realtime-2, prefer_requested: true}\n"
    )
    gw = gateway_factory(env={"VOICE_GATEWAY_POLICY_FILES": str(policy)})
    ws = await _open(gw)
    try:
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "model": "gpt-4o-realtime-preview", "instructions": "Hi."}}))
        created = await _until(ws, "session.created")
        assert created["session"]["model"] == "gpt-4o-realtime-preview"
        updated = await _until(ws, "session.updated")
        assert updated["type"] == "session.updated", updated
    finally:
        await ws.close()
