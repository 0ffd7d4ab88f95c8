"""What the cash package shows to people and other packages: payments (reads, no transaction)."""

from handoff.cash.repository.queries import list_payments
from handoff.kernel.storage.paging import Page

__all__ = ["Page", "list_payments"]
