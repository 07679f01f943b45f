"""Failover across a route's ordered endpoint pool, with circuit breakers and jittered back-off."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping, Protocol

from gateway.core.breaker import CircuitBreaker, backoff_delay
from gateway.core.catalog import Catalog
from gateway.core.errors import UpstreamRefused, UpstreamUnavailable
from gateway.core.kinds import SessionKind
from gateway.core.ports import FrameSocket
from gateway.upstream.errors import ConnectFailed
from gateway.upstream.target import Targets, UpstreamTarget

log = logging.getLogger("voice_gateway.upstream")


class Connector(Protocol):
    name: str

    async def connect(self, target: UpstreamTarget) -> FrameSocket: ...


class UpstreamPool:
    """Connects a session to the first healthy endpoint of its pool."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        connector: Connector,
        credentials: Mapping[str, str],
        clock: Callable[[], float],
        on_failure: Callable[[str, int | None], None] | None = None,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 10.0,
    ) -> None:
        self.catalog = catalog
        self.connector = connector
        self._credentials = credentials
        self.clock = clock
        self.on_failure = on_failure
        self._targets = Targets()
        self._breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(breaker_threshold, breaker_cooldown_s) for name in catalog.endpoints
        }

    def credential(self, endpoint: str) -> str | None:
        """The upstream secret of an endpoint (for the calls API client); never logged."""
        return self._credentials.get(endpoint)

    def breaker(self, endpoint: str) -> CircuitBreaker:
        return self._breakers.setdefault(endpoint, CircuitBreaker())

    async def connect(
        self,
        *,
        endpoints: tuple[str, ...],
        kind: SessionKind,
        model: str,
        client_headers: Mapping[str, str],
        call_id: str | None = None,
    ) -> tuple[FrameSocket, str]:
        """Return a connected socket and the endpoint name; raise a client-safe error if none works."""
        refused = False
        attempt = 0
        for name in endpoints:
            endpoint = self.catalog.endpoints.get(name)
            breaker = self.breaker(name)
            if endpoint is None or not breaker.allow(self.clock()):
                continue
            if attempt:
                await asyncio.sleep(backoff_delay(attempt - 1))
            attempt += 1
            target = self._targets.target(
                endpoint, kind=kind, model=model, credential=self._credentials.get(name), client_headers=client_headers,
                call_id=call_id,
            )
            try:
                sock = await self.connector.connect(target)
            except ConnectFailed as exc:
                breaker.record_failure(self.clock())
                refused |= not exc.retryable
                log.warning("upstream connect failed", extra={"endpoint": name, "status": exc.status})
                if self.on_failure is not None:
                    self.on_failure(name, exc.status)
                continue
            breaker.record_success()
            return sock, name
        raise UpstreamRefused() if refused else UpstreamUnavailable()
