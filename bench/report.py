"""Turning a run's results into comparisons and a Markdown report (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

FLOOR: Final = "upstream direct"
NGINX: Final = "nginx"
GOALS: Final = {"added_p99_ms": 1.0, "cpu_pct_at_100": 20.0, "sessions_per_core": 400,
                "saturation_p99_ms": 50.0, "idle_kib": 40.0, "setup_p99_ms": 20.0}

Row = Mapping[str, object]


def _num(row: Row, *path: str) -> float:
    """A nested number of a row (``nan`` when missing)."""
    value: object = row
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return math.nan
        value = value[key]
    return float(value) if isinstance(value, (int, float)) and value is not None else math.nan


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table cell; ``–`` for missing."""
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def find(rows: Sequence[Row], target: str, sessions: int) -> Row | None:
    """The load row of a target at N sessions."""
    return next((r for r in rows if r["target"] == target and r["sessions"] == sessions), None)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A relay against the floor and against nginx at one N."""

    target: str
    sessions: int
    added_p50: float
    added_p99: float
    nginx_added_p50: float
    nginx_added_p99: float
    cpu_pct: float
    nginx_cpu_pct: float

    def ratio(self, mine: float, theirs: float) -> float:
        """``mine / theirs``; ``nan`` when nginx's figure is too small to divide by."""
        return mine / theirs if theirs > 0.005 and not math.isnan(mine) else math.nan


def compare(rows: Sequence[Row], target: str, sessions: int) -> Comparison | None:
    """Added latency and CPU of ``target`` vs the floor and nginx at the same N."""
    mine, floor, nginx = find(rows, target, sessions), find(rows, FLOOR, sessions), find(rows, NGINX, sessions)
    if mine is None or floor is None:
        return None

    def added(row: Row | None, q: str) -> float:
        return math.nan if row is None else _num(row, "rtt_ms", q) - _num(floor, "rtt_ms", q)

    return Comparison(target, sessions, added(mine, "p50"), added(mine, "p99"), added(nginx, "p50"),
                      added(nginx, "p99"), _num(mine, "target_cpu_pct"),
                      math.nan if nginx is None else _num(nginx, "target_cpu_pct"))


def saturation(rows: Sequence[Row], target: str, p99_limit_ms: float) -> tuple[int | None, float]:
    """Largest measured N with p99 under the limit and no loss, and sessions per core extrapolated from CPU there."""
    ok = sorted((r for r in rows if r["target"] == target and _num(r, "rtt_ms", "p99") < p99_limit_ms
                 and r["lost"] == 0 and r["failed"] == 0), key=lambda r: int(r["sessions"]))  # type: ignore[call-overload]
    if not ok:
        return None, math.nan
    best = ok[-1]
    cpu = _num(best, "target_cpu_pct")
    n = int(best["sessions"])  # type: ignore[call-overload]
    return n, (n * 100.0 / cpu if cpu > 0 else math.nan)


