# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :class:`gateway.upstream.hot_listener.PyHotListener`: picows' listener, with the hot path in C.

For a whole text frame, while the session core's gate (:class:`gateway.core.hot.HotGate`) lets this
direction forward the frame's hot type alone, picows' frame callback here proves the frame is a canonical
audio event in the usual layout (``usual_audio`` on the raw bytes: the same proof as
:func:`gateway.core.frames.usual_audio`), applies the client frame limits (rate, size), updates the
session's counters and writes the frame to the peer socket — in place, over the received frame's own
header (``send_reuse_external_buffer``: no copy; picows masks in place towards the upstream) — without
entering the interpreter. Anything else (and any frame the limits would refuse) goes to
``slow_frame``, the socket's Python handler, exactly as before.
"""

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

from gateway.core.hotgate cimport HotCounters, HotGate, usual_audio

cdef extern from *:
    """
    #ifndef PICOWS_VERSION
    #define PICOWS_VERSION "unknown"
    #endif
    """
    const char* PICOWS_VERSION


#: the picows version this module was compiled against (its C layout); the loader refuses another
BUILT_WITH_PICOWS = PICOWS_VERSION.decode()


cdef class HotListener(WSListener):
    """A picows listener that relays hot audio frames alone while linked to a gate and a peer."""

    #: picows' transport once connected (any object in tests: the fast path then stays off)
    cdef public object transport
    #: the socket's close once known (``gateway.core.ports.Closed``), ``None`` while open
    cdef public object _closed
    #: a fragmented message is being reassembled
    cdef public bint _partial
    #: the push relay's handler (``gateway.core.ports.PushHandler``; ``None``: frames are queued for ``receive``)
    cdef public object _handler
    #: a frame arrived since the keep-alive pinger last looked (``gateway.upstream.pinger``)
    cdef public bint _seen
    cdef HotGate _gate
    cdef HotListener _peer
    cdef bint _upstream_side

    def hot_link(self, gate, peer, bint upstream_side):
        """Relay hot frames to ``peer`` under ``gate`` (from the upstream when ``upstream_side``); ``None``: stop.
        An exception raised while relaying goes to the attached handler's ``on_failed`` (as the relay's own path's would)."""
        if gate is None or peer is None or not isinstance(gate, HotGate) or not isinstance(peer, HotListener):
            self._gate, self._peer = None, None
            return False
        self._gate, self._peer, self._upstream_side = gate, peer, upstream_side
        return True

    @property
    def hot_linked(self):
        return self._gate is not None

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        self._seen = True
        if (self._gate is not None and frame.msg_type == WSMsgType.TEXT and frame.fin and not self._partial
                and self._closed is None and self._handler is not None):
            try:
                if self._forward(transport, frame):
                    return
            except Exception as exc:  # a failed write ends the session, as in the relay's path
                self._handler.on_failed(exc)
                return
        self.slow_frame(transport, frame)

    cdef bint _forward(self, WSTransport transport, WSFrame frame) except -1:
        cdef HotGate gate = self._gate
        cdef HotListener peer = self._peer
        cdef int mask = gate.upstream_mask if self._upstream_side else gate.client_mask
        cdef int code = 0
        cdef Py_ssize_t n = frame.payload_size
        cdef Py_ssize_t audio
        cdef WSTransport out
        cdef HotCounters stats
        cdef double now, window
        cdef long long count
        if mask == 0 or peer is None:
            return False
        if not isinstance(peer.transport, WSTransport):
            return False
        out = <WSTransport>peer.transport
        if peer._closed is not None or out.is_close_frame_sent or out.is_disconnected:
            return False  # the core's path drops it, as a send to a closed socket does
        if out.is_client_side and transport.is_client_side:
            return False  # the new header (masked) would not fit where the received one (unmasked) was
        audio = usual_audio(<const unsigned char*>frame.payload_ptr, n, self._upstream_side, &code)
        if audio <= 0 or not (mask & (1 << code)):
            return False
        now = gate.now()
        stats = gate.stats
        if self._upstream_side:
            stats.frames_from_upstream += 1
            stats.bytes_from_upstream += n
            stats.last_activity_at = now
            stats.audio_out_bytes += audio
            stats.audio_out_bytes_since_usage += audio
            gate.pending_out_bytes += audio
            gate.upstream_at = now
        else:
            # the frame limits of SessionCore.admit_client_frame; a frame they refuse goes to the core, which refuses it
            window, count = gate.rate_window, gate.rate_count
            if now - window >= 1.0:
                window, count = now, 0
            count += 1
            if count > gate.max_frames_per_second or n > gate.max_message_bytes:
                return False
            gate.rate_window, gate.rate_count = window, count
            stats.frames_from_client += 1
            stats.bytes_from_client += n
            stats.last_activity_at = now
            stats.audio_in_bytes += audio
            stats.audio_in_bytes_since_usage += audio
        gate.relayed_alone += 1
        out.send_reuse_external_buffer(WSMsgType.TEXT, frame.payload_ptr, n)
        return True
