"""Gateway-side tools end to end: the official openai SDK talks to a real gateway process that runs
HTTP and MCP tools (real servers started by the test) against the emulator; the client never sees the calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from openai import AsyncOpenAI

from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.integration.test_sessions_e2e import WEATHER_TOOL, Recorder
from tests.support.audio import chunks, silence, speech
from tests.support.tool_servers import ORDERS_TOKEN, HttpToolServer, McpToolServer, http_tool_server, mcp_tool_server

pytestmark = pytest.mark.slow
ADMIN = "admin-token-for-tool-tests-0123456789"


def _policy(tmp_path: Path, http: HttpToolServer, mcp: McpToolServer) -> Path:
    text = f"""
version: 1
rules:
  - id: agent
    match: {{}}
    route:
      model: gpt-realtime-2
      barge_in: {{mode: observe}}  # the SDK's strict event union has no gateway.barge_in notice (speech over a filler)
      gateway_tools:
        filler_instructions: "Say you are checking. One short sentence."
        http:
          - name: lookup_order
            description: Status of an order by its id
            url: {http.url}/orders
            parameters:
              type: object
              properties: {{order_id: {{type: string}}}}
              required: [order_id]
              additionalProperties: false
            headers:
              Authorization: {{env: ORDERS_AUTH}}
            cache_ttl_s: 60
          - name: track_parcel
            description: Where a parcel is (slow)
            url: {http.url}/slow
            filler_after_ms: 300
            timeout_ms: 5000
          - name: order_history
            description: Past orders (broken back end)
            url: {http.url}/fail
            error_message: the order system is not answering
          - name: refund_order
            description: Refund an order by its numeric id
            url: {http.url}/orders
            parameters:
              type: object
              properties: {{order_id: {{type: string, pattern: "^[0-9]{{6}}$"}}}}
              required: [order_id]
        mcp:
          - name: crm
            url: {mcp.url}
            allow: [customer_tier]
"""
    path = tmp_path / "tools.yaml"
    path.write_text(text)
    return path


@pytest.fixture
async def servers() -> AsyncIterator[tuple[HttpToolServer, McpToolServer]]:
    async with http_tool_server() as http, mcp_tool_server() as mcp:
        yield http, mcp


@pytest.fixture
def tool_gateway(
    gateway_factory: GatewayFactory, emulator: object, servers: tuple[HttpToolServer, McpToolServer], tmp_path: Path
) -> GatewayProcess:
    http, mcp = servers
    policy = _policy(tmp_path, http, mcp)
    env = emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), ORDERS_AUTH=f"Bearer {ORDERS_TOKEN}",
                       VOICE_GATEWAY_ADMIN_TOKEN=ADMIN)
    return gateway_factory(env=env, start_timeout_s=60.0)  # the mcp SDK's import is slow on a loaded host


def _client(gw: GatewayProcess) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=gw.key, base_url=f"{gw.http_url}/v1")


async def _opened(conn: object) -> Recorder:
    """Session created, and the gateway's own opening update (declaring its tools) answered."""
    rec = Recorder(conn)
    await rec.until("session.created")
    await rec.until("session.updated")
    return rec


async def _ask(conn: object, text: str) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await conn.conversation.item.create(item=item)  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]


async def _answer(rec: Recorder, timeout: float = 15.0) -> tuple[str, list[dict]]:
    """Events until a conversation response.done with a spoken message; returns its transcript."""
    start = len(rec.events)
    while True:
        done = await rec.until("response.done", timeout)
        response = done["response"]
        if response.get("conversation_id") is None:
            continue  # an out-of-band filler
        for item in response["output"]:
            if item["type"] == "message":
                text = " ".join(p.get("transcript") or p.get("text") or "" for p in item["content"])
                return text, rec.events[start:]


def _leaked(events: list[dict], names: set[str]) -> list[dict]:
    """Events that show the client a gateway tool call or definition."""
    out = []
    for event in events:
        blob = orjson.dumps(event).decode()
        if any(f'"name":"{name}"' in blob for name in names):
            out.append(event)
    return out


