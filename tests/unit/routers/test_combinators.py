"""all / any / not, implicit conjunction, and which attributes a decision reports."""

from __future__ import annotations

from typing import Callable

from routers import decide
from routers.compiled import CompiledPolicy
from tests.unit.routers.conftest import request
from tests.unit.routers.test_matchers import fires, one_rule

Compile = Callable[[str], CompiledPolicy]


def test_attributes_in_one_block_must_all_hold(compile_policy: Compile) -> None:
    """Two attributes in one match block are a conjunction."""
    match = "{tenant: acme, labels: {tier: gold}}"
    assert fires(compile_policy, match, tenant="acme", key_labels={"tier": "gold"})
    assert not fires(compile_policy, match, tenant="acme", key_labels={"tier": "free"})


def test_all_any_not(compile_policy: Compile) -> None:
    """`all` needs every child, `any` one child, `not` inverts."""
    match = "{all: [{tenant: acme}, {any: [{key: k1}, {key: k2}]}], not: {labels: {blocked: 'yes'}}}"
    assert fires(compile_policy, match, tenant="acme", key_id="k2")
    assert not fires(compile_policy, match, tenant="acme", key_id="k3")
    assert not fires(compile_policy, match, tenant="acme", key_id="k1", key_labels={"blocked": "yes"})


def test_matched_reports_only_the_passing_any_branch(compile_policy: Compile) -> None:
    """Attributes of a failed `any` branch do not appear in `matched`."""
    match = "{any: [{all: [{tenant: acme}, {key: nope}]}, {key: k1}]}"
    decision = decide(compile_policy(one_rule(match)), request(tenant="acme", key_id="k1"))
    assert decision.rule_id == "hit"
    assert dict(decision.matched) == {"key": "k1"}


def test_matched_lists_every_attribute_with_its_value(compile_policy: Compile) -> None:
    """A decision names each matched attribute and the request's value for it."""
    match = "{tenant: {glob: 'ac*'}, headers: {x-team: blue}, budget_used: {gte: 0.5}}"
    decision = decide(
        compile_policy(one_rule(match)), request(tenant="acme", headers={"x-team": "blue"}, budget_used_ratio=0.75)
    )
    assert dict(decision.matched) == {"tenant": "acme", "header:x-team": "blue", "budget_used": "0.75"}
    assert "tenant=acme" in decision.reason and "budget_used=0.75" in decision.reason


def test_not_of_absent_attribute_matches(compile_policy: Compile) -> None:
    """`not: {tenant: acme}` matches a request without a tenant."""
    assert fires(compile_policy, "{not: {tenant: acme}}")
