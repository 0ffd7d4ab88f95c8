"""Storage of cash application: bank statements and their lines, matches and their allocations.

The only SQL for those tables. Lines and statements are unique on their stable keys, so storing a
statement again adds nothing. Nothing here commits: the use case owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, select, update

from handoff.cash.domain.bank import BalanceStatus, BankLine, Statement
from handoff.cash.domain.policy import Allocation, Decision, Proposal
from handoff.cash.domain.status import LineStatus, MatchStatus, arrival_status
from handoff.invoicing.domain.invoices import DocumentStatus
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class LinesToMatch(NamedTuple):
    """The new credit lines, oldest first: their primary keys and the lines, in the same order."""

    ids: list[int]
    lines: list[BankLine]


class MatchedLine(NamedTuple):
    """A match with the bank line it is for."""

    match_id: int
    status: MatchStatus
    confidence: float
    line_pk: int
    line_id: str
    value_date: date | None
    booking_date: date | None


class MatchAllocation(NamedTuple):
    """What a match allocates to one invoice, with that invoice as it stands now."""

    invoice_id: int
    invoice_number: str
    amount: Decimal
    write_off: Decimal
    gross_amount: Decimal
    paid_amount: Decimal
    invoice_status: DocumentStatus


class ReviewAllocation(NamedTuple):
    invoice: str
    amount: Decimal
    write_off: Decimal


class ReviewMatch(NamedTuple):
    """A match as the review queue shows it: its line and proposed allocations."""

    id: int
    status: MatchStatus
    decision: Decision
    confidence: float
    evidence: list[dict[str, str]]
    alternatives: list[str]
    unapplied: Decimal
    decided_by: str | None
    decided_at: datetime | None
    line_id: str
    amount: Decimal
    currency: str
    booking_date: date | None
    counterparty_name: str
    remittance: str
    structured_reference: str
    allocations: list[ReviewAllocation]


class UnmatchedLine(NamedTuple):
    line_id: str
    amount: Decimal
    currency: str
    booking_date: date | None
    counterparty_name: str
    remittance: str
    owner: str | None


class BankRepository:
    """Statements, lines, matches and allocations, on a unit of work (or a read-only connection)."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on
        self._postgres = self._conn.dialect.name == "postgresql"

    # -- statements ------------------------------------------------------------------------------

    def add_statement(
        self, key: str, st: Statement, balance: BalanceStatus, source: str, actor: str, now: datetime
    ) -> int:
        """The statement's id: stored now, or as stored by an earlier import of it."""
        st_t = schema.bank_statements
        insert_many(
            self._conn,
            st_t,
            [
                {
                    "statement_key": key,
                    "format": st.format,
                    "statement_id": st.statement_id,
                    "account": st.account,
                    "currency": st.currency,
                    "opening": st.opening.amount if st.opening else None,
                    "closing": st.closing.amount if st.closing else None,
                    "balance_status": balance.value,
                    "source": source,
                    "imported_by": actor,
                    "imported_at": now,
                }
            ],
            ["statement_key"],
        )
        st_id: int = self._conn.execute(select(st_t.c.id).where(st_t.c.statement_key == key)).scalar_one()
        return st_id

    def statement_line_ids(self, key: str) -> set[str] | None:
        """The line ids stored for the statement with this key; None when it was never stored."""
        st_t, ln = schema.bank_statements, schema.bank_lines
        found = self._conn.execute(select(st_t.c.id).where(st_t.c.statement_key == key)).scalar_one_or_none()
        if found is None:
            return None
        return set(self._conn.execute(select(ln.c.line_id).where(ln.c.statement_id == found)).scalars())

    def refresh_statement(self, statement_pk: int, st: Statement, balance: BalanceStatus) -> None:
        """A stored statement that grew (more of its lines came): its balances as the file now states them."""
        st_t = schema.bank_statements
        self._conn.execute(
            update(st_t)
            .where(st_t.c.id == statement_pk)
            .values(
                opening=st.opening.amount if st.opening else None,
                closing=st.closing.amount if st.closing else None,
                balance_status=balance.value,
            )
        )

    def known_lines(self, line_ids: Sequence[str]) -> set[str]:
        """Those of `line_ids` already stored."""
        ln = schema.bank_lines
        return set(self._conn.execute(select(ln.c.line_id).where(ln.c.line_id.in_(line_ids))).scalars())

    def add_lines(self, statement_id: int, lines: Sequence[tuple[int, BankLine]], now: datetime) -> None:
        """Store (position, line) pairs of a statement, each with its status on arrival."""
        rows = [_line_row(statement_id, pos, ln, now) for pos, ln in lines]
        insert_many(self._conn, schema.bank_lines, rows, ["line_id"])

    # -- cash application ------------------------------------------------------------------------

    def lines_to_match(self) -> LinesToMatch:
        """The new lines in booking order; on PostgreSQL locked, skipping those another run holds."""
        ln = schema.bank_lines
        q = (
            select(ln)
            .where(ln.c.status == LineStatus.NEW.value)
            .order_by(ln.c.booking_date, ln.c.statement_id, ln.c.position)
        )
        if self._postgres:
            q = q.with_for_update(skip_locked=True)
        rows = self._conn.execute(q).all()
        return LinesToMatch([r.id for r in rows], [_bank_line(r) for r in rows])

    def add_match(self, line_pk: int, p: Proposal, status: MatchStatus, now: datetime, decided_by: str | None) -> int:
        m = schema.cash_matches
        evidence = [{"code": e.code, "detail": e.detail, "invoice": e.invoice_number} for e in p.evidence]
        match_id: int = self._conn.execute(
            m.insert()
            .values(
                bank_line_id=line_pk,
                decision=p.decision.value,
                status=status.value,
                confidence=p.confidence,
                evidence=evidence,
                alternatives=list(p.alternatives),
                unapplied=p.unapplied,
                proposed_at=now,
                decided_by=decided_by,
                decided_at=now if decided_by else None,
            )
            .returning(m.c.id)
        ).scalar_one()
        return match_id

    def add_allocations(
        self, match_id: int, allocations: Sequence[Allocation], write_off: Decimal, invoice_ids: Mapping[str, int]
    ) -> None:
        """A match's allocations; a write-off (accepted short payment) goes with the last one."""
        rows = [
            {
                "match_id": match_id,
                "invoice_id": invoice_ids[a.invoice_number],
                "amount": a.amount,
                "write_off": write_off if k == len(allocations) - 1 else ZERO,
            }
            for k, a in enumerate(allocations)
        ]
        if rows:
            self._conn.execute(schema.cash_allocations.insert(), rows)

    def set_line(self, line_pk: int, status: LineStatus, owner: str | None, now: datetime) -> None:
        ln = schema.bank_lines
        self._conn.execute(
            update(ln).where(ln.c.id == line_pk).values(status=status.value, owner=owner, updated_at=now)
        )

    # -- review ----------------------------------------------------------------------------------

    def match(self, match_id: int) -> MatchedLine | None:
        """A match and its line; on PostgreSQL locked until the transaction ends."""
        m, ln = schema.cash_matches, schema.bank_lines
        q = (
            select(
                m.c.id,
                m.c.status,
                m.c.confidence,
                ln.c.id.label("line_pk"),
                ln.c.line_id,
                ln.c.value_date,
                ln.c.booking_date,
            )
            .join(ln, ln.c.id == m.c.bank_line_id)
            .where(m.c.id == match_id)
        )
        if self._postgres:
            q = q.with_for_update()
        r = self._conn.execute(q).first()
        if r is None:
            return None
        return MatchedLine(
            r.id, MatchStatus(r.status), r.confidence, r.line_pk, r.line_id, r.value_date, r.booking_date
        )

    def allocations(self, match_id: int) -> list[MatchAllocation]:
        """A match's allocations by invoice number, with each invoice's amounts and status now."""
        a, inv = schema.cash_allocations, schema.invoices
        rows = self._conn.execute(
            select(
                a.c.invoice_id,
                inv.c.number,
                a.c.amount,
                a.c.write_off,
                inv.c.gross_amount,
                inv.c.paid_amount,
                inv.c.status,
            )
            .join(inv, inv.c.id == a.c.invoice_id)
            .where(a.c.match_id == match_id)
            .order_by(inv.c.number)
        )
        return [
            MatchAllocation(
                r.invoice_id, r.number, r.amount, r.write_off, r.gross_amount, r.paid_amount, DocumentStatus(r.status)
            )
            for r in rows
        ]

    def decide(self, match_id: int, status: MatchStatus, by: str, at: datetime) -> None:
        """A person applied or rejected the match."""
        m = schema.cash_matches
        self._conn.execute(
            update(m).where(m.c.id == match_id).values(status=status.value, decided_by=by, decided_at=at)
        )

    def undo(self, match_id: int, by: str, at: datetime) -> None:
        m = schema.cash_matches
        self._conn.execute(
            update(m).where(m.c.id == match_id).values(status=MatchStatus.UNDONE.value, undone_by=by, undone_at=at)
        )

    # -- reads -----------------------------------------------------------------------------------

    def review_matches(self, status: str | None) -> list[ReviewMatch]:
        """Matches with `status` (a `MatchStatus`; None: all) with their line and proposed allocations,
        oldest first."""
        m, ln, a, inv = schema.cash_matches, schema.bank_lines, schema.cash_allocations, schema.invoices
        q = (
            select(
                m.c.id,
                m.c.status,
                m.c.decision,
                m.c.confidence,
                m.c.evidence,
                m.c.alternatives,
                m.c.unapplied,
                m.c.decided_by,
                m.c.decided_at,
                ln.c.line_id,
                ln.c.amount,
                ln.c.currency,
                ln.c.booking_date,
                ln.c.counterparty_name,
                ln.c.remittance,
                ln.c.structured_reference,
            )
            .join(ln, ln.c.id == m.c.bank_line_id)
            .order_by(m.c.id)
        )
        if status is not None:
            q = q.where(m.c.status == str(status))
        rows = self._conn.execute(q).all()
        allocs: dict[int, list[ReviewAllocation]] = {}
        if rows:
            for r in self._conn.execute(
                select(a.c.match_id, inv.c.number, a.c.amount, a.c.write_off)
                .join(inv, inv.c.id == a.c.invoice_id)
                .where(a.c.match_id.in_([r.id for r in rows]))
                .order_by(inv.c.number)
            ):
                allocs.setdefault(r.match_id, []).append(ReviewAllocation(r.number, r.amount, r.write_off))
        return [
            ReviewMatch(
                r.id,
                MatchStatus(r.status),
                Decision(r.decision),
                r.confidence,
                r.evidence,
                r.alternatives,
                r.unapplied,
                r.decided_by,
                r.decided_at,
                r.line_id,
                r.amount,
                r.currency,
                r.booking_date,
                r.counterparty_name,
                r.remittance,
                r.structured_reference,
                allocs.get(r.id, []),
            )
            for r in rows
        ]

    def unmatched_lines(self) -> list[UnmatchedLine]:
        """Lines the finance owner allocates by hand, oldest first."""
        ln = schema.bank_lines
        return [
            UnmatchedLine(*r)
            for r in self._conn.execute(
                select(
                    ln.c.line_id,
                    ln.c.amount,
                    ln.c.currency,
                    ln.c.booking_date,
                    ln.c.counterparty_name,
                    ln.c.remittance,
                    ln.c.owner,
                )
                .where(ln.c.status == LineStatus.UNMATCHED.value)
                .order_by(ln.c.id)
            )
        ]


def _line_row(statement_id: int, position: int, ln: BankLine, now: datetime) -> dict[str, Any]:
    return {
        "line_id": ln.line_id,
        "statement_id": statement_id,
        "position": position,
        "amount": ln.amount,
        "currency": ln.currency,
        "booking_date": ln.booking_date,
        "value_date": ln.value_date,
        "counterparty_name": ln.counterparty_name[:300],
        "counterparty_account": ln.counterparty_account[:60],
        "remittance": ln.remittance,
        "structured_reference": ln.structured_reference[:60],
        "bank_reference": ln.bank_reference[:200],
        "end_to_end_id": ln.end_to_end_id[:200],
        "booked": ln.booked,
        "status": arrival_status(ln).value,
        "owner": None,
        "updated_at": now,
    }


def _bank_line(r: Any) -> BankLine:
    return BankLine(
        amount=r.amount,
        currency=r.currency,
        booking_date=r.booking_date,
        value_date=r.value_date,
        counterparty_name=r.counterparty_name,
        counterparty_account=r.counterparty_account,
        remittance=r.remittance,
        structured_reference=r.structured_reference,
        bank_reference=r.bank_reference,
        end_to_end_id=r.end_to_end_id,
        booked=r.booked,
        line_id=r.line_id,
    )
