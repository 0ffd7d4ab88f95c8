"""Approvals: a sensitive step waits for a second person before it happens (four-eyes).

The first kind is the credit note. Someone asks for one (`request_credit_note`): the invoice must
be issued and the quantities must fit what is left uncredited, counting earlier requests that are
pending or approved. Finance hears of the request; another person approves it (the credit-note
draft is built by `domain.invoices.credit_note` and stored like any draft, linked to the invoice's
orders, to be issued in series CRN) or rejects it. The requester hears the decision. A credit-note
draft that should not go out after all (approved by mistake, overtaken) is voided before it is
issued (`void_credit_note`): its quantities are free to be credited again.

An approval leaves `pending` once, through `UPDATE ... WHERE status = 'pending'`: of two people
deciding at the same moment, one updates the row and the other finds nothing to update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, update

from handoff.context import AppContext
from handoff.invoicing.domain.invoices import (
    DocumentStatus,
    Invoice,
    InvoiceError,
    InvoiceKind,
    credit_note,
    credit_quantities,
    invoice_from_json,
)
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import D
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices

CREDIT_NOTE = "credit_note"
STATUSES = ("pending", "approved", "rejected")


class ApprovalError(Exception):
    """A request or decision the approval's state does not allow. `code` is stable:
    `not_found`, `not_creditable` (invoice not issued, nothing left, bad quantities),
    `not_pending` (already decided), `same_person` (the requester may not approve), `invalid`
    (a missing reason or note), `not_voidable` (not a credit-note draft)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def person(actor: str) -> str:
    """The person behind an actor: web users act as `user:EMAIL`, the CLI as `EMAIL`."""
    return actor.removeprefix("user:").strip().lower()


def _quantities_in(payload: Mapping[str, Any]) -> dict[int, Decimal]:
    return {int(n): D(q) for n, q in (payload.get("quantities") or {}).items()}


def _earlier_credits(uow: UnitOfWork, number: str) -> list[dict[int, Decimal]]:
    """Quantities credited or asked for by pending and approved requests (a voided draft frees them)."""
    a, inv = schema.approvals, schema.invoices
    rows = uow.conn.execute(select(a.c.payload).outerjoin(inv, inv.c.id == a.c.result_invoice_id).where(
        a.c.kind == CREDIT_NOTE, a.c.subject == number, a.c.status.in_(("pending", "approved")),
        (inv.c.status.is_(None)) | (inv.c.status != "void"))).scalars()  # fmt: skip
    return [_quantities_in(p) for p in rows]


def _issued_invoice(uow: UnitOfWork, number: str) -> tuple[int, Invoice]:
    inv = schema.invoices
    q = select(inv.c.id, inv.c.status, inv.c.kind, inv.c.document).where(inv.c.number == number)
    if uow.is_postgres:  # requests for one invoice queue here, so their quantities add up
        q = q.with_for_update()
    row = uow.conn.execute(q).one_or_none()
    if row is None:
        raise ApprovalError("not_found", f"no invoice numbered {number}")
    if row.kind != InvoiceKind.INVOICE.value or row.status != DocumentStatus.ISSUED.value:
        what = "a credit note" if row.kind != InvoiceKind.INVOICE.value else row.status
        raise ApprovalError("not_creditable", f"invoice {number} is {what}; only an issued invoice can be credited")
    return row.id, invoice_from_json(row.document)


