"""Accounting: live metering, per-session caps, per-tenant budgets and admission (shared state via the store)."""
