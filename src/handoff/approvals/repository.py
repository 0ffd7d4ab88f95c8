"""Approvals storage: the only SQL for the approvals table, and the approvals read model.

A credit-note request is about an invoice, which invoicing owns: this repository also reads the
invoice to credit and, for now, writes the credit-note draft an approval makes (an invoices row
linked to the same orders) and its voiding. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Engine, Select, func, select, update

from handoff.approvals.domain import Approval, ApprovalKind, ApprovalStatus, quantities_in
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, invoice_from_json
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page
from handoff.kernel.storage.unit_of_work import UnitOfWork

OPEN = (ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value)


class InvoiceToCredit(NamedTuple):
    id: int
    kind: InvoiceKind
    status: DocumentStatus
    invoice: Invoice


class CreditNoteDocument(NamedTuple):
    """An invoices row as voiding a credit-note draft needs it."""

    kind: InvoiceKind
    status: DocumentStatus
    number: str | None
    gross_amount: Decimal


def _approval(r: Any) -> Approval:
    return Approval(
        r.id,
        ApprovalKind(r.kind),
        r.subject,
        r.payload,
        ApprovalStatus(r.status),
        r.requested_by,
        r.requested_at,
        r.decided_by,
        r.decided_at,
        r.decision_note,
        r.result_invoice_id,
    )


class ApprovalRepository:
    """Requests and decisions, inside a unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._postgres = uow.is_postgres

    def get(self, approval_id: int) -> Approval | None:
        a = schema.approvals
        row = self._conn.execute(select(a).where(a.c.id == approval_id)).one_or_none()
        return _approval(row) if row is not None else None

    def made(self, invoice_id: int) -> Approval | None:
        """The approval whose credit-note draft is invoice `invoice_id`, if any."""
        a = schema.approvals
        row = self._conn.execute(select(a).where(a.c.result_invoice_id == invoice_id)).one_or_none()
        return _approval(row) if row is not None else None

    def credited_quantities(self, number: str) -> list[dict[int, Decimal]]:
        """Quantities credited or asked for on invoice `number` by pending and approved credit-note
        requests (a voided draft frees them)."""
        a, inv = schema.approvals, schema.invoices
        q = (
            select(a.c.payload)
            .outerjoin(inv, inv.c.id == a.c.result_invoice_id)
            .where(
                a.c.kind == ApprovalKind.CREDIT_NOTE.value,
                a.c.subject == number,
                a.c.status.in_(OPEN),
                (inv.c.status.is_(None)) | (inv.c.status != DocumentStatus.VOID.value),
            )
        )
        return [quantities_in(p) for p in self._conn.execute(q).scalars()]

    def add(self, kind: ApprovalKind, subject: str, payload: Mapping[str, Any], requested_by: str, at: datetime) -> int:
        """A new pending request; its id."""
        a = schema.approvals
        q = (
            a.insert()
            .values(
                kind=kind.value,
                subject=subject,
                payload=payload,
                status=ApprovalStatus.PENDING.value,
                requested_by=requested_by,
                requested_at=at,
            )
            .returning(a.c.id)
        )
        approval_id: int = self._conn.execute(q).scalar_one()
        return approval_id

    def decide(self, approval_id: int, status: ApprovalStatus, actor: str, note: str, at: datetime) -> bool:
        """Move the approval from pending to `status`; False when it was no longer pending (someone
        else decided first)."""
        a = schema.approvals
        done = self._conn.execute(
            update(a)
            .where(a.c.id == approval_id, a.c.status == ApprovalStatus.PENDING.value)
            .values(status=status.value, decided_by=actor, decided_at=at, decision_note=note)
        )
        return done.rowcount == 1

    def set_result(self, approval_id: int, invoice_id: int) -> None:
        a = schema.approvals
        self._conn.execute(update(a).where(a.c.id == approval_id).values(result_invoice_id=invoice_id))

    def set_contract_review(self, contract_id: str, state: str, at: datetime) -> None:
        """A contract's terms review decided: `contracts.review_state` (the billing run bills only
        `approved` contracts). Contracts owns the table; the decision is made here, as credit notes'
        drafts are."""
        c = schema.contracts
        self._conn.execute(update(c).where(c.c.contract_id == contract_id).values(review_state=state, updated_at=at))

    # -- the invoices credited --------------------------------------------------------------------

    def invoice_to_credit(self, number: str) -> InvoiceToCredit | None:
        """The invoice numbered `number`; on PostgreSQL its row stays locked to the end of the
        transaction, so requests for one invoice queue and their quantities add up."""
        inv = schema.invoices
        q = select(inv.c.id, inv.c.status, inv.c.kind, inv.c.document).where(inv.c.number == number)
        if self._postgres:
            q = q.with_for_update()
        row = self._conn.execute(q).one_or_none()
        if row is None:
            return None
        return InvoiceToCredit(
            row.id, InvoiceKind(row.kind), DocumentStatus(row.status), invoice_from_json(row.document)
        )

    def add_credit_note_draft(self, invoice_id: int, draft: Invoice, draft_key: str, at: datetime) -> int:
        """Store `draft` (crediting invoice `invoice_id`) as a draft for the same customer and the
        same orders; its id."""
        inv, io = schema.invoices, schema.invoice_orders
        original = self._conn.execute(
            select(inv.c.legal_entity, inv.c.customer_id, inv.c.customer_name).where(inv.c.id == invoice_id)
        ).one()
        draft_id: int = self._conn.execute(
            inv.insert()
            .values(
                draft_key=draft_key,
                kind=draft.kind.value,
                status=DocumentStatus.DRAFT.value,
                payment_state="unpaid",
                legal_entity=original.legal_entity,
                customer_id=original.customer_id,
                customer_name=original.customer_name,
                currency=draft.currency,
                net_amount=draft.totals.tax_exclusive,
                tax_amount=draft.totals.tax,
                gross_amount=draft.totals.tax_inclusive,
                paid_amount=ZERO,
                document=to_jsonable(draft),
                created_at=at,
            )
            .returning(inv.c.id)
        ).scalar_one()
        orders = self._conn.execute(select(io.c.order_id).where(io.c.invoice_id == invoice_id)).scalars().all()
        if orders:
            self._conn.execute(io.insert(), [{"invoice_id": draft_id, "order_id": o} for o in orders])
        return draft_id

    def credit_note_document(self, invoice_id: int) -> CreditNoteDocument | None:
        inv = schema.invoices
        row = self._conn.execute(
            select(inv.c.kind, inv.c.status, inv.c.number, inv.c.gross_amount).where(inv.c.id == invoice_id)
        ).one_or_none()
        if row is None:
            return None
        return CreditNoteDocument(InvoiceKind(row.kind), DocumentStatus(row.status), row.number, row.gross_amount)

    def void_draft(self, invoice_id: int) -> bool:
        """Void the document if it is still a draft; False when it is not (issued meanwhile)."""
        inv = schema.invoices
        done = self._conn.execute(
            update(inv)
            .where(inv.c.id == invoice_id, inv.c.status == DocumentStatus.DRAFT.value)
            .values(status=DocumentStatus.VOID.value)
        )
        return done.rowcount == 1

    def document_status(self, invoice_id: int) -> DocumentStatus:
        inv = schema.invoices
        return DocumentStatus(self._conn.execute(select(inv.c.status).where(inv.c.id == invoice_id)).scalar_one())


