"""Request-head limits (Sans-I/O): count one request head's bytes and lines as they arrive.

The HTTP protocol feeds every received chunk to :meth:`HeadGuard.feed` *before* its parser sees it;
a head past ``max_bytes`` or ``max_header_count`` is refused (431) at once, so a client can make the
gateway hold at most ``max_bytes`` plus one read chunk of its headers, whatever it sends. nginx's
defaults are the reference: ``large_client_header_buffers 4 8k`` → 32 KiB for a whole head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: the request line and the blank line that ends a head are lines too
_NON_HEADER_LINES: Final = 2


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """The most one request head may carry (``VOICE_GATEWAY_MAX_HEADER_BYTES`` / ``_COUNT``)."""

    max_bytes: int = 32 * 1024
    max_header_count: int = 100


def _head_end(window: bytes) -> int:
    """Index just past the blank line that ends a head in ``window``, or -1."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := window.find(sep)) >= 0]
    return min(ends) if ends else -1


class HeadGuard:
    """One connection's head counter: reset after each request, inert once the head is complete."""

    __slots__ = ("limits", "in_head", "size", "lines", "_tail")

    def __init__(self, limits: HeadLimits) -> None:
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        """A new request head starts (connection start, or the previous request completed)."""
        self.in_head = True
        self.size = 0
        self.lines = 0
        self._tail = b""

    def feed(self, data: bytes) -> bool:
        """Count ``data``; ``False`` when the head went past a limit (refuse it without parsing)."""
        if not self.in_head:
            return True
        window = self._tail + data
        end = _head_end(window)
        part = data if end < 0 else data[: end - len(self._tail)]
        self.size += len(part)
        self.lines += part.count(b"\n")
        if end >= 0:
            self.in_head = False
        else:
            self._tail = window[-3:]
        limits = self.limits
        return self.size <= limits.max_bytes and self.lines <= limits.max_header_count + _NON_HEADER_LINES
