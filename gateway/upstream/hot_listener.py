"""picows' listener with the relay's hot path: the compiled one (``hotlisten.pyx``) or its pure-Python twin here.

While a push relay links two sockets under the session core's gate (:class:`gateway.core.hot.HotGate`),
a whole text frame that is a canonical audio event in the usual layout, of a type the gate lets through
in its direction, is relayed by the listener itself: the frame limits of
:meth:`gateway.core.session.SessionCore.admit_client_frame` (client side), the counters, and a write to
the peer socket. Every other frame goes to ``slow_frame``, the socket's own handler (the relay and the
core). :class:`PyHotListener` makes exactly the compiled listener's decisions; it is what runs with
``VOICE_GATEWAY_PURE_PYTHON=1``, without a C compiler at install, or under a picows version other than
the one the compiled listener was built against.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from gateway.core.frames import usual_audio
from gateway.core.hot import CLIENT_CODES, UPSTREAM_CODES, HotGate, PyHotGate
from gateway.core.ports import Closed, PushHandler

log = logging.getLogger("voice_gateway.upstream")

_TEXT: Final = WSMsgType.TEXT
#: event type → the gate's bit for it, per direction
_CLIENT_BITS: Final = {name: 1 << code for code, name in CLIENT_CODES.items()}
_UPSTREAM_BITS: Final = {name: 1 << code for code, name in UPSTREAM_CODES.items()}


class PyHotListener(WSListener):
    """A picows listener that relays hot audio frames alone while linked to a gate and a peer (pure Python)."""

    __slots__ = ("transport", "_closed", "_partial", "_handler", "_seen", "_gate", "_peer", "_upstream_side")

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        #: the socket's close once known (``gateway.core.ports.Closed``), ``None`` while open
        self._closed: Closed | None = None
        #: a fragmented message is being reassembled
        self._partial = False
        #: the push relay's handler (``None``: frames are queued for ``receive``)
        self._handler: PushHandler | None = None
        #: a frame arrived since the keep-alive pinger last looked (:mod:`gateway.upstream.pinger`)
        self._seen = False
        self._gate: PyHotGate | None = None
        self._peer: PyHotListener | None = None
        self._upstream_side = False

    def hot_link(self, gate: object, peer: object, upstream_side: bool) -> bool:
        """Relay hot frames to ``peer`` under ``gate`` (from the upstream when ``upstream_side``); ``None``: stop.
        An exception raised while relaying goes to the attached handler's ``on_failed`` (as the relay's own path's would)."""
        # the compiled gate too: with the compiled core under another picows, this listener runs with it
        if not isinstance(gate, (PyHotGate, HotGate)) or not isinstance(peer, PyHotListener):
            self._gate = self._peer = None
            return False
        self._gate, self._peer, self._upstream_side = gate, peer, upstream_side
        return True

    @property
    def hot_linked(self) -> bool:
        return self._gate is not None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self._seen = True
        if (self._gate is not None and frame.msg_type is _TEXT and frame.fin and not self._partial
                and self._closed is None and self._handler is not None):
            try:
                if self._forward(transport, frame):
                    return
            except Exception as exc:  # a failed write ends the session, as in the relay's path
                self._handler.on_failed(exc)
                return
        self.slow_frame(transport, frame)

    def slow_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        raise NotImplementedError

    def _forward(self, transport: WSTransport, frame: WSFrame) -> bool:
        gate, peer = self._gate, self._peer
        assert gate is not None
        mask = gate.upstream_mask if self._upstream_side else gate.client_mask
        if not mask or peer is None:
            return False
        out = peer.transport
        if out is None or peer._closed is not None or out.is_close_frame_sent or out.is_disconnected:
            return False  # the core's path drops it, as a send to a closed socket does
        payload = frame.get_payload_as_bytes()
        if not payload.isascii():  # the usual layout is ASCII throughout
            return False
        text = payload.decode()
        if not count_relayed_alone(gate, text, len(payload), self._upstream_side, gate.clock()):
            return False
        out.send(_TEXT, payload)
        return True


def count_relayed_alone(gate: PyHotGate | HotGate, text: str, n: int, upstream_side: bool, now: float) -> bool:
    """Whether a whole text frame (``text``, ``n`` bytes) is the listener's to relay alone, counted as relayed when
    it is: a canonical audio event of a type ``gate`` lets through in its direction, within the client side's frame
    limits (those of ``SessionCore.admit_client_frame``). ``False``: it takes the relay's path, nothing counted."""
    mask = gate.upstream_mask if upstream_side else gate.client_mask
    usual = usual_audio(text, upstream_side)
    if usual is None or usual[1] <= 0 or not mask & (_UPSTREAM_BITS if upstream_side else _CLIENT_BITS)[usual[0]]:
        return False
    audio = usual[1]
    stats = gate.stats
    if upstream_side:
        stats.frames_from_upstream += 1
        stats.bytes_from_upstream += n
        stats.last_activity_at = now
        stats.audio_out_bytes += audio
        stats.audio_out_bytes_since_usage += audio
        gate.pending_out_bytes += audio
        gate.upstream_at = now
    else:
        window, count = gate.rate_window, gate.rate_count
        if now - window >= 1.0:
            window, count = now, 0
        count += 1
        if count > gate.max_frames_per_second or n > gate.max_message_bytes:
            return False  # the core refuses it
        gate.rate_window, gate.rate_count = window, count
        stats.frames_from_client += 1
        stats.bytes_from_client += n
        stats.last_activity_at = now
        stats.audio_in_bytes += audio
        stats.audio_in_bytes_since_usage += audio
    gate.relayed_alone += 1
    return True


def _compiled() -> type[PyHotListener] | None:
    """The compiled listener, unless absent, ``VOICE_GATEWAY_PURE_PYTHON`` is set, the core's compiled gate is not in
    use, or picows is not the version it was built against (its C layout)."""
    from gateway.core.hot import COMPILED

    if COMPILED is None or os.environ.get("VOICE_GATEWAY_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from gateway.upstream import hotlisten  # built at install when a compiler is there
    except ImportError:
        return None
    if hotlisten.BUILT_WITH_PICOWS != picows.__version__:
        log.warning("compiled hot path built for picows %s, running %s: using the pure-Python one",
                    hotlisten.BUILT_WITH_PICOWS, picows.__version__)
        return None
    listener: type[PyHotListener] = hotlisten.HotListener
    return listener


#: the compiled listener when built (and the compiled gate in use), else the pure-Python twin
LISTENER_COMPILED: Final = _compiled()

if TYPE_CHECKING:
    HotListener = PyHotListener
else:
    HotListener = LISTENER_COMPILED or PyHotListener
