"""Reassembling fragmented messages: whole messages out, oversize and bad UTF-8 refused with their close."""

from __future__ import annotations

from gateway.core.fragments import INVALID_PAYLOAD, TOO_BIG, MessageAssembler
from gateway.core.ports import Closed


def test_text_fragments_join_into_one_str_and_binary_into_bytes() -> None:
    """Fragments wait until the last one; the first fragment's type decides str or bytes."""
    parts = MessageAssembler(100)
    assert parts.add(b'{"type":', text=True, fin=False) is None and parts.active
    assert parts.add(b'"x"}', text=None, fin=True) == '{"type":"x"}'
    assert not parts.active
    assert parts.add(b"\x00", text=False, fin=False) is None
    assert parts.add(b"\x01", text=None, fin=True) == b"\x00\x01"


def test_a_message_over_the_limit_is_refused_with_1009_and_forgotten() -> None:
    """The running size counts every fragment; past the limit the answer is a 1009 close and the buffer empties."""
    parts = MessageAssembler(4)
    assert parts.add(b"abc", text=True, fin=False) is None
    assert parts.add(b"de", text=None, fin=False) == Closed(TOO_BIG, "message too big")
    assert not parts.active


def test_text_that_is_not_utf8_is_refused_with_1007() -> None:
    """A text message whose joined bytes do not decode gets the invalid-payload close."""
    parts = MessageAssembler(100)
    parts.add(b"\xe2\x82", text=True, fin=False)
    assert parts.add(b"\x28", text=None, fin=True) == Closed(INVALID_PAYLOAD, "invalid UTF-8 in a text frame")
