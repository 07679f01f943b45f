"""Parsing /proc for CPU time, RSS and process trees."""

from __future__ import annotations

import os

import pytest

from bench.procstat import ProcStat, cpu_percent, descendants, parse_core_busy, parse_stat, read_stat

# a real line shape; the command name holds a space and parentheses
LINE = ("4242 (nginx: (worker) x) S 4241 4241 4241 0 -1 4194624 130 0 0 0 "
        "150 50 0 0 20 0 1 0 12345 10485760 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")


def test_parse_stat_reads_ppid_cpu_and_rss() -> None:
    """ppid is field 4, CPU is utime+stime (14, 15), RSS pages field 24, whatever the name holds."""
    stat = parse_stat(LINE)
    assert stat == ProcStat(pid=4242, ppid=4241, cpu_ticks=200, rss_pages=2560)


def test_cpu_percent_is_share_of_one_core() -> None:
    """50 ticks at 100 Hz over one second is half a core."""
    assert cpu_percent(100, 150, 1.0, hz=100) == 50.0
    with pytest.raises(ValueError):
        cpu_percent(0, 1, 0.0)


def test_descendants_walks_the_tree() -> None:
    """A master's workers and their children are included; unrelated processes are not."""
    table = [ProcStat(1, 0, 0, 0), ProcStat(10, 1, 0, 0), ProcStat(11, 10, 0, 0), ProcStat(12, 10, 0, 0),
             ProcStat(13, 12, 0, 0), ProcStat(20, 1, 0, 0)]
    assert descendants(10, table) == [10, 11, 12, 13]


def test_parse_core_busy_skips_the_total_and_idle() -> None:
    """Per-core busy ticks exclude idle and iowait; the aggregate line is ignored."""
    text = ("cpu  10 0 10 1000 5 0 0 0 0 0\n"
            "cpu0 1 2 3 400 5 6 7 8 0 0\n"
            "cpu1 10 0 20 600 0 0 0 0 0 0\n"
            "intr 123\n")
    assert parse_core_busy(text) == {0: 1 + 2 + 3 + 6 + 7 + 8, 1: 30}


def test_read_stat_of_this_process() -> None:
    """Reading our own stat gives our pid and a positive RSS."""
    stat = read_stat(os.getpid())
    assert stat is not None and stat.pid == os.getpid() and stat.rss_pages > 0
