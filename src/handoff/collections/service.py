"""Dunning use cases: the daily reminder run, invoice disputes and customer pauses.

`run_dunning` asks the policy (`handoff.collections.domain`, configured in `HANDOFF_DUNNING` or
`defaults/dunning.yaml`) which reminders are due today, renders each from the Jinja2 template of
its tone (`templates/dunning/{friendly,firm,final}.txt`: first line the subject) and queues it as
an e-mail through the outbox: to the invoice's billing contact (the buyer in its stored document, or
the contact finance set for the invoice since, `invoicing.service.contacts`; the customer record
follows later deals and may name someone else by now), copied
to the roles of its level (`account_owner`: the deal owner; `finance_lead`: configured; or a
literal address). The outbox key is per (invoice, level) and `dunning_reminders` is unique on the
same pair, so a level goes out once however often the job runs. The deal owner hears of overdue
and reminded invoices (topic `payment_status`), and the deal in its CRM shows them
(`deals.service.crm_status`: overdue, reminder level; a dispute set or cleared likewise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from handoff.collections.domain import InvoiceState, Reminder, due_reminders
from handoff.collections.repository import DunningRepository, OverdueInvoice
from handoff.context import AppContext
from handoff.deals.service import crm_status
from handoff.invoicing.domain.contacts import as_issued
from handoff.invoicing.domain.payment import instructions, pay_to
from handoff.invoicing.service import contacts as invoice_contacts
from handoff.invoicing.service import ledger
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
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
    )


def render(tone: str, values: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) of a reminder in the given tone."""
    subject, _, text = _environment().get_template(f"{tone}.txt").render(**values).partition("\n")
    return subject.strip(), text.lstrip("\n")


def _letter(
    uow: UnitOfWork, repo: DunningRepository, ctx: AppContext, reminder: Reminder, invoice_id: int
) -> Letter | str:
    """The reminder as an e-mail, or why it cannot be sent."""
    invoice = repo.invoice(invoice_id)
    # the invoice's own contact (as issued, or as finance changed it since), not the customer record's current one
    contact = invoice_contacts.billing_contact(uow, invoice_id) or as_issued(invoice)
    billing = contact.email
    if not billing:
        return "the invoice was issued without a billing e-mail address (buyer.billing_email)"
    owners = [o.owner_email for o in repo.owners(invoice_id) if o.owner_email]
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
    subject, text = render(
        reminder.tone.value,
        {
            "invoice_number": reminder.invoice_number,
            "customer_name": invoice.buyer.legal_name,
            "contact_name": contact.name,
            "due_date": invoice.due_date,
            "days_overdue": reminder.days_overdue,
            "amount_open": f"{reminder.amount_open:,.2f}",
            "currency": reminder.currency,
            "level": reminder.level,
            "seller_name": seller.name,
            "iban": seller.iban,
            "bic": seller.bic,
            # the invoice's own payment means, as its PDF and e-mail state them
            "pay_to": pay_to(instructions(seller, invoice.currency, invoice.number or "", invoice.payment_reference)),
            "payment_reference": invoice.payment_reference or "",
        },
    )
    return Letter(reminder, (billing,), tuple(cc), subject, text)


def run_dunning(
    ctx: AppContext, today: date | None = None, dry_run: bool = False, actor: str = "automation:dunning"
) -> DunningRun:
    """Queue today's reminders (or, with `dry_run`, only say which would go out)."""
    now = ctx.clock()
    today = today or now.date()
    run = DunningRun(today)
    with ctx.unit_of_work() as uow:
        repo = uow.repository(DunningRepository)
        states, invoices = _overdue(uow, repo, today)
        run.overdue = sum(1 for s in states if s.amount_open > 0)
        for reminder in due_reminders(states, ctx.config.dunning, today, repo.pauses()):
            invoice = invoices[reminder.invoice_number]
            letter = _letter(uow, repo, ctx, reminder, invoice.id)
            if isinstance(letter, str):
                run.skipped.append((reminder.invoice_number, letter))
                continue
            run.letters.append(letter)
            if dry_run:
                continue
            key = f"email:dunning:{reminder.invoice_number}:{reminder.level}"
            recipients = {"to": list(letter.to), "cc": list(letter.cc)}
            uow.notify(
                Notice(key, "email", "dunning", {**recipients, "subject": letter.subject, "text": letter.text}), now
            )
            repo.record_reminder(invoice.id, reminder.level, reminder.tone, today, now, recipients, key)
            uow.audit(
                at=now,
                actor=actor,
                action="invoice.reminder_sent",
                entity_type="invoice",
                entity_id=reminder.invoice_number,
                reason=f"dunning level {reminder.level} ({reminder.tone})",
                after={
                    "level": reminder.level,
                    "days_overdue": reminder.days_overdue,
                    "amount_open": reminder.amount_open,
                    **recipients,
                },
            )
            _tell_owners(uow, repo, ctx, invoice, "reminded", {"level": reminder.level, "tone": reminder.tone.value})
        if not dry_run:
            for s in states:  # the sales side sees each invoice turn overdue, once
                if s.amount_open > 0:
                    _tell_owners(uow, repo, ctx, invoices[s.number], "overdue", None)
                    # and, in its CRM, the deal shows it overdue with the reminder level (when it changed)
                    crm_status.invoice_changed(uow, ctx, invoices[s.number].id, now)
            uow.commit()
    return run


