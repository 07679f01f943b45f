"""Reassembly of a fragmented WebSocket message (pure: payload chunks in, a whole frame or a refusal out).

Socket libraries hand over each fragment; a message is delivered whole once its last fragment
arrives. A message over the size limit, or a text message that is not UTF-8, is refused with the
close the peer must get (1009 or 1007).
"""

from __future__ import annotations

from typing import Final

from gateway.core.ports import Closed, Frame

#: close codes of RFC 6455
INVALID_PAYLOAD: Final = 1007
TOO_BIG: Final = 1009


class MessageAssembler:
    """Collects the fragments of one message at a time."""

    __slots__ = ("max_bytes", "_chunks", "_size", "_text")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: list[bytes] = []
        self._size = 0
        self._text = True

    @property
    def active(self) -> bool:
        """A message has started and not finished."""
        return bool(self._chunks)

    def add(self, chunk: bytes, *, text: bool | None, fin: bool) -> Frame | Closed | None:
        """Add one fragment (``text`` is ``None`` for a continuation); the whole message, the close
        to answer with, or ``None`` while more fragments are due."""
        if text is not None:
            self._text = text
        self._size += len(chunk)
        if self._size > self.max_bytes:
            self._reset()
            return Closed(TOO_BIG, "message too big")
        self._chunks.append(chunk)
        if not fin:
            return None
        data = b"".join(self._chunks)
        self._reset()
        if not self._text:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            return Closed(INVALID_PAYLOAD, "invalid UTF-8 in a text frame")

    def _reset(self) -> None:
        self._chunks, self._size = [], 0
