"""Gateway tools on direct-media calls: declared in the call's forced session, run from the sideband.

The caller (a real aiortc peer) talks to the emulator directly; the gateway sees the call only on
its sideband. It declared the route's HTTP tool when it created (or accepted) the call, runs the
model's calls of it, and answers over the sideband. The caller's data channel sees the function
call too (the gateway cannot hide it there): a caller that ignores tools it does not know is fine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.emulator import EmulatorHandle
from tests.integration.calls.conftest import calls_env
from tests.integration.calls.test_direct_webrtc import place_call, upstream_call
from tests.integration.calls.test_sip import SECRET, ring, until
from tests.integration.conftest import GatewayFactory, GatewayProcess
from tests.support.rtc import RtcCaller
from tests.support.tool_servers import ORDERS_TOKEN, HttpToolServer, http_tool_server

pytestmark = pytest.mark.redis

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}


@pytest.fixture
async def orders() -> AsyncIterator[HttpToolServer]:
    async with http_tool_server() as server:
        yield server


def _gateway(factory: GatewayFactory, emulator: EmulatorHandle, redis_url: str, prefix: str, tmp_path: Path,
             orders: HttpToolServer) -> GatewayProcess:
    policy = tmp_path / "calls-tools.yaml"
    tools = f"""
      gateway_tools:
        http:
          - name: lookup_order
            description: Status of an order by its id
            url: {orders.url}/orders
            parameters: {{type: object, properties: {{order_id: {{type: string}}}}, required: [order_id]}}
            headers: {{Authorization: {{env: ORDERS_AUTH}}}}"""
    policy.write_text(f"""version: 1
rules:
  - id: phone
    match: {{endpoint: sip}}
    route:
      model: gpt-realtime-2
      overrides: {{instructions_prefix: "Phone agent. [emu:call:lookup_order]"}}{tools}
  - id: agent
    route:
      model: gpt-realtime-2
      media: direct
      overrides: {{tools: [get_weather]}}{tools}
""")
    env = calls_env(emulator, redis_url, prefix, VOICE_GATEWAY_POLICY_FILES=str(policy), ORDERS_AUTH=f"Bearer {ORDERS_TOKEN}",
                    VOICE_GATEWAY_WEBHOOK_SECRET=SECRET)
    return factory(env=env, start_timeout_s=60.0)


def _names(session: object) -> list[str]:
    return [str(t.get("name")) for t in session.get("tools", [])]  # type: ignore[attr-defined]


async def _spoken_answer(caller: RtcCaller, timeout: float = 20.0) -> str:
    """The transcript of the first conversation response.done on the data channel that carries a message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in caller.events:
            response = event.get("response") if event.get("type") == "response.done" else None
            if isinstance(response, dict) and response.get("conversation_id") is not None:
                for item in response.get("output", []):
                    if item.get("type") == "message":
                        return " ".join(str(p.get("transcript") or p.get("text") or "") for p in item["content"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no spoken answer; saw {caller.types()}")


async def test_a_direct_webrtc_call_answers_through_a_gateway_tool_run_from_the_sideband(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path,
    orders: HttpToolServer,
) -> None:
    """The call's session declares the caller's tool and the gateway's; the gateway runs lookup_order and the caller hears the answer."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path, orders)
    caller = RtcCaller()
    session = {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Help. [emu:call:lookup_order]", "tools": [WEATHER]}
    reply = await place_call(gw, caller, session)
    assert reply.status_code == 201, reply.text
    call = await upstream_call(calls_emulator)
    assert _names(call.machine.session) == ["get_weather", "lookup_order"]  # type: ignore[union-attr]
    await asyncio.wait_for(caller.channel_open.wait(), 10)
    caller.mic.say(900)
    seen = await caller.wait_for("response.function_call_arguments.done", 20)
    assert seen["name"] == "lookup_order"  # the deviation: the data channel shows the call; this caller ignores it
    text = await _spoken_answer(caller)
    assert "lookup_order tool returned" in text and "shipped" in text
    assert orders.count("/orders") == 1 and orders.hits[0][1] == f"Bearer {ORDERS_TOKEN}"
    await caller.wait_heard()
    # the caller replaces the tool list over its data channel: the gateway puts its tool back
    channel = next(iter(caller.pc.sctp._data_channels.values()))  # type: ignore[union-attr]
    channel.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER]}}).decode())
    assert await until(lambda: "lookup_order" in _names(call.machine.session), 5)  # type: ignore[union-attr]
    assert _names(call.machine.session) == ["get_weather", "lookup_order"]  # type: ignore[union-attr]
    await caller.close()


async def test_a_direct_webrtc_call_whose_caller_declares_a_gateway_tool_name_is_refused(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path,
    orders: HttpToolServer,
) -> None:
    """The offer's session names a tool like the gateway's: HTTP 400 naming it, and no call is created upstream."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path, orders)
    caller = RtcCaller()
    clash = {**WEATHER, "name": "lookup_order"}
    reply = await place_call(gw, caller, {"type": "realtime", "model": "gpt-realtime-2", "tools": [clash]})
    assert reply.status_code == 400 and "lookup_order" in reply.json()["error"]["message"]
    assert not calls_emulator.calls.calls
    await caller.close()


async def test_an_accepted_sip_call_declares_and_runs_the_gateway_tools(
    gateway_factory: GatewayFactory, calls_emulator: EmulatorHandle, redis_url: str, redis_prefix: str, tmp_path: Path,
    orders: HttpToolServer,
) -> None:
    """The SIP accept carries the route's tool; the caller's utterance makes the model call it; the gateway answers on the sideband."""
    gw = _gateway(gateway_factory, calls_emulator, redis_url, redis_prefix, tmp_path, orders)
    call, statuses = await ring(calls_emulator, gw, {"From": "<sip:+15553334444@trunk>"})
    assert statuses == [200] and call.machine is not None
    assert "lookup_order" in _names(call.machine.session)
    assert await until(lambda: orders.count("/orders") == 1, 20), call.sideband_events
    assert await until(lambda: call.sideband_events.count("response.done") >= 2, 15), call.sideband_events  # the call, then the answer
    async with httpx.AsyncClient(base_url=calls_emulator.calls_url) as http:
        assert (await http.post(f"/_emulator/sip/calls/{call.call_id}/caller_hangup")).status_code == 200
