"""Starting, pinning, probing and stopping the processes of a bench run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import connect

LOADGEN_CORE = 0
TARGET_CORE = 1


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin_self(core: int) -> None:
    """Pin this process (and what it starts later) to one core, when the machine has it."""
    if core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


@dataclass
class Proc:
    """A started process, the core it is pinned to, and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The root pid (its descendants are counted with it)."""
        return self.popen.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; only this process and its own children."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def tail(self, lines: int = 15) -> str:
        """The last lines of its log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def own_scheduling_group() -> None:
    """Put the calling process in a scheduling group of its own at its own niceness.

    With ``kernel.sched_autogroup_enabled`` (Debian's default) the scheduler shares a core between *groups*
    (one per session) before processes, and a process's niceness only ranks it inside its group: on a shared
    host a target at nice -10 still got as little as 28-47 % of its pinned core against other sessions' work
    (docs/performance.md, fourth round). A new session is a new group; its weight is set through
    ``/proc/self/autogroup``. Without autogroup (or without root) this changes nothing.
    """
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))


def start(name: str, argv: Sequence[str], core: int, logdir: Path, env: Mapping[str, str] | None = None) -> Proc:
    """Start ``argv`` pinned to ``core`` (children inherit the pinning) in a scheduling group of its own, output to
    a log file."""
    log = logdir / f"{name}.log"
    cores = {core} if core < (os.cpu_count() or 1) else set(range(os.cpu_count() or 1))
    handle = log.open("wb")

    def isolate() -> None:
        os.sched_setaffinity(0, cores)
        own_scheduling_group()

    popen = subprocess.Popen(list(argv), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=dict(env) if env is not None else None, preexec_fn=isolate)
    handle.close()
    return Proc(name, popen, log)


def wait_port(proc: Proc, port: int, timeout_s: float = 30.0) -> None:
    """Block until ``port`` accepts connections; fail with the process's log if it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout_s:.0f} s:\n{proc.tail()}")


def probe_session(url: str, key: str, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> None:
    """Open one session and wait for ``session.created``; raises when the target cannot serve."""
    with connect(url, additional_headers={"Authorization": f"Bearer {key}"} | (headers or {}),
                 open_timeout=timeout_s) as ws:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            frame = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if '"session.created"' in str(frame):
                return
    raise RuntimeError(f"no session.created from {url}")


def python() -> str:
    """The interpreter running the bench (the project's venv)."""
    return sys.executable
