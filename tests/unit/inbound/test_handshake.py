"""The one handshake service: auth-failure limiting, refusals recorded once, key-only calls for client secrets."""

from __future__ import annotations

import pytest

from gateway.core.errors import AuthenticationFailed, Forbidden, GatewayError, PolicyDenied, RateLimited
from gateway.core.kinds import EndpointKind
from gateway.core.ratelimit import LocalFailureLimiter
from gateway.inbound.handshake import AuthFailureGuard, HandshakeService
from gateway.inbound.setup import Handshake
from tests.support.services import KEY, StubInbound

ADDRESS = "203.0.113.9"


def _handshake(key: str | None, address: str = ADDRESS, endpoint: EndpointKind = EndpointKind.REALTIME) -> Handshake:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return Handshake(endpoint=endpoint, path="/v1/realtime", headers=headers, query={}, client_address=address)


def _service(inbound: StubInbound | None = None, max_failures: int = 3) -> tuple[HandshakeService, list[tuple[str, str]]]:
    refused: list[tuple[str, str]] = []

    def hook(error: GatewayError, endpoint: EndpointKind) -> None:
        refused.append((error.code, endpoint.value))

    guard = AuthFailureGuard(LocalFailureLimiter(max_failures=max_failures, window_s=60.0), lambda: 100.0)
    return HandshakeService(inbound or StubInbound(), guard, hook), refused  # type: ignore[arg-type]


async def test_failed_authentications_block_the_address_even_for_a_good_key() -> None:
    """Three wrong keys from one address, then a good key from it is refused 429 before authentication; each refusal is
    reported once to the refusal hook."""
    service, refused = _service()
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await service.open_session(_handshake("wrong"))
    with pytest.raises(RateLimited):
        await service.open_session(_handshake(KEY))
    assert refused == [("invalid_api_key", "realtime")] * 3 + [("rate_limit_exceeded", "realtime")]


async def test_other_addresses_and_other_refusals_do_not_count() -> None:
    """A denied route (403) is a refusal but not an auth failure; another address is never blocked by this one."""
    service, refused = _service(StubInbound(deny=True), max_failures=1)
    for _ in range(3):
        with pytest.raises(PolicyDenied):
            await service.open_session(_handshake(KEY))
    with pytest.raises(AuthenticationFailed):
        await service.open_session(_handshake("wrong", address="198.51.100.1"))
    with pytest.raises(PolicyDenied):
        await service.open_session(_handshake(KEY))
    with pytest.raises(RateLimited):
        await service.open_session(_handshake(KEY, address="198.51.100.1"))
    assert [code for code, _ in refused] == ["policy_denied"] * 3 + ["invalid_api_key", "policy_denied", "rate_limit_exceeded"]


async def test_minting_key_accepts_only_a_long_lived_key_and_counts_failures() -> None:
    """Client-secret endpoints: the bearer must be a gateway key; ``ek_`` secrets are 403, a wrong key 401 (counted)."""
    service, refused = _service(max_failures=1)
    assert (await service.minting_key({"authorization": f"Bearer {KEY}"}, ADDRESS, EndpointKind.REALTIME)).key_id
    with pytest.raises(Forbidden):
        await service.minting_key({"authorization": "Bearer ek_abc"}, ADDRESS, EndpointKind.REALTIME)
    with pytest.raises(AuthenticationFailed) as missing:
        await service.minting_key({}, ADDRESS, EndpointKind.REALTIME)
    await service.refused(missing.value, EndpointKind.REALTIME, ADDRESS, "/v1/realtime/client_secrets")
    with pytest.raises(RateLimited):
        await service.minting_key({"authorization": f"Bearer {KEY}"}, ADDRESS, EndpointKind.REALTIME)
    assert refused == [("invalid_api_key", "realtime")]


async def test_a_failing_refusal_hook_does_not_change_the_answer() -> None:
    """The metric hook raising is logged; the client still gets its own refusal."""

    def broken(error: GatewayError, endpoint: EndpointKind) -> None:
        raise RuntimeError("metrics down")

    guard = AuthFailureGuard(LocalFailureLimiter(), lambda: 0.0)
    service = HandshakeService(StubInbound(), guard, broken)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationFailed):
        await service.open_session(_handshake("wrong"))
