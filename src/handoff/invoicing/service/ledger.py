"""Invoice facts for other packages' use cases (approvals, cash, collections), read in their unit of
work so that a lock taken here holds until they commit, and for their reads outside one (reporting).
They ask here instead of reading the invoices table themselves; nothing here writes or commits.

What is open on an issued invoice is gross - payments - credit applied to it (`open_amount` on
`InvoiceSummary` and `UnpaidInvoice`); an invoice with nothing open (payment state `paid` or
`credited`) is in none of the open lists, so it is neither chased nor expected from the bank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from handoff.context import AppContext
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.repository.invoices import (
    InvoiceOrder,
    InvoiceRepository,
    InvoiceSummary,
    StoredInvoice,
)
from handoff.invoicing.repository.settlement import (
    EntityReceivables,
    Receivables,
    SettlementRepository,
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


def invoice_summary(uow: UnitOfWork, invoice_id: int, *, lock: bool = False) -> InvoiceSummary | None:
    """Number, kind, status, payment state and amounts (paid, credited, open) of one invoice,
    without its document; `lock` (PostgreSQL): row-locked until `uow` ends."""
    return uow.repository(InvoiceRepository).summary(invoice_id, lock=lock)


def invoice_summaries(uow: UnitOfWork, numbers: Iterable[str], *, lock: bool = False) -> dict[str, InvoiceSummary]:
    """The invoices among `numbers` that exist, by number; `lock` (PostgreSQL): row-locked until `uow` ends."""
    return uow.repository(InvoiceRepository).summaries_by_number(numbers, lock=lock)


def invoice_document(uow: UnitOfWork, invoice_id: int) -> Invoice | None:
    """The stored document of one invoice."""
    return uow.repository(InvoiceRepository).document(invoice_id)


def invoice_orders(uow: UnitOfWork, invoice_id: int) -> list[InvoiceOrder]:
    """The orders an invoice (or credit note) bills, by deal id, with their owner and state."""
    return uow.repository(InvoiceRepository).orders(invoice_id)


def open_invoices(uow: UnitOfWork, *, due_before: date | None = None) -> list[UnpaidInvoice]:
    """Issued invoices (not credit notes) with something open (gross - paid - credited), oldest
    first; `due_before`: only those due before that day (overdue on it)."""
    return uow.repository(SettlementRepository).open_invoices(due_before)


unpaid_invoices = open_invoices  # the earlier name: "unpaid" meant "not settled"


def overdue_invoices(ctx: AppContext, today: date) -> list[UnpaidInvoice]:
    """Open invoices due before `today`, read outside any transaction (reports), oldest first."""
    with ctx.engine.connect() as conn:
        return SettlementRepository(conn).open_invoices(today)


def receivables(ctx: AppContext, today: date, buckets: Sequence[tuple[int, int, str]]) -> dict[str, Receivables]:
    """Open receivables by currency: open and overdue totals and counts, and the open amount by
    days past due (`buckets`: (low, high, label); 0 = not due yet). Read outside any transaction."""
    with ctx.engine.connect() as conn:
        return SettlementRepository(conn).receivables(today, buckets)


def receivables_by_entity(ctx: AppContext, today: date, since: date) -> list[EntityReceivables]:
    """Open and overdue receivables and what was invoiced from `since` on (net of credit notes), by
    selling entity and currency (only those with either), by entity then currency. Read outside any transaction."""
    with ctx.engine.connect() as conn:
        return SettlementRepository(conn).receivables_by_entity(today, since)


def customer_open_balances(ctx: AppContext, customer_id: str) -> dict[str, Decimal]:
    """What the customer owes: the open amount (gross - paid - credited) of its issued invoices, by
    currency (none: nothing open). Read outside any transaction."""
    with ctx.engine.connect() as conn:
        return SettlementRepository(conn).customer_open(customer_id)


def invoiced_since(ctx: AppContext, since: date) -> dict[str, Decimal]:
    """Gross invoiced from `since` on, net of the credit notes issued meanwhile, by currency."""
    with ctx.engine.connect() as conn:
        return SettlementRepository(conn).invoiced_since(since)


def customer_has_invoices(uow: UnitOfWork, customer_id: str) -> bool:
    return uow.repository(InvoiceRepository).customer_has_invoices(customer_id)


__all__ = [
    "EntityReceivables",
    "InvoiceOrder",
    "InvoiceSummary",
    "Receivables",
    "StoredInvoice",
    "UnpaidInvoice",
    "customer_has_invoices",
    "customer_open_balances",
    "invoice_by_number",
    "invoice_document",
    "invoice_id_by_number",
    "invoice_orders",
    "invoice_summaries",
    "invoice_summary",
    "invoiced_since",
    "open_invoices",
    "overdue_invoices",
    "receivables",
    "receivables_by_entity",
    "unpaid_invoices",
]
