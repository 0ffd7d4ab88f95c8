"""Cash use cases: import bank statements, apply received money to open invoices, review matches.

A statement file is parsed completely before anything is stored, then stored in one transaction:
all or nothing; a refused file names the reason (`StatementError`). Its lines are unique on their
stable `line_id`, so importing the same statement again changes nothing.

Cash application (`apply_cash`) runs the matcher (`handoff.cash.domain.matching`) over the new credit
lines against the open issued invoices. Proposals at or above the auto-apply threshold are applied
at once: payments recorded against the invoices as `app.payments` does (payment state, order
`paid`, audit entry, owner notice). Weaker proposals wait in the review queue for a person to
confirm or reject; lines without a candidate go to the finance owner. Every applied, rejected or
undone match is in the audit trail; an undo records reversing payments, so history is never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from handoff.cash.domain.bank import BalanceStatus, BankLine, Statement, check_balance
from handoff.cash.domain.matching import Matcher
from handoff.cash.domain.policy import Allocation, Decision, MatchPolicy, OpenInvoice, Proposal
from handoff.cash.formats import StatementError, read_statements
from handoff.cash.service.payments import refresh_payment_state
from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices
from handoff.runtime import gc_pause as collector
from handoff.runtime import reading_ahead

ZERO = Decimal("0")


class CashError(Exception):
    """A request the match's state does not allow (logical, not transient)."""


# -- statements ---------------------------------------------------------------------------------


@dataclass
class StatementImport:
    statements: int = 0
    new_statements: int = 0
    lines: int = 0
    new_lines: int = 0
    credits: int = 0  # new lines that are money received, waiting for cash application


def statement_key(statement: Statement) -> str:
    return hashlib.sha256(f"{statement.account}\x1f{statement.statement_id}".encode()).hexdigest()[:32]


def read_statement_file(data: bytes, name: str, csv_mapping: Mapping[str, Any] | None = None) -> list[Statement]:
    """Parse and check a bank file; refuse it (StatementError) when it cannot be trusted whole."""
    statements = read_statements(data, name, csv_mapping)
    if not statements:
        raise StatementError(name, "no statement in the file")
    for st in statements:
        check = check_balance(st)
        if check.status is BalanceStatus.MISMATCH:
            raise StatementError(name, f"statement {st.statement_id}: opening {check.opening} + movements "
                                       f"{check.movements} != closing {check.closing} (lines missing?)")  # fmt: skip
    return statements


def import_statement(ctx: AppContext, data: bytes, name: str, actor: str,
                     csv_mapping: Mapping[str, Any] | None = None) -> StatementImport:  # fmt: skip
    statements = read_statement_file(data, name, csv_mapping)  # before any write: all or nothing
    return store_statements(ctx, statements, name, actor)


def store_statements(ctx: AppContext, statements: Sequence[Statement], source: str, actor: str) -> StatementImport:
    now = ctx.clock()
    report = StatementImport(statements=len(statements))
    st_t, ln_t = schema.bank_statements, schema.bank_lines
    with ctx.unit_of_work() as uow:
        for st in statements:
            key = statement_key(st)
            check = check_balance(st)
            insert_many(uow.conn, st_t, [{
                "statement_key": key, "format": st.format, "statement_id": st.statement_id, "account": st.account,
                "currency": st.currency, "opening": st.opening.amount if st.opening else None,
                "closing": st.closing.amount if st.closing else None, "balance_status": check.status.value,
                "source": source, "imported_by": actor, "imported_at": now}], ["statement_key"])  # fmt: skip
            st_id = uow.conn.execute(select(st_t.c.id).where(st_t.c.statement_key == key)).scalar_one()
            ids = [ln.line_id for ln in st.lines]
            known = set(uow.conn.execute(select(ln_t.c.line_id).where(ln_t.c.line_id.in_(ids))).scalars())
            fresh = [(pos, ln) for pos, ln in enumerate(st.lines) if ln.line_id not in known]
            rows = [_line_row(st_id, pos, ln, now) for pos, ln in fresh]
            insert_many(uow.conn, ln_t, rows, ["line_id"])
            report.lines += len(st.lines)
            report.new_lines += len(fresh)
            report.credits += sum(1 for _, ln in fresh if ln.is_credit and ln.booked)
            if fresh:
                report.new_statements += 1 if not known else 0
                uow.audit(at=now, actor=actor, action="bank.statement_imported", entity_type="bank_statement",
                          entity_id=key, reason=f"statement file {source}",
                          after={"format": st.format, "statement_id": st.statement_id, "account": st.account,
                                 "new_lines": len(fresh), "balance": check.status.value})  # fmt: skip
        uow.commit()
    return report


