"""Dunning use cases: the daily reminder run, invoice disputes and customer pauses.

`run_dunning` asks the policy (`handoff.collections.domain`, configured in `HANDOFF_DUNNING` or
`defaults/dunning.yaml`) which reminders are due today, renders each from the Jinja2 template of
its tone (`templates/dunning/{friendly,firm,final}.txt`: first line the subject) and queues it as
an e-mail through the outbox: to the customer's billing contact, copied to the roles of its
level (`account_owner`: the deal owner; `finance_lead`: configured; or a literal address). The
outbox key is per (invoice, level) and `dunning_reminders` is unique on the same pair, so a level
goes out once however often the job runs. The deal owner hears of overdue and reminded invoices
(topic `payment_status`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import delete, select

from handoff.collections.domain import CustomerPause, InvoiceState, Reminder, due_reminders
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import invoice_from_json
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork
from handoff.notifications import service as notices

TEMPLATES = Path(__file__).parent / "templates" / "dunning"
ROLES = ("account_owner", "finance_lead")


class DunningError(Exception):
    """A request about an unknown invoice or customer (logical, not transient)."""


@dataclass(frozen=True)
class Letter:
    reminder: Reminder
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str


@dataclass
class DunningRun:
    on: date
    letters: list[Letter] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (invoice, why not sent)
    overdue: int = 0


def _environment() -> Environment:
    # plain-text e-mail: nothing to escape; a missing variable is an error, not a blank
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined,
                       keep_trailing_newline=True)  # fmt: skip


def render(tone: str, values: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) of a reminder in the given tone."""
    subject, _, text = _environment().get_template(f"{tone}.txt").render(**values).partition("\n")
    return subject.strip(), text.lstrip("\n")


def _states(uow: UnitOfWork, today: date) -> tuple[list[InvoiceState], dict[str, Any]]:
    inv, rem, dis = schema.invoices, schema.dunning_reminders, schema.invoice_disputes
    rows = uow.conn.execute(select(inv.c.id, inv.c.number, inv.c.customer_id, inv.c.due_date, inv.c.gross_amount,
                                   inv.c.paid_amount, inv.c.currency)
                            .where(inv.c.status == "issued", inv.c.kind == "invoice", inv.c.payment_state != "paid",
                                   inv.c.due_date < today).order_by(inv.c.id)).all()  # fmt: skip
    ids = [r.id for r in rows]
    sent: dict[int, list[tuple[int, date]]] = {}
    disputed: set[int] = set()
    for chunk in (ids[k:k + 5000] for k in range(0, len(ids), 5000)):
        q = select(rem.c.invoice_id, rem.c.level, rem.c.sent_on).where(rem.c.invoice_id.in_(chunk))
        for r in uow.conn.execute(q):
            sent.setdefault(r.invoice_id, []).append((r.level, r.sent_on))
        disputed.update(uow.conn.execute(select(dis.c.invoice_id).where(dis.c.invoice_id.in_(chunk))).scalars())
    states = [InvoiceState(r.number, r.customer_id, r.due_date, r.gross_amount - r.paid_amount, r.currency,
                           disputed=r.id in disputed, levels_sent=frozenset(lv for lv, _ in sent.get(r.id, ())),
                           last_reminder_on=max((on for _, on in sent.get(r.id, ())), default=None))
              for r in rows]  # fmt: skip
    return states, {r.number: r for r in rows}


def _pauses(uow: UnitOfWork) -> list[CustomerPause]:
    p = schema.dunning_pauses
    return [CustomerPause(r.customer_id, r.until) for r in uow.conn.execute(select(p.c.customer_id, p.c.until))]


def _owners(uow: UnitOfWork, invoice_id: int) -> list[Any]:
    o, io = schema.orders, schema.invoice_orders
    return list(uow.conn.execute(select(o.c.deal_id, o.c.owner_email).join(io, io.c.order_id == o.c.id)
                                 .where(io.c.invoice_id == invoice_id).order_by(o.c.deal_id)))  # fmt: skip


def _letter(uow: UnitOfWork, ctx: AppContext, reminder: Reminder, invoice_id: int) -> Letter | str:
    """The reminder as an e-mail, or why it cannot be sent."""
    inv, cust = schema.invoices, schema.customers
    doc = uow.conn.execute(select(inv.c.document).where(inv.c.id == invoice_id)).scalar_one()
    invoice = invoice_from_json(doc)
    current = uow.conn.execute(select(cust.c.billing_email).where(cust.c.customer_id == reminder.customer_id)
                               ).scalar_one_or_none()  # fmt: skip
    billing = current or invoice.buyer.billing_email
    if not billing:
        return "no billing e-mail address for the customer"
    owners = [o.owner_email for o in _owners(uow, invoice_id) if o.owner_email]
    cc: list[str] = []
    for role in reminder.copy_to:
        if role == "account_owner":
            cc += owners
        elif role == "finance_lead":
            cc.append(ctx.config.finance_lead)
        elif "@" in role:
            cc.append(role)
    cc = [a for a in dict.fromkeys(cc) if a != billing]
    seller = invoice.seller
    subject, text = render(reminder.tone.value, {
        "invoice_number": reminder.invoice_number, "customer_name": invoice.buyer.legal_name,
        "contact_name": invoice.buyer.billing_contact_name, "due_date": invoice.due_date,
        "days_overdue": reminder.days_overdue, "amount_open": f"{reminder.amount_open:,.2f}",
        "currency": reminder.currency, "level": reminder.level, "seller_name": seller.name, "iban": seller.iban,
        "bic": seller.bic, "payment_reference": invoice.payment_reference or ""})  # fmt: skip
    return Letter(reminder, (billing,), tuple(cc), subject, text)


