"""The framework's own HTTP refusals (unknown path, wrong method, failed validation) come in OpenAI's error shape."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.inbound.http_errors import install_http_errors


def _app() -> FastAPI:
    app = FastAPI()
    install_http_errors(app)

    @app.get("/items/{item_id}")
    async def item(item_id: int, count: int = 1) -> dict[str, int]:
        return {"item_id": item_id, "count": count}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
        yield client


async def test_an_unknown_path_is_a_404_with_an_openai_error_body(http: httpx.AsyncClient) -> None:
    """A path no route serves answers 404 with ``error.code`` ``not_found`` naming the method and path."""
    answer = await http.post("/v1/realtime/calls/rtc_1/nothing")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "not_found"
    assert "POST /v1/realtime/calls/rtc_1/nothing" in error["message"]


async def test_a_wrong_method_is_a_405_with_allow_and_an_openai_error_body(http: httpx.AsyncClient) -> None:
    """A known path with another method answers 405, keeps the ``Allow`` header, and says which method."""
    answer = await http.delete("/items/1")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert answer.json()["error"]["code"] == "method_not_allowed"


async def test_a_parameter_that_fails_validation_is_a_422_naming_the_parameter(http: httpx.AsyncClient) -> None:
    """A query parameter of the wrong type answers 422 with the parameter in ``error.param``."""
    answer = await http.get("/items/1?count=many")
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "count"


async def test_a_very_long_path_is_not_echoed_whole(http: httpx.AsyncClient) -> None:
    """The message quotes at most 200 characters of the path (no unbounded echo of client input)."""
    answer = await http.get("/" + "a" * 5000)
    assert answer.status_code == 404 and len(answer.json()["error"]["message"]) < 300
