"""A CPU profile of the gateway under load with py-spy, summarised to its hottest frames."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.procs import LOADGEN_CORE


@dataclass(frozen=True, slots=True)
class Hot:
    """One frame: share of samples where it is on top (self) and anywhere on the stack (total)."""

    frame: str
    self_pct: float
    total_pct: float


def top_frames(collapsed: str, limit: int = 25) -> tuple[list[Hot], list[Hot], int]:
    """Hottest frames by self and by total time from py-spy's collapsed (``--format raw``) stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if samples == 0:
        return [], [], 0

    def hot(frame: str) -> Hot:
        return Hot(frame, 100.0 * own[frame] / samples, 100.0 * total[frame] / samples)

    return ([hot(f) for f, _ in own.most_common(limit)], [hot(f) for f, _ in total.most_common(limit)], samples)


def record(pid: int, seconds: float, out: Path) -> str:
    """Sample ``pid`` (and its subprocesses) for ``seconds``; the collapsed stacks, or raise."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = ["taskset", "-c", str(LOADGEN_CORE), binary, "record", "--pid", str(pid), "--duration",
            str(max(1, round(seconds))), "--rate", "200", "--format", "raw", "--subprocesses",
            "--nonblocking", "--output", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return out.read_text()


def render(title: str, self_top: list[Hot], total_top: list[Hot], samples: int, rows: int = 20) -> str:
    """``bench/PROFILE.md``."""
    out = [f"# {title}", "", f"{samples} samples on CPU (py-spy, 200 Hz, idle stacks excluded).", "",
           "## Hottest frames by self time", "", "| self % | total % | frame |", "|---:|---:|---|"]
    out += [f"| {h.self_pct:.1f} | {h.total_pct:.1f} | `{h.frame}` |" for h in self_top[:rows]]
    out += ["", "## Hottest frames by total time (inclusive)", "", "| total % | self % | frame |", "|---:|---:|---|"]
    out += [f"| {h.total_pct:.1f} | {h.self_pct:.1f} | `{h.frame}` |" for h in total_top[:rows]]
    return "\n".join(out) + "\n"