def request_credit_note(ctx: AppContext, invoice_number: str, reason: str, actor: str,
                        quantities: Mapping[int, Decimal] | None = None) -> dict[str, Any]:  # fmt: skip
    """Ask for a credit note on an issued invoice: all that is left uncredited, or `quantities`
    (invoice line number -> quantity). Stored as a pending approval; finance is told."""
    reason = reason.strip()
    if not reason:
        raise ApprovalError("invalid", "a credit note needs a reason")
    now = ctx.clock()
    a = schema.approvals
    with ctx.unit_of_work() as uow:
        _, invoice = _issued_invoice(uow, invoice_number)
        try:
            wanted = credit_quantities(invoice, quantities, _earlier_credits(uow, invoice_number))
            draft = credit_note(invoice, reason, wanted)  # refused now rather than at approval
        except InvoiceError as exc:
            raise ApprovalError("not_creditable", str(exc)) from exc
        payload = {"reason": reason, "quantities": {str(n): str(q) for n, q in sorted(wanted.items())},
                   "gross": str(draft.totals.tax_inclusive), "currency": draft.currency}  # fmt: skip
        approval_id: int = uow.conn.execute(a.insert().values(
            kind=CREDIT_NOTE, subject=invoice_number, payload=payload, status="pending", requested_by=actor,
            requested_at=now).returning(a.c.id)).scalar_one()  # fmt: skip
        uow.audit(at=now, actor=actor, action="credit_note.requested", entity_type="invoice",
                  entity_id=invoice_number, reason=reason, after={"approval": approval_id, **payload})  # fmt: skip
        finance = ctx.config.model.notifications.finance_email
        notices.send(uow, ctx, now, key=f"approval:{approval_id}:requested", topic="approval", to=[finance],
                     subject=f"[handoff] Credit note for {invoice_number} awaits approval",
                     text=(f"{person(actor)} asks for a credit note of {draft.totals.tax_inclusive} {draft.currency} "
                           f"on invoice {invoice_number}: {reason}\nApproval {approval_id}: "
                           f"handoff approvals approve {approval_id} (someone other than the requester).\n"),
                     channels=list(ctx.config.model.notifications.approval_channels),
                     extra={"approval_id": approval_id, "actions": True})  # fmt: skip
        uow.commit()
    return get_approval(ctx, approval_id)


def _decide(uow: UnitOfWork, approval_id: int, status: str, actor: str, note: str, now: datetime) -> Any:
    """Move a pending approval to `status`; the conditional UPDATE makes the first decider the only one."""
    a = schema.approvals
    row = uow.conn.execute(select(a).where(a.c.id == approval_id)).one_or_none()
    if row is None:
        raise ApprovalError("not_found", f"no approval {approval_id}")
    if row.status != "pending":
        raise ApprovalError("not_pending", f"approval {approval_id} is already {row.status} by {row.decided_by}")
    if status == "approved" and person(actor) == person(row.requested_by):
        raise ApprovalError("same_person", f"approval {approval_id} was requested by {person(row.requested_by)}; "
                                           "someone else must approve it")  # fmt: skip
    done = uow.conn.execute(update(a).where(a.c.id == approval_id, a.c.status == "pending").values(
        status=status, decided_by=actor, decided_at=now, decision_note=note))  # fmt: skip
    if done.rowcount != 1:
        raise ApprovalError("not_pending", f"approval {approval_id} was decided by someone else just now")
    return row


def _store_draft(uow: UnitOfWork, invoice_id: int, draft: Invoice, approval_id: int, now: datetime) -> int:
    inv, io = schema.invoices, schema.invoice_orders
    original = uow.conn.execute(select(inv.c.legal_entity, inv.c.customer_id, inv.c.customer_name)
                                .where(inv.c.id == invoice_id)).one()  # fmt: skip
    draft_id: int = uow.conn.execute(inv.insert().values(
        draft_key=f"approval:{approval_id}", kind=draft.kind.value, status="draft", payment_state="unpaid",
        legal_entity=original.legal_entity, customer_id=original.customer_id, customer_name=original.customer_name,
        currency=draft.currency, net_amount=draft.totals.tax_exclusive, tax_amount=draft.totals.tax,
        gross_amount=draft.totals.tax_inclusive, paid_amount=D("0"), document=to_jsonable(draft),
        created_at=now).returning(inv.c.id)).scalar_one()  # fmt: skip
    orders = uow.conn.execute(select(io.c.order_id).where(io.c.invoice_id == invoice_id)).scalars().all()
    if orders:  # the credit note belongs to the same deals as the invoice it corrects
        uow.conn.execute(io.insert(), [{"invoice_id": draft_id, "order_id": o} for o in orders])
    return draft_id