async def _one_answer(gw: GatewayProcess, question: str) -> tuple[str, list[dict]]:
    """A fresh session asks one question; the spoken answer and the events of that turn."""
    async with _client(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        return await _answer_to(conn, rec, question)


async def _answer_to(conn: object, rec: Recorder, question: str) -> tuple[str, list[dict]]:
    await _ask(conn, question)
    return await _answer(rec)


GATEWAY_TOOLS = {"lookup_order", "track_parcel", "order_history", "refund_order", "customer_tier"}


async def test_question_answered_through_an_http_tool_with_the_client_unaware(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """The model calls lookup_order; the gateway runs it (secret header sent), the client only hears the answer."""
    http, _ = servers
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        for event in [e for e in rec.events if "session" in e]:  # created, and the answer to the opening update
            assert not {t.get("name") for t in event["session"].get("tools", [])} & GATEWAY_TOOLS
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
        updated = await rec.until("session.updated")
        assert not {t.get("name") for t in updated["session"].get("tools", [])} & GATEWAY_TOOLS
        text, events = await _answer_to(conn, rec, "[emu:call:lookup_order] Where is my order?")
    assert "lookup_order tool returned" in text and "shipped" in text
    assert _leaked(rec.events, GATEWAY_TOOLS) == []
    assert http.count("/orders") == 1
    assert http.hits[0][1] == f"Bearer {ORDERS_TOKEN}"
    assert ORDERS_TOKEN not in tool_gateway.log_text()


async def test_spoken_question_answered_through_the_mcp_tool(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """Speech with server VAD: the model (told by the emulator's instruction marker) calls the MCP tool; the reply is spoken."""
    _, mcp = servers
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        await conn.session.update(session={"type": "realtime", "instructions": "Help the caller. [emu:call:customer_tier]"})
        await rec.until("session.updated")
        for chunk in chunks(speech(800) + silence(700)):
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("input_audio_buffer.speech_stopped")
        text, events = await _answer(rec)
    assert "customer_tier tool returned" in text and "gold" in text
    assert any(e["type"] == "response.output_audio.delta" for e in events)
    assert [name for name, _ in mcp.calls] == ["customer_tier"]
    assert _leaked(rec.events, GATEWAY_TOOLS) == []


async def test_mcp_tool_answers_and_a_client_tool_still_works_in_the_same_session(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """A mixed session: the MCP tool runs in the gateway, the client's own get_weather reaches the client."""
    _, mcp = servers
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        updated = await rec.until("session.updated")
        assert [t["name"] for t in updated["session"]["tools"]] == ["get_weather"]
        text, _ = await _answer_to(conn, rec, "[emu:call:customer_tier] Which tier am I?")
        assert "customer_tier tool returned" in text and "gold" in text
        assert [name for name, _ in mcp.calls] == ["customer_tier"]
        await _ask(conn, "[emu:call:get_weather] Weather?")
        args = await rec.until("response.function_call_arguments.done")
        assert args["name"] == "get_weather"
        await rec.until("response.done")
        output = {"type": "function_call_output", "call_id": args["call_id"], "output": '{"sky": "sunny"}'}
        await conn.conversation.item.create(item=output)
        await conn.response.create()
        text, _ = await _answer(rec)
    assert "get_weather tool returned" in text
    assert _leaked(rec.events, GATEWAY_TOOLS) == []


async def test_slow_tool_gets_a_spoken_filler_then_the_answer(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """track_parcel takes 1.5 s: after filler_after_ms an out-of-band filler is spoken, then the answer."""
    asked = time.monotonic()
    text, events = await _one_answer(tool_gateway, "[emu:call:track_parcel] Where is my parcel?")
    fillers = [e for e in events if e["type"] == "response.created" and e["response"].get("conversation_id") is None]
    assert len(fillers) == 1
    filler_id = fillers[0]["response"]["id"]
    audio = [e for e in events if e["type"] == "response.output_audio.delta" and e["response_id"] == filler_id]
    assert audio, "the filler is spoken"
    assert "track_parcel tool returned" in text and "delivered" in text
    assert time.monotonic() - asked >= 1.5


async def test_failing_tool_becomes_a_spoken_error_and_the_session_lives_on(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """A 500 from the tool server: the model is told the configured error message, never the body."""
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        text, events = await _answer_to(conn, rec, "[emu:call:order_history] My past orders?")
        assert "the order system is not answering" in text
        assert "password" not in orjson.dumps(events).decode()
        text, _ = await _answer_to(conn, rec, "[emu:call:lookup_order] And my order?")
    assert "shipped" in text


async def test_second_identical_call_is_answered_from_the_cache(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """Two sessions ask lookup_order with the same arguments: the tool server is hit once."""
    http, _ = servers
    for _ in range(2):
        text, _ = await _one_answer(tool_gateway, "[emu:call:lookup_order] Where is my order?")
        assert "shipped" in text
    assert http.count("/orders") == 1


async def test_arguments_failing_the_schema_are_never_sent_to_the_tool(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """refund_order wants a 6-digit id; the emulator's made-up id fails the schema: the model hears why."""
    http, _ = servers
    text, _ = await _one_answer(tool_gateway, "[emu:call:refund_order] Refund it.")
    assert "Invalid arguments" in text
    assert http.count("/orders") == 0


async def test_client_declaring_a_gateway_tool_name_gets_a_clear_error(tool_gateway: GatewayProcess) -> None:
    """A client tool named like a gateway tool is refused with an error event; the session keeps working."""
    clash = {**WEATHER_TOOL, "name": "lookup_order"}
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        await conn.session.update(session={"type": "realtime", "tools": [clash]})
        error = await rec.until("error")
        assert error["error"]["type"] == "invalid_request_error"
        assert "lookup_order" in error["error"]["message"] and error["error"]["param"] == "session.tools"
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        updated = await rec.until("session.updated")
        assert [t["name"] for t in updated["session"]["tools"]] == ["get_weather"]


async def test_unreachable_mcp_server_leaves_the_other_tools_working(
    gateway_factory: GatewayFactory, emulator: object, servers: tuple[HttpToolServer, McpToolServer], tmp_path: Path
) -> None:
    """An MCP server that is down contributes no tools; HTTP tools still answer."""
    http, mcp = servers
    mcp.url = "http://127.0.0.1:9/mcp"
    policy = _policy(tmp_path, http, mcp)
    gw = gateway_factory(env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), ORDERS_AUTH=f"Bearer {ORDERS_TOKEN}"),
                         start_timeout_s=60.0)
    text, _ = await asyncio.wait_for(_one_answer(gw, "[emu:call:lookup_order] Where is my order?"), 40)
    assert "shipped" in text


async def _tool_record(gw: GatewayProcess, name: str, timeout: float = 10.0) -> list[dict]:
    """The gateway calls of tool ``name`` in the newest session record that lists one."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=gw.http_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5) as admin:
        while True:
            for record in (await admin.get("/admin/records", params={"count": 20})).json()["records"]:
                calls = [c for c in orjson.loads(record.get("tool_calls") or "[]") if c.get("name") == name]
                if calls:
                    return calls
            assert time.monotonic() < deadline, "no session record lists the call"
            await asyncio.sleep(0.1)


async def _until_hit(http: HttpToolServer, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while http.count(path) == 0:
        assert time.monotonic() < deadline, f"the tool server never saw {path}"
        await asyncio.sleep(0.02)


async def test_barge_in_while_a_slow_tool_runs_cancels_it_and_its_stale_answer_is_never_spoken(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """The user speaks while track_parcel runs: the request is abandoned, the model answers the new turn, never the parcel."""
    http, _ = servers
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        await _ask(conn, "[emu:call:track_parcel] Where is my parcel?")
        await _until_hit(http, "/slow")
        for chunk in chunks(speech(800) + silence(700)):  # the user moves on (server VAD: speech_started)
            await conn.input_audio_buffer.append(audio=chunk)
        await rec.until("input_audio_buffer.speech_started")
        text, _ = await _answer(rec)  # the answer to the new turn
        assert "delivered" not in text
        with pytest.raises(asyncio.TimeoutError):  # nothing more is said once the tool's time has passed
            await rec.until("response.created", http.slow_s + 1.0)
    assert http.abandoned == ["/slow"]
    assert all("delivered" not in orjson.dumps(e).decode() for e in rec.events)
    [call] = await _tool_record(tool_gateway, "track_parcel")
    assert call["outcome"] == "cancelled" and call["executor"] == "gateway"


async def test_a_client_response_cancel_while_a_tool_runs_drops_the_answer_and_the_session_goes_on(
    tool_gateway: GatewayProcess, servers: tuple[HttpToolServer, McpToolServer]
) -> None:
    """response.cancel while track_parcel runs: no answer about the parcel follows; the next question is answered."""
    http, _ = servers
    async with _client(tool_gateway).realtime.connect(model="gpt-realtime-2") as conn:
        rec = await _opened(conn)
        await _ask(conn, "[emu:call:track_parcel] Where is my parcel?")
        await _until_hit(http, "/slow")
        await conn.response.cancel()
        await asyncio.sleep(http.slow_s + 0.5)
        text, _ = await _answer_to(conn, rec, "[emu:call:lookup_order] And my order?")
        assert "shipped" in text
    assert http.abandoned == ["/slow"]
    assert all("delivered" not in orjson.dumps(e).decode() for e in rec.events)
    assert _leaked(rec.events, GATEWAY_TOOLS) == []
