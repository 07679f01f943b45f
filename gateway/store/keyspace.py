"""Redis key names: every per-tenant key carries a ``{tenant}`` hash tag so scripts run on Redis Cluster."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.accounting.periods import utc_day, utc_month

DAY_TTL_S = 3 * 86_400
MONTH_TTL_S = 40 * 86_400
SESSION_TTL_S = 3 * 86_400


def _tag(tenant: str) -> str:
    """Braces inside a tenant id would break the hash tag: replace them."""
    return tenant.replace("{", "(").replace("}", ")")


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Names the keys of one deployment; ``prefix`` separates deployments (and tests) sharing a server."""

    prefix: str = "vg"

    def leases(self, tenant: str) -> str:
        return f"{self.prefix}:{{{_tag(tenant)}}}:leases"

    def bucket(self, tenant: str) -> str:
        return f"{self.prefix}:{{{_tag(tenant)}}}:bucket"

    def day_spend(self, tenant: str, wall: float) -> str:
        return f"{self.prefix}:{{{_tag(tenant)}}}:spend:d:{utc_day(wall)}"

    def month_spend(self, tenant: str, wall: float) -> str:
        return f"{self.prefix}:{{{_tag(tenant)}}}:spend:m:{utc_month(wall)}"

    def session(self, tenant: str, session_id: str) -> str:
        return f"{self.prefix}:{{{_tag(tenant)}}}:sess:{session_id}"

    @property
    def records(self) -> str:
        return f"{self.prefix}:sessions"
