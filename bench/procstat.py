"""CPU time and resident memory of processes, read from ``/proc`` (parsing is pure)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the bench needs."""

    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime
    rss_pages: int


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line (the command name may hold spaces and parentheses)."""
    pid_part, _, rest = text.partition(" (")
    fields = rest[rest.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24
    return ProcStat(int(pid_part), int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]))


def cpu_percent(ticks_before: int, ticks_after: int, seconds: float, hz: int = CLOCK_TICKS) -> float:
    """CPU used between two samples, as % of one core."""
    if seconds <= 0:
        raise ValueError("the window must be longer than zero")
    return 100.0 * (ticks_after - ticks_before) / hz / seconds


def read_stat(pid: int) -> ProcStat | None:
    """The current stat of ``pid``; ``None`` once it has exited."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(root: int, table: Iterable[ProcStat]) -> list[int]:
    """``root`` and every process below it in a ``(pid, ppid)`` table."""
    children: dict[int, list[int]] = {}
    for stat in table:
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return sorted(found)


def process_table() -> list[ProcStat]:
    """Every process visible in ``/proc`` right now."""
    table = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := read_stat(int(entry))) is not None:
            table.append(stat)
    return table


@dataclass(frozen=True, slots=True)
class TreeSample:
    """CPU ticks and RSS summed over a process tree at one moment."""

    cpu_ticks: int
    rss_bytes: int
    pids: tuple[int, ...]


def sample_tree(root: int) -> TreeSample:
    """Sum CPU ticks and RSS over ``root`` and its descendants (e.g. nginx's workers)."""
    table = process_table()
    pids = set(descendants(root, table))
    mine = [s for s in table if s.pid in pids]
    return TreeSample(sum(s.cpu_ticks for s in mine), sum(s.rss_pages for s in mine) * PAGE_SIZE,
                      tuple(sorted(s.pid for s in mine)))


def parse_core_busy(text: str) -> dict[int, int]:
    """Busy ticks per core from ``/proc/stat`` (user+nice+system+irq+softirq+steal)."""
    busy: dict[int, int] = {}
    for line in text.splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in values[:8])
            busy[int(name[3:])] = user + nice + system + irq + softirq + steal
    return busy


def read_core_busy() -> dict[int, int]:
    """Busy ticks per core right now."""
    return parse_core_busy(Path("/proc/stat").read_text())
