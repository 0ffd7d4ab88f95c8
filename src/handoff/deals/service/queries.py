"""What the deals package shows to people and other packages: orders, the exception queue and
order counts by state (reads, no transaction)."""

from handoff.deals.repository.queries import (
    list_exceptions,
    list_orders,
    order_detail,
    order_owner,
    orders_by_state,
)
from handoff.kernel.storage.paging import Page

__all__ = ["Page", "list_exceptions", "list_orders", "order_detail", "order_owner", "orders_by_state"]
