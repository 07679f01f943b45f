"""Routing policies end to end: real gateway processes, the official SDK, the emulator, a real Redis.

What the emulator saw (session kind and model) proves where a session went; the session
records in Redis name the rule that routed it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from bench.policy_decide import big_policy_text
from gateway.core.kinds import EndpointKind
from gateway.core.routing import SessionRequest
from gateway.policy.catalog import load_catalog
from gateway.policy.loader import PolicySource, compile_sources, load_policy_files
from routers import decide
from tests.integration.conftest import (
    REPO,
    GatewayFactory,
    GatewayProcess,
    emulator_env,
)
from tests.integration.test_caps_e2e import (
    Recorder,
    client_for,
    create_key,
    session_records,
    store_env,
    write_policy,
)
from tests.support.audio import b64, speech

ROUTING_POLICY = """version: 1
description: e2e routing policy
rules:
  - id: old-app
    match: {headers: {x-app-version: {glob: "1.*"}}}
    deny: {reason: "App version 1 is retired; please update."}
  - id: team-blue
    match: {headers: {x-team: blue}, intent: realtime}
    route: {model: gpt-realtime-2.1-mini}
  - id: kiosk
    match: {query: {app: kiosk}, intent: realtime}
    route: {model: gpt-realtime-1.5}
  - id: alias
    match: {model: gpt-realtime-2}
    route: {model: gpt-realtime-2.1, name: premium}
  - id: captions
    match: {intent: transcription}
    route: {model: gpt-realtime-whisper}
  - id: gold-label
    match: {labels: {tier: gold}, intent: realtime}
    route: {model: gpt-realtime-2.1}
  - id: default-tenant
    match: {tenant: default, intent: realtime}
    route: {model: gpt-realtime-2.1-mini, prefer_requested: true}
"""


def _agent_policy(model: str) -> str:
    return f"""version: 1
rules:
  - id: agent-{model.replace('.', '-')}
    match: {{intent: realtime}}
    route: {{model: {model}}}
"""


async def _open(gw: GatewayProcess, **connect: object) -> dict:
    """Open a session with the SDK, return its ``session.created``, close."""
    async with client_for(gw).realtime.connect(**connect) as conn:  # type: ignore[arg-type]
        return await Recorder(conn).until("session.created")


async def _refusal(gw: GatewayProcess, **connect: object) -> tuple[int, dict]:
    """The HTTP status and JSON body of a refused handshake."""
    with pytest.raises(InvalidStatus) as raised:
        async with client_for(gw).realtime.connect(**connect):  # type: ignore[arg-type]
            pass
    response = raised.value.response
    return response.status_code, orjson.loads(response.body)


async def _readyz(gw: GatewayProcess) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{gw.http_url}/readyz")).json()


async def _wait_policy(gw: GatewayProcess, *, version_not: str | None = None, error: bool = False, timeout: float = 5.0) -> dict:
    """Poll ``/readyz`` until the policy version moved (or a reload error is reported)."""
    deadline = time.monotonic() + timeout
    while True:
        policy = (await _readyz(gw))["policy"]
        if (error and policy["last_error"]) or (not error and version_not is not None and policy["version"] != version_not):
            return policy
        if time.monotonic() > deadline:
            raise AssertionError(f"policy did not change in {timeout}s: {policy}")
        await asyncio.sleep(0.1)


async def _turn(conn: object, rec: Recorder) -> dict:
    """One manual turn; returns ``response.done``."""
    await conn.input_audio_buffer.append(audio=b64(speech(300)))  # type: ignore[attr-defined]
    await conn.input_audio_buffer.commit()  # type: ignore[attr-defined]
    await conn.response.create()  # type: ignore[attr-defined]
    return await rec.until("response.done")


async def test_routes_by_intent_header_query_model_and_tenant(
    gateway_factory: GatewayFactory, emulator: object, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Each session lands on the upstream its rule names (intent, header, query, model, tenant, key label); the record names the rule."""
    policy = write_policy(tmp_path / "routing.yaml", ROUTING_POLICY)
    gw = gateway_factory(env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), **store_env(redis_url, redis_prefix)))
    cases: list[tuple[dict, str, str]] = [
        ({"extra_query": {"intent": "transcription"}}, "captions", "transcription"),
        ({"extra_headers": {"X-Voice-Intent": "captions"}}, "captions", "transcription"),
        ({"model": "gpt-realtime-whisper"}, "captions", "transcription"),
        ({"extra_query": {"intent": "agent"}, "extra_headers": {"X-Team": "blue"}}, "team-blue", "gpt-realtime-2.1-mini"),
        ({"extra_query": {"intent": "realtime", "app": "kiosk"}}, "kiosk", "gpt-realtime-1.5"),
        ({"model": "gpt-realtime-1.5"}, "default-tenant", "gpt-realtime-1.5"),  # prefer_requested
        ({"extra_query": {"intent": "voice_agent"}}, "default-tenant", "gpt-realtime-2.1-mini"),
    ]
    gold = create_key(redis_url, redis_prefix, "--tenant", "globex", "--label", "tier=gold")["secret"]
    for index, (connect, rule, upstream) in enumerate(cases):
        created = await _open(gw, **connect)
        seen = emulator.sessions[-1]  # type: ignore[attr-defined]
        if upstream == "transcription":
            assert seen.kind == "transcription" and created["session"]["type"] == "transcription", (connect, seen)
        else:
            assert (seen.kind, seen.model) == ("realtime", upstream), (connect, seen)
        record = session_records(redis_url, redis_prefix, count=index + 1)[index]
        assert record["rule_id"] == rule, (connect, record)
    async with client_for(gw, gold).realtime.connect(extra_query={"intent": "realtime"}) as conn:
        await Recorder(conn).until("session.created")
    assert emulator.sessions[-1].model == "gpt-realtime-2.1"  # type: ignore[attr-defined]
    record = session_records(redis_url, redis_prefix, count=len(cases) + 1)[-1]
    assert (record["rule_id"], record["tenant"]) == ("gold-label", "globex")


