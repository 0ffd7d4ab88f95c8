"""Storage of payments and of the invoice rows cash reads and settles: open and payable invoices,
and, for now, the invoices' payment columns (`paid_amount`, `payment_state`, owned by invoicing)
and their orders' state (owned by deals) that a payment settles or reopens. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from sqlalchemy import select, update

from handoff.cash.domain.policy import OpenInvoice
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import DocumentStatus, InvoiceKind, PaymentState
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class PayableInvoice(NamedTuple):
    id: int
    number: str
    status: DocumentStatus
    gross_amount: Decimal
    currency: str


class SettledInvoice(NamedTuple):
    """An invoice as a change of its payments reports it."""

    number: str
    gross_amount: Decimal
    currency: str
    due_date: date | None


class InvoiceOrder(NamedTuple):
    id: int
    deal_id: str
    owner_email: str | None
    state: OrderState


class ReceivedPayment(NamedTuple):
    payment_key: str
    amount: Decimal
    paid_on: date


class ImportedPayment(Protocol):
    """A payment as a payment file gives it (`cash.formats.payment_file.PaymentRow`)."""

    @property
    def payment_key(self) -> str: ...
    @property
    def invoice_number(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def paid_on(self) -> date: ...


class PaymentRepository:
    """Payments, and the invoices and orders they settle, on a unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._postgres = uow.is_postgres

    # -- invoices --------------------------------------------------------------------------------

    def open_invoices(self) -> tuple[list[OpenInvoice], dict[str, int]]:
        """Issued, not fully paid invoices as the matcher sees them, in id order; and number -> id."""
        inv = schema.invoices
        rows = self._conn.execute(
            select(
                inv.c.id,
                inv.c.number,
                inv.c.customer_id,
                inv.c.customer_name,
                inv.c.currency,
                inv.c.gross_amount,
                inv.c.paid_amount,
                inv.c.payment_reference,
                inv.c.due_date,
            )
            .where(
                inv.c.status == DocumentStatus.ISSUED.value,
                inv.c.kind == InvoiceKind.INVOICE.value,
                inv.c.payment_state != PaymentState.PAID.value,
            )
            .order_by(inv.c.id)
        )
        invoices, ids = [], {}
        for r in rows:
            invoices.append(
                OpenInvoice(
                    r.number,
                    r.customer_id,
                    r.customer_name,
                    r.currency,
                    r.gross_amount - r.paid_amount,
                    r.payment_reference or "",
                    r.due_date,
                )
            )
            ids[r.number] = r.id
        return invoices, ids

    def invoices_by_number(self, numbers: Sequence[str]) -> dict[str, PayableInvoice]:
        """The invoices with these numbers (any status); on PostgreSQL locked until the transaction ends."""
        inv = schema.invoices
        q = select(inv.c.id, inv.c.number, inv.c.status, inv.c.gross_amount, inv.c.currency).where(
            inv.c.number.in_(numbers)
        )
        if self._postgres:
            q = q.with_for_update()
        return {
            r.number: PayableInvoice(r.id, r.number, DocumentStatus(r.status), r.gross_amount, r.currency)
            for r in self._conn.execute(q)
        }

    def settled_invoice(self, invoice_id: int) -> SettledInvoice:
        inv = schema.invoices
        r = self._conn.execute(
            select(inv.c.number, inv.c.gross_amount, inv.c.currency, inv.c.due_date).where(inv.c.id == invoice_id)
        ).one()
        return SettledInvoice(r.number, r.gross_amount, r.currency, r.due_date)

    def set_payment_state(self, invoice_id: int, paid: Decimal, state: PaymentState) -> None:
        inv = schema.invoices
        self._conn.execute(
            update(inv).where(inv.c.id == invoice_id).values(paid_amount=paid, payment_state=state.value)
        )

    def orders_of(self, invoice_id: int) -> list[InvoiceOrder]:
        o, io = schema.orders, schema.invoice_orders
        rows = self._conn.execute(
            select(o.c.id, o.c.deal_id, o.c.owner_email, o.c.state)
            .join(io, io.c.order_id == o.c.id)
            .where(io.c.invoice_id == invoice_id)
        )
        return [InvoiceOrder(r.id, r.deal_id, r.owner_email, OrderState(r.state)) for r in rows]

    def set_order_state(self, order_id: int, state: OrderState, now: datetime) -> None:
        o = schema.orders
        self._conn.execute(update(o).where(o.c.id == order_id).values(state=state.value, updated_at=now))

    # -- payments --------------------------------------------------------------------------------

    def known_payments(self, keys: Sequence[str]) -> set[str]:
        """Those of the payment keys already stored."""
        pay = schema.payments
        return set(self._conn.execute(select(pay.c.payment_key).where(pay.c.payment_key.in_(keys))).scalars())

    def add_imported(
        self, rows: Sequence[ImportedPayment], invoice_ids: Mapping[str, int], source: str, now: datetime
    ) -> None:
        """Store payments of a payment file (a key already stored is skipped)."""
        payments = [
            {
                "payment_key": r.payment_key,
                "invoice_id": invoice_ids[r.invoice_number],
                "amount": r.amount,
                "paid_on": r.paid_on,
                "source": source,
                "received_at": now,
            }
            for r in rows
        ]
        insert_many(self._conn, schema.payments, payments, ["payment_key"])

    def add_for_match(self, match_id: int, line_id: str, paid_on: date, now: datetime, sign: int = 1) -> list[int]:
        """Payments for a match's allocations (and a write-off of an accepted short payment), or their
        reversal (`sign=-1`) when the match is undone. Keys make each write happen once. Returns the
        invoices they are for."""
        a = schema.cash_allocations
        rows = self._conn.execute(
            select(a.c.invoice_id, a.c.amount, a.c.write_off).where(a.c.match_id == match_id)
        ).all()
        kind = "cash" if sign > 0 else "cash-undo"
        payments = []
        for r in rows:
            payments.append(
                {
                    "payment_key": f"{kind}:{match_id}:{r.invoice_id}",
                    "invoice_id": r.invoice_id,
                    "amount": sign * r.amount,
                    "paid_on": paid_on,
                    "source": f"bank:{line_id}",
                    "received_at": now,
                }
            )
            if r.write_off:
                payments.append(
                    {
                        "payment_key": f"{kind}-write-off:{match_id}:{r.invoice_id}",
                        "invoice_id": r.invoice_id,
                        "amount": sign * r.write_off,
                        "paid_on": paid_on,
                        "source": f"write-off:{line_id}",
                        "received_at": now,
                    }
                )
        insert_many(self._conn, schema.payments, payments, ["payment_key"])
        return [r.invoice_id for r in rows]

    def paid_total(self, invoice_id: int) -> Decimal:
        """The sum of an invoice's payments (reversals count negative)."""
        pay = schema.payments
        amounts = self._conn.execute(select(pay.c.amount).where(pay.c.invoice_id == invoice_id)).scalars()
        return sum(amounts, ZERO)

    def received(self, invoice_id: int, at: datetime) -> list[ReceivedPayment]:
        """An invoice's payments recorded at `at` (in this transaction)."""
        pay = schema.payments
        rows = self._conn.execute(
            select(pay.c.payment_key, pay.c.amount, pay.c.paid_on).where(
                pay.c.invoice_id == invoice_id, pay.c.received_at == at
            )
        )
        return [ReceivedPayment(r.payment_key, r.amount, r.paid_on) for r in rows]
