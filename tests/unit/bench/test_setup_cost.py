"""bench.setup_cost's parsing: Redis MONITOR lines (round trips vs script-internal calls) and callgrind counters."""

from __future__ import annotations

from bench.setup_cost import callgrind_total, monitored_command


def test_monitor_lines_of_the_prefix_are_round_trips_unless_a_script_ran_them() -> None:
    """A client's command is a round trip, a command inside a Lua script is not, other prefixes are ignored."""
    prefix = b"vgbench7:"
    client = b'1796639461.771085 [0 127.0.0.1:49028] "EVALSHA" "31e0" "4" "vgbench7:{default}:leases"'
    lua = b'1796639461.771090 [0 lua] "zadd" "vgbench7:{default}:leases" "1" "s1"'
    other = b'1796639461.771095 [0 127.0.0.1:49030] "GET" "vgtest-1:authfail:127.0.0.1"'
    assert monitored_command(client, prefix) == ("EVALSHA", False)
    assert monitored_command(lua, prefix) == ("ZADD", True)
    assert monitored_command(other, prefix) is None


def test_callgrind_counters_of_every_thread_are_summed() -> None:
    """The Ir totals of all threads in callgrind_control's answer add up; a header line is not a count."""
    shown = "PID 1: python -c ...\n\n  Totals:         Ir \n   Th 1  282,164,015 \n   Th 2       28,292 \n   Th 3            0 \n"
    assert callgrind_total(shown) == 282_192_307
    assert callgrind_total("PID 1: nothing yet\n") == 0
