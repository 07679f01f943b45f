"""Accounting: live metering, per-session caps, per-tenant budgets and admission, shared state in Redis."""

from gateway.accounting.admission import Admission
from gateway.accounting.connect import create_store
from gateway.accounting.limits import Lease, TenantLimits
from gateway.accounting.service import AccountingService
from gateway.accounting.store import AccountingStore

__all__ = ["AccountingService", "AccountingStore", "Admission", "Lease", "TenantLimits", "create_store"]
