"""Cash use cases: import bank statements, apply received money to open invoices, review matches.

Bank statement import lives in `cash.service.statements` (read whole, checked, stored in one
transaction or refused with its reason); its names are re-exported here for callers of this module.

Cash application (`apply_cash`) runs the matcher (`handoff.cash.domain.matching`) over the new
credit lines against the open issued invoices (from `invoicing.service.ledger`: what is open is
gross - paid - credited, so an invoice settled by a credit note expects nothing). Proposals at or
above the auto-apply threshold are applied at once: payments recorded against the invoices as
`cash.service.payments` does (payment state, order `paid`, audit entry, owner notice). Weaker
proposals wait in the review queue for a person to confirm or reject; lines without a candidate
go to the finance owner. Every applied, rejected or undone match is in the audit trail; an undo
records reversing payments, so history is never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import Matcher
from handoff.cash.domain.policy import Allocation, MatchPolicy, OpenInvoice, Proposal
from handoff.cash.domain.status import OUTCOME, LineStatus, MatchStatus
from handoff.cash.formats import StatementError
from handoff.cash.repository.bank import BankRepository, MatchAllocation, MatchedLine
from handoff.cash.repository.payments import PaymentRepository
from handoff.cash.service.payments import settle
from handoff.cash.service.statements import (
    StatementImport,
    import_statement,
    read_statement_file,
    store_statements,
)
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import DocumentStatus
from handoff.invoicing.service import ledger
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices


class CashError(Exception):
    """A request the match's state does not allow (logical, not transient)."""


# -- cash application ---------------------------------------------------------------------------


@dataclass
class CashReport:
    lines: int = 0
    applied: int = 0
    review: int = 0
    unmatched: int = 0
    states: dict[str, str] = field(default_factory=dict)  # invoice number -> payment state
    proposals: list[Proposal] = field(default_factory=list)


def apply_cash(ctx: AppContext, actor: str = "automation:cash", threshold: float | None = None) -> CashReport:
    """Match every new credit line; apply the confident proposals, queue the rest for review."""
    now = ctx.clock()
    cash = ctx.config.model.cash
    policy = MatchPolicy(auto_apply_threshold=threshold if threshold is not None else cash.auto_apply_threshold)
    report = CashReport()
    with ExitStack() as bulk, ctx.unit_of_work() as uow:
        bank, payments = uow.repository(BankRepository), uow.repository(PaymentRepository)
        new = bank.lines_to_match()
        if not new.lines:
            return report
        bulk.enter_context(ctx.runtime.bulk(len(new.lines)))
        invoices, invoice_ids = _open_invoices(uow)
        readings = bulk.enter_context(ctx.runtime.readings_ahead(invoices, policy, new.lines))
        matcher = Matcher(invoices, policy)
        touched: set[int] = set()
        unmatched: list[str] = []
        for line_pk, line, reading in zip(new.ids, new.lines, readings, strict=True):
            proposal = matcher.match_line(line, reading)
            report.proposals.append(proposal)
            report.lines += 1
            status, line_status = OUTCOME[proposal.decision]
            applied = status is MatchStatus.APPLIED
            match_id = bank.add_match(line_pk, proposal, status, now, actor if applied else None)
            allocations = proposal.allocations if status is not MatchStatus.UNMATCHED else ()
            bank.add_allocations(match_id, allocations, proposal.write_off, invoice_ids)
            if applied:
                touched.update(payments.add_for_match(match_id, line.line_id, _paid_on(line, now), now))
                _audit_match(
                    uow,
                    now,
                    actor,
                    "cash.match_applied",
                    line.line_id,
                    match_id,
                    proposal.confidence,
                    allocations,
                    "automatic: confidence at or above the threshold",
                )
                report.applied += 1
            elif status is MatchStatus.PENDING_REVIEW:
                report.review += 1
            else:
                report.unmatched += 1
                unmatched.append(line.line_id)
            bank.set_line(line_pk, line_status, None if applied else ctx.config.finance_owner, now)
        for invoice_id in sorted(touched):
            number, state = settle(uow, payments, ctx, invoice_id, now, actor, "cash application")
            report.states[number] = state.value
        if report.review or unmatched:
            _tell_finance(uow, ctx, now, report, unmatched)
        uow.commit()
    return report


