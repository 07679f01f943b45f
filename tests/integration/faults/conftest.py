"""Fault-injection fixtures: own Redis servers, in-test emulators, catalogs with several endpoints, raw clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import orjson
import pytest
import redis
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import UPSTREAM_TEST_KEY, GatewayProcess, free_port
from tests.support.audio import b64, speech

REPO = Path(__file__).resolve().parents[3]
MODELS = ("gpt-realtime-2", "gpt-realtime-whisper", "gpt-realtime-translate")


# --- an own redis-server per test, so it can be stopped, frozen and restarted -----------------------


@dataclass
class OwnRedis:
    """A throwaway redis-server on a free port (no persistence): start, stop, freeze, thaw."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the fault suite (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.03)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server (its data is gone: an outage of a cache-only Redis)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the port accepts nothing in time, every call times out (a hung or very slow server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=1)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path).start()
    try:
        yield server
    finally:
        if server.proc is not None:
            with _suppress():
                server.thaw()
        server.stop()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def records(store: OwnRedis | str, prefix: str) -> list[dict[str, str]]:
    """Every session record in the stream, oldest first."""
    client = store.client() if isinstance(store, OwnRedis) else redis.Redis.from_url(store)
    rows = client.xrange(f"{prefix}:sessions")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in rows]


def wait_records(store: OwnRedis, prefix: str, count: int, timeout_s: float = 10.0) -> list[dict[str, str]]:
    """Poll the stream until ``count`` records are there (the flush period bounds the wait)."""
    deadline = time.monotonic() + timeout_s
    found: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        found = records(store, prefix)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return found


def day_spend(store: OwnRedis, prefix: str, tenant: str) -> int:
    """The tenant's spend today in micro-dollars, as the gateway wrote it."""
    client = store.client()
    key = f"{prefix}:{{{tenant}}}:spend:d:{time.strftime('%Y%m%d', time.gmtime())}"
    return int(client.get(key) or 0)


# --- emulators and catalogs --------------------------------------------------------------------------


EmulatorStarter = Callable[..., Awaitable[object]]


@pytest.fixture
async def emulators() -> AsyncIterator[EmulatorStarter]:
    """Start emulators in the test's loop with server-wide fault knobs; all are closed at teardown."""
    from gateway.emulator import start_emulator

    started: list[object] = []

    async def start(**knobs: int | bool | str) -> object:
        # real-time audio (no bursts): fault tests time their faults against a reply that is still streaming
        defaults: dict[str, int | bool | str] = dict(ttfa_ms=30, reply_ms=600, chunk_ms=100, pace=True, asr_ms=30,
                                                     speed=1, burst_ms=0)
        defaults.update(knobs)
        handle = await start_emulator("127.0.0.1", 0, **defaults)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        await handle.close()  # type: ignore[attr-defined]


def write_catalog(tmp_path: Path, endpoints: dict[str, str], *, connect_timeout_s: float = 10.0) -> Path:
    """A catalog serving the default policy's models from ``endpoints`` (name → ws URL), in that failover order."""
    base = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    catalog = {
        "version": 1,
        "endpoints": {
            name: {"url": url, "auth_env": "OPENAI_API_KEY", "connect_timeout_s": connect_timeout_s}
            for name, url in endpoints.items()
        },
        "models": {name: {**base["models"][name], "upstreams": list(endpoints)} for name in base["models"]},
    }
    path = tmp_path / f"catalog-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(catalog))
    return path


