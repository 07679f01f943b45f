"""Socket ports: the protocol checks decided once per class."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core.ports import (
    ClientSideBridge,
    Closed,
    Frame,
    HotSocket,
    PushHandler,
    PushSocket,
    conforms,
    is_client_side_bridge,
    is_hot_socket,
    is_push_socket,
)


class _Bridge:
    def issue_event_ids_with(self, issue: Callable[[str], str]) -> None:
        self.issue = issue


class _Push:
    def attach(self, handler: PushHandler) -> None: ...

    def send_now(self, frame: Frame) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _Hot(_Push):
    def hot_link(self, gate: object, peer: object, upstream_side: bool) -> bool:
        return False


class _Plain:
    pass


def test_conforms_answers_as_isinstance_does() -> None:
    """For conforming and non-conforming classes the answer is isinstance's, asked again or not."""
    for obj in (_Bridge(), _Push(), _Hot(), _Plain(), _Bridge(), _Hot(), _Plain()):
        for protocol in (ClientSideBridge, PushSocket, HotSocket):
            assert conforms(obj, protocol) is isinstance(obj, protocol)
    assert is_client_side_bridge(_Bridge()) and not is_client_side_bridge(_Push())
    assert is_push_socket(_Push()) and not is_push_socket(_Bridge()) and not is_push_socket(_Plain())
    assert is_hot_socket(_Hot()) and not is_hot_socket(_Push())
