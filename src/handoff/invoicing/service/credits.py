"""Credit use cases: an issued credit note settles the invoice it corrects; what that invoice
cannot take is the customer's credit balance (per customer, selling entity and currency), which
finance applies to another open invoice (`apply_credit`) or refunds (`refund_credit`). The rules
are `invoicing.domain.credits`; each use is an allocation of one credit note's credit, audited,
and pushed to the accounting systems (`accounting.service.credit_allocated` / `credit_refunded`:
a Xero credit-note allocation or refund payment, a QuickBooks zero payment linking the credit
memo and the invoice, an allocation event to the generic REST endpoint).

Concurrency: the invoice row is locked before its open amount is read, and the credit notes of
the balance before their remaining credit is read (PostgreSQL `FOR UPDATE`; SQLite serialises
writers), so two applications, or an application and a payment, never settle one amount twice
and one balance is never spent twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from handoff.accounting import service as accounting
from handoff.context import AppContext
from handoff.invoicing.domain.credits import (
    AllocationKind,
    CreditRuleError,
    CreditSource,
    Use,
    balance,
    for_corrected,
    to_apply,
    to_refund,
)
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind
from handoff.invoicing.repository.credits import Allocation, Balance, CreditRepository
from handoff.invoicing.repository.settlement import Settled, SettlementRepository
from handoff.invoicing.service.settlement import Settlement, settle, text
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork

__all__ = [
    "Allocation",
    "Balance",
    "CreditError",
    "CreditUse",
    "InvoiceCredits",
    "allocations",
    "apply_credit",
    "balances",
    "invoice_credits",
    "refund_credit",
    "refunds",
    "settle_corrected",
]


class CreditError(Exception):
    """A use of credit refused. `code` is stable: `not_found` (no such invoice), `invalid` (an
    amount or reference that cannot be used), `not_open` (the invoice has nothing open, or is
    not an issued invoice), `no_credit` (no credit, or not enough, in that entity and currency);
    `field` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True)
class CreditUse:
    """What an application or refund did: the amount, the allocations it made (credit note ->
    amount), the invoice it settled (if any) and the balance left in that entity and currency."""

    amount: Decimal
    balance: Decimal
    customer_id: str
    legal_entity: str
    currency: str
    allocations: list[tuple[str, Decimal]] = field(default_factory=list)
    invoice: str | None = None
    payment_state: str | None = None
    open_amount: Decimal | None = None


@dataclass(frozen=True)
class InvoiceCredits:
    """One invoice's settlement with the credit allocated to it (or, for a credit note, the uses
    of its credit), and the customer's balance that could still be applied to it."""

    invoice: Settled
    allocations: list[Allocation]
    available: Decimal

    @property
    def open_amount(self) -> Decimal:
        return self.invoice.open_amount


def _key(kind: AllocationKind, credit_note_id: int, invoice_id: int | None) -> str:
    return f"{kind.value}:{credit_note_id}:{invoice_id or '-'}:{uuid.uuid4().hex[:12]}"


def _refused(exc: CreditRuleError) -> CreditError:
    return CreditError(exc.code, str(exc), exc.field)


# -- a credit note is issued --------------------------------------------------------------------


def settle_corrected(uow: UnitOfWork, ctx: AppContext, credit_note_id: int, issued: Invoice, actor: str) -> None:
    """In the issuing transaction: the issued credit note settles what is open on the invoice it
    corrects; the rest of its credit is the customer's credit balance (audited on the customer)."""
    now = ctx.clock()
    repo, credit_notes = uow.repository(SettlementRepository), uow.repository(CreditRepository)
    target = repo.by_number(issued.corrects or "", lock=True)
    number, credit = issued.number or "", issued.totals.tax_inclusive
    on = issued.issue_date or now.date()
    if target is None or target.kind is not InvoiceKind.INVOICE or target.status is not DocumentStatus.ISSUED:
        allocated = ZERO
    else:
        allocated = for_corrected(credit, target.open_amount)
    if target is not None and allocated > 0:
        key = f"{AllocationKind.CORRECTED.value}:{credit_note_id}"
        credit_notes.add_allocation(key, AllocationKind.CORRECTED, credit_note_id, target.id, allocated, on, actor, now)
        done = settle(uow, ctx, target.id, now, actor, f"credit note {number}", action="invoice.credit_applied")
        _audit_invoice(uow, now, actor, done, number, allocated, f"credit note {number} corrects it")
        _push_allocation(uow, ctx, key, number, done, allocated, on, now)
    left = credit - allocated
    if left > 0 and target is not None:
        sources = credit_notes.credit_sources(target.customer_id, target.legal_entity, target.currency)
        uow.audit(
            at=now,
            actor=actor,
            action="customer_credit.added",
            entity_type="customer",
            entity_id=target.customer_id,
            reason=f"credit note {number}: more than is open on invoice {target.number}",
            after={
                "credit_note": number,
                "amount": left,
                "legal_entity": target.legal_entity,
                "currency": target.currency,
                "balance": balance(sources),
            },
        )


