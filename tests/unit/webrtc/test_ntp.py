"""The datetime-free wall clock gives aiortc exactly the values its own clock functions compute."""

from __future__ import annotations

import datetime
import random

from aiortc import clock

from gateway.webrtc import ntp

_UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _as_datetime_now_gives(ns: int) -> datetime.datetime:
    """``datetime.now(utc)`` at Unix time ``ns``: the system clock truncated to microseconds."""
    return _UNIX_EPOCH + datetime.timedelta(microseconds=ns // 1000)


def _sample_ns() -> list[int]:
    rng = random.Random(7)
    now = 1_796_600_000 * 10**9
    edges = [now, now + 999, now + 999_999_999, now + 1_000_000_000 - 1, now + 500_000_000, now + 1_000]
    return edges + [rng.randrange(now - 10**17, now + 10**17) for _ in range(20_000)]


def test_ntp_time_equals_aiortcs_datetime_arithmetic() -> None:
    """ntp_from_ns is datetime_to_ntp of datetime.now's value, bit for bit, over 20k instants and sub-second edges."""
    for ns in _sample_ns():
        assert ntp.ntp_from_ns(ns) == clock.datetime_to_ntp(_as_datetime_now_gives(ns)), ns


def test_ms_equals_aiortcs_float_arithmetic() -> None:
    """ms_from_ns is current_ms's int(total_seconds * 1000) of the same datetime, over the same instants."""
    for ns in _sample_ns():
        delta = _as_datetime_now_gives(ns) - clock.NTP_EPOCH
        assert ntp.ms_from_ns(ns) == int(delta.total_seconds() * 1000), ns


def test_live_readings_agree_with_aiortcs_own_clock() -> None:
    """Read back to back, the shim and aiortc's datetime clock are within a few milliseconds of each other."""
    ours, theirs = ntp.current_ntp_time(), clock.datetime_to_ntp(clock.current_datetime())
    assert abs(ours - theirs) < (5 << 32) // 1000
    ours_ms, theirs_ms = ntp.current_ms(), int((clock.current_datetime() - clock.NTP_EPOCH).total_seconds() * 1000)
    assert abs(ours_ms - theirs_ms) < 5


def test_install_puts_the_shim_where_aiortc_reads_the_clock() -> None:
    """After install, aiortc.clock's current_ntp_time and current_ms are the shim's."""
    ntp.install()
    assert ntp.installed()
    assert clock.current_ntp_time is ntp.current_ntp_time and clock.current_ms is ntp.current_ms
