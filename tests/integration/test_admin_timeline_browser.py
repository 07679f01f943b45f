"""The session timeline page in headless Chromium: turns on a time axis, live and after the session ended."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.conftest import GatewayFactory
from tests.integration.keys_support import ADMIN_TOKEN, cleanup, new_prefix, next_event, session, start
from tests.integration.test_admin_browser import TRACEPARENT, TRACE_ID, _silent_wav, chromium  # noqa: F401 - fixture
from tests.integration.webrtc.cdp import Browser
from tests.support.audio import chunks, speech

pytestmark = pytest.mark.redis
TOOLS = [
    {"type": "function", "name": "lookup_order", "description": "Find an order", "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
    {"type": "function", "name": "transfer_to_billing", "description": "Hand off to billing", "parameters": {"type": "object", "properties": {}}},
]
ACCENT, BAD = (0x34, 0x54, 0xD1), (0xD2, 0x45, 0x2F)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = new_prefix()
    yield name
    cleanup(redis_url, name)


async def _say(ws: ClientConnection, text: str) -> dict[str, object]:
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}))
    await ws.send(json.dumps({"type": "response.create"}))
    return await next_event(ws, "response.done", timeout=20)


async def _three_turns(ws: ClientConnection) -> None:
    """A tool call, a spoken answer the user cuts off, then a handoff."""
    await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": TOOLS}}))
    await next_event(ws, "session.updated")
    done = await _say(ws, "where is my order? [emu:call:lookup_order]")
    call = next(item for item in done["response"]["output"] if item["type"] == "function_call")  # type: ignore[index]
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "{\"status\": \"shipped\"}"}}))
    await ws.send(json.dumps({"type": "response.create"}))
    spoken = await next_event(ws, "response.done", timeout=20)
    message = next(item for item in spoken["response"]["output"] if item["type"] == "message")  # type: ignore[index]
    await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": message["id"], "content_index": 0, "audio_end_ms": 200}))
    await next_event(ws, "conversation.item.truncated")
    await _say(ws, "billing please [emu:call:transfer_to_billing]")


def _colour_pixels(png: bytes, box: dict[str, float], colour: tuple[int, int, int]) -> int:
    """Pixels of ``colour`` (±12 per channel) inside ``box`` of a PNG screenshot."""
    container = av.open(__import__("io").BytesIO(png))
    image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    container.close()
    x, y = int(box["x"]), int(box["y"])
    region = image[y : y + int(box["height"]), x : x + int(box["width"])].astype(int)
    return int((np.abs(region - np.array(colour)).max(axis=2) <= 12).sum())


async def _screenshot(browser: Browser, path: Path) -> bytes:
    shot = base64.b64decode((await browser.call("Page.captureScreenshot", {"format": "png"}))["data"])
    path.write_bytes(shot)
    return shot


async def test_timeline_shows_turns_live_and_after_the_end(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str, chromium: str, tmp_path: Path  # noqa: F811
) -> None:
    """Three turns (tool call, interrupted answer, handoff) drawn on the axis with costs; then 'ended' from the record."""
    gw = start(gateway_factory, redis_url, prefix, VOICE_GATEWAY_MAX_SESSION_USD="1")
    browser = await Browser.launch(chromium, _silent_wav(tmp_path / "mic.wav"), tmp_path)
    try:
        await browser.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        async with session(gw, gw.key, headers={"traceparent": TRACEPARENT}) as ws:
            session_id = ws.response.headers["x-voice-gateway-session-id"]
            await next_event(ws, "session.created")
            await _three_turns(ws)
            await browser.goto(f"{gw.http_url}/admin/ui")
            await browser.evaluate(
                f"sessionStorage.setItem('voice-gateway-admin-token', {json.dumps(ADMIN_TOKEN)});"
                f"location.hash = '#/session/{session_id}'; location.reload(); true"
            )
            rects = "document.querySelectorAll('#axis rect.turn').length"
            assert await browser.wait_for(f"{rects} === 3", timeout=10), await browser.evaluate("document.body.innerText")
            assert await browser.evaluate("document.querySelector('#facts .badge').textContent") == "live"
            rows = await browser.evaluate("Array.from(document.querySelectorAll('#turns tr')).map(r => Array.from(r.cells).map(c => c.textContent))")
            assert [r[7] for r in rows] == ["lookup_order", "", ""] and [r[8] for r in rows] == ["", "", "transfer_to_billing"]
            assert [r[6] for r in rows] == ["", "yes", ""]
            assert all(r[9].startswith("$") and "%" in r[10] for r in rows), rows
            assert rows[1][3].endswith(" ms")  # time to first audio of the spoken answer
            assert await browser.evaluate("document.querySelectorAll('#axis .ttfa').length") >= 1
            assert await browser.evaluate("document.querySelector('#facts a.trace').href") == f"http://jaeger.test:16686/trace/{TRACE_ID}"
            turn_links = await browser.evaluate("Array.from(document.querySelectorAll('#turns a.turn-trace')).map(a => a.href)")
            assert len(turn_links) == 3 and len(set(turn_links)) == 3, turn_links  # each turn: its own span in the trace
            assert all(link.startswith(f"http://jaeger.test:16686/trace/{TRACE_ID}?uiFind=") for link in turn_links)
            box = await browser.evaluate("(() => { const r = document.getElementById('axis').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
            shot = await _screenshot(browser, tmp_path / "timeline-live.png")
            assert box["width"] > 500 and box["height"] > 60
            assert _colour_pixels(shot, box, ACCENT) > 200, "no turn bars in the screenshot"
            assert _colour_pixels(shot, box, BAD) > 50, "no interrupted turn in the screenshot"
        ended = "document.querySelector('#facts .badge').textContent.startsWith('ended')"
        assert await browser.wait_for(ended, timeout=10), await browser.evaluate("document.body.innerText")
        assert await browser.evaluate(rects) == 3
        assert await browser.evaluate("document.querySelector('#facts a.trace') !== null")
        assert await browser.evaluate("document.querySelectorAll('#turns a.turn-trace').length") == 3  # kept in the record
        shot = await _screenshot(browser, tmp_path / "timeline-ended.png")
        assert _colour_pixels(shot, box, ACCENT) > 200
        await browser.evaluate("document.getElementById('back').click(); true")
        ended_row = f"document.querySelector('#ended tr[data-ended-session-id={json.dumps(session_id)}] a.timeline')"
        assert await browser.wait_for(ended_row, timeout=10)
    finally:
        await browser.close()


async def _two_translated_segments(ws: ClientConnection) -> None:
    """Speech, a pause longer than the segment quiet time, speech again: two translated segments."""
    await ws.send(json.dumps({"type": "session.update", "session": {"audio": {"output": {"language": "es"}}}}))
    await next_event(ws, "session.updated")
    for _ in range(2):
        for chunk in chunks(speech(1200), ms=200):
            await ws.send(json.dumps({"type": "session.input_audio_buffer.append", "audio": chunk}))
        await next_event(ws, "session.output_audio.delta", timeout=20)
        await asyncio.sleep(2.5)  # output goes quiet: the segment ends


async def test_timeline_shows_a_translation_sessions_segments(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str, chromium: str, tmp_path: Path  # noqa: F811
) -> None:
    """A translation session's segments are its turns on the axis (kind 'segment'), live and from its record."""
    gw = start(gateway_factory, redis_url, prefix, VOICE_GATEWAY_MAX_SESSION_USD="1")
    browser = await Browser.launch(chromium, _silent_wav(tmp_path / "mic.wav"), tmp_path)
    try:
        await browser.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        async with session(gw, gw.key, path="/realtime/translations?model=gpt-realtime-translate") as ws:
            session_id = ws.response.headers["x-voice-gateway-session-id"]
            await next_event(ws, "session.created")
            await _two_translated_segments(ws)
            await browser.goto(f"{gw.http_url}/admin/ui")
            await browser.evaluate(
                f"sessionStorage.setItem('voice-gateway-admin-token', {json.dumps(ADMIN_TOKEN)});"
                f"location.hash = '#/session/{session_id}'; location.reload(); true"
            )
            rects = "document.querySelectorAll('#axis rect.turn').length"
            assert await browser.wait_for(f"{rects} >= 2", timeout=10), await browser.evaluate("document.body.innerText")
            rows = await browser.evaluate("Array.from(document.querySelectorAll('#turns tr')).map(r => Array.from(r.cells).map(c => c.textContent))")
            assert all(r[1] == "segment · speech" and r[5] == "completed" for r in rows), rows
            assert all(r[9].startswith("$") for r in rows), rows
            box = await browser.evaluate("(() => { const r = document.getElementById('axis').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
            shot = await _screenshot(browser, tmp_path / "timeline-translation-live.png")
            assert _colour_pixels(shot, box, ACCENT) > 40, "no segment bars in the screenshot"  # short bars: bursty output
            live_rows = len(rows)
        ended = "document.querySelector('#facts .badge').textContent.startsWith('ended')"
        assert await browser.wait_for(ended, timeout=10), await browser.evaluate("document.body.innerText")
        assert await browser.evaluate(rects) >= live_rows
        shot = await _screenshot(browser, tmp_path / "timeline-translation-ended.png")
        assert _colour_pixels(shot, box, ACCENT) > 40
    finally:
        await browser.close()
