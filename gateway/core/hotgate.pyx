# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`gateway.core.hot`: the session's hot counters, the core's fast-path gate, and the usual-layout
proof of :func:`gateway.core.frames.usual_audio` on a frame's raw bytes.

Same behaviour as the pure-Python classes (the unit tests compare both); the compiled listener
(``gateway/upstream/hotlisten.pyx``) reads and writes these fields in C.
"""

import time

from libc.time cimport timespec

cdef extern from "b64_alphabet.h" nogil:
    bint vg_b64_alphabet(const unsigned char* p, Py_ssize_t n)

cdef extern from "<time.h>" nogil:
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC


cdef class HotCounters:
    """The counters the hot path updates (the base of :class:`gateway.core.observers.SessionStats`)."""

    def __init__(self, *args, **kwargs) -> None:
        pass


cdef class HotGate:
    """What the core lets the compiled listener do alone, and the frame-limit state it shares with it."""

    def __init__(self, stats: HotCounters, now: float, max_frames_per_second: int, max_message_bytes: int) -> None:
        self.client_mask = 0
        self.upstream_mask = 0
        self.rate_window = now
        self.rate_count = 0
        self.max_frames_per_second = max_frames_per_second
        self.max_message_bytes = max_message_bytes
        self.pending_out_bytes = 0
        self.upstream_at = -1e18
        self.relayed_alone = 0
        self.stats = stats
        self.clock = time.monotonic
        self._native_clock = True

    def use_clock(self, clock) -> None:
        """The relay's clock; ``time.monotonic`` is read in C (the same ``CLOCK_MONOTONIC``)."""
        self.clock = clock
        self._native_clock = clock is time.monotonic

    cdef double now(self) except? -1.0:
        cdef timespec ts
        if self._native_clock:
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9
        return self.clock()


cdef unsigned char _IDC[256]


cdef void _init() noexcept:
    cdef int c
    for c in range(256):
        _IDC[c] = (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or (c >= 48 and c <= 57) or c == 95 or c == 45


_init()


cdef inline Py_ssize_t _lit(const unsigned char* p, Py_ssize_t n, Py_ssize_t i, const char* s) noexcept nogil:
    """``i`` past the literal ``s`` when the frame has it at ``i``, else -1."""
    cdef Py_ssize_t k = 0
    if i < 0:
        return -1
    while s[k]:
        if i + k >= n or p[i + k] != <unsigned char>s[k]:
            return -1
        k += 1
    return i + k


cdef inline Py_ssize_t _sp(const unsigned char* p, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """An optional single space (the regular expression's `` ?``)."""
    if i >= 0 and i < n and p[i] == 32:
        return i + 1
    return i


cdef inline Py_ssize_t _key(const unsigned char* p, Py_ssize_t n, Py_ssize_t i, const char* key) noexcept nogil:
    """``"key":`` and an optional space."""
    if i < 0:
        return -1
    return _sp(p, n, _lit(p, n, i, key))


cdef inline Py_ssize_t _sep(const unsigned char* p, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """``,`` and an optional space."""
    if i < 0 or i >= n or p[i] != 44:
        return -1
    return _sp(p, n, i + 1)


cdef inline Py_ssize_t _id(const unsigned char* p, Py_ssize_t n, Py_ssize_t i, bint client) noexcept nogil:
    """``"[A-Za-z0-9_-]{1,128}"`` (a client's id not starting ``gw_``)."""
    cdef Py_ssize_t k
    if i < 0 or i >= n or p[i] != 34:
        return -1
    i += 1
    if client and i + 3 <= n and p[i] == 103 and p[i + 1] == 119 and p[i + 2] == 95:  # gw_
        return -1
    k = 0
    while i + k < n and _IDC[p[i + k]]:
        k += 1
    if k < 1 or k > 128 or i + k >= n or p[i + k] != 34:
        return -1
    return i + k + 1


cdef inline Py_ssize_t _uint(const unsigned char* p, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """``0|[1-9][0-9]{0,9}`` (a separator must follow, so the longest run decides)."""
    cdef Py_ssize_t k = 0
    if i < 0 or i >= n:
        return -1
    if p[i] == 48:
        return i + 1
    while i + k < n and p[i + k] >= 48 and p[i + k] <= 57 and k < 10:
        k += 1
    if k == 0:
        return -1
    return i + k


cdef inline Py_ssize_t _b64(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Decoded size of strict, padded base64 ``p[:n]``, else -1."""
    cdef Py_ssize_t body = n, i
    if n % 4:
        return -1
    if body and p[body - 1] == 61:
        body -= 1
        if body and p[body - 1] == 61:
            body -= 1
    if not vg_b64_alphabet(p, body):
        return -1
    return n // 4 * 3 - (n - body)


cdef Py_ssize_t usual_audio(const unsigned char* p, Py_ssize_t n, bint upstream, int* code) noexcept nogil:
    """Decoded audio bytes of a frame in the usual layout (see :func:`gateway.core.frames.usual_audio`), else -1;
    ``code``: which hot type (1: ``input_audio_buffer.append`` / ``response.output_audio.delta``, 2: their
    ``session.`` twins)."""
    cdef Py_ssize_t i = _lit(p, n, 0, b'{"type":')
    cdef Py_ssize_t j
    i = _sp(p, n, i)
    if i < 0 or i >= n or p[i] != 34:
        return -1
    i += 1
    if not upstream:
        code[0] = 1
        j = _lit(p, n, i, b"session.")
        if j >= 0:
            code[0] = 2
            i = j
        i = _sep(p, n, _lit(p, n, i, b'input_audio_buffer.append"'))
        if i < 0:
            return -1
        j = _lit(p, n, i, b'"event_id":')
        if j >= 0:
            i = _sep(p, n, _id(p, n, _sp(p, n, j), True))
        i = _key(p, n, i, b'"audio":')
    else:
        j = _lit(p, n, i, b'response.output_audio.delta"')
        if j >= 0:
            code[0] = 1
            i = _sep(p, n, j)
            i = _sep(p, n, _id(p, n, _key(p, n, i, b'"event_id":'), False))
            i = _sep(p, n, _id(p, n, _key(p, n, i, b'"response_id":'), False))
            i = _sep(p, n, _id(p, n, _key(p, n, i, b'"item_id":'), False))
            i = _sep(p, n, _uint(p, n, _key(p, n, i, b'"output_index":')))
            i = _sep(p, n, _uint(p, n, _key(p, n, i, b'"content_index":')))
        else:
            code[0] = 2
            i = _sep(p, n, _lit(p, n, i, b'session.output_audio.delta"'))
            i = _sep(p, n, _id(p, n, _key(p, n, i, b'"event_id":'), False))
        i = _key(p, n, i, b'"delta":')
    if i < 0 or i >= n or p[i] != 34:
        return -1
    i += 1
    # the audio runs to the closing '"}' at the very end
    if i > n - 2 or p[n - 2] != 34 or p[n - 1] != 125:
        return -1
    return _b64(p + i, n - 2 - i)


def usual_audio_bytes(bytes frame, bint upstream):
    """``(type code, decoded audio bytes)`` of a frame in the usual layout, else ``None`` (for tests)."""
    cdef int code = 0
    cdef Py_ssize_t audio = usual_audio(<const unsigned char*>frame, len(frame), upstream, &code)
    return None if audio < 0 else (code, audio)
