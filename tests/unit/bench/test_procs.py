"""Bench processes run pinned, each in a scheduling group of its own at the bench's niceness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import procs


def _autogroup(pid: int) -> str:
    return Path(f"/proc/{pid}/autogroup").read_text()


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel has no autogroup scheduling")
def test_a_started_process_has_its_own_session_and_group(tmp_path: Path) -> None:
    """A target is its own session leader, in an autogroup other than the bench's, with the bench's niceness."""
    proc = procs.start("sleeper", ["sleep", "30"], core=0, logdir=tmp_path)
    try:
        for _ in range(100):  # the child execs after its preexec hook
            if os.getsid(proc.pid) == proc.pid:
                break
            os.sched_yield()
        assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
        assert _autogroup(proc.pid).split()[0] != _autogroup(os.getpid()).split()[0]
        assert _autogroup(proc.pid).split()[-1] == str(os.getpriority(os.PRIO_PROCESS, 0))
        assert os.sched_getaffinity(proc.pid) == {0}
    finally:
        proc.stop()
