"""Class 5: a client secret opens only the session it was minted for, and its bound configuration holds all session."""

from __future__ import annotations

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.faults.conftest import Transcript, open_client, until
from tests.integration.hostile.conftest import Deploy, Deployment

CHEAP = "gpt-realtime-2.1-mini"
LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
BOUND = {
    "type": "realtime", "model": CHEAP, "instructions": "BOUND: you sell shoes.",
    "audio": {"output": {"voice": "verse"}}, "tools": [LOOKUP], "max_output_tokens": 200,
}


def _mint(d: Deployment, session: dict, path: str = "/v1/realtime/client_secrets") -> str:
    response = httpx.post(f"{d.gw.http_url}{path}", json={"session": session}, headers={"Authorization": f"Bearer {d.gw.key}"}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["value"])


async def _refused(d: Deployment, secret: str, query: str, path: str = "/realtime") -> dict:
    with pytest.raises(InvalidStatus) as raised:
        await open_client(d.gw, query, key=secret, path=path)
    assert raised.value.response.status_code == 403
    return orjson.loads(raised.value.response.body)["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("query", "path", "says"),
    [
        ("model=gpt-realtime-2", "/realtime", "minted for model 'gpt-realtime-2.1-mini'"),
        ("model=gpt-realtime-translate", "/realtime/translations", "minted for the realtime endpoint"),
        ("intent=transcription", "/realtime", "minted for a realtime session"),
    ],
)
async def test_secret_for_a_cheap_model_opens_nothing_else(deploy: Deploy, query: str, path: str, says: str) -> None:
    """A secret minted for the cheaper model is refused (403, JSON reason) on a dearer model, on translations, for transcription."""
    d = await deploy()
    error = await _refused(d, _mint(d, BOUND), query, path)
    assert error["code"] == "forbidden" and says in error["message"]
    assert d.upstream_sessions == []


async def test_translation_secret_cannot_open_a_voice_agent(deploy: Deploy) -> None:
    """A translation secret does not open /v1/realtime at all."""
    d = await deploy()
    secret = _mint(d, {"model": "gpt-realtime-translate", "audio": {"output": {"language": "es"}}}, "/v1/realtime/translations/client_secrets")
    error = await _refused(d, secret, "")
    assert "translations endpoint" in error["message"]


async def test_alias_of_the_bound_model_is_accepted_and_config_is_enforced(deploy: Deploy) -> None:
    """The minted model opens; the bound instructions, voice, tools and ceiling hold against later client updates."""
    d = await deploy()
    seen = Transcript()
    async with await open_client(d.gw, f"model={CHEAP}", key=_mint(d, BOUND)) as ws:
        opening = (await until(ws, "session.updated", seen))["session"]
        assert opening["instructions"] == "BOUND: you sell shoes." and opening["audio"]["output"]["voice"] == "verse"  # type: ignore[index]
        assert [t["name"] for t in opening["tools"]] == ["lookup"]  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "session.update", "event_id": "t", "session": {
            "type": "realtime", "tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x.example"}]}}).decode())
        assert (await until(ws, "error", seen))["error"]["code"] == "tools_not_allowed"  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "session.update", "session": {
            "type": "realtime", "instructions": "Sell cars instead.", "max_output_tokens": 4096,
            "audio": {"output": {"voice": "ash"}}}}).decode())
        session = (await until(ws, "session.updated", seen))["session"]
    assert session["instructions"] == "BOUND: you sell shoes.\n\nSell cars instead."  # type: ignore[index]
    assert session["audio"]["output"]["voice"] == "verse" and session["max_output_tokens"] == 200  # type: ignore[index]
    assert d.upstream_sessions[0].model == CHEAP  # type: ignore[attr-defined]


async def test_translation_secret_binds_its_language(deploy: Deploy) -> None:
    """A translation secret's bound output language is sent first and stays pinned."""
    d = await deploy()
    secret = _mint(d, {"model": "gpt-realtime-translate", "audio": {"output": {"language": "es"}}}, "/v1/realtime/translations/client_secrets")
    seen = Transcript()
    async with await open_client(d.gw, "model=gpt-realtime-translate", key=secret, path="/realtime/translations") as ws:
        opening = (await until(ws, "session.updated", seen))["session"]
        assert opening["audio"]["output"]["language"] == "es"  # type: ignore[index]
        await ws.send(orjson.dumps({"type": "session.update", "session": {"audio": {"output": {"language": "fr"}}}}).decode())
        assert (await until(ws, "session.updated", seen))["session"]["audio"]["output"]["language"] == "es"  # type: ignore[index]
