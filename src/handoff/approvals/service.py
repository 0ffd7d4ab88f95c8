"""Approvals: a sensitive step waits for a second person before it happens (four-eyes).

The first kind is the credit note. Someone asks for one (`request_credit_note`): the invoice must
be issued and the quantities must fit what is left uncredited, counting earlier requests that are
pending or approved. Finance hears of the request; another person approves it (the credit-note
draft is built by `domain.invoices.credit_note` and stored like any draft, linked to the invoice's
orders, to be issued in series CRN) or rejects it. The requester hears the decision. A credit-note
draft that should not go out after all (approved by mistake, overtaken) is voided before it is
issued (`void_credit_note`): its quantities are free to be credited again. A credit asked for by
the review of a deal amended after invoicing (`invoicing.service.amendments`) that is rejected or
voided reopens that review, since the difference is back.

The second kind is a contract's terms (`contract_terms`): a contract locked with terms beyond the
deal desk's policy (a discount, payment terms, a late billing start, a price off the price list, a
manual tax treatment: `contracts.domain.review`) is asked for here (`ask_for_terms_review`, in the
lock's transaction) with the findings in its payload, and is not billed until someone approves it
who is neither the requester nor the contract's deal owner (`terms.owner_email`). Approving or
rejecting sets `contracts.review_state`.

An approval leaves `pending` once, through `UPDATE ... WHERE status = 'pending'`: of two people
deciding at the same moment, one updates the row and the other finds nothing to update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from handoff.approvals.domain import Approval, ApprovalKind, ApprovalStatus, quantities_in
from handoff.approvals.domain import person as person
from handoff.approvals.repository import ApprovalQueries, ApprovalRepository
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import (
    DocumentStatus,
    Invoice,
    InvoiceError,
    InvoiceKind,
    credit_note,
    credit_quantities,
)
from handoff.invoicing.service import reviews
from handoff.kernel.storage.paging import Page
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices


class ApprovalError(Exception):
    """A request or decision the approval's state does not allow. `code` is stable:
    `not_found`, `not_creditable` (invoice not issued, nothing left, bad quantities),
    `not_pending` (already decided), `same_person` (the requester may not approve), `invalid`
    (a missing reason or note), `not_voidable` (not a credit-note draft)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _issued_invoice(repo: ApprovalRepository, number: str) -> tuple[int, Invoice]:
    found = repo.invoice_to_credit(number)
    if found is None:
        raise ApprovalError("not_found", f"no invoice numbered {number}")
    if found.kind is not InvoiceKind.INVOICE or found.status is not DocumentStatus.ISSUED:
        what = "a credit note" if found.kind is not InvoiceKind.INVOICE else found.status.value
        raise ApprovalError("not_creditable", f"invoice {number} is {what}; only an issued invoice can be credited")
    return found.id, found.invoice


