"""Bench processes run pinned, each in a scheduling group of its own at the bench's niceness."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench import procs


def _autogroup(pid: int) -> str:
    return Path(f"/proc/{pid}/autogroup").read_text()


def _new_sessions_get_autogroups() -> bool:
    """Whether this kernel puts a new session in an autogroup it reports (off with the sysctl, or inside some
    containers' task groups, where ``/proc/<pid>/autogroup`` reads empty)."""
    if not Path("/proc/self/autogroup").exists():
        return False
    shown = subprocess.run(["setsid", "cat", "/proc/self/autogroup"], capture_output=True, text=True, check=False)
    return shown.returncode == 0 and shown.stdout.startswith("/autogroup-")


def _wait_for_exec(proc: procs.Proc) -> None:
    for _ in range(1000):  # the child execs after its preexec hook
        if os.getsid(proc.pid) == proc.pid:
            return
        os.sched_yield()


def test_a_started_process_leads_its_own_session_pinned_to_its_core(tmp_path: Path) -> None:
    """A target is its own session leader (a scheduling group of its own where the kernel has them), pinned."""
    proc = procs.start("sleeper", ["sleep", "30"], core=0, logdir=tmp_path)
    try:
        _wait_for_exec(proc)
        assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
        assert os.sched_getaffinity(proc.pid) == {0}
    finally:
        proc.stop()


@pytest.mark.skipif(not _new_sessions_get_autogroups(), reason="this kernel gives new sessions no autogroup")
def test_a_started_process_has_its_own_group_at_the_benchs_niceness(tmp_path: Path) -> None:
    """A target's autogroup is not the bench's, and its weight is the bench's niceness."""
    proc = procs.start("sleeper", ["sleep", "30"], core=0, logdir=tmp_path)
    try:
        _wait_for_exec(proc)
        target, own = _autogroup(proc.pid).split(), _autogroup(os.getpid()).split()
        assert target and target[0].startswith("/autogroup-")
        assert not own or own[0] != target[0]  # the bench itself may sit in a cgroup's group (reads empty)
        assert target[-1] == str(os.getpriority(os.PRIO_PROCESS, 0))
    finally:
        proc.stop()
