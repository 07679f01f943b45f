"""The outgoing audio buffer, Sans-I/O: model audio in, one 20 ms frame out per tick, barge-in bookkeeping.

A WebSocket client plays the model's audio itself; over WebRTC the gateway plays it, so the
gateway must know what was actually heard: how many milliseconds of each item reached the
speaker when the user interrupted (for ``conversation.item.truncate``), and when a
response's audio started and stopped (``output_audio_buffer.started``/``stopped``).
Playback starts once ``target_ms`` is buffered (a small jitter buffer for conversation) or
the response is complete; an underrun re-buffers to the target.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from gateway.webrtc.audio_in import BYTES_PER_MS

FRAME_MS: Final = 20
FRAME_BYTES: Final = FRAME_MS * BYTES_PER_MS
DEFAULT_TARGET_MS: Final = 60
_REMEMBERED: Final = 64


@dataclass(frozen=True, slots=True)
class Started:
    """The first audio of a response reached the speaker."""

    response_id: str | None


@dataclass(frozen=True, slots=True)
class Stopped:
    """A finished response's audio has all been played."""

    response_id: str | None


Notice = Started | Stopped


@dataclass(frozen=True, slots=True)
class Cleared:
    """What a clear cut off: the item being heard (``None`` when nothing was) and how much of it was heard."""

    response_id: str | None
    item_id: str | None
    played_ms: int


@dataclass(slots=True)
class _Segment:
    response_id: str | None
    item_id: str | None
    data: bytearray
    offset: int = 0


class Playout:
    """Buffered model audio for one session, consumed one 20 ms frame per tick."""

    def __init__(self, target_ms: int = DEFAULT_TARGET_MS) -> None:
        self.target_bytes = max(FRAME_BYTES, target_ms * BYTES_PER_MS)
        self._segments: deque[_Segment] = deque()
        self._buffered = 0
        self._playing = False
        self._current: str | None = None
        self._has_current = False
        self._done: deque[str] = deque(maxlen=_REMEMBERED)
        self._dropped: deque[str] = deque(maxlen=_REMEMBERED)
        self._played: dict[str, int] = {}
        self._last_item: str | None = None

    # --- input -----------------------------------------------------------------------------------

    def push(self, pcm: bytes, response_id: str | None, item_id: str | None) -> bool:
        """Queue model audio; False when its item was already cut off by a clear (then it is dropped)."""
        if item_id is not None and item_id in self._dropped:
            return False
        tail = self._segments[-1] if self._segments else None
        if tail is not None and tail.item_id == item_id and tail.response_id == response_id:
            tail.data += pcm
        else:
            self._segments.append(_Segment(response_id, item_id, bytearray(pcm)))
        self._buffered += len(pcm)
        return True

    def response_done(self, response_id: str) -> None:
        """No more audio will come for this response: play out what is left, then report it stopped."""
        self._done.append(response_id)

    # --- state -----------------------------------------------------------------------------------

    @property
    def buffered_ms(self) -> int:
        return self._buffered // BYTES_PER_MS

    @property
    def active(self) -> bool:
        """Audio is buffered, or a response's audio has started and not yet stopped."""
        return self._buffered > 0 or self._has_current

    def played_ms(self, item_id: str) -> int:
        """Milliseconds of the item that have gone out to the speaker."""
        return self._played.get(item_id, 0) // BYTES_PER_MS

    # --- output ----------------------------------------------------------------------------------

    def next_frame(self) -> tuple[bytes | None, list[Notice]]:
        """The next 20 ms of PCM16 (``None`` for silence) and the notices it causes."""
        notices: list[Notice] = []
        if not self._playing:
            if self._buffered == 0:
                self._maybe_stopped(notices)
                return None, notices
            if self._buffered < self.target_bytes and not self._head_complete():
                return None, notices
            self._playing = True
        frame = self._take(FRAME_BYTES, notices)
        if not self._segments:
            self._playing = False
        return frame, notices

    def _head_complete(self) -> bool:
        head = self._segments[0]
        return head.response_id is not None and head.response_id in self._done

    def _take(self, need: int, notices: list[Notice]) -> bytes:
        out = bytearray()
        segments = self._segments
        while need and segments:
            seg = segments[0]
            if not self._has_current or seg.response_id != self._current:
                if self._has_current:
                    notices.append(Stopped(self._current))
                self._current, self._has_current = seg.response_id, True
                notices.append(Started(seg.response_id))
            piece = seg.data[seg.offset : seg.offset + need]
            out += piece
            seg.offset += len(piece)
            need -= len(piece)
            if seg.item_id is not None:
                self._played[seg.item_id] = self._played.get(seg.item_id, 0) + len(piece)
                self._last_item = seg.item_id
            if seg.offset >= len(seg.data):
                segments.popleft()
        self._buffered -= len(out)
        if need:
            out += bytes(need)
        return bytes(out)

    def _maybe_stopped(self, notices: list[Notice]) -> None:
        if self._has_current and self._current is not None and self._current in self._done:
            notices.append(Stopped(self._current))
            self._current, self._has_current = None, False

    # --- barge-in --------------------------------------------------------------------------------

    def clear(self) -> Cleared:
        """Drop everything buffered at once; later audio of the cut items is ignored."""
        if self._segments:
            head = self._segments[0]
            cut = Cleared(head.response_id, head.item_id, self.played_ms(head.item_id) if head.item_id else 0)
        elif self._has_current and self._last_item is not None:
            cut = Cleared(self._current, self._last_item, self.played_ms(self._last_item))
        else:
            cut = Cleared(self._current, None, 0)
        for seg in self._segments:
            if seg.item_id is not None and seg.item_id not in self._dropped:
                self._dropped.append(seg.item_id)
        if cut.item_id is not None and cut.item_id not in self._dropped:
            self._dropped.append(cut.item_id)
        self._segments.clear()
        self._buffered = 0
        self._playing = False
        self._current, self._has_current = None, False
        return cut
