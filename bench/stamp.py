"""Frame stamping and echo matching (pure): every audio frame carries who sent it, which one, and when.

The stamp is the first 18 bytes of the 960-byte PCM16 payload (18 is a multiple of 3, so its
base64 is the first 24 characters of the ``audio`` field and can be read without decoding the
rest): session index, sequence number, send time in ns, and a 2-byte magic.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import Final

FRAME_MS: Final = 20
SAMPLE_RATE: Final = 24_000
PAYLOAD_BYTES: Final = SAMPLE_RATE * 2 * FRAME_MS // 1000  # 960 bytes of PCM16 = 1280 base64 chars
_STAMP: Final = struct.Struct(">IIq2s")
STAMP_BYTES: Final = _STAMP.size
STAMP_CHARS: Final = STAMP_BYTES * 4 // 3
MAGIC: Final = b"VG"
_HEAD: Final = b'{"type":"input_audio_buffer.append","audio":"'
_TAIL_B64: Final = base64.b64encode(bytes((i * 37) & 0xFF for i in range(PAYLOAD_BYTES - STAMP_BYTES)))
_END: Final = b'"}'
_DELTA_KEY: Final = b'"delta"'
_DELTA_TYPE: Final = b'"response.output_audio.delta"'
_HEAD_SCAN: Final = 96  # the event type is the first key of every echoed delta


@dataclass(frozen=True, slots=True)
class Stamp:
    """Identity and send time of one frame."""

    session: int
    seq: int
    sent_ns: int


def append_frame(session: int, seq: int, sent_ns: int) -> bytes:
    """The text of one ``input_audio_buffer.append`` carrying a stamped 20 ms frame."""
    stamp = base64.b64encode(_STAMP.pack(session, seq, sent_ns, MAGIC))
    return b"".join((_HEAD, stamp, _TAIL_B64, _END))


def read_echo(payload: bytes) -> Stamp | None:
    """The stamp of an echoed ``response.output_audio.delta``; ``None`` for any other frame."""
    if payload.find(_DELTA_TYPE, 0, _HEAD_SCAN) < 0:
        return None
    key = payload.find(_DELTA_KEY)
    if key < 0:
        return None
    start = payload.find(b'"', key + len(_DELTA_KEY)) + 1
    if start <= 0:
        return None
    try:
        session, seq, sent_ns, magic = _STAMP.unpack(base64.b64decode(payload[start:start + STAMP_CHARS]))
    except (binascii.Error, struct.error):
        return None
    return Stamp(session, seq, sent_ns) if magic == MAGIC else None


class SequenceTracker:
    """Per-session receipt bookkeeping: counts frames lost, reordered and duplicated."""

    __slots__ = ("_seen", "_highest", "received", "reordered", "duplicates")

    def __init__(self, frames: int) -> None:
        """Track sequence numbers ``0 .. frames-1``."""
        self._seen = bytearray(frames)
        self._highest = -1
        self.received = 0
        self.reordered = 0
        self.duplicates = 0

    def record(self, seq: int) -> bool:
        """Note one arrival; ``False`` for a duplicate or an out-of-range number."""
        if not 0 <= seq < len(self._seen) or self._seen[seq]:
            self.duplicates += 1
            return False
        self._seen[seq] = 1
        self.received += 1
        if seq < self._highest:
            self.reordered += 1
        else:
            self._highest = seq
        return True

    def lost(self, first: int, end: int) -> int:
        """Frames in ``[first, end)`` that never arrived."""
        return (end - first) - sum(self._seen[first:end])
