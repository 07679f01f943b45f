"""The README's picture: round-trip p50/p99 against concurrent sessions, one colour per target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(rows: Sequence[Mapping[str, object]], path: Path, title: str) -> None:
    """Write a PNG: solid p50, dashed p99, log-scale milliseconds."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    targets = list(dict.fromkeys(str(r["target"]) for r in rows))
    for i, target in enumerate(targets):
        mine = sorted((r for r in rows if r["target"] == target), key=lambda r: int(r["sessions"]))  # type: ignore[call-overload]
        xs = [int(r["sessions"]) for r in mine]  # type: ignore[call-overload]
        colour = f"C{i}"
        for q, style in (("p50", "-"), ("p99", "--")):
            ys = [r["rtt_ms"][q] for r in mine]  # type: ignore[index]
            ax.plot(xs, ys, style, marker="o", color=colour, label=f"{target} {q}")
    ax.set_xlabel("concurrent sessions (50 frames/s each way)")
    ax.set_ylabel("round trip per frame, ms (log)")
    ax.set_yscale("log")
    ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
