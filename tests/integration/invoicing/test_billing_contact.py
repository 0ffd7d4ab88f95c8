"""An issued invoice's billing contact, changed by finance on purpose (SQLite and PostgreSQL): with a
reason, audited before and after; later reminders and a re-sent invoice go to the new contact; the
issued document (the legal invoice) is not edited; a bad value is refused naming its field, with
nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.collections.service import run_dunning
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.contacts import BillingContact
from handoff.invoicing.service import contacts
from handoff.invoicing.service.contacts import ContactError, change_billing_contact
from handoff.invoicing.service.issuing import load_invoice
from handoff.invoicing.service.queries import invoice_detail
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.storage import schema
from tests.builders import event, issued_invoices
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FINANCE = "user:finance@acme.example"


def issue_one(ctx: AppContext) -> tuple[int, str]:
    (inv,) = issued_invoices(ctx, [event("e1", T0)], on=date(2026, 11, 2))
    with ctx.engine.connect() as conn:
        invoice_id = conn.execute(select(schema.invoices.c.id).where(schema.invoices.c.number == inv.number)).scalar()
    assert inv.buyer.billing_email == "ap@kestrel.de"
    return int(invoice_id or 0), inv.number or ""


def audit(ctx: AppContext, action: str) -> list[Any]:
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        q = select(a.c.actor, a.c.entity_id, a.c.reason, a.c.before, a.c.after).where(a.c.action == action)
        return list(conn.execute(q.order_by(a.c.seq)))


def mail(ctx: AppContext, topic: str) -> list[tuple[str, dict[str, Any]]]:
    o = schema.outbox
    with ctx.engine.connect() as conn:
        q = select(o.c.key, o.c.payload).where(o.c.topic == topic).order_by(o.c.id)
        return [(r.key, r.payload) for r in conn.execute(q)]


def count(ctx: AppContext, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_reminders_go_to_the_contact_finance_set_and_the_document_stays(ctx: AppContext, clock: Clock) -> None:
    invoice_id, number = issue_one(ctx)
    document = to_jsonable(load_invoice(ctx, number))
    change = change_billing_contact(
        ctx,
        number,
        email="payables@kestrel.de",
        name="Jonas Weber",
        reason="AP team moved to a shared mailbox (ticket 4711)",
        actor=FINANCE,
    )
    assert change.changed and change.before == BillingContact("ap@kestrel.de", "Anna Müller")
    assert change.after == BillingContact("payables@kestrel.de", "Jonas Weber")

    [(actor, entity, reason, before, after)] = audit(ctx, "invoice.billing_contact_changed")
    assert (actor, entity, reason) == (FINANCE, number, "AP team moved to a shared mailbox (ticket 4711)")
    assert before == {"billing_email": "ap@kestrel.de", "billing_contact_name": "Anna Müller"}
    assert after == {"billing_email": "payables@kestrel.de", "billing_contact_name": "Jonas Weber"}

    assert to_jsonable(load_invoice(ctx, number)) == document  # the legal invoice is as issued
    detail = invoice_detail(ctx, invoice_id)
    assert detail is not None and detail["buyer_email"] == "ap@kestrel.de"
    assert detail["billing_contact"]["email"] == "payables@kestrel.de"
    assert detail["billing_contact"]["name"] == "Jonas Weber"
    assert detail["billing_contact"]["changed_by"] == FINANCE

    clock.now = datetime(2026, 12, 10, 9, tzinfo=UTC)  # due 2026-12-02: level 1 after 7 days
    [letter] = run_dunning(ctx).letters
    assert letter.to == ("payables@kestrel.de",)
    [(_, payload)] = mail(ctx, "dunning")
    assert payload["to"] == ["payables@kestrel.de"] and payload["text"].startswith("Dear Jonas Weber,")


def test_the_invoice_is_sent_again_to_the_new_contact(ctx: AppContext) -> None:
    _, number = issue_one(ctx)
    change_billing_contact(ctx, number, email="payables@kestrel.de", reason="wrong mailbox", actor=FINANCE, resend=True)
    sent = mail(ctx, "invoice")
    assert [p["to"] for _, p in sent] == [["ap@kestrel.de"], ["payables@kestrel.de"]]
    assert sent[1][0] != sent[0][0]  # its own outbox key: not swallowed as a repeat of the first sending
    assert number in sent[1][1]["subject"]
    assert sent[1][1]["text"].startswith("Dear Anna Müller,")  # no new name given: the name stays


def test_the_current_contact_is_the_document_s_until_changed(ctx: AppContext) -> None:
    invoice_id, number = issue_one(ctx)
    with ctx.unit_of_work() as uow:
        assert contacts.billing_contact(uow, invoice_id) == BillingContact("ap@kestrel.de", "Anna Müller")
    change_billing_contact(ctx, number, email="a@kestrel.de", name="", reason="r1", actor=FINANCE)
    change_billing_contact(ctx, invoice_id, email="b@kestrel.de", name="Bo", reason="r2", actor=FINANCE)
    with ctx.unit_of_work() as uow:
        assert contacts.billing_contact(uow, invoice_id) == BillingContact("b@kestrel.de", "Bo")
    trail = audit(ctx, "invoice.billing_contact_changed")
    assert [(r.before["billing_email"], r.after["billing_email"]) for r in trail] == [
        ("ap@kestrel.de", "a@kestrel.de"),
        ("a@kestrel.de", "b@kestrel.de"),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "payables at kestrel"}, "billing_email"),
        ({"email": ""}, "billing_email"),
        ({"email": "a@b.de\nBcc: x@y.z"}, "billing_email"),
        ({"name": "x" * 301}, "billing_contact_name"),
        ({"name": "Jonas\r\nBcc: x@y.z"}, "billing_contact_name"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field_and_nothing_is_written(
    ctx: AppContext, changes: dict[str, str], field: str
) -> None:
    _, number = issue_one(ctx)
    audited, outbox = count(ctx, schema.audit_log), count(ctx, schema.outbox)
    values = {"email": "payables@kestrel.de", "name": "Jonas Weber", "reason": "new AP", **changes}
    with pytest.raises(ContactError) as refused:
        change_billing_contact(ctx, number, actor=FINANCE, resend=True, **values)
    assert (refused.value.code, refused.value.field) == ("invalid", field)
    assert field in str(refused.value)
    assert (count(ctx, schema.audit_log), count(ctx, schema.outbox)) == (audited, outbox)
    assert count(ctx, schema.invoice_contacts) == 0


def test_only_an_issued_invoice_has_its_contact_changed(ctx: AppContext) -> None:
    ingest(ctx, [event("e1", T0)])
    with ctx.engine.connect() as conn:
        draft_id = int(conn.execute(select(schema.invoices.c.id)).scalar_one())
    with pytest.raises(ContactError) as draft:
        change_billing_contact(ctx, draft_id, email="x@kestrel.de", reason="r", actor=FINANCE)
    assert draft.value.code == "not_issued" and "fix the deal" in str(draft.value)
    with pytest.raises(ContactError) as missing:
        change_billing_contact(ctx, "INV-DE-2026-999999", email="x@kestrel.de", reason="r", actor=FINANCE)
    assert missing.value.code == "not_found"


def test_the_same_contact_again_changes_nothing(ctx: AppContext) -> None:
    _, number = issue_one(ctx)
    same = change_billing_contact(ctx, number, email="ap@kestrel.de", name="Anna Müller", reason="r", actor=FINANCE)
    assert not same.changed
    assert audit(ctx, "invoice.billing_contact_changed") == []
    assert count(ctx, schema.invoice_contacts) == 0
