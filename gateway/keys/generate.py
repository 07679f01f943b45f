"""Pure helpers for gateway API keys: new secrets and ids, and parsing the CLI's limit arguments."""

from __future__ import annotations

import re
import secrets
from typing import Final, Iterable, Mapping

from gateway.core.api_keys import KeyRecord
from gateway.core.money import usd_to_micros

SECRET_PREFIX: Final = "vg_"
KEY_ID_PREFIX: Final = "key_"
#: 32 random bytes: 256 bits, far beyond guessing
SECRET_BYTES: Final = 32
_LABEL_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_TENANT = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def new_secret() -> str:
    """A new key secret in the ``vg_<random>`` form, shown once and never stored."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_key_id() -> str:
    """A public key id: safe to log, list and put on spans."""
    return KEY_ID_PREFIX + secrets.token_hex(8)


def check_tenant(tenant: str) -> str:
    """Tenant ids go into Redis key names and logs: keep them to a plain character set."""
    if not _TENANT.match(tenant):
        raise ValueError(f"tenant {tenant!r} must be 1-128 characters of letters, digits and _.:@-")
    return tenant


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """``mobile`` → ``{"mobile": "true"}``; ``team=ios`` → ``{"team": "ios"}``."""
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not _LABEL_NAME.match(name):
            raise ValueError(f"label name {name!r} must be 1-64 characters of letters, digits and _.:/-")
        labels[name] = value.strip() if sep else "true"
    return labels


def parse_routes(text: str | None) -> frozenset[str]:
    """``r1,r2`` → the routes or models a key may use (empty = any)."""
    if not text:
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def budget_micros(usd: str | None) -> int | None:
    """A USD budget given as text (``"50"``, ``"12.5"``) in micro-dollars; ``None`` = no budget."""
    if usd is None:
        return None
    micros = usd_to_micros(usd)
    if micros < 0:
        raise ValueError(f"budget must not be negative, got {usd}")
    return micros


def build_record(
    key_id: str,
    tenant: str,
    *,
    labels: Mapping[str, str] | None = None,
    allowed_routes: frozenset[str] = frozenset(),
    daily_budget_micros: int | None = None,
    monthly_budget_micros: int | None = None,
    max_concurrent_sessions: int | None = None,
    sessions_per_minute: int | None = None,
) -> KeyRecord:
    """A validated key record for a new key (the secret is never part of it)."""
    check_tenant(tenant)
    for name, value in (("max_sessions", max_concurrent_sessions), ("sessions_per_minute", sessions_per_minute)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    return KeyRecord(
        key_id=key_id,
        tenant=tenant,
        labels=dict(labels or {}),
        allowed_routes=allowed_routes,
        daily_budget_micros=daily_budget_micros,
        monthly_budget_micros=monthly_budget_micros,
        max_concurrent_sessions=max_concurrent_sessions,
        sessions_per_minute=sessions_per_minute,
    )
