"""Upstream connectors by name, resolved once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gateway.upstream.picows_connector import PicowsConnector
from gateway.upstream.pool import Connector
from gateway.upstream.websocket import WebsocketsConnector


@dataclass(frozen=True, slots=True)
class ConnectorOptions:
    max_message_bytes: int
    ping_interval_s: float
    ping_timeout_s: float


def _websockets(options: ConnectorOptions) -> Connector:
    return WebsocketsConnector(
        max_message_bytes=options.max_message_bytes,
        ping_interval_s=options.ping_interval_s,
        ping_timeout_s=options.ping_timeout_s,
    )


def _picows(options: ConnectorOptions) -> Connector:
    return PicowsConnector(
        max_message_bytes=options.max_message_bytes,
        ping_interval_s=options.ping_interval_s,
        ping_timeout_s=options.ping_timeout_s,
    )


CONNECTORS: dict[str, Callable[[ConnectorOptions], Connector]] = {"picows": _picows, "websockets": _websockets}


def create_connector(name: str, options: ConnectorOptions) -> Connector:
    try:
        factory = CONNECTORS[name]
    except KeyError:
        raise ValueError(f"unknown upstream connector {name!r}; known: {', '.join(sorted(CONNECTORS))}") from None
    return factory(options)
