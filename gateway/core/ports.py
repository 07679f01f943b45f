"""What the relay needs of a socket; the inbound and upstream adapters implement these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeGuard, runtime_checkable

Frame = bytes | str


@dataclass(frozen=True, slots=True)
class Closed:
    """The peer closed (or vanished); ``code`` 1006 means no close frame arrived."""

    code: int
    reason: str = ""


class FrameSocket(Protocol):
    """A message-oriented socket: whole frames in and out."""

    async def receive(self) -> Frame | Closed: ...

    async def send(self, frame: Frame) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class PushHandler(Protocol):
    """What a push socket calls once attached (one object, not four callbacks: an idle session holds one per socket)."""

    def on_frame(self, frame: Frame) -> None: ...

    def on_closed(self, closed: Closed) -> None: ...

    def on_writable(self, writable: bool) -> None: ...

    def on_failed(self, exc: Exception) -> None:
        """An exception raised while a hot listener relayed a frame alone (a failed write): it ends the session."""


@runtime_checkable
class PushSocket(Protocol):
    """Optional: a socket that delivers frames by callback, so the relay forwards without waking a task."""

    def attach(self, handler: PushHandler) -> None: ...

    def send_now(self, frame: Frame) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


@runtime_checkable
class HotSocket(Protocol):
    """Optional: a push socket whose listener relays hot audio frames to a peer alone while the session core's gate
    (:class:`gateway.core.hot.HotGate`) lets it (:mod:`gateway.upstream.hot_listener`)."""

    def hot_link(self, gate: object, peer: object, upstream_side: bool) -> bool:
        """Relay hot frames to ``peer`` under ``gate`` (``None``: stop); a failure there goes to the attached
        handler's ``on_failed``."""


@runtime_checkable
class ClientSideBridge(Protocol):
    """Optional: a client socket that also sends events upstream in the client's place (the WebRTC bridge's
    truncate when it cuts its playout). It takes their ids from the session core, which knows them by
    exactly those ids (:mod:`gateway.core.event_ids`); every other ``gw_`` id from the client is refused."""

    def issue_event_ids_with(self, issue: Callable[[str], str]) -> None: ...


#: (class, protocol) → whether the class's instances conform; a handful of socket classes
_CONFORMING: dict[tuple[type, type], bool] = {}


def conforms(obj: object, protocol: type) -> bool:
    """``isinstance(obj, protocol)`` for a runtime-checkable protocol, decided once per class.

    typing's check walks the protocol's members on every call (25–75 µs on 3.11: three to five per session set-up);
    every socket class here defines the protocols' methods on the class, so the class decides.
    """
    key = (type(obj), protocol)
    known = _CONFORMING.get(key)
    if known is None:
        known = _CONFORMING[key] = isinstance(obj, protocol)
    return known


def is_client_side_bridge(sock: object) -> TypeGuard[ClientSideBridge]:
    """Whether ``sock`` is a :class:`ClientSideBridge` (decided once per class)."""
    return conforms(sock, ClientSideBridge)


def is_push_socket(sock: object) -> TypeGuard[PushSocket]:
    """Whether ``sock`` is a :class:`PushSocket` (decided once per class)."""
    return conforms(sock, PushSocket)


def is_hot_socket(sock: object) -> TypeGuard[HotSocket]:
    """Whether ``sock`` is a :class:`HotSocket` (decided once per class)."""
    return conforms(sock, HotSocket)