# -- a person uses a balance --------------------------------------------------------------------


def apply_credit(
    ctx: AppContext, invoice_number: str, actor: str, amount: Decimal | None = None, note: str = ""
) -> CreditUse:
    """Apply the customer's credit balance (same selling entity and currency) to an open invoice:
    `amount`, or as much as is open and available. Oldest credit notes are used first."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo, credit_notes = uow.repository(SettlementRepository), uow.repository(CreditRepository)
        target = repo.by_number(invoice_number, lock=True)
        if target is None:
            raise CreditError("not_found", f"no invoice numbered {invoice_number}", "invoice")
        if target.kind is not InvoiceKind.INVOICE or target.status is not DocumentStatus.ISSUED:
            what = "a credit note" if target.kind is InvoiceKind.CREDIT_NOTE else target.status.value
            message = f"invoice {invoice_number} is {what}: credit goes to issued invoices"
            raise CreditError("not_open", message, "invoice")
        sources = credit_notes.credit_sources(target.customer_id, target.legal_entity, target.currency, lock=True)
        where = f"invoice {invoice_number} ({target.currency}, {target.legal_entity})"
        try:
            uses = to_apply(amount, target.open_amount, sources, where)
        except CreditRuleError as exc:
            raise _refused(exc) from exc
        on = now.date()
        keys = [_key(AllocationKind.APPLIED, use.source.credit_note_id, target.id) for use in uses]
        for key, use in zip(keys, uses, strict=True):
            credit_notes.add_allocation(
                key, AllocationKind.APPLIED, use.source.credit_note_id, target.id, use.amount, on, actor, now, note=note
            )
        total = sum((u.amount for u in uses), ZERO)
        reason = note or f"customer credit applied to {invoice_number}"
        done = settle(uow, ctx, target.id, now, actor, reason, action="invoice.credit_applied")
        for key, use in zip(keys, uses, strict=True):
            _push_allocation(uow, ctx, key, use.source.number, done, use.amount, on, now)
        _audit_invoice(uow, now, actor, done, ", ".join(u.source.number for u in uses), total, reason)
        left = balance(sources) - total
        _audit_customer(uow, now, actor, "customer_credit.applied", target, uses, left, reason, invoice=invoice_number)
        uow.commit()
    return CreditUse(
        total,
        left,
        target.customer_id,
        target.legal_entity,
        target.currency,
        [(u.source.number, u.amount) for u in uses],
        invoice_number,
        done.invoice.payment_state.value,
        done.open_amount,
    )


def refund_credit(
    ctx: AppContext,
    customer_id: str,
    legal_entity: str,
    currency: str,
    amount: Decimal,
    actor: str,
    *,
    reference: str,
    on: date | None = None,
    note: str = "",
) -> CreditUse:
    """Record money paid back to the customer out of their credit balance in that entity and
    currency (`reference`: the bank transfer's). Oldest credit notes are used first."""
    reference = reference.strip()
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CreditRepository)
        sources = repo.credit_sources(customer_id, legal_entity, currency, lock=True)
        try:
            uses = to_refund(amount, sources, f"customer {customer_id} ({currency}, {legal_entity})")
        except CreditRuleError as exc:
            raise _refused(exc) from exc
        if not reference:
            raise CreditError("invalid", "a refund needs the reference of the money paid back", "reference")
        day = on or now.date()
        for use in uses:
            key = _key(AllocationKind.REFUND, use.source.credit_note_id, None)
            repo.add_allocation(
                key,
                AllocationKind.REFUND,
                use.source.credit_note_id,
                None,
                use.amount,
                day,
                actor,
                now,
                reference=reference,
                note=note,
            )
            accounting.credit_refunded(
                uow,
                ctx,
                key=key,
                credit_note=use.source.number,
                amount=text(use.amount),
                on=day,
                currency=currency,
                seller=legal_entity,
                reference=reference,
                at=now,
            )
        left = balance(sources) - amount
        holder = _Holder(customer_id, legal_entity, currency)
        reason = note or f"refund {reference}"
        _audit_customer(uow, now, actor, "customer_credit.refunded", holder, uses, left, reason, reference=reference)
        uow.commit()
    return CreditUse(amount, left, customer_id, legal_entity, currency, [(u.source.number, u.amount) for u in uses])