def _open_invoices(uow: UnitOfWork) -> tuple[list[OpenInvoice], dict[str, int]]:
    """Issued invoices with something open (gross - paid - credited), as the matcher sees them,
    in id order; and number -> id. A settled invoice, paid or credited, expects nothing."""
    invoices, ids = [], {}
    for inv in ledger.open_invoices(uow):
        invoices.append(
            OpenInvoice(
                inv.number,
                inv.customer_id,
                inv.customer_name,
                inv.currency,
                inv.open_amount,
                inv.payment_reference or "",
                inv.due_date,
            )
        )
        ids[inv.number] = inv.id
    return invoices, ids


def _paid_on(line: BankLine | MatchedLine, now: datetime) -> date:
    """The day the money arrived: the line's value date, else its booking date, else today."""
    return line.value_date or line.booking_date or now.date()


def _audit_match(
    uow: UnitOfWork,
    now: datetime,
    actor: str,
    action: str,
    line_id: str,
    match_id: int,
    confidence: float,
    allocations: Sequence[Allocation | MatchAllocation],
    reason: str,
) -> None:
    allocated = [{"invoice": a.invoice_number, "amount": a.amount} for a in allocations]
    uow.audit(
        at=now,
        actor=actor,
        action=action,
        entity_type="bank_line",
        entity_id=line_id,
        reason=reason,
        after={"match": match_id, "confidence": confidence, "allocations": allocated},
    )


def _tell_finance(uow: UnitOfWork, ctx: AppContext, now: datetime, report: CashReport, unmatched: list[str]) -> None:
    owner = ctx.config.finance_owner
    key = hashlib.sha256("\x1f".join(p.line_id for p in report.proposals).encode()).hexdigest()[:16]
    notices.send(
        uow,
        ctx,
        now,
        key=f"cash:{key}",
        topic="cash_review",
        to=[owner],
        subject=f"[handoff] {report.review} payments to review, {len(unmatched)} unmatched",
        text=(
            f"Cash application matched {report.applied} of {report.lines} bank lines.\n"
            f"{report.review} proposals wait for review (`handoff review list`); "
            f"{len(unmatched)} lines matched no invoice and are yours to allocate.\n"
        ),
        channels=["email", "log"],
    )


# -- review: confirm, reject, undo --------------------------------------------------------------


def _match(bank: BankRepository, match_id: int) -> MatchedLine:
    found = bank.match(match_id)
    if found is None:
        raise CashError(f"match {match_id} does not exist")
    return found


