"""The failover scenario both store topologies run: sessions with a cap and a budget across a master failure."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Callable

import redis
import websockets

from gateway.store.keyspace import KeySpace
from tests.integration.conftest import GatewayFactory, emulator_env
from tests.integration.keys_support import handshake_status
from tests.integration.test_caps_e2e import Closed, Recorder, ask_until_cut, client_for, create_key
from tests.support.audio import b64, speech

#: the session cap and the tenant's daily budget: the second session must hit the budget, not its cap
CAP_USD, BUDGET_USD = "0.002", "0.003"
CAP_MICROS, BUDGET_MICROS = 2000, 3000
#: gpt-realtime-2's dearest output token ($64 / 1M audio output tokens): the clamp leaves less than this unspent
ONE_TOKEN_MICROS = 64
ADMIT_TIMEOUT_S = 30.0
#: the gateway's start-up on a loaded CI host, next to six Redis servers or three servers and three sentinels
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FailoverTimings:
    #: master killed → session A cut by its cap (it streamed on while the store failed over)
    capped_after_s: float
    #: master killed → the first new session admitted through the gateway
    admitted_after_s: float
    #: master killed → the gateway's /readyz reports the store healthy again
    ready_after_s: float | None


async def _long_reply(conn: object, rec: Recorder) -> Closed:
    await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})  # type: ignore[attr-defined]
    await rec.until("session.updated")
    await conn.input_audio_buffer.append(audio=b64(speech(300)))  # type: ignore[attr-defined]
    await conn.input_audio_buffer.commit()  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]
    return await ask_until_cut(conn, rec)  # each reply is clamped to what is left: ask until the gateway cuts


async def _first_admission(gw: object, secret: str, since: float) -> float:
    deadline = time.monotonic() + ADMIT_TIMEOUT_S
    statuses: list[int] = []
    while time.monotonic() < deadline:
        status = await handshake_status(gw, secret)  # type: ignore[arg-type]
        if status == 101:
            return time.monotonic() - since
        statuses.append(status)
        assert status == 503, statuses  # only "store unavailable" while the store fails over
        await asyncio.sleep(0.1)
    raise AssertionError(f"no session admitted within {ADMIT_TIMEOUT_S}s of the failover: {statuses[-5:]}")


def _records(reader: redis.Redis, keys: KeySpace, tenant: str, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 15
    while True:
        found = [f for _id, f in reader.xrange(keys.records) if f.get("tenant") == tenant]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


async def run_failover_scenario(
    gateway_factory: GatewayFactory,
    emulator: object,
    url: str,
    reader: Callable[[], redis.Redis],
    kill_master: Callable[[str], None],
) -> FailoverTimings:
    """Session A is cut by its cost cap while the tenant's master fails; after failover a new session is
    admitted, session B is cut by the tenant budget (A's spend survived), session C gets nothing (refused at
    the handshake or on its first reply), and the tenant's spend in the store equals the sum of its session
    records, with no lease left behind."""
    prefix, tenant = f"vgfo{secrets.token_hex(4)}", f"acme{secrets.token_hex(3)}"
    keys = KeySpace(prefix)
    secret = create_key(url, prefix, "--tenant", tenant, "--daily-budget-usd", BUDGET_USD)["secret"]
    env = emulator_env(
        emulator, VOICE_GATEWAY_MAX_SESSION_USD=CAP_USD, VOICE_GATEWAY_REDIS_URL=url, VOICE_GATEWAY_REDIS_KEY_PREFIX=prefix,
    )
    gw = gateway_factory(env=env, start_timeout_s=START_TIMEOUT_S)
    async with client_for(gw, secret).realtime.connect(model="gpt-realtime-2") as conn:
        a = Recorder(conn)
        await a.until("session.created")
        killed_at = time.monotonic()
        kill_master(keys.leases(tenant))
        closed_a = await _long_reply(conn, a)  # streams through the failover
        capped_after = time.monotonic() - killed_at
    assert (closed_a.code, closed_a.reason) == (4100, "session_cost_cap_reached"), (closed_a, a.types()[-5:])
    assert a.audio_bytes > 0
    admitted_after = await _first_admission(gw, secret, killed_at)
    ready_after = await _ready_after(gw, killed_at)
    async with client_for(gw, secret).realtime.connect(model="gpt-realtime-2") as conn:
        b = Recorder(conn)
        await b.until("session.created")
        closed_b = await _long_reply(conn, b)
    assert (closed_b.code, closed_b.reason) == (4103, "budget_exceeded"), (closed_b, b.types()[-5:])
    admitted_c = await _refused_third_session(gw, secret)
    store = reader()
    expected = ["", "budget_exceeded", "session_cost_cap_reached"] + (["budget_exceeded"] if admitted_c else [])
    records = _records(store, keys, tenant, len(expected))  # A, the admission probe, B (and C when admitted)
    assert sorted(r["error_code"] for r in records) == sorted(expected), records
    spent = sum(int(r["cost_micros"]) for r in records)
    deadline = time.monotonic() + 10
    while int(store.get(keys.day_spend(tenant, time.time())) or 0) != spent and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert int(store.get(keys.day_spend(tenant, time.time())) or 0) == spent
    (cost_a,) = [int(r["cost_micros"]) for r in records if r["error_code"] == "session_cost_cap_reached"]
    assert cost_a >= CAP_MICROS  # A's spend from before and during the failover is all in the store
    # no reply started past A's cap (issue #21: a reply asked the instant the last one ended took A to the budget)
    assert cost_a < BUDGET_MICROS, records
    # the budget is used up: B's replies were clamped to what it left, so at most one output token's price is left
    assert spent >= BUDGET_MICROS - ONE_TOKEN_MICROS, (spent, records)
    assert store.zcount(keys.leases(tenant), int(time.time() * 1000), "+inf") == 0
    return FailoverTimings(capped_after, admitted_after, ready_after)


async def _refused_third_session(gw: object, secret: str) -> bool:
    """Session C gets nothing: refused at the handshake (402) when the reconciled spend reached the budget, or, when
    B's clamped replies left it a few micro-dollars short (less than one output token), admitted with its first reply
    refused (budget_exceeded, 4103, no audio). Returns whether C was admitted."""
    try:
        async with client_for(gw, secret).realtime.connect(model="gpt-realtime-2") as conn:  # type: ignore[arg-type]
            c = Recorder(conn)
            await c.until("session.created")
            closed_c = await _long_reply(conn, c)
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 402, exc
        return False
    assert (closed_c.code, closed_c.reason) == (4103, "budget_exceeded"), (closed_c, c.types()[-5:])
    assert c.audio_bytes == 0
    return True


async def _ready_after(gw: object, since: float) -> float | None:
    import httpx

    async with httpx.AsyncClient(base_url=gw.http_url, timeout=2) as client:  # type: ignore[attr-defined]
        for _ in range(100):
            if (await client.get("/readyz")).status_code == 200:
                return time.monotonic() - since
            await asyncio.sleep(0.1)
    return None