def approve(ctx: AppContext, approval_id: int, actor: str, note: str = "",
            reply: notices.Reply | None = None) -> dict[str, Any]:  # fmt: skip
    """Approve a pending request (not one's own): the credit-note draft is created, to be issued
    like any draft; the requester is told, and `reply` (where the decision was made) answered."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _decide(uow, approval_id, "approved", actor, note, now)
        invoice_id, invoice = _issued_invoice(uow, row.subject)
        try:
            draft = credit_note(invoice, str(row.payload["reason"]), _quantities_in(row.payload))
        except InvoiceError as exc:
            raise ApprovalError("not_creditable", str(exc)) from exc
        draft_id = _store_draft(uow, invoice_id, draft, approval_id, now)
        a = schema.approvals
        uow.conn.execute(update(a).where(a.c.id == approval_id).values(result_invoice_id=draft_id))
        uow.audit(at=now, actor=actor, action="credit_note.approved", entity_type="invoice", entity_id=row.subject,
                  reason=note or "approved", before={"approval": approval_id, "status": "pending"},
                  after={"approval": approval_id, "status": "approved", "credit_note_draft": draft_id,
                         "gross": draft.totals.tax_inclusive, "requested_by": row.requested_by})  # fmt: skip
        _tell_requester(uow, ctx, now, row, "approved", actor, note,
                        f"The credit-note draft (id {draft_id}) is ready to be issued.")  # fmt: skip
        if reply is not None:
            notices.answer(uow, now, reply, f"approval:{approval_id}:approved", f":white_check_mark: Approved by "
                           f"{person(actor)}: credit-note draft {draft_id} is ready to be issued.",
                           extra={"approval_id": approval_id})  # fmt: skip
        uow.commit()
    return get_approval(ctx, approval_id)


def reject(ctx: AppContext, approval_id: int, actor: str, note: str,
           reply: notices.Reply | None = None) -> dict[str, Any]:  # fmt: skip
    """Reject a pending request, saying why; the requester is told. The requester may withdraw
    their own request this way: four-eyes guards the credit, not its refusal."""
    note = note.strip()
    if not note:
        raise ApprovalError("invalid", "a rejection needs a note saying why")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _decide(uow, approval_id, "rejected", actor, note, now)
        uow.audit(at=now, actor=actor, action="credit_note.rejected", entity_type="invoice", entity_id=row.subject,
                  reason=note, before={"approval": approval_id, "status": "pending"},
                  after={"approval": approval_id, "status": "rejected", "requested_by": row.requested_by})  # fmt: skip
        _tell_requester(uow, ctx, now, row, "rejected", actor, note, "No credit note was made.")
        if reply is not None:
            notices.answer(uow, now, reply, f"approval:{approval_id}:rejected",
                           f":x: Rejected by {person(actor)}: {note}", extra={"approval_id": approval_id})  # fmt: skip
        uow.commit()
    return get_approval(ctx, approval_id)


def answer_refusal(ctx: AppContext, reply: notices.Reply, approval_id: int, text: str,
                   in_place: bool = False) -> None:  # fmt: skip
    """Tell the person whose decision was refused (their own request, already decided, not allowed
    to decide) why, where they made it: to them alone, or (`in_place`, for a request decided
    meanwhile) in place of what they clicked. Nothing else changes."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        digest = hashlib.sha256(f"{reply.address}\x1f{text}".encode()).hexdigest()[:16]
        notices.answer(uow, now, reply, f"approval:{approval_id}:refused:{digest}", text, in_place=in_place,
                       extra={"approval_id": approval_id})  # fmt: skip
        uow.commit()


