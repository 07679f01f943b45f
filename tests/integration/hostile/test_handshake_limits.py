"""Class 7: oversized or overlong upgrade heads are refused with 431 before parsing, and memory stays flat under a flood."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.integration.conftest import GatewayProcess
from tests.integration.faults.conftest import Transcript, open_client, rss_kib, until
from tests.integration.hostile.conftest import Deploy

LAYERS = ["picows", "uvicorn"]
UPGRADE = (
    b"GET /v1/realtime?model=gpt-realtime-2 HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


async def _raw_upgrade(gw: GatewayProcess, extra: bytes) -> tuple[int, bytes]:
    """Send an unauthenticated upgrade with ``extra`` header bytes; the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        writer.write(UPGRADE + extra + b"\r\n")
        await asyncio.wait_for(writer.drain(), 10)
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def _headers(count: int, value: bytes = b"v") -> bytes:
    return b"".join(b"x-h%d: %s\r\n" % (i, value) for i in range(count))


@pytest.mark.parametrize("layer", LAYERS)
async def test_large_and_numerous_headers_get_431_with_json(deploy: Deploy, layer: str) -> None:
    """A 40 KiB header, or 150 headers, is answered 431 with an OpenAI-shaped JSON body; 90 headers still connect."""
    d = await deploy(inbound_ws=layer)
    for extra in (b"x-big: " + b"a" * 40 * 1024 + b"\r\n", _headers(150)):
        status, body = await _raw_upgrade(d.gw, extra)
        assert status == 431
        assert orjson.loads(body)["error"]["code"] == "request_header_fields_too_large"
    seen = Transcript()
    many = {f"x-app-{i}": "v" for i in range(90)}
    async with await open_client(d.gw, headers=many) as ws:
        await until(ws, "session.created", seen)


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
async def test_memory_stays_flat_under_a_flood_of_huge_heads(deploy: Deploy, layer: str) -> None:
    """200 unauthenticated upgrades with 512 KiB of headers each leave the gateway's RSS where it was; it still serves."""
    d = await deploy(inbound_ws=layer)
    assert d.gw.proc is not None
    pid = d.gw.proc.pid
    await _raw_upgrade(d.gw, b"x-warm: up\r\n")  # first request paths warmed before measuring
    before = rss_kib(pid)
    peak = before
    statuses: list[int] = []
    for _ in range(10):
        answers = await asyncio.gather(*(_raw_upgrade(d.gw, b"x-big: " + b"a" * 512 * 1024 + b"\r\n") for _ in range(20)))
        statuses += [status for status, _ in answers]
        peak = max(peak, rss_kib(pid))
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    print(f"{layer}: RSS before {before} KiB, peak {peak} KiB, after {after} KiB")
    assert statuses == [431] * 200
    assert peak - before < 16 * 1024, (before, peak)  # ~100 MiB of headers sent; without the limit RSS grew ~170 MiB
    assert after - before < 8 * 1024, (before, after)
    seen = Transcript()
    async with await open_client(d.gw) as ws:
        await until(ws, "session.created", seen)