def _line_row(statement_id: int, position: int, ln: BankLine, now: datetime) -> dict[str, Any]:
    return {"line_id": ln.line_id, "statement_id": statement_id, "position": position, "amount": ln.amount,
            "currency": ln.currency, "booking_date": ln.booking_date, "value_date": ln.value_date,
            "counterparty_name": ln.counterparty_name[:300], "counterparty_account": ln.counterparty_account[:60],
            "remittance": ln.remittance, "structured_reference": ln.structured_reference[:60],
            "bank_reference": ln.bank_reference[:200], "end_to_end_id": ln.end_to_end_id[:200],
            "booked": ln.booked, "status": "new" if ln.is_credit and ln.booked else "ignored", "owner": None,
            "updated_at": now}  # fmt: skip


def _bank_line(r: Any) -> BankLine:
    return BankLine(amount=r.amount, currency=r.currency, booking_date=r.booking_date, value_date=r.value_date,
                    counterparty_name=r.counterparty_name, counterparty_account=r.counterparty_account,
                    remittance=r.remittance, structured_reference=r.structured_reference,
                    bank_reference=r.bank_reference, end_to_end_id=r.end_to_end_id, booked=r.booked,
                    line_id=r.line_id)  # fmt: skip


# -- cash application ---------------------------------------------------------------------------


@dataclass
class CashReport:
    lines: int = 0
    applied: int = 0
    review: int = 0
    unmatched: int = 0
    states: dict[str, str] = field(default_factory=dict)  # invoice number -> payment state
    proposals: list[Proposal] = field(default_factory=list)


def open_invoices(uow: UnitOfWork) -> tuple[list[OpenInvoice], dict[str, int]]:
    """Issued, not fully paid invoices as the matcher sees them; and number -> invoice id."""
    inv = schema.invoices
    rows = uow.conn.execute(select(inv.c.id, inv.c.number, inv.c.customer_id, inv.c.customer_name, inv.c.currency,
                                   inv.c.gross_amount, inv.c.paid_amount, inv.c.payment_reference, inv.c.due_date)
                            .where(inv.c.status == "issued", inv.c.kind == "invoice", inv.c.payment_state != "paid")
                            .order_by(inv.c.id))  # fmt: skip
    invoices, ids = [], {}
    for r in rows:
        invoices.append(OpenInvoice(r.number, r.customer_id, r.customer_name, r.currency,
                                    r.gross_amount - r.paid_amount, r.payment_reference or "", r.due_date))  # fmt: skip
        ids[r.number] = r.id
    return invoices, ids


def apply_cash(ctx: AppContext, actor: str = "automation:cash", threshold: float | None = None) -> CashReport:
    """Match every new credit line; apply the confident proposals, queue the rest for review."""
    now = ctx.clock()
    cash = ctx.config.model.cash
    policy = MatchPolicy(auto_apply_threshold=threshold if threshold is not None else cash.auto_apply_threshold)
    ln_t = schema.bank_lines
    report = CashReport()
    with ExitStack() as bulk, ctx.unit_of_work() as uow:
        q = (select(ln_t).where(ln_t.c.status == "new")
             .order_by(ln_t.c.booking_date, ln_t.c.statement_id, ln_t.c.position))  # fmt: skip
        if uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        lines = uow.conn.execute(q).all()
        if not lines:
            return report
        bulk.enter_context(collector.for_bulk(len(lines)))
        invoices, invoice_ids = open_invoices(uow)
        bank_lines = [_bank_line(r) for r in lines]
        readings = bulk.enter_context(reading_ahead.readings(invoices, policy, bank_lines))
        matcher = Matcher(invoices, policy)
        touched: set[int] = set()
        unmatched: list[str] = []
        for r, line, reading in zip(lines, bank_lines, readings, strict=True):
            proposal = matcher.match_line(line, reading)
            report.proposals.append(proposal)
            report.lines += 1
            decision = proposal.decision
            status = {Decision.AUTO: "applied", Decision.REVIEW: "pending_review"}.get(decision, "unmatched")
            match_id = _insert_match(uow, r.id, proposal, decision, status, now,
                                     actor if status == "applied" else None)  # fmt: skip
            allocations = proposal.allocations if status != "unmatched" else ()
            _insert_allocations(uow, match_id, allocations, proposal.write_off, invoice_ids)
            if status == "applied":
                touched.update(_record_payments(uow, match_id, r.line_id, _paid_on(r, now), now))
                _audit_match(uow, now, actor, "cash.match_applied", r.line_id, match_id, proposal.confidence,
                             allocations, "automatic: confidence at or above the threshold")  # fmt: skip
                report.applied += 1
                line_status, owner = "applied", None
            elif status == "pending_review":
                report.review += 1
                line_status, owner = "review", ctx.config.finance_owner
            else:
                report.unmatched += 1
                unmatched.append(r.line_id)
                line_status, owner = "unmatched", ctx.config.finance_owner
            uow.conn.execute(update(ln_t).where(ln_t.c.id == r.id).values(status=line_status, owner=owner,
                                                                           updated_at=now))  # fmt: skip
        for invoice_id in sorted(touched):
            state = refresh_payment_state(uow, ctx, invoice_id, now, actor, "cash application")
            report.states[_number(uow, invoice_id)] = state.value
        if report.review or unmatched:
            _tell_finance(uow, ctx, now, report, unmatched)
        uow.commit()
    return report


