"""Comparisons against the floor and nginx, and the Markdown report."""

from __future__ import annotations

import math

from bench.nginx import render_config
from bench.profile import top_frames
from bench.report import FLOOR, NGINX, compare, render, saturation


def row(target: str, n: int, p50: float, p99: float, cpu: float, lost: int = 0) -> dict[str, object]:
    """A load row as ``phases.run_load`` makes it."""
    return {"target": target, "sessions": n, "rtt_ms": {"n": 10, "p50": p50, "p99": p99, "max": p99 * 2},
            "lost": lost, "failed": 0, "reordered": 0, "target_cpu_pct": cpu, "target_rss_mib": 20.0,
            "upstream_cpu_pct": 10.0, "loadgen_cpu_pct": 20.0, "lag_ms": {"p99": 0.5},
            "foreign_cpu_pct": {"0": 1.0, "1": 2.0}}


LOAD = [row(FLOOR, 100, 0.50, 1.00, 10.0), row(NGINX, 100, 0.55, 1.20, 11.0), row("gateway", 100, 1.00, 2.00, 33.0),
        row("Portkey gateway", 100, 0.9, 1.9, 30.0),
        row(FLOOR, 300, 0.55, 1.50, 20.0), row(NGINX, 300, 0.60, 1.80, 25.0), row("gateway", 300, 2.0, 3.5, 36.0),
        row("Portkey gateway", 300, 1.5, 3.0, 60.0),
        row(FLOOR, 400, 0.60, 2.00, 30.0), row(NGINX, 400, 0.70, 2.50, 40.0), row("gateway", 400, 30.0, 80.0, 95.0)]


def test_added_latency_and_ratio_to_nginx() -> None:
    """Added = relay − floor at the same N; ratios divide by nginx's added figure."""
    c = compare(LOAD, "gateway", 100)
    assert c is not None
    assert math.isclose(c.added_p99, 1.0) and math.isclose(c.nginx_added_p99, 0.2)
    assert math.isclose(c.ratio(c.added_p99, c.nginx_added_p99), 5.0)
    assert math.isclose(c.ratio(c.cpu_pct, c.nginx_cpu_pct), 3.0)


def test_ratio_is_undefined_when_nginx_adds_nothing() -> None:
    """Dividing by nginx's ~0 ms would be noise, so it is NaN."""
    c = compare(LOAD, "gateway", 100)
    assert c is not None and math.isnan(c.ratio(1.0, 0.0))


def test_saturation_is_last_n_under_the_limit() -> None:
    """p99 80 ms at 400 → the gateway holds up to 300, ≈833 sessions per core by CPU there."""
    n, per_core = saturation(LOAD, "gateway", 50.0)
    assert n == 300 and math.isclose(per_core, 300 * 100 / 36.0)


def test_rendered_report_has_tables_and_verdicts() -> None:
    """The Markdown names the machine, every target row and each goal with a verdict."""
    results = {
        "machine": {"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7", "kernel": "6", "date": "today", "nginx": "1.22.1"},
        "config": {"quick": True, "sessions": [100, 300, 400], "upstream": "picows",
                   "targets": [FLOOR, NGINX, "gateway", "Portkey gateway"], "warmup_s": 1, "duration_s": 3},
        "notes": ["a note"], "load": LOAD,
        "idle": [{"target": "gateway", "sessions": 100, "connected": 100, "kib_per_session": 30.0,
                  "setup_ms": {"p50": 13.0, "p99": 25.0}},
                 {"target": NGINX, "sessions": 100, "connected": 100, "kib_per_session": 18.0,
                  "setup_ms": {"p50": 5.0, "p99": 9.0}}],
    }
    text = render(results)
    assert "AMD EPYC, 2 cores" in text and "> a note" in text
    assert "| gateway | 400 | 30.00 | 80.00 |" in text
    assert "p99 over nginx's at 100 sessions ≤ 0.5 ms: 0.80 ms — **missed**" in text
    assert "p99 over nginx's at 300 sessions ≤ 2.0 ms: 1.70 ms — met" in text
    assert "CPU at 100 sessions ≤ 1.5× nginx's: 3.00× — **missed**" in text
    assert "set-up p50 within 10 ms of nginx's: 8.00 ms over — met" in text
    assert "idle memory ≤ 30 KiB per session: 30.0 KiB — met" in text
    assert "CPU below every peer's (Portkey gateway) at every N: at worst 1.10× the cheapest peer's (N=100) — **missed**" in text


def test_nginx_config_is_a_websocket_proxy() -> None:
    """One worker, HTTP/1.1 upstream with Upgrade/Connection headers, no buffering."""
    text = render_config(__import__("pathlib").Path("/tmp/x"), 8081, 9000)
    for needle in ("worker_processes 1;", "proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                   "proxy_set_header Connection $connection_upgrade;", "proxy_buffering off;",
                   "listen 127.0.0.1:8081;", "proxy_pass http://127.0.0.1:9000;"):
        assert needle in text


def test_profile_top_frames_from_collapsed_stacks() -> None:
    """Self time goes to the leaf, total to every frame on the stack once."""
    stacks = ("process 1:\"python\";thread (1);main (a.py:1);relay (b.py:2);send (c.py:3) 6\n"
              "process 1:\"python\";thread (1);main (a.py:1);relay (b.py:2) 2\n"
              "process 1:\"python\";thread (1);main (a.py:1);parse (d.py:4) 2\n")
    own, total, samples = top_frames(stacks)
    assert samples == 10
    assert (own[0].frame, own[0].self_pct) == ("send (c.py:3)", 60.0)
    assert next(h for h in total if h.frame == "relay (b.py:2)").total_pct == 80.0
    assert next(h for h in total if h.frame == "main (a.py:1)").total_pct == 100.0
