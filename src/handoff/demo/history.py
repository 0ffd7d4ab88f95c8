"""The demo's receivables history: eleven months of invoices to 22 customers of the bundled deals,
each paid the way that customer pays, so the cash forecast has days-late history to learn from and
its backtest (`reporting.forecast_backtest`) a past to measure.

The story is fixed by a seed and anchored on the Monday of the demo's week: every run in the same
week writes the same history (the same invoices, amounts and payment days). Invoices are issued on
weekdays over the 48 weeks before that Monday, through the services a real installation uses (CRM
deals taken in, drafts issued with their issue date, a bank payment file with dated payments).
A payment that would fall on or after that Monday has not arrived yet: its invoice is still open.

Each customer keeps its habit (`HABITS`): some pay on time, some a week or 10-30 days late, a few
slowly, some erratically; partial payers pay half first and the rest weeks later; now and then an
invoice is disputed and left unpaid (still open, overdue). Cadences: monthly subscriptions (the same
amount every four weeks), quarterly support, and projects billed at irregular intervals.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from rich.console import Console

from handoff.cash.formats.payment_file import read_payment_file
from handoff.cash.service.payments import apply_payments
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.issuing import invoice_rows, issue_draft
from handoff.invoicing.service.ledger import invoice_orders
from handoff.kernel.money import ZERO, round2

SEED = 202612  # fixes the whole history: amounts, weekdays, days late, disputes
WEEKS_BACK = 48  # invoices issued in the 48 weeks before the Monday of the demo's week
FINANCE = "finance@acme.example"
SOURCE = "crm-export"
DISPUTED_SHARE = 0.04  # an invoice now and then is disputed and left unpaid


class Cadence(StrEnum):
    MONTHLY = "monthly subscription"  # the same amount every 4 weeks
    QUARTERLY = "quarterly support"  # every 13 weeks
    PROJECT = "project work"  # every 2 to 7 weeks, the amount varies


@dataclass(frozen=True, slots=True)
class Habit:
    """How a customer pays: days after the due date, drawn evenly from `earliest`..`latest`;
    a partial payer pays half then, and the rest 20-40 days later."""

    name: str
    earliest: int
    latest: int
    partial: bool = False


ON_TIME = Habit("on time", -3, 2)
WEEK_LATE = Habit("a week late", 3, 10)
LATE = Habit("10-30 days late", 10, 30)
SLOW = Habit("25-50 days late", 25, 50)
ERRATIC = Habit("erratic (5 days early to 45 late)", -5, 45)
PARTIAL = Habit("in two halves 3-6 weeks apart", 0, 8, partial=True)
HABITS = (ON_TIME, WEEK_LATE, LATE, SLOW, ERRATIC, PARTIAL)


@dataclass(frozen=True, slots=True)
class Account:
    """A customer of the bundled deals (`deals.csv`: its only deal is the template) with its habit."""

    customer_id: str
    habit: Habit
    cadence: Cadence
    net: Decimal  # the usual invoice's net amount


ACCOUNTS = (
    Account("C-7186", ON_TIME, Cadence.MONTHLY, Decimal("4800.00")),  # Orion Logistik, DE
    Account("C-7303", ON_TIME, Cadence.PROJECT, Decimal("18500.00")),  # Oakridge Industries, DE
    Account("C-4384", LATE, Cadence.MONTHLY, Decimal("6200.00")),  # Lumen Digital, DE
    Account("C-7475", ON_TIME, Cadence.MONTHLY, Decimal("2900.00")),  # Bergmann Industries, DE
    Account("C-9409", WEEK_LATE, Cadence.QUARTERLY, Decimal("24000.00")),  # Silverline Analytics, DE
    Account("C-6076", PARTIAL, Cadence.PROJECT, Decimal("15000.00")),  # Greenfield Industries, DE
    Account("C-5554", SLOW, Cadence.MONTHLY, Decimal("7400.00")),  # Quartz Logistik, DE
    Account("C-1095", LATE, Cadence.PROJECT, Decimal("21000.00")),  # Juniper Partners, DE
    Account("C-2738", ON_TIME, Cadence.QUARTERLY, Decimal("12600.00")),  # Cobalt Industries, DE
    Account("C-8345", WEEK_LATE, Cadence.MONTHLY, Decimal("3500.00")),  # Rivermark Logistik, AT
    Account("C-4001", ERRATIC, Cadence.PROJECT, Decimal("9800.00")),  # Granite Labs, BE
    Account("C-9598", LATE, Cadence.MONTHLY, Decimal("5100.00")),  # Greenfield Digital, FR
    Account("C-8132", ERRATIC, Cadence.MONTHLY, Decimal("4300.00")),  # Meridian Labs, IT
    Account("C-7236", ON_TIME, Cadence.QUARTERLY, Decimal("16800.00")),  # Tannery Digital, NL
    Account("C-2361", PARTIAL, Cadence.MONTHLY, Decimal("3900.00")),  # Sonnenfeld Digital, PL
    Account("C-5375", SLOW, Cadence.PROJECT, Decimal("11200.00")),  # Tannery Systems, ES
    Account("C-3306", ON_TIME, Cadence.MONTHLY, Decimal("5600.00")),  # Mosaic Logistik, US
    Account("C-3551", LATE, Cadence.QUARTERLY, Decimal("19500.00")),  # Oakridge Systems, US
    Account("C-5301", WEEK_LATE, Cadence.PROJECT, Decimal("14200.00")),  # Granite Logistik, US
    Account("C-7708", ON_TIME, Cadence.MONTHLY, Decimal("3200.00")),  # Bluewater Partners, US
    Account("C-2063", ERRATIC, Cadence.MONTHLY, Decimal("4700.00")),  # Polaris Digital, US
    Account("C-6232", PARTIAL, Cadence.QUARTERLY, Decimal("22500.00")),  # Halcyon Digital, US
)


@dataclass(frozen=True, slots=True)
class Payment:
    """A planned payment: `days_late` after the due date; `share` of the gross, None for the rest."""

    days_late: int
    share: Decimal | None


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    deal_id: str
    account: Account
    label: str
    issue_on: date
    net: Decimal
    payments: tuple[Payment, ...]  # empty: disputed, left unpaid


@dataclass(slots=True)
class HistoryReport:
    """What `load_history` wrote, for the demo to tell."""

    first: date
    last: date
    invoices: list[Invoice] = field(default_factory=list)
    payments: int = 0
    states: Counter[str] = field(default_factory=Counter)  # payment state of each history invoice
    overdue: int = 0  # still open and past due today
    disputed: int = 0  # left unpaid on purpose


def business_day(day: date) -> date:
    """`day`, or the Monday after when it falls on a weekend (banks book on weekdays)."""
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


def plan(monday: date, seed: int = SEED) -> list[PlannedInvoice]:
    """The history's invoices, issued in the `WEEKS_BACK` weeks before `monday`, in issue order.
    Pure: the same seed gives the same invoices relative to `monday`."""
    rng = random.Random(seed)
    start = monday - timedelta(weeks=WEEKS_BACK)
    planned: list[PlannedInvoice] = []
    for account in ACCOUNTS:
        weekday = rng.randrange(5)
        week = rng.randrange({Cadence.MONTHLY: 4, Cadence.QUARTERLY: 13, Cadence.PROJECT: 3}[account.cadence])
        n = 0
        while week < WEEKS_BACK:
            n += 1
            issue_on = start + timedelta(weeks=week, days=weekday)
            planned.append(
                PlannedInvoice(
                    "", account, _label(account.cadence, n), issue_on, _net(account, rng), _payments(account.habit, rng)
                )
            )
            week += {Cadence.MONTHLY: 4, Cadence.QUARTERLY: 13}.get(account.cadence) or rng.randint(2, 7)
            if account.cadence is Cadence.PROJECT:
                weekday = rng.randrange(5)
    planned.sort(key=lambda p: (p.issue_on, p.account.customer_id))
    return [replace(p, deal_id=f"D-H{k:04d}") for k, p in enumerate(planned, start=1)]


def _label(cadence: Cadence, n: int) -> str:
    if cadence is Cadence.MONTHLY:
        return f"Platform subscription, period {n}"
    if cadence is Cadence.QUARTERLY:
        return f"Premium support, quarter {n}"
    return f"Consulting services, phase {n}"


def _net(account: Account, rng: random.Random) -> Decimal:
    if account.cadence is not Cadence.PROJECT:
        return account.net
    return (account.net * Decimal(rng.randint(40, 170)) / 100).quantize(Decimal(10))


def _payments(habit: Habit, rng: random.Random) -> tuple[Payment, ...]:
    late = rng.randint(habit.earliest, habit.latest)
    if rng.random() < DISPUTED_SHARE:
        return ()
    if not habit.partial:
        return (Payment(late, None),)
    return (Payment(late, Decimal("0.5")), Payment(late + rng.randint(20, 40), None))


def load_history(
    ctx: AppContext, templates: Sequence[DealEvent], payments_file: Path, today: date | None = None
) -> HistoryReport:
    """Write the history before `today`'s week (default: the clock's): the deals taken in, their
    drafts issued on their days in date order (numbers stay chronological), and the payments made
    before that week's Monday imported from `payments_file` (written here, a bank's payment CSV).
    `templates`: the bundled deals; each account's deal there gives its customer's details."""
    day = today or ctx.clock().date()
    monday = day - timedelta(days=day.weekday())
    planned = plan(monday)
    by_customer = {e.deal.get("customer_id"): e for e in templates}
    events = [_event(by_customer[p.account.customer_id], p) for p in planned]
    ingest(ctx, events)
    drafts = _drafts_by_deal(ctx)
    missing = [p.deal_id for p in planned if p.deal_id not in drafts]
    if missing:
        raise RuntimeError(f"demo history: deals {', '.join(missing[:5])} were not drafted (check the templates)")
    report = HistoryReport(planned[0].issue_on, planned[-1].issue_on)
    rows: list[tuple[date, str, Decimal]] = []
    for p in planned:
        inv = issue_draft(ctx, drafts[p.deal_id], FINANCE, on=p.issue_on)
        report.invoices.append(inv)
        report.disputed += not p.payments
        rows.extend(_paid(inv, p.payments, monday))
    rows.sort()
    with payments_file.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["invoice_number", "amount", "date", "reference"])
        writer.writerows([number, amount, on, f"history {number}"] for on, number, amount in rows)
    applied = apply_payments(ctx, read_payment_file(payments_file), str(payments_file), actor="import:bank")
    report.payments = applied.applied
    paid: dict[str, Decimal] = {}
    for _, number, amount in rows:
        paid[number] = paid.get(number, ZERO) + amount
    for inv in report.invoices:
        gross, got = inv.totals.payable, paid.get(inv.number or "", ZERO)
        report.states["paid" if got >= gross else "partial" if got > 0 else "open"] += 1
        report.overdue += got < gross and inv.due_date is not None and inv.due_date < day
    return report


def _event(template: DealEvent, p: PlannedInvoice) -> DealEvent:
    deal = template.deal
    company = deal.get("customer_legal_name")
    po = deal.get("po_number")
    fields = {
        **deal.fields,
        "deal_id": p.deal_id,
        "deal_name": f"{company} — {p.label}",
        "close_date": p.issue_on.isoformat(),
        "amount": f"{p.net:.2f}",
        # a customer that requires a PO gave one for each of these (its template lacks it: section 2's fix)
        "po_number": f"{po or 'PO'}-{p.deal_id[2:]}" if po or deal.get("requires_po").lower() == "true" else "",
    }
    return DealEvent(
        SOURCE,
        f"history-{p.deal_id}",
        template.occurred_at,
        replace(deal, deal_id=p.deal_id, fields=MappingProxyType(fields)),
    )


def _drafts_by_deal(ctx: AppContext) -> dict[str, int]:
    out: dict[str, int] = {}
    drafts = [row["id"] for row in invoice_rows(ctx, "draft")]
    with ctx.unit_of_work() as uow:  # reads only
        for invoice_id in drafts:
            for order in invoice_orders(uow, invoice_id):
                out[order.deal_id] = invoice_id
    return out


def _paid(inv: Invoice, payments: Sequence[Payment], monday: date) -> list[tuple[date, str, Decimal]]:
    """The payments of `inv` that arrived before `monday`: (day, invoice number, amount)."""
    gross, left, out = inv.totals.payable, inv.totals.payable, []
    assert inv.due_date is not None and inv.issue_date is not None and inv.number is not None
    for pay in payments:
        on = business_day(max(inv.issue_date, inv.due_date + timedelta(days=pay.days_late)))
        if on >= monday:
            break
        amount = left if pay.share is None else round2(gross * pay.share)  # cents, half up
        out.append((on, inv.number, amount))
        left -= amount
    return out


def run_history_demo(
    ctx: AppContext, templates: Sequence[DealEvent], payments_file: Path, out: Console
) -> HistoryReport:
    """Load the history and tell it in a few lines."""
    report = load_history(ctx, templates, payments_file)
    issued = report.invoices
    currencies = sorted({inv.currency for inv in issued})
    out.print(
        f"{len(issued)} invoices issued to {len(ACCOUNTS)} customers of the bundled deals from {report.first} to "
        f"{report.last} ({issued[0].number} …; {', '.join(currencies)}): monthly subscriptions, quarterly support "
        f"and project work",
        highlight=False,
    )
    habits = Counter(a.habit.name for a in ACCOUNTS)
    out.print(
        "each customer pays its own way: " + ", ".join(f"{h.name}: {habits[h.name]}" for h in HABITS),
        highlight=False,
    )
    out.print(
        f"{report.payments} payments applied from {payments_file.name}, dated as the bank booked them: "
        + ", ".join(f"{n} invoices {s}" for s, n in sorted(report.states.items()))
        + f"; {report.overdue} past due; {report.disputed} disputed, never paid",
        highlight=False,
    )
    return report
