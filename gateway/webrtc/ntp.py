"""aiortc's wall clock without ``datetime``: the same NTP and millisecond values, read from ``time.time_ns``.

aiortc reads the wall clock per RTP packet: twice per sent packet (``current_ntp_time()``, for the
abs-send-time extension and the next sender report) and once per received packet
(``current_ms()``, the arrival time), each through ``datetime.now(timezone.utc)`` minus a 1900
epoch ``datetime``, a ``timedelta`` and float seconds. These functions compute the very same
integers from one ``time.time_ns()``: ``datetime.now`` truncates the system clock to microseconds
(round-floor), and the NTP epoch is 2 208 988 800 s before the Unix epoch. :func:`install` puts them
in ``aiortc.clock`` (process-wide; aiortc's modules call them through that module). The equality and
the call sites are checked by ``tests/unit/transports/test_library_internals.py``.
"""

from __future__ import annotations

import time
from typing import Final

from aiortc import clock

#: seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix), both UTC
NTP_UNIX_OFFSET_S: Final = 2_208_988_800
_NS_PER_S: Final = 1_000_000_000
_US_PER_S: Final = 1_000_000


def ntp_from_ns(ns: int) -> int:
    """``aiortc.clock.datetime_to_ntp`` of the ``datetime`` that ``datetime.now`` gives at Unix time ``ns``."""
    seconds, rest = divmod(ns, _NS_PER_S)
    microseconds = rest // 1000
    return ((seconds + NTP_UNIX_OFFSET_S) << 32) | (microseconds << 32) // _US_PER_S


def ms_from_ns(ns: int) -> int:
    """``aiortc.clock.current_ms``'s value at Unix time ``ns`` (its float seconds since 1900, times 1000, truncated)."""
    seconds, rest = divmod(ns, _NS_PER_S)
    return int(((seconds + NTP_UNIX_OFFSET_S) * _US_PER_S + rest // 1000) / _US_PER_S * 1000)


def current_ntp_time() -> int:
    return ntp_from_ns(time.time_ns())


def current_ms() -> int:
    return ms_from_ns(time.time_ns())


def install() -> None:
    """Make aiortc read the wall clock through these (idempotent)."""
    clock.current_ntp_time = current_ntp_time
    clock.current_ms = current_ms


def installed() -> bool:
    return clock.current_ntp_time is current_ntp_time and clock.current_ms is current_ms
