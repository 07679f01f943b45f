# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :func:`gateway.core.frames.b64_span_len` (the audio check on the hot path).

Same answer as the pure-Python version for every input (the unit tests compare both on arbitrary
text): strict, padded base64 — the alphabet ``A–Z a–z 0–9 + /``, at most two ``=`` at the end,
length a multiple of 4, ASCII only — read in place in the frame, without slicing or encoding it.
"""

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

cdef unsigned char _ALPHABET[256]


cdef void _init() noexcept:
    cdef int c
    for c in range(256):
        _ALPHABET[c] = (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or (c >= 48 and c <= 57) or c == 43 or c == 47


_init()


def b64_span_len(str text, Py_ssize_t start, Py_ssize_t end):
    """Decoded size of ``text[start:end]`` as strict, padded base64; ``None`` when it is not."""
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    if start < 0 or end > size or end < start:
        return None
    cdef Py_ssize_t n = end - start
    if n % 4:
        return None
    if not PyUnicode_IS_ASCII(text):  # rare: read the span on its own (an ASCII span is still valid)
        span = text[start:end]
        return b64_span_len(span, 0, n) if span.isascii() else None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(text) + start
    cdef Py_ssize_t body = n
    if body and p[body - 1] == 61:  # '='
        body -= 1
        if body and p[body - 1] == 61:
            body -= 1
    cdef Py_ssize_t i
    for i in range(body):
        if not _ALPHABET[p[i]]:
            return None
    return n // 4 * 3 - (n - body)