@dataclass(frozen=True)
class _Holder:
    customer_id: str
    legal_entity: str
    currency: str


def _audit_invoice(
    uow: UnitOfWork, now: datetime, actor: str, done: Settlement, credit_notes: str, amount: Decimal, reason: str
) -> None:
    inv = done.invoice
    uow.audit(
        at=now,
        actor=actor,
        action="invoice.credit_applied",
        entity_type="invoice",
        entity_id=inv.number,
        reason=reason,
        after={
            "credit_notes": credit_notes,
            "amount": amount,
            "paid": inv.paid_amount,
            "credited": inv.credited_amount,
            "open": inv.open_amount,
            "payment_state": inv.payment_state.value,
        },
    )


def _audit_customer(
    uow: UnitOfWork,
    now: datetime,
    actor: str,
    action: str,
    holder: Settled | _Holder,
    uses: Sequence[Use],
    left: Decimal,
    reason: str,
    **more: str,
) -> None:
    uow.audit(
        at=now,
        actor=actor,
        action=action,
        entity_type="customer",
        entity_id=holder.customer_id,
        reason=reason,
        after={
            "legal_entity": holder.legal_entity,
            "currency": holder.currency,
            "amount": sum((u.amount for u in uses), ZERO),
            "credit_notes": {u.source.number: u.amount for u in uses},
            "balance": left,
            **more,
        },
    )


def _push_allocation(
    uow: UnitOfWork,
    ctx: AppContext,
    key: str,
    credit_note: str,
    done: Settlement,
    amount: Decimal,
    on: date,
    now: datetime,
) -> None:
    inv = done.invoice
    accounting.credit_allocated(
        uow,
        ctx,
        key=key,
        credit_note=credit_note,
        invoice=inv.number,
        amount=text(amount),
        on=on,
        currency=inv.currency,
        seller=inv.legal_entity,
        state=inv.payment_state.value,
        credited=text(inv.credited_amount),
        order_ids=done.order_ids,
        at=now,
    )


# -- reads --------------------------------------------------------------------------------------


def balances(ctx: AppContext, customer_id: str | None = None) -> list[Balance]:
    """Customers' credit balances above zero (of one customer), by customer, entity and currency."""
    with ctx.engine.connect() as conn:
        return CreditRepository(conn).balances(customer_id)


def invoice_credits(ctx: AppContext, number: str) -> InvoiceCredits:
    """An invoice's settlement with the credit allocated to it and the balance that could still
    go to it; for a credit note, where its credit went."""
    with ctx.engine.connect() as conn:
        repo = CreditRepository(conn)
        inv = SettlementRepository(conn).by_number(number)
        if inv is None:
            raise CreditError("not_found", f"no invoice numbered {number}", "invoice")
        if inv.kind is InvoiceKind.CREDIT_NOTE:
            return InvoiceCredits(inv, repo.allocations(credit_note_id=inv.id), ZERO)
        sources: list[CreditSource] = repo.credit_sources(inv.customer_id, inv.legal_entity, inv.currency)
        return InvoiceCredits(inv, repo.allocations(invoice_id=inv.id), balance(sources))


def allocations(
    ctx: AppContext, customer_id: str | None = None, kinds: Sequence[str] | None = None, limit: int = 200
) -> list[Allocation]:
    """Uses of credit (of one customer's credit notes; of some kinds), oldest first."""
    wanted = [AllocationKind(k) for k in kinds] if kinds is not None else None
    with ctx.engine.connect() as conn:
        return CreditRepository(conn).allocations(customer_id=customer_id, kinds=wanted, limit=limit)


def refunds(ctx: AppContext, customer_id: str | None = None) -> list[Allocation]:
    return allocations(ctx, customer_id, [AllocationKind.REFUND.value])
