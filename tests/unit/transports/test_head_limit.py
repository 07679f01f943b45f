"""Request-head limits: bytes and header lines counted chunk by chunk, before any parser sees them."""

from __future__ import annotations

from gateway.transports.head_limit import HeadGuard, HeadLimits


def _head(headers: int, value_size: int = 10) -> bytes:
    lines = [b"GET /v1/realtime HTTP/1.1"] + [b"x-h%d: %s" % (i, b"v" * value_size) for i in range(headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_a_normal_head_passes_whole_or_byte_by_byte() -> None:
    """A head within limits passes however it is split into chunks."""
    head = _head(20)
    assert HeadGuard(HeadLimits()).feed(head)
    guard = HeadGuard(HeadLimits())
    assert all(guard.feed(head[i : i + 1]) for i in range(len(head)))
    assert not guard.in_head and guard.size == len(head)


def test_too_many_headers_refused() -> None:
    """One header past the count limit is refused."""
    limits = HeadLimits(max_header_count=10)
    assert HeadGuard(limits).feed(_head(10))
    assert not HeadGuard(limits).feed(_head(11))


def test_too_large_refused_before_the_head_ends() -> None:
    """A head growing past the byte limit is refused on the chunk that crosses it, end or no end."""
    guard = HeadGuard(HeadLimits(max_bytes=2048))
    assert guard.feed(b"GET / HTTP/1.1\r\nx-big: " + b"a" * 1000)
    assert not guard.feed(b"a" * 1100)


def test_body_after_the_head_is_not_counted_and_reset_starts_over() -> None:
    """Bytes after the blank line (a request body) are not head bytes; the next request is counted afresh."""
    guard = HeadGuard(HeadLimits(max_bytes=1024))
    assert guard.feed(b"POST /x HTTP/1.1\r\ncontent-length: 5000\r\n\r\n" + b"b" * 5000)
    assert guard.feed(b"b" * 100_000)
    guard.reset()
    assert not guard.feed(b"GET / HTTP/1.1\r\nx: " + b"a" * 2000)


def test_end_split_across_chunks_is_found() -> None:
    """A blank line split over two chunks still ends the head."""
    guard = HeadGuard(HeadLimits(max_bytes=1024))
    assert guard.feed(b"GET / HTTP/1.1\r\nx: y\r\n\r")
    assert guard.feed(b"\n" + b"z" * 5000)
    assert not guard.in_head
