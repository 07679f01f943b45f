"""Pure key helpers: secret format, ids, labels, routes, budgets, record validation."""

from __future__ import annotations

import pytest

from gateway.keys.generate import (
    budget_micros,
    build_record,
    check_tenant,
    new_key_id,
    new_secret,
    parse_labels,
    parse_routes,
)


def test_secrets_have_the_vg_prefix_and_are_unique() -> None:
    """New secrets look like vg_<random> with at least 256 bits and never repeat."""
    made = {new_secret() for _ in range(200)}
    assert len(made) == 200
    assert all(s.startswith("vg_") and len(s) >= 3 + 43 for s in made)


def test_key_ids_are_public_looking_and_unique() -> None:
    """Key ids are key_<16 hex> and distinct."""
    ids = {new_key_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.startswith("key_") and len(i) == 20 for i in ids)


def test_labels_parse_bare_names_and_pairs() -> None:
    """--label mobile becomes mobile=true; --label k=v keeps the value."""
    assert parse_labels(["mobile", "team=ios", "env = prod"]) == {"mobile": "true", "team": "ios", "env": "prod"}


def test_labels_with_bad_names_are_refused() -> None:
    """Label names with spaces or empty names are refused."""
    with pytest.raises(ValueError):
        parse_labels(["bad name=x"])
    with pytest.raises(ValueError):
        parse_labels(["=x"])


def test_routes_split_on_commas() -> None:
    """--routes r1, r2 gives a set; empty means any route."""
    assert parse_routes("r1, r2,,") == frozenset({"r1", "r2"})
    assert parse_routes(None) == frozenset()


def test_budgets_are_exact_micro_dollars() -> None:
    """USD text converts exactly; fractions of a micro-dollar and negatives are refused."""
    assert budget_micros("50") == 50_000_000
    assert budget_micros("0.25") == 250_000
    assert budget_micros(None) is None
    with pytest.raises(ValueError):
        budget_micros("0.0000001")
    with pytest.raises(ValueError):
        budget_micros("-1")


def test_tenants_with_braces_or_spaces_are_refused() -> None:
    """Tenant ids go into Redis key names: braces and spaces are refused."""
    assert check_tenant("acme-co.eu") == "acme-co.eu"
    for bad in ("", "a b", "{x}", "x" * 200):
        with pytest.raises(ValueError):
            check_tenant(bad)


def test_build_record_refuses_zero_limits() -> None:
    """max_sessions and sessions_per_minute must be at least 1."""
    record = build_record("key_1", "acme", max_concurrent_sessions=2, sessions_per_minute=5)
    assert record.max_concurrent_sessions == 2 and not record.browser
    with pytest.raises(ValueError):
        build_record("key_1", "acme", max_concurrent_sessions=0)
    with pytest.raises(ValueError):
        build_record("key_1", "acme", sessions_per_minute=0)