def request_credit_note(
    ctx: AppContext, invoice_number: str, reason: str, actor: str, quantities: Mapping[int, Decimal] | None = None
) -> dict[str, Any]:
    """Ask for a credit note on an issued invoice: all that is left uncredited, or `quantities`
    (invoice line number -> quantity). Stored as a pending approval; finance is told."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        approval_id = ask_for_credit_note(uow, ctx, now, invoice_number, reason, actor, quantities)
        uow.commit()
    return get_approval(ctx, approval_id)


def ask_for_credit_note(
    uow: UnitOfWork,
    ctx: AppContext,
    now: datetime,
    invoice_number: str,
    reason: str,
    actor: str,
    quantities: Mapping[int, Decimal] | None = None,
    amendment: Mapping[str, Any] | None = None,
) -> int:
    """`request_credit_note` in the caller's transaction (an amendment's review asks for its
    credit in the same one as it records its step); `amendment`: the review it comes from
    (`task_id`, `deal_id`), kept in the payload so that a refusal reopens that review. Its id."""
    reason = reason.strip()
    if not reason:
        raise ApprovalError("invalid", "a credit note needs a reason")
    repo = uow.repository(ApprovalRepository)
    _, invoice = _issued_invoice(repo, invoice_number)
    try:
        wanted = credit_quantities(invoice, quantities, repo.credited_quantities(invoice_number))
        draft = credit_note(invoice, reason, wanted)  # refused now rather than at approval
    except InvoiceError as exc:
        raise ApprovalError("not_creditable", str(exc)) from exc
    payload = {
        "reason": reason,
        "quantities": {str(n): str(q) for n, q in sorted(wanted.items())},
        "gross": str(draft.totals.tax_inclusive),
        "currency": draft.currency,
        **({"amendment": dict(amendment)} if amendment else {}),
    }
    approval_id = repo.add(ApprovalKind.CREDIT_NOTE, invoice_number, payload, actor, now)
    uow.audit(
        at=now,
        actor=actor,
        action="credit_note.requested",
        entity_type="invoice",
        entity_id=invoice_number,
        reason=reason,
        after={"approval": approval_id, **payload},
    )
    finance = ctx.config.model.notifications.finance_email
    notices.send(
        uow,
        ctx,
        now,
        key=f"approval:{approval_id}:requested",
        topic="approval",
        to=[finance],
        subject=f"[handoff] Credit note for {invoice_number} awaits approval",
        text=(
            f"{person(actor)} asks for a credit note of {draft.totals.tax_inclusive} {draft.currency} "
            f"on invoice {invoice_number}: {reason}\nApproval {approval_id}: "
            f"handoff approvals approve {approval_id} (someone other than the requester).\n"
        ),
        channels=list(ctx.config.model.notifications.approval_channels),
        extra={"approval_id": approval_id, "actions": True},
    )
    return approval_id


def _decide(
    repo: ApprovalRepository, approval_id: int, status: ApprovalStatus, actor: str, note: str, now: datetime
) -> Approval:
    """Move a pending approval to `status`; the conditional UPDATE makes the first decider the only one."""
    approval = repo.get(approval_id)
    if approval is None:
        raise ApprovalError("not_found", f"no approval {approval_id}")
    if approval.status is not ApprovalStatus.PENDING:
        raise ApprovalError(
            "not_pending", f"approval {approval_id} is already {approval.status} by {approval.decided_by}"
        )
    if status is ApprovalStatus.APPROVED and person(actor) == person(approval.requested_by):
        raise ApprovalError(
            "same_person",
            f"approval {approval_id} was requested by {person(approval.requested_by)}; someone else must approve it",
        )
    owner = str(approval.payload.get("owner") or "") if approval.kind is ApprovalKind.CONTRACT_TERMS else ""
    if status is ApprovalStatus.APPROVED and owner and person(actor) == person(owner):
        raise ApprovalError(
            "same_person",
            f"approval {approval_id}: {person(owner)} is the deal owner of contract {approval.subject} and cannot "
            "approve its own terms; another finance user must approve them",
        )
    if not repo.decide(approval_id, status, actor, note, now):
        raise ApprovalError("not_pending", f"approval {approval_id} was decided by someone else just now")
    return approval


def approve(
    ctx: AppContext, approval_id: int, actor: str, note: str = "", reply: notices.Reply | None = None
) -> dict[str, Any]:
    """Approve a pending request (not one's own): the credit-note draft is created, to be issued
    like any draft; the requester is told, and `reply` (where the decision was made) answered."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(ApprovalRepository)
        approval = _decide(repo, approval_id, ApprovalStatus.APPROVED, actor, note, now)
        if approval.kind is ApprovalKind.CONTRACT_TERMS:
            _terms_decided(uow, ctx, repo, now, approval, ApprovalStatus.APPROVED, actor, note, reply)
            uow.commit()
            return get_approval(ctx, approval_id)
        invoice_id, invoice = _issued_invoice(repo, approval.subject)
        try:
            draft = credit_note(invoice, str(approval.payload["reason"]), quantities_in(approval.payload))
        except InvoiceError as exc:
            raise ApprovalError("not_creditable", str(exc)) from exc
        draft_id = repo.add_credit_note_draft(invoice_id, draft, f"approval:{approval_id}", now)
        repo.set_result(approval_id, draft_id)
        uow.audit(
            at=now,
            actor=actor,
            action="credit_note.approved",
            entity_type="invoice",
            entity_id=approval.subject,
            reason=note or "approved",
            before={"approval": approval_id, "status": "pending"},
            after={
                "approval": approval_id,
                "status": "approved",
                "credit_note_draft": draft_id,
                "gross": draft.totals.tax_inclusive,
                "requested_by": approval.requested_by,
            },
        )
        _tell_requester(
            uow,
            ctx,
            now,
            approval,
            "approved",
            actor,
            note,
            f"The credit-note draft (id {draft_id}) is ready to be issued.",
        )
        if reply is not None:
            notices.answer(
                uow,
                now,
                reply,
                f"approval:{approval_id}:approved",
                f":white_check_mark: Approved by {person(actor)}: credit-note draft {draft_id} is ready to be issued.",
                extra={"approval_id": approval_id},
            )
        uow.commit()
    return get_approval(ctx, approval_id)


def reject(
    ctx: AppContext, approval_id: int, actor: str, note: str, reply: notices.Reply | None = None
) -> dict[str, Any]:
    """Reject a pending request, saying why; the requester is told. The requester may withdraw
    their own request this way: four-eyes guards the credit, not its refusal."""
    note = note.strip()
    if not note:
        raise ApprovalError("invalid", "a rejection needs a note saying why")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(ApprovalRepository)
        approval = _decide(repo, approval_id, ApprovalStatus.REJECTED, actor, note, now)
        if approval.kind is ApprovalKind.CONTRACT_TERMS:
            _terms_decided(uow, ctx, repo, now, approval, ApprovalStatus.REJECTED, actor, note, reply)
            uow.commit()
            return get_approval(ctx, approval_id)
        uow.audit(
            at=now,
            actor=actor,
            action="credit_note.rejected",
            entity_type="invoice",
            entity_id=approval.subject,
            reason=note,
            before={"approval": approval_id, "status": "pending"},
            after={"approval": approval_id, "status": "rejected", "requested_by": approval.requested_by},
        )
        _tell_requester(uow, ctx, now, approval, "rejected", actor, note, "No credit note was made.")
        _reopen_review(uow, now, approval, actor, f"credit request {approval_id} rejected: {note}")
        if reply is not None:
            notices.answer(
                uow,
                now,
                reply,
                f"approval:{approval_id}:rejected",
                f":x: Rejected by {person(actor)}: {note}",
                extra={"approval_id": approval_id},
            )
        uow.commit()
    return get_approval(ctx, approval_id)


def answer_refusal(ctx: AppContext, reply: notices.Reply, approval_id: int, text: str, in_place: bool = False) -> None:
    """Tell the person whose decision was refused (their own request, already decided, not allowed
    to decide) why, where they made it: to them alone, or (`in_place`, for a request decided
    meanwhile) in place of what they clicked. Nothing else changes."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        digest = hashlib.sha256(f"{reply.address}\x1f{text}".encode()).hexdigest()[:16]
        notices.answer(
            uow,
            now,
            reply,
            f"approval:{approval_id}:refused:{digest}",
            text,
            in_place=in_place,
            extra={"approval_id": approval_id},
        )
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
    with ctx.unit_of_work() as uow:
        repo = uow.repository(ApprovalRepository)
        doc = repo.credit_note_document(invoice_id)
        if doc is None:
            raise ApprovalError("not_found", f"no invoice {invoice_id}")
        name = doc.number or invoice_id
        if doc.kind is not InvoiceKind.CREDIT_NOTE:
            raise ApprovalError(
                "not_voidable", f"invoice {name} is an invoice, not a credit note; an invoice draft follows its deal"
            )
        approval = repo.made(invoice_id)
        if approval is None:
            raise ApprovalError("not_voidable", f"credit note {name} was not made by an approval")
        # conditional, as deciding is: of a void and an issue at the same moment, one finds no draft
        if not repo.void_draft(invoice_id):
            status = repo.document_status(invoice_id)
            raise ApprovalError("not_voidable", f"credit note {name} is {status.value}; only a draft can be voided")
        uow.audit(
            at=now,
            actor=actor,
            action="credit_note.voided",
            entity_type="invoice",
            entity_id=approval.subject,
            reason=reason,
            before={"credit_note_draft": invoice_id, "status": "draft"},
            after={
                "credit_note_draft": invoice_id,
                "status": "void",
                "approval": approval.id,
                "gross": doc.gross_amount,
            },
        )
        _tell_requester(
            uow,
            ctx,
            now,
            approval,
            "voided",
            actor,
            reason,
            "The credit-note draft will not be issued; its quantities can be credited again.",
        )
        _reopen_review(uow, now, approval, actor, f"credit-note draft {invoice_id} voided: {reason}")
        uow.commit()
    return get_approval(ctx, approval.id)


def _reopen_review(uow: UnitOfWork, now: datetime, approval: Approval, actor: str, why: str) -> None:
    """A credit asked for by an amendment's review that will not be made: the difference is back,
    so is the review (finance asks again or dismisses it)."""
    origin = approval.payload.get("amendment")
    if isinstance(origin, Mapping) and origin.get("task_id"):
        reviews.reopen(uow, int(origin["task_id"]), now, actor, why)


def _tell_requester(
    uow: UnitOfWork,
    ctx: AppContext,
    now: datetime,
    approval: Approval,
    status: str,
    actor: str,
    note: str,
    outcome: str,
) -> None:
    why = f" ({note})" if note else ""
    notices.send(
        uow,
        ctx,
        now,
        key=f"approval:{approval.id}:{status}",
        topic="approval",
        to=[person(approval.requested_by)],
        subject=f"[handoff] {_what(approval)} {status}",
        text=(f"{person(actor)} {status} your {_request(approval)} {approval.id}{why}. {outcome}\n"),
        channels=list(ctx.config.model.notifications.approval_channels),
        extra={"approval_id": approval.id},
    )


def _what(approval: Approval) -> str:
    if approval.kind is ApprovalKind.CONTRACT_TERMS:
        return f"Terms of contract {approval.subject}"
    return f"Credit note for {approval.subject}"


def _request(approval: Approval) -> str:
    if approval.kind is ApprovalKind.CONTRACT_TERMS:
        return f"terms review of contract {approval.subject}"
    return f"credit-note request on {approval.subject}"


# -- contract terms (the deal desk) ---------------------------------------------------------------


def ask_for_terms_review(
    uow: UnitOfWork,
    ctx: AppContext,
    now: datetime,
    contract_id: str,
    findings: Sequence[Mapping[str, str]],
    *,
    actor: str,
    owner: str,
    version: int,
    value: Decimal,
    currency: str,
) -> int:
    """In the caller's transaction (a contract's lock): a pending `contract_terms` approval of
    contract `contract_id` whose terms gave `findings` (each: code, field, message); finance is told,
    with the findings. Someone other than the requester and the deal owner `owner` approves it. Its id."""
    if not findings:
        raise ApprovalError("invalid", f"contract {contract_id}: a terms review needs findings")
    listed = [dict(f) for f in findings]
    reason = f"contract {contract_id} v{version}: " + "; ".join(f["message"] for f in listed)
    payload = {
        "reason": reason,
        "quantities": {},
        "gross": str(value),
        "currency": currency,
        "findings": listed,
        "owner": owner,
        "version": version,
    }
    repo = uow.repository(ApprovalRepository)
    approval_id = repo.add(ApprovalKind.CONTRACT_TERMS, contract_id, payload, actor, now)
    uow.audit(
        at=now,
        actor=actor,
        action="contract_terms.requested",
        entity_type="contract",
        entity_id=contract_id,
        reason=reason,
        after={"approval": approval_id, **payload},
    )
    lines = "\n".join(f"- {f['field']}: {f['message']}" for f in listed)
    finance = ctx.config.model.notifications.finance_email
    notices.send(
        uow,
        ctx,
        now,
        key=f"approval:{approval_id}:requested",
        topic="approval",
        to=[finance],
        subject=f"[handoff] Terms of contract {contract_id} await approval",
        text=(
            f"Contract {contract_id} (version {version}, {value} {currency}, deal owner {owner or 'unknown'}) "
            f"is not billed until its terms are approved:\n{lines}\nApproval {approval_id}: "
            f"handoff approvals approve {approval_id} (someone other than {person(actor)} and the deal owner).\n"
        ),
        channels=list(ctx.config.model.notifications.approval_channels),
        extra={"approval_id": approval_id, "actions": True},
    )
    return approval_id


def _terms_decided(
    uow: UnitOfWork,
    ctx: AppContext,
    repo: ApprovalRepository,
    now: datetime,
    approval: Approval,
    status: ApprovalStatus,
    actor: str,
    note: str,
    reply: notices.Reply | None,
) -> None:
    """A contract's terms approved (it is billed from the next run on) or rejected (never billed
    until a change makes new terms and they are approved)."""
    state = status.value
    repo.set_contract_review(approval.subject, state, now)
    uow.audit(
        at=now,
        actor=actor,
        action=f"contract_terms.{state}",
        entity_type="contract",
        entity_id=approval.subject,
        reason=note or state,
        before={"approval": approval.id, "status": "pending", "review_state": "pending"},
        after={
            "approval": approval.id,
            "status": state,
            "review_state": state,
            "requested_by": approval.requested_by,
            "findings": [f.get("code") for f in approval.payload.get("findings") or []],
        },
    )
    outcome = (
        "The contract is billed from the next billing run."
        if status is ApprovalStatus.APPROVED
        else "The contract is not billed."
    )
    _tell_requester(uow, ctx, now, approval, state, actor, note, outcome)
    if reply is not None:
        mark = ":white_check_mark: Approved" if status is ApprovalStatus.APPROVED else ":x: Rejected"
        notices.answer(
            uow,
            now,
            reply,
            f"approval:{approval.id}:{state}",
            f"{mark} by {person(actor)}: terms of contract {approval.subject}" + (f" ({note})" if note else ""),
            extra={"approval_id": approval.id},
        )


def get_approval(ctx: AppContext, approval_id: int) -> dict[str, Any]:
    """One approval as the read model has it (see `list_approvals`)."""
    approval = ApprovalQueries(ctx.engine).one(approval_id)
    if approval is None:
        raise ApprovalError("not_found", f"no approval {approval_id}")
    return approval


def pending_count(ctx: AppContext) -> int:
    """How many approvals wait for a decision (an index lookup: shown on every finance page)."""
    return ApprovalQueries(ctx.engine).pending_count()


def list_approvals(
    ctx: AppContext,
    status: str | tuple[str, ...] | None = "pending",
    limit: int = 50,
    offset: int = 0,
    subject: str | None = None,
) -> Page:
    """Approvals in a status or several (pending by default; None for all), newest first;
    `subject`: those of one invoice. Each with the id of the invoice it is about (`invoice_id`;
    none for an unknown number) and the document status of its credit note (`result_status`)."""
    statuses = None if not status else (status,) if isinstance(status, str) else status
    return ApprovalQueries(ctx.engine).page(statuses, subject, limit, offset)
