"""Payments use case: apply received payments to issued invoices.

Each payment row is kept once (its key is unique), so importing the same file again changes
nothing. The invoice's payment state follows from the sum of its payments and the credit applied
to it (`invoicing.service.settlement`: unpaid, partial, paid, credited); an invoice with nothing
open moves its orders to `paid` and the deal owner hears of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.accounting import service as accounting
from handoff.cash.formats.payment_file import PaymentFileError, PaymentRow
from handoff.cash.repository.payments import PaymentRepository
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import DocumentStatus, InvoiceKind, PaymentState
from handoff.invoicing.service import ledger, settlement
from handoff.kernel.storage.unit_of_work import UnitOfWork


@dataclass
class PaymentReport:
    applied: int = 0
    duplicates: int = 0
    states: dict[str, str] = field(default_factory=dict)  # invoice number -> payment state


def apply_payments(ctx: AppContext, rows: Sequence[PaymentRow], source: str, actor: str) -> PaymentReport:
    """All or nothing: an unknown or unissued invoice number fails the whole import, naming the line."""
    report = PaymentReport()
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        payments = uow.repository(PaymentRepository)
        # locked (PostgreSQL) until the commit: payments and credit on one invoice take turns
        found = ledger.invoice_summaries(uow, sorted({r.invoice_number for r in rows}), lock=True)
        bad = [
            (r.line, f"invoice_number {r.invoice_number!r} is not an issued invoice")
            for r in rows
            if r.invoice_number not in found
            or found[r.invoice_number].status is not DocumentStatus.ISSUED
            or found[r.invoice_number].kind is not InvoiceKind.INVOICE
        ]
        if bad:
            raise PaymentFileError(source, bad)
        known = payments.known_payments([r.payment_key for r in rows])
        fresh = [r for r in rows if r.payment_key not in known]
        report.duplicates = len(rows) - len(fresh)
        payments.add_imported(fresh, {number: invoice.id for number, invoice in found.items()}, source, now)
        report.applied = len(fresh)
        for number in sorted({r.invoice_number for r in fresh}):
            _, state = settle(uow, payments, ctx, found[number].id, now, actor, f"payment import {source}")
            report.states[number] = state.value
        uow.commit()
    return report


def refresh_payment_state(
    uow: UnitOfWork,
    ctx: AppContext,
    invoice_id: int,
    now: datetime,
    actor: str,
    reason: str,
    status: dict[str, Any] | None = None,
) -> PaymentState:
    """Recompute an invoice's paid amount and payment state from its payments (see `settle`)."""
    return settle(uow, uow.repository(PaymentRepository), ctx, invoice_id, now, actor, reason, status)[1]


def settle(
    uow: UnitOfWork,
    payments: PaymentRepository,
    ctx: AppContext,
    invoice_id: int,
    now: datetime,
    actor: str,
    reason: str,
    status: dict[str, Any] | None = None,
) -> tuple[str, PaymentState]:
    """Settle an invoice again from its payments (reversals count negative) through invoicing,
    which adds the credit allocated to it: paid amount, open amount and payment state, its orders
    `paid` (or back to `sent` after an undo), each order audited and its deal owner told (topic
    `payment_status`). New payments go to the accounting systems. Returns the invoice's number
    and its new state."""
    done = settlement.settle(
        uow, ctx, invoice_id, now, actor, reason, paid=payments.paid_total(invoice_id), status=status
    )
    inv = done.invoice
    _push_new_payments(
        uow,
        payments,
        ctx,
        invoice_id,
        inv.number,
        inv.currency,
        inv.payment_state,
        inv.paid_amount,
        done.order_ids,
        now,
    )
    return inv.number, inv.payment_state


def _push_new_payments(
    uow: UnitOfWork,
    payments: PaymentRepository,
    ctx: AppContext,
    invoice_id: int,
    number: str,
    currency: str,
    state: PaymentState,
    paid: Decimal,
    order_ids: list[int],
    now: datetime,
) -> None:
    """Queue each payment recorded in this transaction for the accounting systems (and the new
    state for CRM write-back). Outbox keys make a repeat of this harmless."""
    for p in payments.received(invoice_id, now):
        accounting.paid(
            uow,
            ctx,
            number=number,
            payment_key=p.payment_key,
            amount=p.amount,
            paid_on=p.paid_on,
            currency=currency,
            state=state.value,
            total_paid=paid,
            order_ids=order_ids,
            at=now,
        )


def apply_payment(
    ctx: AppContext, invoice_number: str, amount: Decimal, paid_on: date, reference: str, actor: str
) -> PaymentReport:
    """One payment entered by a person. Its key is its content, so submitting it twice applies it once."""
    key = hashlib.sha256(f"manual|{invoice_number}|{amount}|{paid_on}|{reference}".encode()).hexdigest()
    row = PaymentRow(1, invoice_number, amount, paid_on, reference, key)
    return apply_payments(ctx, [row], "manual entry", actor)
