"""Budget-aware responses: a response.create cannot ask for more output than the session's cap or the tenant's budget pays for."""

from __future__ import annotations

import asyncio

import orjson

from tests.integration.faults.conftest import Transcript, open_client, until
from tests.integration.hostile.conftest import Deploy
from tests.integration.test_caps_e2e import create_key
from tests.support.audio import b64, silence, speech
from tests.support.tool_servers import http_tool_server

#: gpt-realtime-2's dearest output rate: audio, $64 per million tokens → 64 µ$ per token
MICROS_PER_OUTPUT_TOKEN = 64

POLICY = """version: 1
rules:
  - id: tight
    match: {intent: realtime}
    route: {model: gpt-realtime-2, caps: {max_cost_usd: "0.01"}}
"""



async def test_unbounded_response_is_clamped_to_the_cost_cap(deploy: Deploy) -> None:
    """'inf' and absent max_output_tokens reach the upstream as at most $0.01 / 64 µ$ = 156 tokens, in band and out of band."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.created", seen)
        await ws.send(orjson.dumps({"type": "response.create", "response": {"max_output_tokens": "inf"}}).decode())
        await until(ws, "response.done", seen)
        await ws.send(orjson.dumps({"type": "response.create", "response": {"conversation": "none"}}).decode())
        await until(ws, "response.done", seen)
        await ws.send(orjson.dumps({"type": "response.create", "response": {"max_output_tokens": 20}}).decode())
        await until(ws, "response.done", seen)
    first, oob, small = await d.upstream_responses(3)
    assert 0 < first["max_output_tokens"] <= 10_000 // MICROS_PER_OUTPUT_TOKEN
    assert 0 < oob["max_output_tokens"] <= first["max_output_tokens"]  # the first reply's cost is spent already
    assert small["max_output_tokens"] == 20  # an ask within the allowance is left alone
    print("clamps:", first["max_output_tokens"], oob["max_output_tokens"])


async def test_tenant_budget_clamps_responses(deploy: Deploy) -> None:
    """A key with $0.005 a day left gets responses of at most 78 tokens even on a route without a cap."""
    d = await deploy()
    key = create_key(d.redis_url, d.prefix, "--tenant", "t-clamp", "--daily-budget-usd", "0.005")
    seen = Transcript()
    async with await open_client(d.gw, key=key["secret"]) as ws:
        await until(ws, "session.created", seen)
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.done", seen)
    (config,) = await d.upstream_responses(1)
    assert 0 < config["max_output_tokens"] <= 5_000 // MICROS_PER_OUTPUT_TOKEN


async def test_replies_the_upstream_starts_itself_are_bounded_too(deploy: Deploy) -> None:
    """The session's own ceiling follows what the cap leaves, so a server-VAD reply (no response.create) is bounded."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        updated = await until(ws, "session.updated", seen)  # the gateway's ceiling update, sent before any client frame
        assert 0 < updated["session"]["max_output_tokens"] <= 10_000 // MICROS_PER_OUTPUT_TOKEN  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "inf"}}).decode())
        again = await until(ws, "session.updated", seen)
        assert again["session"]["max_output_tokens"] <= 10_000 // MICROS_PER_OUTPUT_TOKEN  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(speech(600))}).decode())
        await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(silence(800))}).decode())
        await until(ws, "response.done", seen)
    (config,) = await d.upstream_responses(1)
    assert 0 < config["max_output_tokens"] <= 10_000 // MICROS_PER_OUTPUT_TOKEN


async def test_a_gateway_tools_follow_up_is_clamped_like_a_client_reply(deploy: Deploy) -> None:
    """The reply the gateway asks for after answering its own tool is bounded by what the cap leaves after the reply
    that called the tool (before: it ran on the session's ceiling, set when more was left)."""
    async with http_tool_server() as http:
        policy = f"""version: 1
rules:
  - id: tight
    match: {{intent: realtime}}
    route:
      model: gpt-realtime-2
      caps: {{max_cost_usd: "0.01"}}
      gateway_tools:
        http:
          - name: lookup_order
            description: Status of an order by its id
            url: {http.url}/orders
"""
        d = await deploy(policy)
        seen = Transcript()
        async with await open_client(d.gw) as ws:
            await until(ws, "session.created", seen)
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[emu:call:lookup_order] Where is my order?"}]}
            await ws.send(orjson.dumps({"type": "conversation.item.create", "item": item}).decode())
            await ws.send(orjson.dumps({"type": "response.create"}).decode())
            caller, follow_up = await d.upstream_responses(2)
            await until(ws, "response.done", seen)
        assert http.count("/orders") == 1
    assert 0 < caller["max_output_tokens"] <= 10_000 // MICROS_PER_OUTPUT_TOKEN
    assert 0 < follow_up["max_output_tokens"] < caller["max_output_tokens"], (caller, follow_up)
    print("clamps:", caller["max_output_tokens"], follow_up["max_output_tokens"])


async def test_parallel_out_of_band_replies_share_the_cap(deploy: Deploy) -> None:
    """20 out-of-band response.create sent at once, each asking for "inf": together they reach the upstream with at
    most what the $0.01 cap pays for (156 tokens), not 156 each; the rest get a non-fatal error and the session goes on."""
    d = await deploy(POLICY)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.updated", seen)  # the route's ceiling is in place
        burst = [orjson.dumps({"type": "response.create", "event_id": f"c{i}",
                               "response": {"conversation": "none", "max_output_tokens": "inf"}}).decode() for i in range(20)]
        for frame in burst:  # back to back, before any reply can start
            await ws.send(frame)
        refused: list[str] = []
        while len(refused) + sum(1 for e in seen.events if e.get("type") == "response.created") < 20:
            event = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            seen.events.append(event)
            if event.get("type") == "error":
                assert event["error"]["code"] == "allowance_committed"  # type: ignore[index]
                refused.append(event["error"]["event_id"])  # type: ignore[index]
        started = sum(1 for e in seen.events if e.get("type") == "response.created")
        await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(silence(100))}).decode())
    configs = await d.upstream_responses(started)
    asked = sum(int(c["max_output_tokens"]) for c in configs)  # type: ignore[call-overload]
    print(f"{started} replies started with {asked} tokens in all; {len(refused)} refused")
    assert refused and asked <= 10_000 // MICROS_PER_OUTPUT_TOKEN
