"""Settlement in storage: what is paid, credited and still open on each issued invoice (its credited
amount is the sum of the credit allocated to it, `repository.credits`), the orders an invoice's
settlement moves, the open invoices and receivables others read through the ledger. The only SQL
on the invoices' settlement columns; nothing here commits.

Amounts are summed in Python on SQLite, which keeps them as text to stay exact; "open" in SQL is
the payment state (`unpaid` or `partial`), kept with every change of paid or credited amounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select, update

from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import OPEN_STATES, DocumentStatus, InvoiceKind, PaymentState
from handoff.kernel.money import ZERO, round2
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork

_inv, _alloc = schema.invoices, schema.credit_allocations
_OPEN = [s.value for s in OPEN_STATES]
_OPEN_AMOUNT = _inv.c.gross_amount - _inv.c.paid_amount - _inv.c.credited_amount
# an issued invoice (not a credit note) with something open: its payment state says so
_IS_OPEN = and_(
    _inv.c.status == DocumentStatus.ISSUED.value,
    _inv.c.kind == InvoiceKind.INVOICE.value,
    _inv.c.payment_state.in_(_OPEN),
)


class UnpaidInvoice(NamedTuple):
    """An issued invoice (not a credit note) with something open, as collections, cash and
    reporting need it."""

    id: int
    number: str
    customer_id: str
    customer_name: str
    currency: str
    gross_amount: Decimal
    paid_amount: Decimal
    payment_reference: str | None
    due_date: date | None
    credited_amount: Decimal = ZERO
    legal_entity: str = ""

    @property
    def open_amount(self) -> Decimal:
        return self.gross_amount - self.paid_amount - self.credited_amount


class EntityReceivables(NamedTuple):
    """One selling entity's issued invoices in one currency: what is open and overdue on them (gross
    - paid - credited, with their counts), and what it invoiced since a day, net of its credit notes."""

    legal_entity: str
    currency: str
    open_amount: Decimal
    open_invoices: int
    overdue_amount: Decimal
    overdue_invoices: int
    invoiced: Decimal


class Settled(NamedTuple):
    """An invoice's settlement: its amounts, state and what identifies it to people."""

    id: int
    number: str
    kind: InvoiceKind
    status: DocumentStatus
    customer_id: str
    customer_name: str
    legal_entity: str
    currency: str
    gross_amount: Decimal
    paid_amount: Decimal
    credited_amount: Decimal
    payment_state: PaymentState
    due_date: date | None
    issue_date: date | None

    @property
    def open_amount(self) -> Decimal:
        return self.gross_amount - self.paid_amount - self.credited_amount


class SettledOrder(NamedTuple):
    id: int
    deal_id: str
    owner_email: str | None
    state: OrderState


class Receivables(NamedTuple):
    """Open issued invoices of one currency: all that is open, what is overdue, and the open
    amount by days past due (`aging` by bucket label)."""

    open_amount: Decimal
    open_invoices: int
    overdue_amount: Decimal
    overdue_invoices: int
    aging: dict[str, Decimal]


_SETTLED: list[Any] = [
    _inv.c.id,
    _inv.c.number,
    _inv.c.kind,
    _inv.c.status,
    _inv.c.customer_id,
    _inv.c.customer_name,
    _inv.c.legal_entity,
    _inv.c.currency,
    _inv.c.gross_amount,
    _inv.c.paid_amount,
    _inv.c.credited_amount,
    _inv.c.payment_state,
    _inv.c.due_date,
    _inv.c.issue_date,
]


def _settled(r: Any) -> Settled:
    return Settled(
        r.id,
        r.number or "",
        InvoiceKind(r.kind),
        DocumentStatus(r.status),
        r.customer_id,
        r.customer_name,
        r.legal_entity,
        r.currency,
        r.gross_amount,
        r.paid_amount,
        r.credited_amount,
        PaymentState(r.payment_state),
        r.due_date,
        r.issue_date,
    )


