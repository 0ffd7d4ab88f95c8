"""Credit notes need a second person: request, approve (not one's own), reject, one decision only."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from handoff.approvals import service as approvals
from handoff.approvals.service import ApprovalError
from handoff.audit.service import verify
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.invoices import InvoiceKind
from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft
from handoff.kernel.storage import schema
from tests.builders import event, issued_invoices

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ASKER, APPROVER = "sales.lead@acme.example", "finance.lead@acme.example"


def issued_invoice(ctx: AppContext) -> str:
    events = [event("e1", T0, deal_id="D-1"), event("e2", T0, deal_id="D-2", customer_id="C-2")]
    issued = issued_invoices(ctx, events, on=date(2026, 11, 2), batch=1)
    return sorted(i.number or "" for i in issued)[0]


def outbox(ctx: AppContext) -> dict[str, dict]:  # type: ignore[type-arg]
    with ctx.engine.connect() as conn:
        return {r.key: r.payload for r in conn.execute(select(schema.outbox.c.key, schema.outbox.c.payload))}


def test_request_then_approve_makes_a_credit_note_draft_that_issues_in_series_crn(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    asked = approvals.request_credit_note(ctx, number, "service outage in November", ASKER)
    assert (asked["status"], asked["subject"], asked["kind"]) == ("pending", number, "credit_note")
    assert asked["payload"]["reason"] == "service outage in November"
    sent = outbox(ctx)
    request_mail = sent[f"email:approval:{asked['id']}:requested"]
    assert request_mail["to"] == [ctx.config.model.notifications.finance_email]
    assert number in request_mail["subject"] and f"log:approval:{asked['id']}:requested" in sent
    assert [a["id"] for a in approvals.list_approvals(ctx).items] == [asked["id"]]

    done = approvals.approve(ctx, asked["id"], f"user:{APPROVER}", note="agreed with the customer")
    assert (done["status"], done["decided_by"], done["decision_note"]) == (
        "approved",
        f"user:{APPROVER}",
        "agreed with the customer",
    )
    assert approvals.list_approvals(ctx).items == [] and approvals.list_approvals(ctx, "approved").total == 1
    assert outbox(ctx)[f"email:approval:{asked['id']}:approved"]["to"] == [ASKER]

    draft_id = done["result_invoice_id"]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(schema.invoices).where(schema.invoices.c.id == draft_id)).one()
        deals = conn.execute(
            select(schema.orders.c.deal_id, schema.orders.c.state)
            .join(schema.invoice_orders, schema.invoice_orders.c.order_id == schema.orders.c.id)
            .where(schema.invoice_orders.c.invoice_id == draft_id)
        ).all()
    assert (row.kind, row.status, row.number, row.gross_amount) == ("credit_note", "draft", None, Decimal("14280.00"))
    assert [d.deal_id for d in deals] == ["D-1"]

    credit = issue_draft(ctx, draft_id, f"user:{APPROVER}", on=date(2026, 11, 20))
    assert credit.kind is InvoiceKind.CREDIT_NOTE and credit.corrects == number
    assert credit.number == "CRN-DE-2026-000001"
    with ctx.engine.connect() as conn:
        state = conn.execute(select(schema.orders.c.state).where(schema.orders.c.deal_id == "D-1")).scalar_one()
        actions = list(
            conn.execute(
                select(schema.audit_log.c.action)
                .where(schema.audit_log.c.entity_id == number)
                .order_by(schema.audit_log.c.seq)
            ).scalars()
        )
    assert state == "sent"  # issuing the credit note leaves the order where the invoice put it
    # the issued credit note settles the (unpaid) invoice it corrects
    assert actions == ["credit_note.requested", "credit_note.approved", "credit_note.issued", "invoice.credit_applied"]
    assert verify(ctx)[1] is None


def test_the_requester_cannot_approve_their_own_request(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    asked = approvals.request_credit_note(ctx, number, "wrong price", f"user:{ASKER}")
    with pytest.raises(ApprovalError, match="someone else must approve") as exc:
        approvals.approve(ctx, asked["id"], ASKER.upper())  # the same person, whichever way they sign in
    assert exc.value.code == "same_person"
    assert approvals.get_approval(ctx, asked["id"])["status"] == "pending"


def test_reject_tells_the_requester_and_makes_nothing(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    asked = approvals.request_credit_note(ctx, number, "wrong price", ASKER)
    with pytest.raises(ApprovalError) as exc:
        approvals.reject(ctx, asked["id"], APPROVER, "  ")
    assert exc.value.code == "invalid"
    done = approvals.reject(ctx, asked["id"], APPROVER, "price was right")
    assert (done["status"], done["result_invoice_id"]) == ("rejected", None)
    assert "price was right" in outbox(ctx)[f"email:approval:{asked['id']}:rejected"]["text"]
    with ctx.engine.connect() as conn:
        kinds = set(conn.execute(select(schema.invoices.c.kind)).scalars())
    assert kinds == {"invoice"}
    # a rejected request no longer counts against the invoice: it can be asked for again
    assert approvals.request_credit_note(ctx, number, "wrong price after all", ASKER)["status"] == "pending"


def test_an_approval_is_decided_once(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    asked = approvals.request_credit_note(ctx, number, "duplicate invoice", ASKER)
    approvals.approve(ctx, asked["id"], APPROVER)
    for decide in (
        lambda: approvals.approve(ctx, asked["id"], "someone.else@acme.example"),
        lambda: approvals.reject(ctx, asked["id"], "someone.else@acme.example", "no"),
    ):
        with pytest.raises(ApprovalError, match="already approved") as exc:
            decide()
        assert exc.value.code == "not_pending"
    with pytest.raises(ApprovalError) as missing:
        approvals.approve(ctx, 999, APPROVER)
    assert missing.value.code == "not_found"


def test_two_approvers_at_once_make_one_credit_note(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    asked = approvals.request_credit_note(ctx, number, "duplicate invoice", ASKER)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def decide(actor: str) -> None:
        start.wait()
        try:
            approvals.approve(ctx, asked["id"], actor)
            outcomes.append("approved")
        except ApprovalError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=decide, args=(a,)) for a in (APPROVER, "controller@acme.example")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approved", "not_pending"]
    with ctx.engine.connect() as conn:
        credits = conn.execute(select(schema.invoices.c.id).where(schema.invoices.c.kind == "credit_note")).all()
    assert len(credits) == 1


def test_only_an_issued_invoice_with_something_left_can_be_credited(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    # a draft has no number yet, so an unissued invoice is one no number names
    with pytest.raises(ApprovalError, match="no invoice numbered INV-DE-2026-999999") as exc:
        approvals.request_credit_note(ctx, "INV-DE-2026-999999", "typo", ASKER)
    assert exc.value.code == "not_found"
    with pytest.raises(ApprovalError, match="reason"):
        approvals.request_credit_note(ctx, number, " ", ASKER)
    with pytest.raises(ApprovalError, match=f"invoice {number} line 1: crediting 2 but only 1 is left") as too_much:
        approvals.request_credit_note(ctx, number, "too much", ASKER, {1: Decimal("2")})
    assert too_much.value.code == "not_creditable"
    approvals.request_credit_note(ctx, number, "all of it", ASKER)  # pending counts as asked for
    with pytest.raises(ApprovalError, match=f"invoice {number} is already fully credited"):
        approvals.request_credit_note(ctx, number, "again", ASKER)
    credit = approvals.approve(ctx, 1, APPROVER)
    crn = issue_draft(ctx, credit["result_invoice_id"], APPROVER)
    with pytest.raises(ApprovalError, match=f"invoice {crn.number} is a credit note") as not_invoice:
        approvals.request_credit_note(ctx, crn.number or "", "credit a credit", ASKER)
    assert not_invoice.value.code == "not_creditable"


def test_a_voided_credit_note_draft_is_never_issued_and_frees_what_it_credited(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    done = approvals.approve(ctx, approvals.request_credit_note(ctx, number, "all of it", ASKER)["id"], APPROVER)
    draft_id = done["result_invoice_id"]
    assert done["result_status"] == "draft"
    with pytest.raises(ApprovalError, match=f"invoice {number} is already fully credited"):
        approvals.request_credit_note(ctx, number, "again", ASKER)  # the approved draft holds everything
    with pytest.raises(ApprovalError, match="needs a reason") as no_reason:
        approvals.void_credit_note(ctx, draft_id, APPROVER, " ")
    assert no_reason.value.code == "invalid"

    voided = approvals.void_credit_note(ctx, draft_id, f"user:{APPROVER}", "approved by mistake")
    assert (voided["id"], voided["status"], voided["result_status"]) == (done["id"], "approved", "void")
    assert "approved by mistake" in outbox(ctx)[f"email:approval:{done['id']}:voided"]["text"]
    with ctx.engine.connect() as conn:
        a = schema.audit_log
        entry = conn.execute(
            select(a.c.actor, a.c.reason).where(a.c.action == "credit_note.voided", a.c.entity_id == number)
        ).one()
    assert tuple(entry) == (f"user:{APPROVER}", "approved by mistake")
    assert verify(ctx)[1] is None
    # never issued, neither one by one nor in bulk
    with pytest.raises(InvoicingError, match="only a draft can be issued"):
        issue_draft(ctx, draft_id, APPROVER)
    assert issue_all_drafts(ctx, APPROVER) == []
    with pytest.raises(ApprovalError, match="is void; only a draft can be voided") as twice:
        approvals.void_credit_note(ctx, draft_id, APPROVER, "again")
    assert twice.value.code == "not_voidable"
    # what it credited is free again
    again = approvals.request_credit_note(ctx, number, "all of it, rightly", ASKER)
    assert again["payload"]["quantities"] == {"1": "1"}


def test_only_a_credit_note_draft_can_be_voided(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    done = approvals.approve(ctx, approvals.request_credit_note(ctx, number, "all of it", ASKER)["id"], APPROVER)
    credit = issue_draft(ctx, done["result_invoice_id"], APPROVER)
    with pytest.raises(ApprovalError, match=f"credit note {credit.number} is issued; only a draft") as issued:
        approvals.void_credit_note(ctx, done["result_invoice_id"], APPROVER, "too late")
    assert issued.value.code == "not_voidable"
    ingest(ctx, [event("e3", T0, deal_id="D-3", customer_id="C-3")])  # a deal whose invoice is a draft
    with ctx.engine.connect() as conn:
        inv = schema.invoices
        invoice_draft = conn.execute(select(inv.c.id).where(inv.c.status == "draft")).scalar_one()
        invoice_id = conn.execute(select(inv.c.id).where(inv.c.number == number)).scalar_one()
    for other in (invoice_draft, invoice_id):
        with pytest.raises(ApprovalError, match="is an invoice, not a credit note") as not_credit:
            approvals.void_credit_note(ctx, other, APPROVER, "wrong")
        assert not_credit.value.code == "not_voidable"
    with pytest.raises(ApprovalError) as missing:
        approvals.void_credit_note(ctx, 999, APPROVER, "x")
    assert missing.value.code == "not_found"


def test_a_credit_note_draft_no_approval_made_is_refused_and_left_as_it_was(ctx: AppContext) -> None:
    number = issued_invoice(ctx)
    done = approvals.approve(ctx, approvals.request_credit_note(ctx, number, "all of it", ASKER)["id"], APPROVER)
    with ctx.engine.begin() as conn:  # as data brought over from another system might be
        conn.execute(schema.approvals.update().values(result_invoice_id=None))
    with pytest.raises(ApprovalError, match="was not made by an approval") as orphan:
        approvals.void_credit_note(ctx, done["result_invoice_id"], APPROVER, "cleanup")
    assert orphan.value.code == "not_voidable"
    with ctx.engine.connect() as conn:
        status = conn.execute(
            select(schema.invoices.c.status).where(schema.invoices.c.id == done["result_invoice_id"])
        ).scalar_one()
        voided = conn.execute(
            select(schema.audit_log.c.seq).where(schema.audit_log.c.action == "credit_note.voided")
        ).all()
    assert (status, voided) == ("draft", [])
