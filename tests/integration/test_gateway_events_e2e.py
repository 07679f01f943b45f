"""The gateway-notice switch end to end: a real gateway, the official SDK, the emulator, a real Redis.

A client that says ``gateway_events=off`` at the handshake gets no ``gateway.*`` event, yet the cost
cap still cuts its session with the OpenAI-shaped ``error``; a bad value is refused with HTTP 400.
"""

from __future__ import annotations

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import GatewayFactory, GatewayProcess, emulator_env
from tests.integration.test_caps_e2e import (  # noqa: F401 - long_reply_emulator is a fixture
    Recorder,
    ask_for_a_long_reply,
    ask_until_cut,
    check_cut_off,
    client_for,
    long_reply_emulator,
    store_env,
)


async def test_an_opted_out_session_gets_no_gateway_event_but_the_cap_still_cuts(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """?gateway_events=off on a $0.002 cap: no gateway.cap_warning (nor any gateway.*), still error session_cost_cap_reached + 4100."""
    env = emulator_env(long_reply_emulator, VOICE_GATEWAY_MAX_SESSION_USD="0.002", **store_env(redis_url, redis_prefix))
    gw = gateway_factory(env=env)
    async with client_for(gw).realtime.connect(model="gpt-realtime-2", extra_query={"gateway_events": "off"}) as conn:
        rec = Recorder(conn)
        await ask_for_a_long_reply(conn, rec)
        closed = await ask_until_cut(conn, rec)
    check_cut_off(rec, closed, code="session_cost_cap_reached", close_code=4100, warn=None)
    assert [t for t in rec.types() if t.startswith("gateway.")] == []
    assert rec.types().count("response.done") >= 1


async def test_a_session_without_the_opt_out_still_gets_the_cap_warning(
    gateway_factory: GatewayFactory, long_reply_emulator: object, redis_url: str, redis_prefix: str
) -> None:
    """The same cap with the header set to on: the gateway.cap_warning arrives before the error (the default is unchanged)."""
    env = emulator_env(long_reply_emulator, VOICE_GATEWAY_MAX_SESSION_USD="0.002", **store_env(redis_url, redis_prefix))
    gw = gateway_factory(env=env)
    connect = client_for(gw).realtime.connect(model="gpt-realtime-2", extra_headers={"X-Voice-Gateway-Events": "on"})
    async with connect as conn:
        rec = Recorder(conn)
        await ask_for_a_long_reply(conn, rec)
        closed = await ask_until_cut(conn, rec)
    check_cut_off(rec, closed, code="session_cost_cap_reached", close_code=4100, warn="cost")


@pytest.mark.parametrize(
    ("path", "headers", "param"),
    [
        ("/v1/realtime?model=gpt-realtime-2&gateway_events=maybe", {}, "gateway_events"),
        ("/v1/realtime?model=gpt-realtime-2", {"X-Voice-Gateway-Events": "false"}, "x-voice-gateway-events"),
    ],
)
async def test_a_bad_gateway_events_value_is_refused_at_the_handshake(
    gateway: GatewayProcess, path: str, headers: dict[str, str], param: str
) -> None:
    """A value other than on/off in the query or the header: HTTP 400 with an OpenAI-shaped body naming it."""
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(
            f"ws://127.0.0.1:{gateway.port}{path}", additional_headers={"Authorization": f"Bearer {gateway.key}", **headers}
        ):
            pass
    response = info.value.response
    body = orjson.loads(response.body)
    assert response.status_code == 400, body
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param
