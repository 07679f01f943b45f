"""The upstream pool fails over in order, opens a breaker after repeated failures and probes after the cool-down."""

from __future__ import annotations

import pytest

from gateway.core.catalog import Catalog, UpstreamEndpoint
from gateway.core.errors import UpstreamRefused, UpstreamUnavailable
from gateway.core.kinds import SessionKind
from gateway.core.ports import Closed, Frame
from gateway.upstream.errors import ConnectFailed
from gateway.upstream.pool import UpstreamPool
from gateway.upstream.target import UpstreamTarget


class _Sock:
    async def receive(self) -> Frame | Closed:
        return Closed(1000)

    async def send(self, frame: Frame) -> None:
        return None

    async def close(self, code: int, reason: str) -> None:
        return None


class _Connector:
    """Fails endpoints listed in ``down`` (with ``status``), records every attempt."""

    name = "fake"

    def __init__(self) -> None:
        self.down: dict[str, int | None] = {}
        self.attempts: list[str] = []

    async def connect(self, target: UpstreamTarget) -> _Sock:
        self.attempts.append(target.endpoint)
        if target.endpoint in self.down:
            raise ConnectFailed(target.endpoint, status=self.down[target.endpoint])
        return _Sock()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pool(connector: _Connector, clock: _Clock) -> UpstreamPool:
    endpoints = {n: UpstreamEndpoint(name=n, url=f"wss://{n}.example/v1") for n in ("a", "b")}
    return UpstreamPool(catalog=Catalog(models={}, endpoints=endpoints), connector=connector, credentials={"a": "k", "b": "k"},
                        clock=clock, breaker_threshold=3, breaker_cooldown_s=10.0)


async def _connect(pool: UpstreamPool) -> str:
    _sock, name = await pool.connect(endpoints=("a", "b"), kind=SessionKind.REALTIME, model="m", client_headers={})
    return name


async def test_breaker_opens_after_three_failures_and_half_opens_after_the_cooldown() -> None:
    """a fails thrice → skipped; after 10 s one probe goes to a; a success closes the breaker again."""
    connector, clock = _Connector(), _Clock()
    pool = _pool(connector, clock)
    connector.down["a"] = 503
    assert [await _connect(pool) for _ in range(5)] == ["b"] * 5
    assert connector.attempts.count("a") == 3
    clock.now = 9.9
    await _connect(pool)
    assert connector.attempts.count("a") == 3
    clock.now = 10.5
    del connector.down["a"]
    assert await _connect(pool) == "a"  # the half-open probe succeeds
    assert await _connect(pool) == "a"


async def test_failed_probe_reopens_for_another_cooldown() -> None:
    """A half-open probe that fails re-opens the breaker at once."""
    connector, clock = _Connector(), _Clock()
    pool = _pool(connector, clock)
    connector.down["a"] = None
    for _ in range(3):
        await _connect(pool)
    clock.now = 11.0
    await _connect(pool)
    assert connector.attempts.count("a") == 4
    clock.now = 15.0
    await _connect(pool)
    assert connector.attempts.count("a") == 4


@pytest.mark.parametrize(("status", "error"), [(None, UpstreamUnavailable), (503, UpstreamUnavailable), (401, UpstreamRefused)])
async def test_all_endpoints_failing_gives_a_client_safe_error(status: int | None, error: type[Exception]) -> None:
    """Every endpoint down → 1013 'upstream_unavailable'; a non-retryable refusal → 1014 'upstream_refused'."""
    connector, clock = _Connector(), _Clock()
    connector.down.update({"a": status, "b": status})
    with pytest.raises(error):
        await _connect(_pool(connector, clock))
