"""The live-sessions page in headless Chromium: it renders, lists a live session, and its button ends the session."""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.conftest import GatewayFactory
from tests.integration.keys_support import ADMIN_TOKEN, cleanup, close_code, new_prefix, next_event, session, start
from tests.integration.webrtc.cdp import Browser, chromium_path

pytestmark = pytest.mark.redis
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def chromium() -> str:
    """Debian's chromium; missing → fail in CI with how to install it, skip elsewhere."""
    path = chromium_path()
    if path is None:
        message = "headless Chromium is required for the admin page test: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = new_prefix()
    yield name
    cleanup(redis_url, name)


def _silent_wav(path: Path) -> Path:
    """The CDP launcher wants a fake-microphone file; this page never uses it."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(b"\0\0" * 2400)
    return path


async def test_the_page_lists_a_live_session_and_ends_it(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str, chromium: str, tmp_path: Path
) -> None:
    """Token prompt → the session row with spend and time bars → 'End session' closes the client with 4105."""
    gw = start(gateway_factory, redis_url, prefix, VOICE_GATEWAY_MAX_SESSION_USD="1", VOICE_GATEWAY_MAX_SESSION_SECONDS="600")
    browser = await Browser.launch(chromium, _silent_wav(tmp_path / "mic.wav"), tmp_path)
    try:
        async with session(gw, gw.key, headers={"traceparent": TRACEPARENT}) as ws:
            session_id = ws.response.headers["x-voice-gateway-session-id"]
            await next_event(ws, "session.created")
            await browser.call("Emulation.setDeviceMetricsOverride", {"width": 1500, "height": 500, "deviceScaleFactor": 1, "mobile": False})
            await browser.goto(f"{gw.http_url}/admin/ui")
            assert await browser.evaluate("document.title") == "voice-gateway · live sessions"
            assert await browser.evaluate("!document.getElementById('login').hidden")
            await browser.evaluate(
                f"document.getElementById('token').value = {json.dumps(ADMIN_TOKEN)};"
                "document.getElementById('login').requestSubmit(); true"
            )
            row = f"document.querySelector('tr[data-session-id={json.dumps(session_id)}]')"
            assert await browser.wait_for(row, timeout=8), await browser.evaluate("document.body.innerText")
            cells = await browser.evaluate(f"Array.from({row}.cells).map(c => c.textContent)")
            assert cells[0] == session_id and cells[1] == "default" and cells[3] == "gpt-realtime-2"
            bars = await browser.evaluate(f"Array.from({row}.querySelectorAll('.bar')).map(b => b.textContent)")
            assert len(bars) == 2 and bars[0].startswith("$") and "%" in bars[0] and "%" in bars[1]
            assert await browser.evaluate("sessionStorage.getItem('voice-gateway-admin-token')") == ADMIN_TOKEN
            trace_url = await browser.evaluate(f"({row}.querySelector('a.trace') || {{}}).href || null")
            assert trace_url == f"http://jaeger.test:16686/trace/{TRACE_ID}"
            await _screenshot(browser, tmp_path / "admin-ui.png")
            await browser.evaluate(f"window.confirm = () => true; {row}.querySelector('button.end').click(); true")
            assert await close_code(ws, timeout=10) == 4105
            assert await browser.wait_for(f"!{row}", timeout=8)
    finally:
        await browser.close()


async def _screenshot(browser: Browser, path: Path) -> None:
    """Kept with the test's files for a person to look at when the test fails."""
    import base64

    shot = await browser.call("Page.captureScreenshot", {"format": "png"})
    path.write_bytes(base64.b64decode(shot["data"]))
