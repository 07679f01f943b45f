"""Microseconds per routing decision: the default policy, and a 200-rule policy (hit late, and no hit).

Run: ``.venv/bin/python -m bench.policy_decide``
"""

from __future__ import annotations

import timeit
from pathlib import Path

from gateway.core.kinds import EndpointKind
from gateway.core.routing import SessionRequest
from gateway.policy.catalog import load_catalog
from gateway.policy.loader import PolicySource, compile_sources, load_policy_files
from routers import decide, wants_session_update

ROOT = Path(__file__).resolve().parents[1]


def big_policy_text(rules: int = 200) -> str:
    """A policy mixing every matcher kind; only the last rules can match the benchmark request."""
    lines = ["version: 1", "rules:"]
    for i in range(rules):
        variant = i % 5
        lines.append(f"  - id: rule-{i}")
        if variant == 0:
            lines.append(f"    match: {{tenant: tenant-{i}, intent: realtime}}")
        elif variant == 1:
            lines.append(f"    match: {{headers: {{x-team: {{glob: 'team-{i}-*'}}}}}}")
        elif variant == 2:
            lines.append(f"    match: {{model: {{regex: 'custom-{i}(-mini)?'}}}}")
        elif variant == 3:
            lines.append(f"    match: {{labels: {{tier: [gold-{i}, silver-{i}]}}, budget_used: {{gte: 0.5}}}}")
        else:
            lines.append(f"    match: {{any: [{{query: {{app: app-{i}}}}}, {{not: {{endpoint: realtime}}}}]}}")
        lines.append("    route: {model: gpt-realtime-2.1-mini, caps: {max_cost_usd: '1.00'}}")
    lines.append("  - id: late-hit")
    lines.append("    match: {tenant: acme, labels: {tier: gold}}")
    lines.append("    route: {model: gpt-realtime-2.1}")
    lines.append("defaults:")
    lines.append("  by_kind: {realtime: {model: gpt-realtime-2, prefer_requested: true}}")
    return "\n".join(lines) + "\n"


def _per_call_us(fn: object, number: int) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def main() -> None:
    catalog = load_catalog(ROOT / "config" / "models.yaml")
    default = load_policy_files([ROOT / "policies" / "default.yaml"], catalog)
    big = compile_sources([PolicySource("<200 rules>", big_policy_text())], catalog)
    agent = SessionRequest(
        endpoint=EndpointKind.REALTIME,
        path="/v1/realtime",
        requested_model="gpt-realtime-2",
        headers={"x-team": "blue"},
        query={"model": "gpt-realtime-2"},
        tenant="acme",
        key_id="key-1",
        key_labels={"tier": "gold"},
        budget_used_ratio=0.3,
    )
    stranger = SessionRequest(endpoint=EndpointKind.REALTIME, path="/v1/realtime", requested_model="gpt-realtime-2", tenant="nobody")
    n = 20_000
    results = {
        "default policy, decide": _per_call_us(lambda: decide(default, agent), n),
        "default policy, wants_session_update": _per_call_us(lambda: wants_session_update(default, agent), n),
        "200 rules, decide (rule 201 matches)": _per_call_us(lambda: decide(big, agent), n // 10),
        "200 rules, decide (no rule, default route)": _per_call_us(lambda: decide(big, stranger), n // 10),
        "200 rules, wants_session_update": _per_call_us(lambda: wants_session_update(big, agent), n // 10),
    }
    assert decide(big, agent).rule_id == "late-hit"
    for name, micros in results.items():
        print(f"{name:<46} {micros:8.2f} µs")


if __name__ == "__main__":
    main()