def _paid_on(r: Any, now: datetime) -> date:
    paid: date = r.value_date or r.booking_date or now.date()
    return paid


def _number(uow: UnitOfWork, invoice_id: int) -> str:
    inv = schema.invoices
    number: str = uow.conn.execute(select(inv.c.number).where(inv.c.id == invoice_id)).scalar_one()
    return number


def _insert_match(uow: UnitOfWork, line_pk: int, p: Proposal, decision: Decision, status: str, now: datetime,
                  decided_by: str | None) -> int:  # fmt: skip
    m = schema.cash_matches
    evidence = [{"code": e.code, "detail": e.detail, "invoice": e.invoice_number} for e in p.evidence]
    match_id: int = uow.conn.execute(m.insert().values(
        bank_line_id=line_pk, decision=decision.value, status=status, confidence=p.confidence,
        evidence=evidence, alternatives=list(p.alternatives), unapplied=p.unapplied, proposed_at=now,
        decided_by=decided_by, decided_at=now if decided_by else None).returning(m.c.id)).scalar_one()  # fmt: skip
    return match_id


def _insert_allocations(uow: UnitOfWork, match_id: int, allocations: Sequence[Allocation], write_off: Decimal,
                        invoice_ids: Mapping[str, int]) -> None:  # fmt: skip
    rows = [{"match_id": match_id, "invoice_id": invoice_ids[a.invoice_number], "amount": a.amount,
             "write_off": write_off if k == len(allocations) - 1 else ZERO}
            for k, a in enumerate(allocations)]  # fmt: skip
    if rows:
        uow.conn.execute(schema.cash_allocations.insert(), rows)


def _record_payments(uow: UnitOfWork, match_id: int, line_id: str, paid_on: date, now: datetime,
                     sign: int = 1) -> list[int]:  # fmt: skip
    """Payments for a match's allocations (and a write-off of an accepted short payment), or their
    reversal (`sign=-1`) when the match is undone. Keys make each write happen once."""
    a = schema.cash_allocations
    rows = uow.conn.execute(select(a.c.invoice_id, a.c.amount, a.c.write_off).where(a.c.match_id == match_id)).all()
    kind = "cash" if sign > 0 else "cash-undo"
    payments = []
    for r in rows:
        payments.append({"payment_key": f"{kind}:{match_id}:{r.invoice_id}", "invoice_id": r.invoice_id,
                         "amount": sign * r.amount, "paid_on": paid_on, "source": f"bank:{line_id}",
                         "received_at": now})  # fmt: skip
        if r.write_off:
            payments.append({"payment_key": f"{kind}-write-off:{match_id}:{r.invoice_id}",
                             "invoice_id": r.invoice_id, "amount": sign * r.write_off, "paid_on": paid_on,
                             "source": f"write-off:{line_id}", "received_at": now})  # fmt: skip
    insert_many(uow.conn, schema.payments, payments, ["payment_key"])
    return [r.invoice_id for r in rows]


