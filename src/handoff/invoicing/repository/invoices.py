"""Invoices in storage: drafts claimed and locked for issuing, the issued document, gapless numbers
per entity, series and year, and the orders and finance tasks an issued invoice closes. The only
SQL on invoices, their numbering and their orders' links; nothing here commits, the use case does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, select, update

from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, PaymentState, invoice_from_json
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.reporting.domain import cycle


class StoredInvoice(NamedTuple):
    """An invoice as stored: its id, where it stands, its selling entity and its document."""

    id: int
    number: str | None
    kind: InvoiceKind
    status: DocumentStatus
    legal_entity: str
    invoice: Invoice


class InvoiceSummary(NamedTuple):
    """What other steps need to know of an invoice without its document."""

    id: int
    number: str | None
    kind: InvoiceKind
    status: DocumentStatus
    payment_state: PaymentState
    customer_id: str
    currency: str
    gross_amount: Decimal
    paid_amount: Decimal
    due_date: date | None
    credited_amount: Decimal = ZERO  # credit notes' credit allocated to it

    @property
    def open_amount(self) -> Decimal:
        """gross - paid - credited: what the customer still owes (below zero: paid too much)."""
        return self.gross_amount - self.paid_amount - self.credited_amount


class InvoiceOrder(NamedTuple):
    """An order an invoice bills; `close_date`: its deal's close date as the source gave it (text)."""

    id: int
    deal_id: str
    owner_email: str
    state: OrderState
    received_at: datetime
    close_date: str | None = None


class InvoiceRow(NamedTuple):
    """One line of the invoice list."""

    id: int
    number: str | None
    status: str
    payment_state: str
    customer_name: str
    currency: str
    gross_amount: Decimal
    paid_amount: Decimal
    due_date: date | None
    credited_amount: Decimal = ZERO


_inv = schema.invoices
_STORED: list[Any] = [_inv.c.id, _inv.c.number, _inv.c.kind, _inv.c.status, _inv.c.legal_entity, _inv.c.document]
_SUMMARY: list[Any] = [
    _inv.c.id,
    _inv.c.number,
    _inv.c.kind,
    _inv.c.status,
    _inv.c.payment_state,
    _inv.c.customer_id,
    _inv.c.currency,
    _inv.c.gross_amount,
    _inv.c.paid_amount,
    _inv.c.due_date,
    _inv.c.credited_amount,
]