def void_credit_note(ctx: AppContext, invoice_id: int, actor: str, reason: str) -> dict[str, Any]:
    """Void a credit-note draft before it is issued, saying why: it will never be issued, and the
    quantities its approval claimed are free again. An issued credit note stays (a new invoice
    corrects it), and an invoice draft follows its deal, so neither is voided here. The requester
    is told. Returns the approval the draft came from."""
    reason = reason.strip()
    if not reason:
        raise ApprovalError("invalid", "voiding a credit-note draft needs a reason")
    now = ctx.clock()
    inv, a = schema.invoices, schema.approvals
    with ctx.unit_of_work() as uow:
        row = uow.conn.execute(select(inv.c.kind, inv.c.status, inv.c.number, inv.c.gross_amount)
                               .where(inv.c.id == invoice_id)).one_or_none()  # fmt: skip
        if row is None:
            raise ApprovalError("not_found", f"no invoice {invoice_id}")
        if row.kind != InvoiceKind.CREDIT_NOTE.value:
            raise ApprovalError("not_voidable", f"invoice {row.number or invoice_id} is an invoice, not a credit "
                                                "note; an invoice draft follows its deal")  # fmt: skip
        approval = uow.conn.execute(select(a).where(a.c.result_invoice_id == invoice_id)).one_or_none()
        if approval is None:
            raise ApprovalError("not_voidable", f"credit note {row.number or invoice_id} was not made by an approval")
        # conditional, as deciding is: of a void and an issue at the same moment, one finds no draft
        done = uow.conn.execute(update(inv).where(inv.c.id == invoice_id, inv.c.status == "draft")
                                .values(status=DocumentStatus.VOID.value))  # fmt: skip
        if done.rowcount != 1:
            status = uow.conn.execute(select(inv.c.status).where(inv.c.id == invoice_id)).scalar_one()
            raise ApprovalError("not_voidable", f"credit note {row.number or invoice_id} is {status}; only a "
                                                "draft can be voided")  # fmt: skip
        uow.audit(at=now, actor=actor, action="credit_note.voided", entity_type="invoice", entity_id=approval.subject,
                  reason=reason, before={"credit_note_draft": invoice_id, "status": "draft"},
                  after={"credit_note_draft": invoice_id, "status": "void", "approval": approval.id,
                         "gross": row.gross_amount})  # fmt: skip
        _tell_requester(uow, ctx, now, approval, "voided", actor, reason,
                        "The credit-note draft will not be issued; its quantities can be credited again.")  # fmt: skip
        uow.commit()
    return get_approval(ctx, approval.id)


def _tell_requester(uow: UnitOfWork, ctx: AppContext, now: datetime, row: Any, status: str, actor: str,
                    note: str, outcome: str) -> None:  # fmt: skip
    why = f" ({note})" if note else ""
    notices.send(uow, ctx, now, key=f"approval:{row.id}:{status}", topic="approval", to=[person(row.requested_by)],
                 subject=f"[handoff] Credit note for {row.subject} {status}",
                 text=f"{person(actor)} {status} your credit-note request {row.id} on {row.subject}{why}. {outcome}\n",
                 channels=list(ctx.config.model.notifications.approval_channels),
                 extra={"approval_id": row.id})  # fmt: skip


def _select() -> Select[Any]:
    """Approvals with the id of the invoice they are about (`invoice_id`; none for an unknown
    number) and the document status of the credit note made on approval (`result_status`)."""
    a, inv = schema.approvals, schema.invoices
    result = inv.alias("result")
    return select(a.c.id, a.c.kind, a.c.subject, inv.c.id.label("invoice_id"), a.c.payload, a.c.status,
                  a.c.requested_by, a.c.requested_at, a.c.decided_by, a.c.decided_at, a.c.decision_note,
                  a.c.result_invoice_id, result.c.status.label("result_status")).select_from(
        a.outerjoin(inv, inv.c.number == a.c.subject)
        .outerjoin(result, result.c.id == a.c.result_invoice_id))  # fmt: skip


def get_approval(ctx: AppContext, approval_id: int) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        row = conn.execute(_select().where(schema.approvals.c.id == approval_id)).one_or_none()
    if row is None:
        raise ApprovalError("not_found", f"no approval {approval_id}")
    return dict(row._mapping)


def pending_count(ctx: AppContext) -> int:
    """How many approvals wait for a decision (an index lookup: shown on every finance page)."""
    a = schema.approvals
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(a).where(a.c.status == "pending")).scalar_one())


def list_approvals(ctx: AppContext, status: str | tuple[str, ...] | None = "pending", limit: int = 50,
                   offset: int = 0, subject: str | None = None) -> Page:  # fmt: skip
    """Approvals in a status or several (pending by default; None for all), newest first;
    `subject`: those of one invoice."""
    a = schema.approvals
    q = _select().order_by(a.c.requested_at.desc(), a.c.id.desc())
    if status:
        q = q.where(a.c.status.in_((status,) if isinstance(status, str) else status))
    if subject:
        q = q.where(a.c.subject == subject)
    return fetch_page(ctx.engine, q, limit, offset)