def _audit_match(uow: UnitOfWork, now: datetime, actor: str, action: str, line_id: str, match_id: int,
                 confidence: float, allocations: Sequence[Any], reason: str) -> None:  # fmt: skip
    allocated = [{"invoice": a.invoice_number, "amount": a.amount} for a in allocations]
    uow.audit(at=now, actor=actor, action=action, entity_type="bank_line", entity_id=line_id, reason=reason,
              after={"match": match_id, "confidence": confidence, "allocations": allocated})  # fmt: skip


def _tell_finance(uow: UnitOfWork, ctx: AppContext, now: datetime, report: CashReport, unmatched: list[str]) -> None:
    owner = ctx.config.finance_owner
    key = hashlib.sha256("\x1f".join(p.line_id for p in report.proposals).encode()).hexdigest()[:16]
    notices.send(uow, ctx, now, key=f"cash:{key}", topic="cash_review", to=[owner],
                 subject=f"[handoff] {report.review} payments to review, {len(unmatched)} unmatched",
                 text=(f"Cash application matched {report.applied} of {report.lines} bank lines.\n"
                       f"{report.review} proposals wait for review (`handoff review list`); "
                       f"{len(unmatched)} lines matched no invoice and are yours to allocate.\n"),
                 channels=["email", "log"])  # fmt: skip


# -- review: confirm, reject, undo --------------------------------------------------------------


@dataclass(frozen=True)
class _Allocated:
    invoice_number: str
    amount: Decimal


def _load_match(uow: UnitOfWork, match_id: int) -> Any:
    m, ln = schema.cash_matches, schema.bank_lines
    q = (select(m, ln.c.line_id, ln.c.value_date, ln.c.booking_date, ln.c.id.label("line_pk"))
         .join(ln, ln.c.id == m.c.bank_line_id).where(m.c.id == match_id))  # fmt: skip
    if uow.is_postgres:
        q = q.with_for_update()
    row = uow.conn.execute(q).first()
    if row is None:
        raise CashError(f"match {match_id} does not exist")
    return row


def _allocations(uow: UnitOfWork, match_id: int) -> list[Any]:
    a, inv = schema.cash_allocations, schema.invoices
    return list(uow.conn.execute(
        select(a.c.invoice_id, a.c.amount, a.c.write_off, inv.c.number.label("invoice_number"), inv.c.gross_amount,
               inv.c.paid_amount, inv.c.status)
        .join(inv, inv.c.id == a.c.invoice_id).where(a.c.match_id == match_id).order_by(inv.c.number)))  # fmt: skip


def confirm_match(ctx: AppContext, match_id: int, actor: str) -> dict[str, str]:
    """A person confirms a proposal from the review queue: its payments are applied."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _load_match(uow, match_id)
        if row.status != "pending_review":
            raise CashError(f"match {match_id} is {row.status}; only a match pending review can be confirmed")
        allocations = _allocations(uow, match_id)
        if not allocations:
            raise CashError(f"match {match_id} proposes no invoice to apply the payment to")
        for a in allocations:
            still_open = a.gross_amount - a.paid_amount
            if a.status != "issued" or a.amount + a.write_off > still_open:
                raise CashError(f"match {match_id}: invoice {a.invoice_number} has only {still_open} open now, "
                                f"not {a.amount + a.write_off}; reject the match and allocate by hand")  # fmt: skip
        _set_match(uow, match_id, status="applied", decided_by=actor, decided_at=now)
        touched = _record_payments(uow, match_id, row.line_id, _paid_on(row, now), now)
        _set_line(uow, row.line_pk, "applied", None, now)
        _audit_match(uow, now, actor, "cash.match_applied", row.line_id, match_id, row.confidence,
                     [_Allocated(a.invoice_number, a.amount) for a in allocations], "confirmed in review")  # fmt: skip
        states = {_number(uow, i): refresh_payment_state(uow, ctx, i, now, actor, f"cash match {match_id} confirmed")
                  .value for i in touched}  # fmt: skip
        uow.commit()
    return states


def reject_match(ctx: AppContext, match_id: int, actor: str, reason: str = "") -> None:
    """A person rejects a proposal: the line goes to the finance owner to allocate by hand."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _load_match(uow, match_id)
        if row.status != "pending_review":
            raise CashError(f"match {match_id} is {row.status}; only a match pending review can be rejected")
        _set_match(uow, match_id, status="rejected", decided_by=actor, decided_at=now)
        _set_line(uow, row.line_pk, "unmatched", ctx.config.finance_owner, now)
        allocations = _allocations(uow, match_id)
        _audit_match(uow, now, actor, "cash.match_rejected", row.line_id, match_id, row.confidence,
                     [_Allocated(a.invoice_number, a.amount) for a in allocations],
                     reason or "rejected in review")  # fmt: skip
        uow.commit()


