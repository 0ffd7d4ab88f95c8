"""Storage of amendment reviews: the `review_amendment` task, the order's deal as last applied, the
deal's invoices with the credit asked of them, the invoice draft for a difference, and the steps
that resolved a review (`amendment_resolutions`). Nothing here commits.

Reads of other packages' tables, read-only: the task and the order (deals writes them at intake),
and the credit-note requests (`approvals`), whose claim on an invoice counts exactly as
`ApprovalRepository.credited_quantities` counts it (pending or approved, its draft not voided).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select, update

from handoff.approvals.domain import quantities_in
from handoff.deals.domain.orders import DealInput, LineInput
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, invoice_from_json
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import D
from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

REVIEW = "review_amendment"
_OPEN = "open"


class ReviewTask(NamedTuple):
    id: int
    order_id: int
    deal_id: str
    kind: str
    status: str  # open | done | cancelled
    note: str
    assignee: str | None
    created_at: datetime
    done_at: datetime | None


class AmendedOrder(NamedTuple):
    """An order with its deal as last applied (the new version an amendment brought)."""

    id: int
    deal_id: str
    state: str
    version_event: str
    version_at: datetime
    deal: DealInput


class DealInvoice(NamedTuple):
    """An invoice (not a credit note) billing the order, issued or still a draft."""

    id: int
    number: str | None
    status: DocumentStatus
    invoice: Invoice


class Resolution(NamedTuple):
    id: int
    task_id: int
    action: str  # bill | credit | dismiss
    reason: str
    resolved_by: str
    resolved_at: datetime
    version_event: str
    invoice_id: int | None
    approval_ids: list[int]
    difference: dict[str, Any]


_t, _o, _inv, _io, _r = (
    schema.tasks,
    schema.orders,
    schema.invoices,
    schema.invoice_orders,
    schema.amendment_resolutions,
)


class AmendmentRepository(OnUnitOfWorkOrEngine):
    """On a unit of work (reads and writes in its transaction; row locks on PostgreSQL, SQLite
    serialises writers) or, for reads only, on an engine."""

    def task(self, task_id: int, *, lock: bool = False) -> ReviewTask | None:
        q = select(
            _t.c.id,
            _t.c.order_id,
            _t.c.deal_id,
            _t.c.kind,
            _t.c.status,
            _t.c.note,
            _t.c.assignee,
            _t.c.created_at,
            _t.c.done_at,
        ).where(_t.c.id == task_id)
        with self._connect() as conn:
            if lock and conn.dialect.name == "postgresql":
                q = q.with_for_update()
            row = conn.execute(q).one_or_none()
        return None if row is None else ReviewTask(*row)

    def order(self, order_id: int, *, lock: bool = False) -> AmendedOrder:
        """The order; `lock` (PostgreSQL): held to the end of the transaction, so intake applying
        a newer version and a second review step wait for this one."""
        q = select(_o.c.id, _o.c.deal_id, _o.c.state, _o.c.version_event, _o.c.version_at, _o.c.data).where(
            _o.c.id == order_id
        )
        with self._connect() as conn:
            if lock and conn.dialect.name == "postgresql":
                q = q.with_for_update()
            r = conn.execute(q).one()
        lines = tuple(LineInput(**ln) for ln in r.data.get("lines") or ())
        return AmendedOrder(
            r.id, r.deal_id, r.state, r.version_event, r.version_at, DealInput.from_mapping(r.data, lines)
        )

    def deal_invoices(self, order_id: int) -> list[DealInvoice]:
        """The invoices billing the order, issued or drafts (voided ones bill nothing), oldest first."""
        q = (
            select(_inv.c.id, _inv.c.number, _inv.c.status, _inv.c.document)
            .join(_io, _io.c.invoice_id == _inv.c.id)
            .where(
                _io.c.order_id == order_id,
                _inv.c.kind == InvoiceKind.INVOICE.value,
                _inv.c.status.in_([DocumentStatus.ISSUED.value, DocumentStatus.DRAFT.value]),
            )
            .order_by(_inv.c.id)
        )
        with self._connect() as conn:
            rows = conn.execute(q).all()
        return [DealInvoice(r.id, r.number, DocumentStatus(r.status), invoice_from_json(r.document)) for r in rows]

    def claimed(self, numbers: Iterable[str]) -> dict[str, dict[int, Decimal]]:
        """By invoice number, the quantities per line that credit-note requests take back or ask
        to: pending and approved requests whose credit note is not voided."""
        a, inv = schema.approvals, schema.invoices
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        q = (
            select(a.c.subject, a.c.payload)
            .outerjoin(inv, inv.c.id == a.c.result_invoice_id)
            .where(
                a.c.kind == "credit_note",
                a.c.subject.in_(wanted),
                a.c.status.in_(["pending", "approved"]),
                (inv.c.status.is_(None)) | (inv.c.status != DocumentStatus.VOID.value),
            )
        )
        found: dict[str, dict[int, Decimal]] = {}
        with self._connect() as conn:
            for subject, payload in conn.execute(q):
                claimed = found.setdefault(subject, {})
                for line_no, quantity in quantities_in(payload).items():
                    claimed[line_no] = claimed.get(line_no, D(0)) + quantity
        return found

    def raises(self, order_id: int) -> dict[int, dict[int, Decimal]]:
        """The price adjustment lines of the order's difference invoices: invoice id -> line
        number -> the unit price it raised."""
        q = select(_r.c.invoice_id, _r.c.difference).where(_r.c.order_id == order_id, _r.c.invoice_id.is_not(None))
        with self._connect() as conn:
            return {
                r.invoice_id: {int(n): D(p) for n, p in (r.difference.get("raises") or {}).items()}
                for r in conn.execute(q)
            }

    def resolutions(self, task_id: int) -> list[Resolution]:
        """The steps that resolved this review, newest first."""
        q = (
            select(
                _r.c.id,
                _r.c.task_id,
                _r.c.action,
                _r.c.reason,
                _r.c.resolved_by,
                _r.c.resolved_at,
                _r.c.version_event,
                _r.c.invoice_id,
                _r.c.approval_ids,
                _r.c.difference,
            )
            .where(_r.c.task_id == task_id)
            .order_by(_r.c.id.desc())
        )
        with self._connect() as conn:
            return [Resolution(**r._mapping) for r in conn.execute(q)]

    # -- writes ----------------------------------------------------------------------------------

    def add_resolution(
        self,
        task: ReviewTask,
        version_event: str,
        action: str,
        reason: str,
        actor: str,
        at: datetime,
        difference: Mapping[str, Any],
        approval_ids: list[int] | None = None,
    ) -> int:
        resolution_id: int = self._tx.execute(
            _r.insert()
            .values(
                task_id=task.id,
                order_id=task.order_id,
                deal_id=task.deal_id,
                version_event=version_event,
                action=action,
                reason=reason,
                resolved_by=actor,
                resolved_at=at,
                invoice_id=None,
                approval_ids=approval_ids or [],
                difference=dict(difference),
            )
            .returning(_r.c.id)
        ).scalar_one()
        return resolution_id

    def add_difference_draft(self, resolution_id: int, order_id: int, draft: Invoice, at: datetime) -> int:
        """Store the invoice draft for a difference, linked to the order and to the step that made
        it (`draft_key` `amendment:RESOLUTION`); its id."""
        draft_id: int = self._tx.execute(
            _inv.insert()
            .values(
                draft_key=f"amendment:{resolution_id}",
                kind=draft.kind.value,
                status=DocumentStatus.DRAFT.value,
                payment_state="unpaid",
                legal_entity=draft.seller.code,
                customer_id=draft.buyer.customer_id,
                customer_name=draft.buyer.legal_name,
                currency=draft.currency,
                net_amount=draft.totals.tax_exclusive,
                tax_amount=draft.totals.tax,
                gross_amount=draft.totals.tax_inclusive,
                paid_amount=D(0),
                document=to_jsonable(draft),
                created_at=at,
            )
            .returning(_inv.c.id)
        ).scalar_one()
        self._tx.execute(_io.insert().values(invoice_id=draft_id, order_id=order_id))
        self._tx.execute(update(_r).where(_r.c.id == resolution_id).values(invoice_id=draft_id))
        return draft_id

    def close(self, task_id: int, actor: str, at: datetime) -> bool:
        """The review is done, by `actor`; False when it was not open (someone resolved it first)."""
        done = self._tx.execute(
            update(_t).where(_t.c.id == task_id, _t.c.status == _OPEN).values(status="done", done_at=at, assignee=actor)
        )
        return done.rowcount == 1

    def set_note(self, task_id: int, note: str) -> None:
        self._tx.execute(update(_t).where(_t.c.id == task_id).values(note=note))

    def reopen(self, task_id: int, note: str) -> bool:
        """Open a review that is not open; False when it is open already (or is no review)."""
        done = self._tx.execute(
            update(_t)
            .where(_t.c.id == task_id, _t.c.kind == REVIEW, _t.c.status != _OPEN)
            .values(status=_OPEN, done_at=None, note=note)
        )
        return done.rowcount == 1
