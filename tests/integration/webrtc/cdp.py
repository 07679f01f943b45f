"""A minimal Chrome DevTools Protocol client: launch Debian's headless Chromium with a fake microphone, evaluate JS."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websockets

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


class Browser:
    """One headless Chromium process and a CDP session on its first page."""

    def __init__(self, proc: subprocess.Popen[bytes], ws: Any, log_path: Path) -> None:
        self.proc = proc
        self.ws = ws
        self.log_path = log_path
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def launch(cls, executable: str, fake_mic_wav: Path, workdir: Path) -> "Browser":
        """Start Chromium with the WAV as microphone (permission granted), autoplay allowed, real host candidates."""
        workdir.mkdir(parents=True, exist_ok=True)
        profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
        log_path = workdir / "chromium.log"
        args = [
            executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_mic_wav}",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
        ]
        proc = subprocess.Popen(args, stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
        try:
            ws = await _connect_devtools(proc, profile / "DevToolsActivePort", log_path)
        except BaseException:
            proc.kill()
            proc.wait(5)
            raise
        return cls(proc, ws, log_path)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = json.loads(raw)
                future = self._pending.pop(message.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(message)

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self.ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        message = await asyncio.wait_for(future, timeout)
        if "error" in message:
            raise RuntimeError(f"CDP {method} failed: {message['error']}")
        return message.get("result", {})

    async def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """Evaluate JS in the page (promises awaited) and return the value as JSON."""
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, timeout
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                if await self.evaluate("document.readyState === 'complete' && location.href") == url:
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"page {url} did not load")

    async def wait_for(self, predicate_js: str, timeout: float) -> bool:
        """Poll a JS predicate until true or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate(f"Boolean({predicate_js})"):
                return True
            await asyncio.sleep(0.1)
        return False

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def _connect_devtools(proc: subprocess.Popen[bytes], port_file: Path, log_path: Path) -> Any:
    """Wait for Chromium to write its DevTools port, then attach to its first page."""
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"chromium did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        await asyncio.sleep(0.05)
    port = int(port_file.read_text().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
        targets = json.loads(reply.read())
    page = next(t for t in targets if t.get("type") == "page")
    return await websockets.connect(page["webSocketDebuggerUrl"], max_size=None, ping_interval=None)