def undo_match(ctx: AppContext, match_id: int, actor: str, reason: str = "") -> dict[str, str]:
    """Take back an applied match: reversing payments restore each invoice's open amount; the
    line goes to the finance owner."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _load_match(uow, match_id)
        if row.status != "applied":
            raise CashError(f"match {match_id} is {row.status}; only an applied match can be undone")
        _set_match(uow, match_id, status="undone", undone_by=actor, undone_at=now)
        touched = _record_payments(uow, match_id, row.line_id, _paid_on(row, now), now, sign=-1)
        _set_line(uow, row.line_pk, "unmatched", ctx.config.finance_owner, now)
        allocations = _allocations(uow, match_id)
        _audit_match(uow, now, actor, "cash.match_undone", row.line_id, match_id, row.confidence,
                     [_Allocated(a.invoice_number, a.amount) for a in allocations], reason or "undone")  # fmt: skip
        states = {_number(uow, i): refresh_payment_state(uow, ctx, i, now, actor, f"cash match {match_id} undone")
                  .value for i in touched}  # fmt: skip
        uow.commit()
    return states


def _set_match(uow: UnitOfWork, match_id: int, **values: Any) -> None:
    uow.conn.execute(update(schema.cash_matches).where(schema.cash_matches.c.id == match_id).values(**values))


def _set_line(uow: UnitOfWork, line_pk: int, status: str, owner: str | None, now: datetime) -> None:
    ln = schema.bank_lines
    uow.conn.execute(update(ln).where(ln.c.id == line_pk).values(status=status, owner=owner, updated_at=now))


# -- queries ------------------------------------------------------------------------------------


def matches(ctx: AppContext, status: str | None = "pending_review") -> list[dict[str, Any]]:
    """Matches (by default the review queue) with their line and proposed allocations."""
    m, ln, a, inv = schema.cash_matches, schema.bank_lines, schema.cash_allocations, schema.invoices
    q = (select(m.c.id, m.c.status, m.c.decision, m.c.confidence, m.c.evidence, m.c.alternatives, m.c.unapplied,
                m.c.decided_by, m.c.decided_at, ln.c.line_id, ln.c.amount, ln.c.currency, ln.c.booking_date,
                ln.c.counterparty_name, ln.c.remittance, ln.c.structured_reference)
         .join(ln, ln.c.id == m.c.bank_line_id).order_by(m.c.id))  # fmt: skip
    if status is not None:
        q = q.where(m.c.status == status)
    with ctx.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        ids = [r["id"] for r in rows]
        allocs: dict[int, list[dict[str, Any]]] = {}
        if ids:
            for a_row in conn.execute(select(a.c.match_id, inv.c.number, a.c.amount, a.c.write_off)
                                      .join(inv, inv.c.id == a.c.invoice_id).where(a.c.match_id.in_(ids))
                                      .order_by(inv.c.number)):  # fmt: skip
                allocs.setdefault(a_row.match_id, []).append({"invoice": a_row.number, "amount": a_row.amount,
                                                              "write_off": a_row.write_off})  # fmt: skip
    for row in rows:
        row["allocations"] = allocs.get(row["id"], [])
    return rows


def unmatched_lines(ctx: AppContext) -> list[dict[str, Any]]:
    ln = schema.bank_lines
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(ln.c.line_id, ln.c.amount, ln.c.currency, ln.c.booking_date, ln.c.counterparty_name,
                   ln.c.remittance, ln.c.owner).where(ln.c.status == "unmatched").order_by(ln.c.id))]  # fmt: skip


__all__ = ["CashError", "CashReport", "StatementError", "StatementImport", "apply_cash", "confirm_match",
           "import_statement", "matches", "read_statement_file", "reject_match", "store_statements",
           "undo_match", "unmatched_lines"]  # fmt: skip