def load_table(rows: Sequence[Row]) -> list[str]:
    """Markdown table: one line per target and N."""
    lines = ["| target | N | RTT p50 ms | RTT p99 ms | RTT max ms | lost | reordered | CPU % of core | RSS MiB | "
             "upstream CPU % | load-gen CPU % | send lag p99 ms | other load core0/core1 % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (int(r["sessions"]), str(r["target"]))):  # type: ignore[call-overload]
        foreign = r.get("foreign_cpu_pct", {})
        other = "/".join(fmt(float(foreign.get(c, math.nan)), 0) for c in ("0", "1")) \
            if isinstance(foreign, Mapping) else "–"
        lost = f"{r['lost']}" + (f" (+{r['failed']} failed)" if r.get("failed") else "")
        lines.append(f"| {r['target']} | {r['sessions']} | {fmt(_num(r, 'rtt_ms', 'p50'))} | "
                     f"{fmt(_num(r, 'rtt_ms', 'p99'))} | {fmt(_num(r, 'rtt_ms', 'max'))} | {lost} | "
                     f"{r['reordered']} | {fmt(_num(r, 'target_cpu_pct'), 1)} | {fmt(_num(r, 'target_rss_mib'), 1)} | "
                     f"{fmt(_num(r, 'upstream_cpu_pct'), 1)} | {fmt(_num(r, 'loadgen_cpu_pct'), 1)} | "
                     f"{fmt(_num(r, 'lag_ms', 'p99'))} | {other} |")
    return lines


def ratio_table(rows: Sequence[Row], relays: Sequence[str], counts: Sequence[int]) -> list[str]:
    """Markdown table: added latency over the floor, and the ratios to nginx."""
    lines = ["| relay | N | added p50 ms | added p99 ms | nginx added p50/p99 ms | added p99 ÷ nginx's | "
             "p99 − nginx's p99 ms | CPU % | CPU ÷ nginx's |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in counts:
        for relay in relays:
            c = compare(rows, relay, n)
            if c is None:
                continue
            lines.append(f"| {relay} | {n} | {fmt(c.added_p50)} | {fmt(c.added_p99)} | "
                         f"{fmt(c.nginx_added_p50)}/{fmt(c.nginx_added_p99)} | "
                         f"{fmt(c.ratio(c.added_p99, c.nginx_added_p99), 1)} | "
                         f"{fmt(c.added_p99 - c.nginx_added_p99)} | {fmt(c.cpu_pct, 1)} | "
                         f"{fmt(c.ratio(c.cpu_pct, c.nginx_cpu_pct), 1)} |")
    return lines


def idle_table(rows: Sequence[Row]) -> list[str]:
    """Markdown table: memory per idle session and set-up time."""
    lines = ["| target | idle sessions | KiB per idle session | set-up p50 ms | set-up p99 ms |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['connected']}/{r['sessions']} | {fmt(_num(r, 'kib_per_session'), 1)} | "
                     f"{fmt(_num(r, 'setup_ms', 'p50'))} | {fmt(_num(r, 'setup_ms', 'p99'))} |")
    return lines


def goal_lines(load: Sequence[Row], idle: Sequence[Row], relay: str) -> list[str]:
    """The gateway against the project's targets, each marked met / missed / not measured."""
    def verdict(value: float, ok: bool) -> str:
        return "not measured" if math.isnan(value) else ("met" if ok else "**missed**")

    c = compare(load, relay, 100)
    nginx = find(load, NGINX, 100)
    gw = find(load, relay, 100)
    over = math.nan if c is None or nginx is None else _num(gw or {}, "rtt_ms", "p99") - _num(nginx, "rtt_ms", "p99")
    cpu = math.nan if gw is None else _num(gw, "target_cpu_pct")
    n_ok, per_core = saturation(load, relay, GOALS["saturation_p99_ms"])
    idle_row = next((r for r in idle if r["target"] == relay), None)
    kib = math.nan if idle_row is None else _num(idle_row, "kib_per_session")
    setup = math.nan if idle_row is None else _num(idle_row, "setup_ms", "p99")
    sat = f"p99 < 50 ms up to N={n_ok} measured; ≈{fmt(per_core, 0)} sessions per core by CPU" \
        if n_ok else "p99 ≥ 50 ms at every N"
    return [
        f"- p99 over nginx's at 100 sessions ≤ 1 ms: {fmt(over)} ms — {verdict(over, over <= GOALS['added_p99_ms'])}",
        f"- CPU at 100 sessions ≤ 20% of a core: {fmt(cpu, 1)}% — {verdict(cpu, cpu <= GOALS['cpu_pct_at_100'])}",
        f"- ≥ 400 sessions per core before p99 passes 50 ms: {sat} — "
        f"{verdict(per_core, (n_ok or 0) >= 400 or per_core >= GOALS['sessions_per_core'])}",
        f"- idle memory ≤ 40 KiB per session: {fmt(kib, 1)} KiB — {verdict(kib, kib <= GOALS['idle_kib'])}",
        f"- set-up p99 < 20 ms: {fmt(setup)} ms — {verdict(setup, setup < GOALS['setup_p99_ms'])}",
    ]


def render(results: Mapping[str, object]) -> str:
    """The whole ``bench/RESULTS.md``."""
    machine = results["machine"]
    config = results["config"]
    load: list[Row] = results["load"]  # type: ignore[assignment]
    idle: list[Row] = results["idle"]  # type: ignore[assignment]
    assert isinstance(machine, Mapping) and isinstance(config, Mapping)
    relays = [str(t) for t in config["targets"] if t != FLOOR]  # type: ignore[union-attr]
    gateways = [t for t in relays if t.startswith("gateway")]
    counts = [int(n) for n in config["sessions"]]  # type: ignore[union-attr]
    out = ["# Relay benchmark results", "",
           f"Generated by `make bench` ({'quick' if config.get('quick') else 'full'} run) on {machine['date']}.", "",
           f"- machine: {machine['cpu']}, {machine['cores']} cores, kernel {machine['kernel']}",
           f"- Python {machine['python']}, nginx {machine.get('nginx', '–')}",
           f"- upstream: {config['upstream']}; load: {config['warmup_s']} s warm-up + {config['duration_s']} s "
           f"measured per row; each session sends a 20 ms PCM16 24 kHz frame 50×/s and gets it echoed",
           f"- the relay under test is pinned to core 1; load generator and upstream to core 0; "
           f"\"other load\" is CPU used on each core by processes outside the bench (shared machine)", ""]
    for note in results.get("notes", []):  # type: ignore[union-attr]
        out.append(f"> {note}")
    out += ["", "## Round trip and cost per target", "", *load_table(load), "",
            "## Added latency over the upstream-direct floor, and ratios to nginx", "",
            *ratio_table(load, relays, counts), "",
            "## Idle sessions: memory and set-up time", "", *idle_table(idle), ""]
    for gw in gateways:
        out += [f"## {gw} against the project's targets", "", *goal_lines(load, idle, gw), ""]
    out += ["![round trip vs sessions](results/latest.png)", ""]
    return "\n".join(out)
