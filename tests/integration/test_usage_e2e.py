"""Spend reports from real sessions: `GET /admin/usage` and `voice-gateway usage`, JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from typing import Iterator

import httpx
import pytest

from tests.integration.conftest import REPO, GatewayFactory, GatewayProcess
from tests.integration.keys_support import ADMIN_TOKEN, cleanup, new_prefix, next_event, session, start

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = new_prefix()
    yield name
    cleanup(redis_url, name)


async def _one_turn(gw: GatewayProcess, model: str) -> str:
    async with session(gw, gw.key, path=f"/realtime?model={model}") as ws:
        session_id = ws.response.headers["x-voice-gateway-session-id"]
        await next_event(ws, "session.created")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        await next_event(ws, "response.done", timeout=20)
    return session_id


async def _report(admin: httpx.AsyncClient, sessions: int, **params: str) -> dict[str, object]:
    """Poll until the records of ``sessions`` sessions are in the report (written when each session ends)."""
    for _ in range(50):
        body = (await admin.get("/admin/usage", params=params)).json()
        if body["total"]["sessions"] >= sessions:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"records never reached the report: {body}")


def _usage_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "usage", *args], cwd=REPO, env={**base, **env},
        capture_output=True, text=True, timeout=60,
    )


async def test_admin_usage_and_the_cli_report_the_same_sessions(
    gateway_factory: GatewayFactory, redis_url: str, prefix: str
) -> None:
    """Two sessions on two models: grouped by model over the last hour in JSON and CSV, by API and CLI."""
    gw = start(gateway_factory, redis_url, prefix)
    await _one_turn(gw, "gpt-realtime-2")
    await _one_turn(gw, "gpt-realtime-2.1-mini")
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=gw.http_url, headers=headers, timeout=10) as admin:
        body = await _report(admin, 2, since="1h", group_by="tenant,model")
        models = {row["model"] for row in body["rows"]}  # type: ignore[index,union-attr]
        assert len(models) == 2, body
        total = body["total"]
        assert total["sessions"] == 2 and total["spend_micros"] > 0 and total["audio_out_minutes"] > 0  # type: ignore[index]
        as_csv = await admin.get("/admin/usage", params={"since": "1h", "group_by": "model", "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert rows[-1]["model"] == "total" and int(rows[-1]["spend_micros"]) == total["spend_micros"]  # type: ignore[index]
        earlier = (await admin.get("/admin/usage", params={"since": "3h", "until": "2h"})).json()
        assert earlier["total"]["sessions"] == 0
        bad = await admin.get("/admin/usage", params={"since": "last tuesday"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
        assert (await admin.get("/admin/usage", params={"group_by": "colour"})).status_code == 400
        assert (await admin.get("/admin/usage", headers={"authorization": f"Bearer {gw.key}"})).status_code == 401
    env = {"VOICE_GATEWAY_REDIS_URL": redis_url, "VOICE_GATEWAY_REDIS_KEY_PREFIX": prefix}
    done = _usage_cli(["--since", "1h", "--by", "model"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["spend_micros"] == total["spend_micros"]  # type: ignore[index]
    as_csv_cli = _usage_cli(["--since", "1h", "--by", "tenant", "--format", "csv"], env)
    assert as_csv_cli.returncode == 0 and as_csv_cli.stdout.splitlines()[0].startswith("tenant,sessions,spend_micros")
    refused = _usage_cli(["--since", "soonish"], env)
    assert refused.returncode == 2 and "not a time" in refused.stderr


async def test_the_cli_reads_an_in_process_gateway_through_its_admin_api(gateway_factory: GatewayFactory) -> None:
    """Without Redis the CLI says where records are, and with --gateway it reports through /admin/usage."""
    gw = gateway_factory(env={"VOICE_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN})
    await _one_turn(gw, "gpt-realtime-2")
    nowhere = _usage_cli([], {})
    assert nowhere.returncode == 2 and "--gateway" in nowhere.stderr
    for _ in range(50):
        done = _usage_cli(["--gateway", gw.http_url, "--since", "1h"], {"VOICE_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN})
        assert done.returncode == 0, done.stderr
        if json.loads(done.stdout)["total"]["sessions"] == 1:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(done.stdout)
