"""Customer credit in storage: issued credit notes with credit left (their gross less their
allocations), the allocations that use it (`credit_allocations`: to the invoice a credit note
corrects, applied to another invoice, refunded), and the customers' balances they make. The only
SQL on allocations besides the credited total settlement reads; nothing here commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from handoff.invoicing.domain.credits import AllocationKind, CreditSource
from handoff.invoicing.domain.invoices import DocumentStatus, InvoiceKind
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork

_inv, _alloc = schema.invoices, schema.credit_allocations


class Allocation(NamedTuple):
    """Credit of one credit note used for one invoice (or, `refund`, paid back)."""

    id: int
    allocation_key: str
    kind: str
    credit_note_id: int
    credit_note: str
    invoice_id: int | None
    invoice: str | None
    customer_id: str
    legal_entity: str
    currency: str
    amount: Decimal
    allocated_on: date
    reference: str
    note: str
    created_by: str
    created_at: datetime


class Balance(NamedTuple):
    """A customer's credit in one selling entity and currency, and the credit notes it comes from."""

    customer_id: str
    customer_name: str
    legal_entity: str
    currency: str
    amount: Decimal
    credit_notes: tuple[CreditSource, ...]


class CreditRepository:
    """On a unit of work (or, for reads, a read-only connection). Row locks on PostgreSQL only:
    SQLite serialises writers."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on
        self._postgres = self._conn.dialect.name == "postgresql"

    def credit_sources(
        self, customer_id: str, legal_entity: str, currency: str, *, lock: bool = False
    ) -> list[CreditSource]:
        """The customer's issued credit notes of that entity and currency with credit left, oldest
        first; `lock`: locked until the transaction ends, so two uses of one balance take turns."""
        q = (
            select(_inv.c.id, _inv.c.number, _inv.c.issue_date, _inv.c.gross_amount)
            .where(
                _inv.c.kind == InvoiceKind.CREDIT_NOTE.value,
                _inv.c.status == DocumentStatus.ISSUED.value,
                _inv.c.customer_id == customer_id,
                _inv.c.legal_entity == legal_entity,
                _inv.c.currency == currency,
            )
            .order_by(_inv.c.issue_date, _inv.c.number, _inv.c.id)
        )
        if lock and self._postgres:
            q = q.with_for_update()
        notes = self._conn.execute(q).all()
        used = self._used([n.id for n in notes])
        return [
            CreditSource(n.id, n.number or "", n.issue_date, n.gross_amount - used.get(n.id, ZERO))
            for n in notes
            if n.gross_amount - used.get(n.id, ZERO) > 0
        ]

    def _used(self, credit_note_ids: Sequence[int]) -> dict[int, Decimal]:
        used: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for k in range(0, len(credit_note_ids), 5000):
            chunk = credit_note_ids[k : k + 5000]
            for note_id, amount in self._conn.execute(
                select(_alloc.c.credit_note_id, _alloc.c.amount).where(_alloc.c.credit_note_id.in_(chunk))
            ):
                used[note_id] += amount
        return used

    def add_allocation(
        self,
        key: str,
        kind: AllocationKind,
        credit_note_id: int,
        invoice_id: int | None,
        amount: Decimal,
        on: date,
        actor: str,
        now: datetime,
        *,
        reference: str = "",
        note: str = "",
    ) -> int:
        """Record a use of a credit note's credit; its id."""
        row = {
            "allocation_key": key,
            "kind": kind.value,
            "credit_note_id": credit_note_id,
            "invoice_id": invoice_id,
            "amount": amount,
            "allocated_on": on,
            "reference": reference,
            "note": note,
            "created_by": actor,
            "created_at": now,
        }
        result = self._conn.execute(_alloc.insert().values(**row).returning(_alloc.c.id))
        allocation_id: int = result.scalar_one()
        return allocation_id

    def balances(self, customer_id: str | None = None) -> list[Balance]:
        """Customers' credit balances (only those above zero), by customer, entity and currency."""
        q = select(
            _inv.c.id,
            _inv.c.number,
            _inv.c.issue_date,
            _inv.c.gross_amount,
            _inv.c.customer_id,
            _inv.c.customer_name,
            _inv.c.legal_entity,
            _inv.c.currency,
        ).where(_inv.c.kind == InvoiceKind.CREDIT_NOTE.value, _inv.c.status == DocumentStatus.ISSUED.value)
        if customer_id is not None:
            q = q.where(_inv.c.customer_id == customer_id)
        notes = self._conn.execute(q.order_by(_inv.c.issue_date, _inv.c.number, _inv.c.id)).all()
        used = self._used([n.id for n in notes])
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for n in notes:
            left = n.gross_amount - used.get(n.id, ZERO)
            if left <= 0:
                continue
            group = groups.setdefault((n.customer_id, n.legal_entity, n.currency), [n.customer_name, []])
            group[1].append(CreditSource(n.id, n.number or "", n.issue_date, left))
        return [
            Balance(c, name, e, cur, sum((s.remaining for s in sources), ZERO), tuple(sources))
            for (c, e, cur), (name, sources) in sorted(groups.items())
        ]

    def allocations(
        self,
        *,
        invoice_id: int | None = None,
        credit_note_id: int | None = None,
        customer_id: str | None = None,
        kinds: Iterable[AllocationKind] | None = None,
        limit: int = 500,
    ) -> list[Allocation]:
        """Allocations (to or from one invoice, of one credit note, or of one customer's credit
        notes; of some kinds), oldest first."""
        cn, target = _inv.alias("cn"), _inv.alias("target")
        q = (
            select(
                _alloc.c.id,
                _alloc.c.allocation_key,
                _alloc.c.kind,
                _alloc.c.credit_note_id,
                cn.c.number.label("credit_note"),
                _alloc.c.invoice_id,
                target.c.number.label("invoice"),
                cn.c.customer_id,
                cn.c.legal_entity,
                cn.c.currency,
                _alloc.c.amount,
                _alloc.c.allocated_on,
                _alloc.c.reference,
                _alloc.c.note,
                _alloc.c.created_by,
                _alloc.c.created_at,
            )
            .join(cn, cn.c.id == _alloc.c.credit_note_id)
            .outerjoin(target, target.c.id == _alloc.c.invoice_id)
            .order_by(_alloc.c.id)
            .limit(limit)
        )
        if invoice_id is not None:
            q = q.where(_alloc.c.invoice_id == invoice_id)
        if credit_note_id is not None:
            q = q.where(_alloc.c.credit_note_id == credit_note_id)
        if customer_id is not None:
            q = q.where(cn.c.customer_id == customer_id)
        if kinds is not None:
            q = q.where(_alloc.c.kind.in_([k.value for k in kinds]))
        return [Allocation._make(r) for r in self._conn.execute(q)]
