"""Drafts whose e-invoice fails a fatal validation rule at issue: in the exception queue, for finance.

Issuing (`invoicing.service.issuing`) validates the e-invoice before it numbers the invoice; when
a rule fails, the invoice stays a draft (its finance task stays open) and each of its deals gets an
open exception owned by finance, one problem per failed rule (code `einvoice_invalid`, the field to
fix, the rule id and its meaning in plain words). The order keeps its state: nothing is lost or
re-drafted. Once the master data or configuration is fixed, issuing again re-validates; a
successful issue resolves these exceptions (`release`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from handoff.context import AppContext
from handoff.deals.domain.readiness import Problem, ProblemCode
from handoff.deals.repository.orders import OrderBook, open_exception_problems, resolve_open_exceptions
from handoff.deals.service.intake import problem_reasons
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices


def problems(findings: Sequence[tuple[str, str, str]]) -> tuple[Problem, ...]:
    """One problem per (rule, field, message), the rule id leading its message; repeats dropped."""
    seen: dict[tuple[str, str], Problem] = {}
    for rule, field, message in findings:
        seen.setdefault((rule, field), Problem(ProblemCode.EINVOICE_INVALID, field, f"{rule}: {message}"))
    return tuple(seen.values())


def hold(
    uow: UnitOfWork,
    ctx: AppContext,
    deal_ids: Iterable[str],
    findings: Sequence[tuple[str, str, str]],
    invoice_id: int,
    actor: str,
    now: datetime,
) -> None:
    """Open (or update) the exception of each deal on these findings, owned by finance, in `uow`.
    A deal already held on exactly these problems is left as it is (the workers retry issuing
    automated drafts on every pass: no new audit entry or notice each time)."""
    found = problems(findings)
    as_dicts = [p.as_dict() for p in found]
    held = open_exception_problems(uow, deal_ids)
    wanted = sorted(d for d in set(deal_ids) if held.get(d) != as_dicts)
    if not wanted:
        return
    book = OrderBook(uow, wanted, len(wanted))
    reasons = problem_reasons(found)
    owner = ctx.config.model.notifications.finance_email.lower()
    for deal_id in wanted:
        order = book.order(deal_id)
        if order is None:
            continue
        book.put_exception(order, owner, as_dicts, reasons, now)
        uow.audit(
            at=now,
            actor=actor,
            action="exception.opened",
            entity_type="order",
            entity_id=deal_id,
            reason=f"e-invoice of draft {invoice_id} fails validation: not issued",
            after={"owner": owner, "problems": as_dicts},
        )
        deal = order.snapshot.deal
        notices.exception_opened(uow, ctx, now, deal_id, deal.get("deal_name"), owner, found)
    book.flush()


def release(uow: UnitOfWork, deal_ids: Iterable[str], actor: str, now: datetime) -> None:
    """Resolve the e-invoice exceptions of these deals (their invoice was issued), audited."""
    for deal_id in resolve_open_exceptions(uow, deal_ids, ProblemCode.EINVOICE_INVALID.value, now):
        uow.audit(
            at=now,
            actor=actor,
            action="exception.resolved",
            entity_type="order",
            entity_id=deal_id,
            reason="its e-invoice passed validation and was issued",
        )