def confirm_match(ctx: AppContext, match_id: int, actor: str) -> dict[str, str]:
    """A person confirms a proposal from the review queue: its payments are applied."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        bank, payments = uow.repository(BankRepository), uow.repository(PaymentRepository)
        match = _match(bank, match_id)
        if match.status is not MatchStatus.PENDING_REVIEW:
            raise CashError(f"match {match_id} is {match.status}; only a match pending review can be confirmed")
        allocations = bank.allocations(match_id)
        if not allocations:
            raise CashError(f"match {match_id} proposes no invoice to apply the payment to")
        settled = {i.id: i for i in (ledger.invoice_summary(uow, a.invoice_id, lock=True) for a in allocations) if i}
        for a in allocations:
            now_open = settled.get(a.invoice_id)
            still_open = now_open.open_amount if now_open else a.gross_amount - a.paid_amount
            if a.invoice_status is not DocumentStatus.ISSUED or a.amount + a.write_off > still_open:
                raise CashError(
                    f"match {match_id}: invoice {a.invoice_number} has only {still_open} open now, "
                    f"not {a.amount + a.write_off}; reject the match and allocate by hand"
                )
        bank.decide(match_id, MatchStatus.APPLIED, actor, now)
        touched = payments.add_for_match(match_id, match.line_id, _paid_on(match, now), now)
        bank.set_line(match.line_pk, LineStatus.APPLIED, None, now)
        _audit_match(
            uow,
            now,
            actor,
            "cash.match_applied",
            match.line_id,
            match_id,
            match.confidence,
            allocations,
            "confirmed in review",
        )
        states = _settle_all(uow, payments, ctx, touched, now, actor, f"cash match {match_id} confirmed")
        uow.commit()
    return states


def reject_match(ctx: AppContext, match_id: int, actor: str, reason: str = "") -> None:
    """A person rejects a proposal: the line goes to the finance owner to allocate by hand."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        bank = uow.repository(BankRepository)
        match = _match(bank, match_id)
        if match.status is not MatchStatus.PENDING_REVIEW:
            raise CashError(f"match {match_id} is {match.status}; only a match pending review can be rejected")
        bank.decide(match_id, MatchStatus.REJECTED, actor, now)
        bank.set_line(match.line_pk, LineStatus.UNMATCHED, ctx.config.finance_owner, now)
        _audit_match(
            uow,
            now,
            actor,
            "cash.match_rejected",
            match.line_id,
            match_id,
            match.confidence,
            bank.allocations(match_id),
            reason or "rejected in review",
        )
        uow.commit()


def undo_match(ctx: AppContext, match_id: int, actor: str, reason: str = "") -> dict[str, str]:
    """Take back an applied match: reversing payments restore each invoice's open amount; the
    line goes to the finance owner."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        bank, payments = uow.repository(BankRepository), uow.repository(PaymentRepository)
        match = _match(bank, match_id)
        if match.status is not MatchStatus.APPLIED:
            raise CashError(f"match {match_id} is {match.status}; only an applied match can be undone")
        bank.undo(match_id, actor, now)
        touched = payments.add_for_match(match_id, match.line_id, _paid_on(match, now), now, sign=-1)
        bank.set_line(match.line_pk, LineStatus.UNMATCHED, ctx.config.finance_owner, now)
        _audit_match(
            uow,
            now,
            actor,
            "cash.match_undone",
            match.line_id,
            match_id,
            match.confidence,
            bank.allocations(match_id),
            reason or "undone",
        )
        states = _settle_all(uow, payments, ctx, touched, now, actor, f"cash match {match_id} undone")
        uow.commit()
    return states


def _settle_all(
    uow: UnitOfWork,
    payments: PaymentRepository,
    ctx: AppContext,
    invoice_ids: Sequence[int],
    now: datetime,
    actor: str,
    reason: str,
) -> dict[str, str]:
    """Settle each invoice in turn; invoice number -> its payment state now."""
    states = {}
    for invoice_id in invoice_ids:
        number, state = settle(uow, payments, ctx, invoice_id, now, actor, reason)
        states[number] = state.value
    return states


# -- queries ------------------------------------------------------------------------------------


def matches(ctx: AppContext, status: str | None = MatchStatus.PENDING_REVIEW) -> list[dict[str, Any]]:
    """Matches (by default the review queue) with their line and proposed allocations."""
    with ctx.engine.connect() as conn:
        found = BankRepository(conn).review_matches(status)
    return [{**m._asdict(), "allocations": [a._asdict() for a in m.allocations]} for m in found]


def unmatched_lines(ctx: AppContext) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return [line._asdict() for line in BankRepository(conn).unmatched_lines()]


__all__ = [
    "CashError",
    "CashReport",
    "StatementError",
    "StatementImport",
    "apply_cash",
    "confirm_match",
    "import_statement",
    "matches",
    "read_statement_file",
    "reject_match",
    "store_statements",
    "undo_match",
    "unmatched_lines",
]
