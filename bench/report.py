"""Turning a run's results into comparisons and a Markdown report (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

FLOOR: Final = "upstream direct"
NGINX: Final = "nginx"
#: the project's targets (issue #20): against nginx in the same run, at 100 and 300 sessions
GOALS: Final = {"cpu_over_nginx": 1.5, "p99_over_nginx_ms": {100: 0.5, 300: 2.0}, "idle_kib": 30.0,
                "setup_p50_over_nginx_ms": 10.0, "saturation_p99_ms": 50.0}
#: the targets that are neither the floor, nginx nor one of our gateways: the peers
PEER_PREFIXES: Final = ("gateway",)

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


def _verdict(value: float, ok: bool) -> str:
    return "not measured" if math.isnan(value) else ("met" if ok else "**missed**")


def _p99_over_nginx(load: Sequence[Row], relay: str, n: int) -> float:
    mine, nginx = find(load, relay, n), find(load, NGINX, n)
    return math.nan if mine is None or nginx is None else _num(mine, "rtt_ms", "p99") - _num(nginx, "rtt_ms", "p99")


def _idle(idle: Sequence[Row], target: str, *path: str) -> float:
    row = next((r for r in idle if r["target"] == target), None)
    return math.nan if row is None else _num(row, *path)


def peers_of(targets: Sequence[str]) -> list[str]:
    """The peer gateways among the targets (not the floor, nginx, or ours)."""
    return [t for t in targets if t not in (FLOOR, NGINX) and not t.startswith(PEER_PREFIXES)]


def below_peers(load: Sequence[Row], relay: str, peers: Sequence[str]) -> tuple[float, str]:
    """The largest ratio of our CPU to the cheapest peer's at any N (below 1: cheaper everywhere)."""
    worst, where = math.nan, ""
    for row in (r for r in load if r["target"] == relay):
        theirs = [find(load, p, int(row["sessions"])) for p in peers]  # type: ignore[call-overload]
        cpus = [_num(t, "target_cpu_pct") for t in theirs if t is not None]
        if cpus and min(cpus) > 0:
            ratio = _num(row, "target_cpu_pct") / min(cpus)
            if math.isnan(worst) or ratio > worst:
                worst, where = ratio, f"N={row['sessions']}"
    return worst, where


def goal_lines(load: Sequence[Row], idle: Sequence[Row], relay: str, peers: Sequence[str] = ()) -> list[str]:
    """The gateway against the project's targets, each marked met / missed / not measured."""
    lines = []
    for n in (100, 300):
        c = compare(load, relay, n)
        ratio = math.nan if c is None else c.ratio(c.cpu_pct, c.nginx_cpu_pct)
        lines.append(f"- CPU at {n} sessions ≤ {GOALS['cpu_over_nginx']}× nginx's: {fmt(ratio, 2)}× — "
                     f"{_verdict(ratio, ratio <= GOALS['cpu_over_nginx'])}")
    for n, limit in GOALS["p99_over_nginx_ms"].items():  # type: ignore[attr-defined]
        over = _p99_over_nginx(load, relay, n)
        lines.append(f"- p99 over nginx's at {n} sessions ≤ {limit} ms: {fmt(over)} ms — {_verdict(over, over <= limit)}")
    kib = _idle(idle, relay, "kib_per_session")
    lines.append(f"- idle memory ≤ {GOALS['idle_kib']:.0f} KiB per session: {fmt(kib, 1)} KiB — "
                 f"{_verdict(kib, kib <= GOALS['idle_kib'])}")
    setup = _idle(idle, relay, "setup_ms", "p50") - _idle(idle, NGINX, "setup_ms", "p50")
    lines.append(f"- set-up p50 within {GOALS['setup_p50_over_nginx_ms']:.0f} ms of nginx's: {fmt(setup)} ms over — "
                 f"{_verdict(setup, setup <= GOALS['setup_p50_over_nginx_ms'])}")
    if peers:
        worst, where = below_peers(load, relay, peers)
        lines.append(f"- CPU below every peer's ({', '.join(peers)}) at every N: at worst {fmt(worst, 2)}× the "
                     f"cheapest peer's ({where}) — {_verdict(worst, worst < 1.0)}")
    n_ok, per_core = saturation(load, relay, GOALS["saturation_p99_ms"])  # type: ignore[arg-type]
    lines.append(f"- (for sizing) p99 < 50 ms up to N={n_ok} measured; ≈{fmt(per_core, 0)} sessions per core by CPU"
                 if n_ok else "- (for sizing) p99 ≥ 50 ms at every N")
    return lines


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
    peers = peers_of(relays)
    for gw in gateways:
        out += [f"## {gw} against the project's targets", "", *goal_lines(load, idle, gw, peers), ""]
    out += ["![round trip vs sessions](results/latest.png)", ""]
    return "\n".join(out)