def run_dunning(ctx: AppContext, today: date | None = None, dry_run: bool = False,
                actor: str = "automation:dunning") -> DunningRun:  # fmt: skip
    """Queue today's reminders (or, with `dry_run`, only say which would go out)."""
    now = ctx.clock()
    today = today or now.date()
    run = DunningRun(today)
    with ctx.unit_of_work() as uow:
        states, rows = _states(uow, today)
        run.overdue = sum(1 for s in states if s.amount_open > 0)
        for reminder in due_reminders(states, ctx.config.dunning, today, _pauses(uow)):
            row = rows[reminder.invoice_number]
            letter = _letter(uow, ctx, reminder, row.id)
            if isinstance(letter, str):
                run.skipped.append((reminder.invoice_number, letter))
                continue
            run.letters.append(letter)
            if dry_run:
                continue
            key = f"email:dunning:{reminder.invoice_number}:{reminder.level}"
            recipients = {"to": list(letter.to), "cc": list(letter.cc)}
            uow.notify(Notice(key, "email", "dunning", {**recipients, "subject": letter.subject,
                                                        "text": letter.text}), now)  # fmt: skip
            insert_many(uow.conn, schema.dunning_reminders, [{
                "invoice_id": row.id, "level": reminder.level, "tone": reminder.tone.value, "sent_on": today,
                "sent_at": now, "recipients": recipients, "outbox_key": key}], ["invoice_id", "level"])  # fmt: skip
            uow.audit(at=now, actor=actor, action="invoice.reminder_sent", entity_type="invoice",
                      entity_id=reminder.invoice_number, reason=f"dunning level {reminder.level} ({reminder.tone})",
                      after={"level": reminder.level, "days_overdue": reminder.days_overdue,
                             "amount_open": reminder.amount_open, **recipients})  # fmt: skip
            _tell_owners(uow, ctx, row, "reminded", {"level": reminder.level, "tone": reminder.tone.value})
        if not dry_run:
            for s in states:  # the sales side sees each invoice turn overdue, once
                if s.amount_open > 0:
                    _tell_owners(uow, ctx, rows[s.number], "overdue", None)
            uow.commit()
    return run


def _tell_owners(uow: UnitOfWork, ctx: AppContext, row: Any, state: str, extra: dict[str, Any] | None) -> None:
    now = ctx.clock()
    for order in _owners(uow, row.id):
        if order.owner_email:
            notices.payment_status(uow, ctx, now, order.owner_email, row.number, state, str(row.paid_amount),
                                   str(row.gross_amount), row.currency, deal_id=order.deal_id,
                                   due_date=row.due_date, extra=extra)  # fmt: skip


# -- disputes and pauses ------------------------------------------------------------------------


def set_dispute(ctx: AppContext, invoice_number: str, actor: str, reason: str = "", clear: bool = False) -> bool:
    """Mark an invoice disputed (no reminders) or clear the dispute; False when nothing changed."""
    inv, dis = schema.invoices, schema.invoice_disputes
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        invoice_id = uow.conn.execute(select(inv.c.id).where(inv.c.number == invoice_number)).scalar_one_or_none()
        if invoice_id is None:
            raise DunningError(f"no invoice numbered {invoice_number}")
        if clear:
            changed = uow.conn.execute(delete(dis).where(dis.c.invoice_id == invoice_id)).rowcount > 0
        else:
            exists = uow.conn.execute(select(dis.c.invoice_id).where(dis.c.invoice_id == invoice_id)).first()
            insert_many(uow.conn, dis, [{"invoice_id": invoice_id, "reason": reason, "opened_by": actor,
                                                       "opened_at": now}], ["invoice_id"])  # fmt: skip
            changed = exists is None
        if changed:
            uow.audit(at=now, actor=actor, action="invoice.dispute_cleared" if clear else "invoice.disputed",
                      entity_type="invoice", entity_id=invoice_number, reason=reason or "",
                      after={"disputed": not clear})  # fmt: skip
        uow.commit()
    return changed


def pause_dunning(ctx: AppContext, customer_id: str, actor: str, until: date | None = None, reason: str = "",
                  lift: bool = False) -> None:  # fmt: skip
    """Pause a customer's reminders (until a date, or until lifted), or lift the pause."""
    p = schema.dunning_pauses
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        known = uow.conn.execute(select(schema.invoices.c.id).where(schema.invoices.c.customer_id == customer_id)
                                 .limit(1)).first()  # fmt: skip
        if known is None:
            raise DunningError(f"no invoice for customer {customer_id}")
        uow.conn.execute(delete(p).where(p.c.customer_id == customer_id))
        if not lift:
            uow.conn.execute(p.insert().values(customer_id=customer_id, until=until, reason=reason, paused_by=actor,
                                               paused_at=now))  # fmt: skip
        uow.audit(at=now, actor=actor, action="customer.dunning_resumed" if lift else "customer.dunning_paused",
                  entity_type="customer", entity_id=customer_id, reason=reason,
                  after=None if lift else {"until": until})  # fmt: skip
        uow.commit()


def reminders_sent(ctx: AppContext, numbers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    rem, inv = schema.dunning_reminders, schema.invoices
    q = (select(inv.c.number, rem.c.level, rem.c.tone, rem.c.sent_on, rem.c.recipients)
         .join(inv, inv.c.id == rem.c.invoice_id).order_by(inv.c.number, rem.c.level))  # fmt: skip
    if numbers is not None:
        q = q.where(inv.c.number.in_(list(numbers)))
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