def _overdue(
    uow: UnitOfWork, repo: DunningRepository, today: date
) -> tuple[list[InvoiceState], dict[str, OverdueInvoice]]:
    """Issued invoices with something open (gross - paid - credited, from invoicing's ledger) and
    due before `today`, in id order, as dunning sees them (levels sent, disputed or not); and the
    same invoices by number. An invoice settled by payment or credit is not among them."""
    late = ledger.open_invoices(uow, due_before=today)
    sent, disputed = repo.history([i.id for i in late])
    states = [
        InvoiceState(
            i.number,
            i.customer_id,
            i.due_date,
            i.open_amount,
            i.currency,
            disputed=i.id in disputed,
            levels_sent=frozenset(lv for lv, _ in sent.get(i.id, ())),
            last_reminder_on=max((on for _, on in sent.get(i.id, ())), default=None),
        )
        for i in late
    ]
    by_number = {
        i.number: OverdueInvoice(
            i.id, i.number, i.due_date, i.gross_amount, i.paid_amount, i.currency, i.credited_amount
        )
        for i in late
    }
    return states, by_number


def _tell_owners(
    uow: UnitOfWork,
    repo: DunningRepository,
    ctx: AppContext,
    invoice: OverdueInvoice,
    state: str,
    extra: dict[str, Any] | None,
) -> None:
    now = ctx.clock()
    for order in repo.owners(invoice.id):
        if order.owner_email:
            notices.payment_status(
                uow,
                ctx,
                now,
                order.owner_email,
                invoice.number,
                state,
                str(invoice.paid_amount),
                str(invoice.gross_amount),
                invoice.currency,
                deal_id=order.deal_id,
                due_date=invoice.due_date,
                extra={**_credit(invoice), **(extra or {})},
            )


def _credit(invoice: OverdueInvoice) -> dict[str, str]:
    """Credit applied to the invoice and what is still open on it (gross - paid - credited)."""
    open_amount = invoice.gross_amount - invoice.paid_amount - invoice.credited_amount
    return {"credited": str(invoice.credited_amount), "open": str(open_amount)}


# -- disputes and pauses ------------------------------------------------------------------------


def set_dispute(ctx: AppContext, invoice_number: str, actor: str, reason: str = "", clear: bool = False) -> bool:
    """Mark an invoice disputed (no reminders) or clear the dispute; False when nothing changed."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(DunningRepository)
        invoice_id = repo.invoice_id(invoice_number)
        if invoice_id is None:
            raise DunningError(f"no invoice numbered {invoice_number}")
        if clear:
            changed = repo.clear_dispute(invoice_id)
        else:
            changed = not repo.is_disputed(invoice_id)
            repo.open_dispute(invoice_id, reason, actor, now)
        if changed:
            crm_status.invoice_changed(uow, ctx, invoice_id, now)
            uow.audit(
                at=now,
                actor=actor,
                action="invoice.dispute_cleared" if clear else "invoice.disputed",
                entity_type="invoice",
                entity_id=invoice_number,
                reason=reason or "",
                after={"disputed": not clear},
            )
        uow.commit()
    return changed


def pause_dunning(
    ctx: AppContext, customer_id: str, actor: str, until: date | None = None, reason: str = "", lift: bool = False
) -> None:
    """Pause a customer's reminders (until a date, or until lifted), or lift the pause."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(DunningRepository)
        if not repo.customer_has_invoice(customer_id):
            raise DunningError(f"no invoice for customer {customer_id}")
        repo.lift_pause(customer_id)
        if not lift:
            repo.add_pause(customer_id, until, reason, actor, now)
        uow.audit(
            at=now,
            actor=actor,
            action="customer.dunning_resumed" if lift else "customer.dunning_paused",
            entity_type="customer",
            entity_id=customer_id,
            reason=reason,
            after=None if lift else {"until": until},
        )
        uow.commit()


def reminders_sent(ctx: AppContext, numbers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    return [r._asdict() for r in DunningRepository(ctx.engine).reminders_sent(numbers)]