async def test_first_session_update_routes_an_undeclared_session(
    gateway_factory: GatewayFactory, emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """No model, no intent: the first session.update with type transcription routes to a transcription upstream."""
    gw = gateway_factory(env=emulator_env(emulator, **store_env(redis_url, redis_prefix)))
    async with client_for(gw).realtime.connect() as conn:
        rec = Recorder(conn)
        await conn.session.update(session={"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": None}}})
        created = await rec.until("session.created")
        assert created["session"]["type"] == "transcription"
        await rec.until("session.updated")
        await conn.input_audio_buffer.append(audio=b64(speech(600)))
        await conn.input_audio_buffer.commit()
        completed = await rec.until("conversation.item.input_audio_transcription.completed")
        assert completed["transcript"]
    assert emulator.sessions[-1].kind == "transcription"  # type: ignore[attr-defined]
    [record] = session_records(redis_url, redis_prefix)
    assert record["rule_id"] == "captions" and record["kind"] == "transcription"


async def test_model_alias_serves_another_model_under_the_requested_name(
    gateway_factory: GatewayFactory, emulator: object, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The client asks gpt-realtime-2 and is served gpt-realtime-2.1, yet its session.created says gpt-realtime-2."""
    policy = write_policy(tmp_path / "routing.yaml", ROUTING_POLICY)
    gw = gateway_factory(env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), **store_env(redis_url, redis_prefix)))
    async with client_for(gw).realtime.connect(model="gpt-realtime-2") as conn:
        rec = Recorder(conn)
        created = await rec.until("session.created")
        assert created["session"]["model"] == "gpt-realtime-2"
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        updated = await rec.until("session.updated")
        assert updated["session"]["model"] == "gpt-realtime-2"
        done = await _turn(conn, rec)
        assert done["response"]["status"] == "completed"
    assert emulator.sessions[-1].model == "gpt-realtime-2.1"  # type: ignore[attr-defined]
    [record] = session_records(redis_url, redis_prefix)
    assert (record["rule_id"], record["route"], record["model_requested"], record["model_routed"]) == (
        "alias", "premium", "gpt-realtime-2", "gpt-realtime-2.1"
    )


async def test_deny_rule_and_unrouted_requests_are_refused_at_the_handshake(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path
) -> None:
    """A deny rule answers 403 with its reason; a session no rule routes gets 403 saying so; no upstream is dialled."""
    policy = write_policy(tmp_path / "routing.yaml", ROUTING_POLICY)
    gw = gateway_factory(env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy)))
    status, body = await _refusal(gw, model="gpt-realtime-2", extra_headers={"X-App-Version": "1.9.3"})
    assert status == 403
    assert body["error"]["code"] == "policy_denied"
    assert body["error"]["message"] == "App version 1 is retired; please update."
    with pytest.raises(InvalidStatus) as raised:  # translation: no rule, no default, no otherwise
        async with client_for(gw).realtime.translations.connect(model="gpt-realtime-translate"):
            pass
    assert raised.value.response.status_code == 403
    unrouted = orjson.loads(raised.value.response.body)["error"]
    assert unrouted["code"] == "policy_denied" and "No routing rule matched" in unrouted["message"]
    status, body = await _refusal(gw, extra_query={"intent": "dictation"})
    assert status == 403 and "Unknown intent 'dictation'" in body["error"]["message"]
    status, body = await _refusal(gw, model="gpt-9-realtime-preview")  # no such model (older names are served)
    assert status == 400 and body["error"]["code"] == "invalid_model" and body["error"]["param"] == "model"
    assert "gpt-realtime-2.1" in body["error"]["message"]
    assert emulator.sessions == []  # type: ignore[attr-defined]


async def test_hot_reload_keeps_live_sessions_on_their_route_and_a_bad_file_changes_nothing(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path
) -> None:
    """A rewritten policy routes new sessions; live ones keep their route; a broken file is reported and ignored."""
    policy = write_policy(tmp_path / "live.yaml", _agent_policy("gpt-realtime-2"))
    gw = gateway_factory(
        env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), VOICE_GATEWAY_POLICY_WATCH_INTERVAL_S="0.2")
    )
    first_version = (await _readyz(gw))["policy"]["version"]
    async with client_for(gw).realtime.connect(extra_query={"intent": "realtime"}) as live:
        live_rec = Recorder(live)
        await live_rec.until("session.created")
        await live.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await live_rec.until("session.updated")
        live_upstream = emulator.sessions[-1]  # type: ignore[attr-defined]
        assert live_upstream.model == "gpt-realtime-2"

        write_policy(policy, _agent_policy("gpt-realtime-2.1"))
        reloaded = await _wait_policy(gw, version_not=first_version)
        assert reloaded["last_error"] is None
        assert (await _turn(live, live_rec))["response"]["status"] == "completed"  # still on its old route
        await _open(gw, extra_query={"intent": "realtime"})
        assert emulator.sessions[-1].model == "gpt-realtime-2.1"  # type: ignore[attr-defined]

        write_policy(policy, "version: 1\nrules:\n  - id: broken\n    match: {intent: realtime}\n    route: {model: no-such-model}\n")
        failed = await _wait_policy(gw, error=True)
        assert failed["version"] == reloaded["version"]
        assert "no-such-model" in failed["last_error"]
        ready = await _readyz(gw)
        assert ready["ready"] is True and ready["live_sessions"] == 1
        assert (await _turn(live, live_rec))["response"]["status"] == "completed"
        await _open(gw, extra_query={"intent": "realtime"})
        assert emulator.sessions[-1].model == "gpt-realtime-2.1"  # type: ignore[attr-defined]
    assert live_upstream.model == "gpt-realtime-2" and live_upstream.responses == 2
    assert [s.model for s in emulator.sessions] == ["gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1"]  # type: ignore[attr-defined]


async def test_sighup_reloads_the_policy_without_waiting_for_the_watcher(
    gateway_factory: GatewayFactory, emulator: object, tmp_path: Path
) -> None:
    """With the file watcher effectively off, SIGHUP makes the gateway pick up the rewritten policy."""
    policy = write_policy(tmp_path / "hup.yaml", _agent_policy("gpt-realtime-2"))
    gw = gateway_factory(
        env=emulator_env(emulator, VOICE_GATEWAY_POLICY_FILES=str(policy), VOICE_GATEWAY_POLICY_WATCH_INTERVAL_S="3600")
    )
    before = (await _readyz(gw))["policy"]["version"]
    write_policy(policy, _agent_policy("gpt-realtime-1.5"))
    await asyncio.sleep(0.3)
    assert (await _readyz(gw))["policy"]["version"] == before
    assert gw.proc is not None
    os.kill(gw.proc.pid, signal.SIGHUP)
    await _wait_policy(gw, version_not=before)
    await _open(gw, extra_query={"intent": "realtime"})
    assert emulator.sessions[-1].model == "gpt-realtime-1.5"  # type: ignore[attr-defined]
    assert gw.proc.poll() is None


def test_routing_decision_time_is_reported_for_the_default_and_a_200_rule_policy() -> None:
    """Prints µs per decision (no timing assertion); the decisions themselves are checked."""
    import timeit

    catalog = load_catalog(REPO / "config" / "models.yaml")
    default = load_policy_files([REPO / "policies" / "default.yaml"], catalog)
    big = compile_sources([PolicySource("<200 rules>", big_policy_text())], catalog)
    agent = SessionRequest(
        endpoint=EndpointKind.REALTIME, path="/v1/realtime", requested_model="gpt-realtime-2",
        headers={"x-team": "blue"}, query={"model": "gpt-realtime-2"}, tenant="acme", key_id="key-1",
        key_labels={"tier": "gold"}, budget_used_ratio=0.3,
    )
    assert decide(default, agent).rule_id == "agent"
    assert decide(big, agent).rule_id == "late-hit"
    n = 2000
    default_us = min(timeit.repeat(lambda: decide(default, agent), number=n, repeat=3)) / n * 1e6
    big_us = min(timeit.repeat(lambda: decide(big, agent), number=n // 10, repeat=3)) / (n // 10) * 1e6
    print(f"\nrouting decision: default policy {default_us:.1f} µs, 200-rule policy (rule 201 hits) {big_us:.1f} µs")