def gateway_env(
    *,
    store: OwnRedis | None = None,
    prefix: str | None = None,
    catalog: Path | None = None,
    upstream_url: str | None = None,
    **settings: str | int | float,
) -> dict[str, str]:
    """Environment for a gateway under test: its catalog or upstream, its Redis, and VOICE_GATEWAY_* settings."""
    env: dict[str, str] = {"OPENAI_API_KEY": UPSTREAM_TEST_KEY, "VOICE_GATEWAY_LOG_FORMAT": "json"}
    if catalog is not None:
        env["VOICE_GATEWAY_CATALOG_FILE"] = str(catalog)
    if upstream_url is not None:
        env["VOICE_GATEWAY_UPSTREAM_URL"] = upstream_url
    if store is not None:
        env["VOICE_GATEWAY_REDIS_URL"] = store.url
        env["VOICE_GATEWAY_REDIS_KEY_PREFIX"] = prefix or "vg"
    for name, value in settings.items():
        env[f"VOICE_GATEWAY_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def prefix() -> str:
    return f"vgf{uuid.uuid4().hex[:8]}"


# --- clients -----------------------------------------------------------------------------------------


async def open_client(gw: GatewayProcess, query: str = "model=gpt-realtime-2", *, key: str | None = None,
                      path: str = "/realtime", headers: dict[str, str] | None = None, **kwargs: object) -> ClientConnection:
    """A plain websockets client with the gateway key (no pings of its own unless asked)."""
    options: dict[str, object] = {"max_size": None, "open_timeout": 10, "ping_interval": None, "compression": None}
    options.update(kwargs)
    return await connect(
        f"{gw.ws_base}{path}?{query}",
        additional_headers={"Authorization": f"Bearer {key or gw.key}", **(headers or {})},
        **options,  # type: ignore[arg-type]
    )


@dataclass
class Transcript:
    """Everything a client saw: parsed events, raw frames, close code and reason, and when the close came."""

    events: list[dict[str, object]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_at: float | None = None

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    def errors(self) -> list[str]:
        return [str(e["error"]["code"]) for e in self.events if e.get("type") == "error"]  # type: ignore[index]


async def read_until_closed(ws: ClientConnection, timeout_s: float, into: Transcript | None = None) -> Transcript:
    """Read every frame until the gateway closes (or fail after ``timeout_s``)."""
    seen = into or Transcript()
    async with asyncio.timeout(timeout_s):
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                seen.raw.append(text)
                seen.events.append(orjson.loads(text))
        except ConnectionClosed:
            pass
    seen.closed_at = time.monotonic()
    rcvd = ws.close_code
    seen.close_code = rcvd
    seen.close_reason = ws.close_reason or ""
    return seen


async def until(ws: ClientConnection, event_type: str, seen: Transcript, timeout_s: float = 10.0) -> dict[str, object]:
    """Read frames (recording them) until one of ``event_type`` arrives."""
    async with asyncio.timeout(timeout_s):
        while True:
            text = await ws.recv()
            text = text if isinstance(text, str) else text.decode()
            event = orjson.loads(text)
            seen.raw.append(text)
            seen.events.append(event)
            if event.get("type") == event_type:
                return event  # type: ignore[no-any-return]


async def start_turn(ws: ClientConnection, speech_ms: int = 300) -> None:
    """Manual turn: no VAD, some audio, commit, ask for a response."""
    await ws.send(orjson.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}).decode())
    await ws.send(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(speech(speech_ms))}).decode())
    await ws.send(orjson.dumps({"type": "input_audio_buffer.commit"}).decode())
    await ws.send(orjson.dumps({"type": "response.create"}).decode())


# --- the gateway process from outside ----------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def readyz(gw: GatewayProcess) -> tuple[int, dict[str, object]]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{gw.http_url}/readyz", timeout=2) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def wait_idle(gw: GatewayProcess, timeout_s: float = 10.0) -> dict[str, object]:
    """Wait until /readyz reports no live session."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        _status, body = readyz(gw)
        if body.get("live_sessions") == 0:
            return body
        time.sleep(0.05)
    return body


def tcp_closed_port() -> int:
    """A loopback port where nothing listens (connects are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll without blocking the loop (in-test emulators run on it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def tcp_peers(pid: int) -> list[tuple[int, int]]:
    """(local port, remote port) of the process's connected TCP sockets, from /proc (no ss needed)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    peers: list[tuple[int, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib_suppress_oserror():
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and cols[3] != "0A":  # 0A = LISTEN
                    peers.append((int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)))
    return peers


class contextlib_suppress_oserror:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, *rest: object) -> bool:
        return exc_type is not None and issubclass(exc_type, OSError)  # type: ignore[arg-type]