class ApprovalQueries:
    """The approvals read model, on connections of its own: one approval or a page of them, each
    with the id of the invoice it is about (`invoice_id`; none for an unknown number) and the
    document status of the credit note made on approval (`result_status`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def _select() -> Select[Any]:
        a, inv = schema.approvals, schema.invoices
        result = inv.alias("result")
        return select(
            a.c.id,
            a.c.kind,
            a.c.subject,
            inv.c.id.label("invoice_id"),
            a.c.payload,
            a.c.status,
            a.c.requested_by,
            a.c.requested_at,
            a.c.decided_by,
            a.c.decided_at,
            a.c.decision_note,
            a.c.result_invoice_id,
            result.c.status.label("result_status"),
        ).select_from(
            a.outerjoin(inv, inv.c.number == a.c.subject).outerjoin(result, result.c.id == a.c.result_invoice_id)
        )

    def one(self, approval_id: int) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._select().where(schema.approvals.c.id == approval_id)).one_or_none()
        return dict(row._mapping) if row is not None else None

    def page(self, statuses: tuple[str, ...] | None, subject: str | None, limit: int, offset: int) -> Page:
        """Approvals in one of `statuses` (all with None) and about `subject` (any with None), newest first."""
        a = schema.approvals
        q = self._select().order_by(a.c.requested_at.desc(), a.c.id.desc())
        if statuses:
            q = q.where(a.c.status.in_(statuses))
        if subject:
            q = q.where(a.c.subject == subject)
        return fetch_page(self._engine, q, limit, offset)

    def pending_count(self) -> int:
        """An index lookup: shown on every finance page."""
        a = schema.approvals
        q = select(func.count()).select_from(a).where(a.c.status == ApprovalStatus.PENDING.value)
        with self._engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
