"""A real `voice-gateway serve`: the banner and log lines a terminal and a log collector each see."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import REPO, GatewayFactory, free_port

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PER_WORKER_WARNING = "no redis_url: accounting runs on an in-process store"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_GATEWAY_", "OPENAI_", "OTEL_", "NO_COLOR"))}
    env.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "VOICE_GATEWAY_ADMIN_TOKEN": "admintoken-for-banner"})
    return env


def test_terminal_gets_a_coloured_banner_with_the_generated_key() -> None:
    """On a terminal: readable coloured lines and a banner with URL, generated key, emulator, store, links."""
    port = free_port()
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        cwd=REPO, env=_clean_env(), stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL,
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"Application startup complete" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
    finally:
        proc.terminate()
        proc.wait(20)
        os.close(main)
    text = seen.decode(errors="replace")
    assert "\x1b[" in text, text
    plain = _ANSI.sub("", text)
    assert "voice-gateway is ready" in plain
    assert f"http://127.0.0.1:{port}" in plain
    assert re.search(r"key\s+vg_local_[A-Za-z0-9_-]{20,}", plain), plain
    assert "embedded emulator" in plain and "in-process" in plain
    assert f"http://127.0.0.1:{port}/demo" in plain and f"http://127.0.0.1:{port}/admin/ui" in plain
    assert "default.yaml" in plain
    assert not any(line.lstrip().startswith("{") for line in plain.splitlines())


def test_a_pipe_gets_json_lines_with_the_banner_fields(gateway_factory: GatewayFactory) -> None:
    """Off a terminal every log line is JSON, the banner is one of them, and no colour codes leak."""
    gw = gateway_factory(env={"VOICE_GATEWAY_ADMIN_TOKEN": "admintoken-for-banner"})
    time.sleep(0.3)
    lines = [line for line in gw.log_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON (no generated key: keys are set)
    assert "\x1b" not in gw.log_text() and "color_message" not in gw.log_text()
    banner = next(p for p in parsed if p["msg"] == "voice-gateway is ready")["banner"]
    assert banner["url"] == gw.http_url
    assert banner["key"].startswith("1 from VOICE_GATEWAY_API_KEYS")
    assert banner["admin"] == f"{gw.http_url}/admin/ui"
    assert gw.key not in gw.log_text() and "admintoken-for-banner" not in gw.log_text()


@pytest.mark.slow
@pytest.mark.timeout(300)  # two workers each import the app: minutes on a loaded host
def test_workers_print_the_banner_once_and_share_one_generated_key(tmp_path: object) -> None:
    """`serve --workers 2` without keys: one banner (from the supervisor), one generated key, accepted by both workers."""
    import httpx

    port = free_port()
    log_path = tmp_path / "gateway.log"  # type: ignore[operator]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=REPO, env=_clean_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 180
        text = ""
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            # each worker warns once, early in its start-up, that its store is in-process (workers log nothing else)
            if text.count(_PER_WORKER_WARNING) >= 2 and "voice-gateway is ready" in text:
                break
            assert proc.poll() is None, text
            time.sleep(0.5)
        time.sleep(5.0)  # both workers have finished starting: one that would announce too has had its chance
        text = log_path.read_text(errors="replace")
        assert text.count(_PER_WORKER_WARNING) == 2, text
        assert text.count("voice-gateway is ready") == 1, text
        keys = re.findall(r"generated a local key: (vg_local_[A-Za-z0-9_-]+)", text)
        assert len(keys) == 1, text
        statuses = set()
        for _ in range(12):  # a new connection each time: the kernel spreads them over both workers
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                reply = client.post("/v1/realtime/client_secrets", headers={"Authorization": f"Bearer {keys[0]}"},
                                    json={"session": {"type": "realtime", "model": "gpt-realtime-2"}})
                statuses.add(reply.status_code)
        assert statuses == {200}, statuses
    finally:
        proc.terminate()
        proc.wait(30)