class SettlementRepository:
    """On a unit of work (or, for reads, a read-only connection). Row locks on PostgreSQL only:
    SQLite serialises writers."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on
        self._postgres = self._conn.dialect.name == "postgresql"

    # -- one invoice -----------------------------------------------------------------------------

    def invoice(self, invoice_id: int, *, lock: bool = False) -> Settled | None:
        """The invoice's settlement; `lock`: the row stays locked until the transaction ends, so
        payments and credit applications on one invoice take turns."""
        return self._one(_inv.c.id == invoice_id, lock)

    def by_number(self, number: str, *, lock: bool = False) -> Settled | None:
        return self._one(_inv.c.number == number, lock)

    def _one(self, where: ColumnElement[bool], lock: bool) -> Settled | None:
        q = select(*_SETTLED).where(where)
        if lock and self._postgres:
            q = q.with_for_update()
        row = self._conn.execute(q).one_or_none()
        return None if row is None else _settled(row)

    def credited_total(self, invoice_id: int) -> Decimal:
        """The credit allocated to an invoice."""
        amounts = self._conn.execute(select(_alloc.c.amount).where(_alloc.c.invoice_id == invoice_id)).scalars()
        return sum(amounts, ZERO)

    def store(self, invoice_id: int, paid: Decimal, credited: Decimal, state: PaymentState) -> None:
        self._conn.execute(
            update(_inv)
            .where(_inv.c.id == invoice_id)
            .values(paid_amount=paid, credited_amount=credited, payment_state=state.value)
        )

    def orders(self, invoice_id: int) -> list[SettledOrder]:
        o, io = schema.orders, schema.invoice_orders
        rows = self._conn.execute(
            select(o.c.id, o.c.deal_id, o.c.owner_email, o.c.state)
            .join(io, io.c.order_id == o.c.id)
            .where(io.c.invoice_id == invoice_id)
            .order_by(o.c.deal_id)
        )
        return [SettledOrder(r.id, r.deal_id, r.owner_email, OrderState(r.state)) for r in rows]

    def set_order_state(self, order_id: int, state: OrderState, now: datetime) -> None:
        o = schema.orders
        self._conn.execute(update(o).where(o.c.id == order_id).values(state=state.value, updated_at=now))

    # -- open invoices ---------------------------------------------------------------------------

    def open_invoices(self, due_before: date | None = None) -> list[UnpaidInvoice]:
        """Issued invoices with something open, in id order; `due_before`: only those due before."""
        q = (
            select(
                _inv.c.id,
                _inv.c.number,
                _inv.c.customer_id,
                _inv.c.customer_name,
                _inv.c.currency,
                _inv.c.gross_amount,
                _inv.c.paid_amount,
                _inv.c.payment_reference,
                _inv.c.due_date,
                _inv.c.credited_amount,
                _inv.c.legal_entity,
            )
            .where(
                _inv.c.status == DocumentStatus.ISSUED.value,
                _inv.c.kind == InvoiceKind.INVOICE.value,
                _inv.c.payment_state.in_(_OPEN),
            )
            .order_by(_inv.c.id)
        )
        if due_before is not None:
            q = q.where(_inv.c.due_date < due_before)
        return [UnpaidInvoice._make(r) for r in self._conn.execute(q)]

    def receivables(self, today: date, buckets: Sequence[tuple[int, int, str]]) -> dict[str, Receivables]:
        """Open receivables by currency, with their aging by days past due (`buckets`: (low, high,
        label), 0 = not yet due). Summed in PostgreSQL; in Python on SQLite."""
        late = _inv.c.due_date < today
        where = (
            _inv.c.status == DocumentStatus.ISSUED.value,
            _inv.c.kind == InvoiceKind.INVOICE.value,
            _inv.c.payment_state.in_(_OPEN),
        )
        if self._postgres:
            open_ = _inv.c.gross_amount - _inv.c.paid_amount - _inv.c.credited_amount
            past = func.greatest(func.coalesce(today - _inv.c.due_date, 0), 0)  # days past due, 0 if not due
            columns = [
                func.sum(open_),
                func.count(),
                func.coalesce(func.sum(open_).filter(late), 0),
                func.count().filter(late),
                *(func.coalesce(func.sum(open_).filter(past >= lo, past <= hi), 0) for lo, hi, _ in buckets),
            ]
            out: dict[str, Receivables] = {}
            for currency, total, n, overdue, n_late, *aged in self._conn.execute(
                select(_inv.c.currency, *columns).where(*where).group_by(_inv.c.currency)
            ):
                out[currency] = Receivables(
                    round2(Decimal(total)),
                    n,
                    round2(Decimal(overdue)),
                    n_late,
                    {b[2]: round2(Decimal(v)) for b, v in zip(buckets, aged, strict=True)},
                )
            return out
        sums: dict[str, list[Any]] = {}
        rows = select(
            _inv.c.currency, _inv.c.gross_amount, _inv.c.paid_amount, _inv.c.credited_amount, _inv.c.due_date
        ).where(*where)
        for currency, gross, paid, credited, due in self._conn.execute(rows):
            acc = sums.setdefault(currency, [ZERO, 0, ZERO, 0, {label: ZERO for *_, label in buckets}])
            amount = gross - paid - credited
            days = max(0, (today - due).days) if due is not None else 0
            acc[0] += amount
            acc[1] += 1
            if due is not None and due < today:
                acc[2] += amount
                acc[3] += 1
            label = next((lbl for lo, hi, lbl in buckets if lo <= days <= hi), None)
            if label is not None:
                acc[4][label] += amount
        return {c: Receivables(*acc) for c, acc in sums.items()}

    def customer_open(self, customer_id: str) -> dict[str, Decimal]:
        """What is open on the customer's issued invoices (gross - paid - credited), by currency, in
        one query: summed in PostgreSQL, in Python on SQLite (which keeps amounts as text)."""
        where = (_inv.c.customer_id == customer_id, _IS_OPEN)
        if self._postgres:
            rows = self._conn.execute(
                select(_inv.c.currency, func.sum(_OPEN_AMOUNT)).where(*where).group_by(_inv.c.currency)
            )
            return {c: round2(Decimal(total)) for c, total in sorted(rows)}
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        q = select(_inv.c.currency, _inv.c.gross_amount, _inv.c.paid_amount, _inv.c.credited_amount).where(*where)
        for currency, gross, paid, credited in self._conn.execute(q):
            totals[currency] += gross - paid - credited
        return {c: round2(total) for c, total in sorted(totals.items())}

    def receivables_by_entity(self, today: date, since: date) -> list[EntityReceivables]:
        """Open and overdue receivables and what was invoiced from `since` on (net of credit notes),
        by selling entity and currency, in one grouped query over the issued invoices that are open
        or were issued since then; by entity, then currency. Summed in PostgreSQL; in Python on SQLite."""
        recent = _inv.c.issue_date >= since
        where = (_inv.c.status == DocumentStatus.ISSUED.value, or_(_IS_OPEN, recent))
        if self._postgres:
            late = and_(_IS_OPEN, _inv.c.due_date < today)
            signed = case(
                (_inv.c.kind == InvoiceKind.CREDIT_NOTE.value, -_inv.c.gross_amount), else_=_inv.c.gross_amount
            )
            q = (
                select(
                    _inv.c.legal_entity,
                    _inv.c.currency,
                    func.coalesce(func.sum(_OPEN_AMOUNT).filter(_IS_OPEN), 0),
                    func.count().filter(_IS_OPEN),
                    func.coalesce(func.sum(_OPEN_AMOUNT).filter(late), 0),
                    func.count().filter(late),
                    func.coalesce(func.sum(signed).filter(recent), 0),
                )
                .where(*where)
                .group_by(_inv.c.legal_entity, _inv.c.currency)
                .order_by(_inv.c.legal_entity, _inv.c.currency)
            )
            return [
                EntityReceivables(e, c, round2(Decimal(o)), n, round2(Decimal(d)), n_late, round2(Decimal(i)))
                for e, c, o, n, d, n_late, i in self._conn.execute(q)
            ]
        sums: dict[tuple[str, str], list[Any]] = {}
        q = select(
            _inv.c.legal_entity,
            _inv.c.currency,
            _inv.c.kind,
            _inv.c.payment_state,
            _inv.c.gross_amount,
            _inv.c.paid_amount,
            _inv.c.credited_amount,
            _inv.c.due_date,
            _inv.c.issue_date,
        ).where(*where)
        for entity, currency, kind, state, gross, paid, credited, due, issued in self._conn.execute(q):
            acc = sums.setdefault((entity, currency), [ZERO, 0, ZERO, 0, ZERO])
            if kind == InvoiceKind.INVOICE.value and state in _OPEN:
                acc[0] += gross - paid - credited
                acc[1] += 1
                if due is not None and due < today:
                    acc[2] += gross - paid - credited
                    acc[3] += 1
            if issued is not None and issued >= since:
                acc[4] += -gross if kind == InvoiceKind.CREDIT_NOTE.value else gross
        return [
            EntityReceivables(e, c, round2(o), n, round2(d), n_late, round2(i))
            for (e, c), (o, n, d, n_late, i) in sorted(sums.items())
        ]

    def invoiced_since(self, since: date) -> dict[str, Decimal]:
        """Gross invoiced from `since` on, net of credit notes issued in that time, by currency."""
        rows = self._conn.execute(
            select(_inv.c.currency, _inv.c.kind, _inv.c.gross_amount).where(
                _inv.c.status == DocumentStatus.ISSUED.value, _inv.c.issue_date >= since
            )
        )
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for currency, kind, gross in rows:
            totals[currency] += -gross if kind == InvoiceKind.CREDIT_NOTE.value else gross
        return dict(totals)