class InvoiceRepository:
    """Invoices on a unit of work (or, for reads, a read-only connection). Row locks are taken on
    PostgreSQL only: SQLite serialises writers."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on
        self._postgres = self._conn.dialect.name == "postgresql"

    # -- issuing ---------------------------------------------------------------------------------

    def claim_drafts(self, after: int, limit: int) -> list[int]:
        """Ids of up to `limit` drafts after id `after`, in order. On PostgreSQL they are locked and
        drafts another transaction holds are skipped, so concurrent issuers never wait on each other."""
        q = (
            select(_inv.c.id)
            .where(_inv.c.status == DocumentStatus.DRAFT.value, _inv.c.id > after)
            .order_by(_inv.c.id)
            .limit(limit)
        )
        if self._postgres:
            q = q.with_for_update(skip_locked=True)
        return list(self._conn.execute(q).scalars())

    def get(self, invoice_id: int, *, lock: bool = False) -> StoredInvoice | None:
        """The invoice with its document; `lock`: held until the transaction ends."""
        return self._stored(_inv.c.id == invoice_id, lock)

    def by_number(self, number: str, *, lock: bool = False) -> StoredInvoice | None:
        return self._stored(_inv.c.number == number, lock)

    def _stored(self, where: ColumnElement[bool], lock: bool) -> StoredInvoice | None:
        q = select(*_STORED).where(where)
        if lock and self._postgres:
            q = q.with_for_update()
        row = self._conn.execute(q).one_or_none()
        if row is None:
            return None
        return StoredInvoice(
            row.id,
            row.number,
            InvoiceKind(row.kind),
            DocumentStatus(row.status),
            row.legal_entity,
            invoice_from_json(row.document),
        )

    def next_number(self, entity: str, series: str, year: int) -> int:
        """The next sequence number of `entity`'s `series` in `year`, counted in this transaction
        (the counter row stays locked until it ends), so numbers are gapless."""
        s = schema.invoice_sequences
        key = (s.c.legal_entity == entity, s.c.series == series, s.c.year == year)
        q = select(s.c.last_number).where(*key)
        if self._postgres:
            q = q.with_for_update()
        last: int | None = self._conn.execute(q).scalar_one_or_none()
        if last is None:
            self._conn.execute(s.insert().values(legal_entity=entity, series=series, year=year, last_number=1))
            return 1
        self._conn.execute(update(s).where(*key).values(last_number=last + 1))
        return last + 1

    def store_issued(
        self, invoice_id: int, issued: Invoice, now: datetime, validation: dict[str, Any] | None = None
    ) -> None:
        """The issued document replaces the draft, with its number, dates and payment reference, and
        the validation report of its e-invoice (`validation`, None when it has no e-invoice)."""
        self._conn.execute(
            update(_inv)
            .where(_inv.c.id == invoice_id)
            .values(
                number=issued.number,
                status=DocumentStatus.ISSUED.value,
                issue_date=issued.issue_date,
                due_date=issued.due_date,
                payment_reference=issued.payment_reference,
                document=to_jsonable(issued),
                issued_at=now,
                einvoice_validation=validation,
                # issuing may decide the tax again (distance sales: invoicing.service.taxation)
                net_amount=issued.totals.tax_exclusive,
                tax_amount=issued.totals.tax,
                gross_amount=issued.totals.tax_inclusive,
            )
        )

    def validation_report(self, number: str) -> dict[str, Any] | None:
        """The e-invoice validation report the invoice `number` was issued on (None: not checked)."""
        row = self._conn.execute(select(_inv.c.einvoice_validation).where(_inv.c.number == number)).first()
        return None if row is None else row.einvoice_validation

    def orders(self, invoice_id: int) -> list[InvoiceOrder]:
        """The orders the invoice bills, by deal id, with their deal's close date (read from the
        stored deal in the same query)."""
        o, io = schema.orders, schema.invoice_orders
        close_date = o.c.data["close_date"].as_string().label("close_date")
        return [
            InvoiceOrder(r.id, r.deal_id, r.owner_email, OrderState(r.state), r.received_at, r.close_date)
            for r in self._conn.execute(
                select(o.c.id, o.c.deal_id, o.c.owner_email, o.c.state, o.c.received_at, close_date)
                .join(io, io.c.order_id == o.c.id)
                .where(io.c.invoice_id == invoice_id)
                .order_by(o.c.deal_id)
            )
        ]

    def mark_orders_sent(self, orders: Iterable[InvoiceOrder], now: datetime) -> None:
        """The orders are invoiced now. Their sales-to-invoice cycle (from the deal's close date, else
        from intake: `reporting.domain.cycle`) is kept as a number with its basis, so the dashboard
        aggregates it from an index."""
        o = schema.orders
        for order in orders:
            seconds, basis = cycle(order.close_date, order.received_at, now)
            self._conn.execute(
                update(o)
                .where(o.c.id == order.id)
                .values(
                    state=OrderState.SENT.value,
                    invoiced_at=now,
                    updated_at=now,
                    cycle_seconds=seconds,
                    cycle_basis=basis.value,
                )
            )

    def close_issue_tasks(self, order_ids: Sequence[int], now: datetime, assignee: str) -> None:
        """The open `issue_invoice` finance tasks of the orders are done, by `assignee`."""
        t = schema.tasks
        self._conn.execute(
            update(t)
            .where(t.c.order_id.in_(order_ids), t.c.kind == "issue_invoice", t.c.status == "open")
            .values(status="done", done_at=now, assignee=assignee)
        )

    # -- facts for other steps -------------------------------------------------------------------

    def summary(self, invoice_id: int, *, lock: bool = False) -> InvoiceSummary | None:
        q = select(*_SUMMARY).where(_inv.c.id == invoice_id)
        if lock and self._postgres:
            q = q.with_for_update()
        row = self._conn.execute(q).one_or_none()
        return None if row is None else _summary(row)

    def summaries_by_number(self, numbers: Iterable[str], *, lock: bool = False) -> dict[str, InvoiceSummary]:
        q = select(*_SUMMARY).where(_inv.c.number.in_(sorted(set(numbers))))
        if lock and self._postgres:
            q = q.with_for_update()
        return {r.number: _summary(r) for r in self._conn.execute(q)}

    def id_of(self, number: str) -> int | None:
        invoice_id: int | None = self._conn.execute(
            select(_inv.c.id).where(_inv.c.number == number)
        ).scalar_one_or_none()
        return invoice_id

    def document(self, invoice_id: int) -> Invoice | None:
        doc = self._conn.execute(select(_inv.c.document).where(_inv.c.id == invoice_id)).scalar_one_or_none()
        return None if doc is None else invoice_from_json(doc)

    def customer_has_invoices(self, customer_id: str) -> bool:
        q = select(_inv.c.id).where(_inv.c.customer_id == customer_id).limit(1)
        return self._conn.execute(q).first() is not None

    def rows(self, status: str | None = None) -> list[InvoiceRow]:
        """All invoices (in one `status`), oldest first."""
        q = select(
            _inv.c.id,
            _inv.c.number,
            _inv.c.status,
            _inv.c.payment_state,
            _inv.c.customer_name,
            _inv.c.currency,
            _inv.c.gross_amount,
            _inv.c.paid_amount,
            _inv.c.due_date,
            _inv.c.credited_amount,
        ).order_by(_inv.c.id)
        if status:
            q = q.where(_inv.c.status == status)
        return [InvoiceRow._make(r) for r in self._conn.execute(q)]


def _summary(r: Any) -> InvoiceSummary:
    return InvoiceSummary(
        r.id,
        r.number,
        InvoiceKind(r.kind),
        DocumentStatus(r.status),
        PaymentState(r.payment_state),
        r.customer_id,
        r.currency,
        r.gross_amount,
        r.paid_amount,
        r.due_date,
        r.credited_amount,
    )
