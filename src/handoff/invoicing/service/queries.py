"""What the invoicing package shows to people and other packages: finance tasks and invoices (reads, no transaction)."""

from handoff.invoicing.repository.queries import (
    invoice_detail,
    invoice_document,
    invoice_payment_state,
    list_invoices,
    list_tasks,
)
from handoff.kernel.storage.paging import Page

__all__ = ["Page", "invoice_detail", "invoice_document", "invoice_payment_state", "list_invoices", "list_tasks"]
