"""Invoice facts for other packages' use cases (approvals, cash, collections), read in their unit of
work so that a lock taken here holds until they commit. They ask here instead of reading the
invoices table themselves; nothing here writes or commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.repository.invoices import (
    InvoiceOrder,
    InvoiceRepository,
    InvoiceSummary,
    StoredInvoice,
    UnpaidInvoice,
)
from handoff.kernel.storage.unit_of_work import UnitOfWork


def invoice_by_number(uow: UnitOfWork, number: str, *, lock: bool = False) -> StoredInvoice | None:
    """The invoice numbered `number` with its id, kind, status and document; `lock` (PostgreSQL):
    row-locked until `uow` ends, so requests about one invoice queue."""
    return uow.repository(InvoiceRepository).by_number(number, lock=lock)


def invoice_id_by_number(uow: UnitOfWork, number: str) -> int | None:
    """The id of the invoice numbered `number`, if there is one."""
    return uow.repository(InvoiceRepository).id_of(number)


def invoice_summary(uow: UnitOfWork, invoice_id: int) -> InvoiceSummary | None:
    """Number, kind, status, payment state and amounts of one invoice, without its document."""
    return uow.repository(InvoiceRepository).summary(invoice_id)


def invoice_summaries(uow: UnitOfWork, numbers: Iterable[str], *, lock: bool = False) -> dict[str, InvoiceSummary]:
    """The invoices among `numbers` that exist, by number; `lock` (PostgreSQL): row-locked until `uow` ends."""
    return uow.repository(InvoiceRepository).summaries_by_number(numbers, lock=lock)


def invoice_document(uow: UnitOfWork, invoice_id: int) -> Invoice | None:
    """The stored document of one invoice."""
    return uow.repository(InvoiceRepository).document(invoice_id)


def invoice_orders(uow: UnitOfWork, invoice_id: int) -> list[InvoiceOrder]:
    """The orders an invoice (or credit note) bills, by deal id, with their owner and state."""
    return uow.repository(InvoiceRepository).orders(invoice_id)


def unpaid_invoices(uow: UnitOfWork, *, due_before: date | None = None) -> list[UnpaidInvoice]:
    """Issued invoices (not credit notes) not fully paid, oldest first; `due_before`: only those
    due before that day (overdue on it)."""
    return uow.repository(InvoiceRepository).unpaid(due_before)


def customer_has_invoices(uow: UnitOfWork, customer_id: str) -> bool:
    return uow.repository(InvoiceRepository).customer_has_invoices(customer_id)


__all__ = [
    "InvoiceOrder",
    "InvoiceSummary",
    "StoredInvoice",
    "UnpaidInvoice",
    "customer_has_invoices",
    "invoice_by_number",
    "invoice_document",
    "invoice_id_by_number",
    "invoice_orders",
    "invoice_summaries",
    "invoice_summary",
    "unpaid_invoices",
]
