"""The demo's contract: a three-year SaaS subscription locked, amended and billed by the billing run.

Kestrel Partners AG (a customer of the bundled deals) signs for 100 platform seats billed annually
in advance on a ramp (10,000 / 12,000 / 15,000 EUR a year), a one-time implementation fee and a
data-migration project billed on two milestones. The billing run (`contracts.service.billing_run`)
then runs on a few days: the first year and the fee on the start day, the first milestone once
accepted, a mid-term upsell of 20 seats (a change order: the seats added for the rest of the billed
year are billed as an adjustment on its effective day) and the second year at the ramped price;
the go-live milestone, not accepted, waits. The drafts stay drafts for finance to review and issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from handoff.audit.service import verify
from handoff.context import AppContext
from handoff.contracts.domain.change_orders import ChangeOrder, ChangeQuantity
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
    RampStep,
)
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.change_orders import amend
from handoff.contracts.service.contracts import ItemRow, accept_milestone, lock, show_contract
from handoff.invoicing.service.ledger import invoice_document
from handoff.kernel.parties import Address, Customer

CONTRACT_ID = "CTR-1219-2027"
START = date(2027, 1, 1)
FINANCE = "finance@acme.example"
BUYER = Customer(
    "C-1219",
    "Kestrel Partners AG",
    "DE",
    True,
    "DE692913072",
    billing_email="ap@kestrel.de",
    billing_contact_name="Lukas Dubois",
    address=Address("Main Street 80", "Frankfurt am Main", "43816", "DE"),
)
SEATS = Decimal(100)
UPSELL = ChangeOrder(
    "CO-1",
    date(2027, 7, 1),
    (ChangeQuantity("L1", Decimal(120)),),
    reason="upsell: 20 more seats from July",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One day of the story: a milestone accepted, a change order signed, then the billing run."""

    on: date
    accept: tuple[str, date] | None = None  # (milestone key, accepted on)
    change_order: ChangeOrder | None = None


STEPS = (
    Step(START),
    Step(date(2027, 3, 31), accept=("M1", date(2027, 3, 15))),
    Step(UPSELL.effective, change_order=UPSELL),
    Step(date(2028, 1, 1)),
)


def saas_contract() -> ContractVersion:
    """Version 1, as the won quote was signed."""
    terms = ContractTerms(
        BUYER.customer_id,
        "ACME-DE",
        "EUR",
        "net30",
        START,
        po_number="PO-KP-2027-04",
        signatory="Lukas Dubois",
        owner_email="ben.carter@acme.example",
    )
    platform = ContractLine(
        "L1",
        "PLAT-SEAT",
        "Platform seats, per year",
        SEATS,
        Decimal("100.00"),
        BillingRule(
            BillingKind.RECURRING,
            frequency=Frequency.ANNUAL,
            end=date(2030, 1, 1),
            ramp=(RampStep(date(2028, 1, 1), Decimal("120.00")), RampStep(date(2029, 1, 1), Decimal("150.00"))),
        ),
    )
    fee = ContractLine(
        "L2", "IMPL-FEE", "Implementation fee", Decimal(1), Decimal("8000.00"), BillingRule(BillingKind.ONE_TIME)
    )
    migration = ContractLine(
        "L3",
        "MIGRATION",
        "Data migration project",
        Decimal(1),
        Decimal("20000.00"),
        BillingRule(
            BillingKind.MILESTONE,
            milestones=(
                Milestone("M1", "Data migrated", percent=Decimal(40)),
                Milestone("M2", "Go-live accepted", percent=Decimal(60)),
            ),
        ),
    )
    return ContractVersion(CONTRACT_ID, 1, START, terms, (platform, fee, migration))


def run_contract_demo(ctx: AppContext, out: Console) -> None:
    """Lock the contract, bill it on each step's day, print its schedule and the drafts made."""
    locked = lock(ctx, saas_contract(), BUYER, FINANCE, "won quote: 3-year platform deal")
    out.print(
        f"contract {locked.contract_id} locked for {BUYER.legal_name} (version {locked.version}, content hash "
        f"{locked.content_hash[:12]}…): 3 years of seats on a ramp 10,000 / 12,000 / 15,000 EUR billed annually "
        f"in advance, an implementation fee, a migration project on 2 milestones; {locked.items} schedule items "
        f"worth {locked.value:,.2f} EUR"
    )
    drafted: list[tuple[date, int]] = []
    for step in STEPS:
        if step.accept is not None:
            key, day = step.accept
            accept_milestone(ctx, CONTRACT_ID, key, day, FINANCE, f"demo-acceptance-{key}")
            out.print(f"milestone {key} accepted on {day}: due from that day")
        if step.change_order is not None:
            order = step.change_order
            done = amend(ctx, CONTRACT_ID, order, FINANCE, order.reason)
            adjusted = ", ".join(
                f"line {line} period {key.rsplit(':', 1)[-1]} {amount:+,.2f}" for line, key, amount in done.adjustments
            )
            out.print(
                f"change order {order.key} effective {order.effective} ({order.reason}): version {done.version}; "
                f"billed periods adjusted: {adjusted or 'none'}"
            )
        result = run_billing(ctx, step.on, "demo")
        drafted.extend((step.on, invoice_id) for invoice_id in result.invoice_ids)
        out.print(
            f"billing run of {step.on}: {_plural(result.drafts, 'draft')} with {_plural(result.items, 'item')}"
            + (f"; {len(result.failures)} failed: {result.failures}" if result.failures else "")
        )
    again = run_billing(ctx, STEPS[-1].on, "demo")
    out.print(f"the same run again: {again.drafts} drafts (nothing is billed twice)")
    _schedule(ctx, out)
    _invoices(ctx, drafted, out)
    count, broken = verify(ctx)
    out.print(f"audit chain of {count} entries: " + ("intact" if broken is None else f"BROKEN at {broken.seq}"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _period(item: ItemRow) -> str:
    key, last = item.period_key, item.period_end - timedelta(days=1)
    if key == "once":
        return f"once, due {item.bill_date}"
    if key.startswith("milestone:"):
        name = key.removeprefix("milestone:")
        return f"milestone {name}, due {item.bill_date}" if item.bill_date else f"milestone {name}"
    if key.startswith("adjust:"):
        return f"{key.split(':')[1]} {item.period_start} – {last}"
    return f"{item.period_start} – {last}"


def _billed(item: ItemRow) -> str:
    if item.invoice_id is None:
        if item.status == "planned" and item.bill_date is None:
            return "waits for acceptance"
        return item.status
    return item.invoice_number or f"draft #{item.invoice_id}"


def _schedule(ctx: AppContext, out: Console) -> None:
    view = show_contract(ctx, CONTRACT_ID)
    table = Table("line", "period", "amount EUR", "billed invoice", title=f"schedule of {CONTRACT_ID}")
    table.columns[1].no_wrap = True
    table.columns[2].justify = "right"
    for item in view.items:
        if item.status != "superseded":
            table.add_row(item.line_key, _period(item), f"{item.amount:,.2f}", _billed(item))
    out.print(table)
    out.print(
        f"contract at version {view.contract.current_version} (items a change order replaced are left out); "
        "CO-1 is the upsell's adjustment of the billed first year"
    )


def _invoices(ctx: AppContext, drafted: list[tuple[date, int]], out: Console) -> None:
    out.print("invoice drafts the billing run made:")
    with ctx.unit_of_work() as uow:  # reads only
        documents = [(on, invoice_id, invoice_document(uow, invoice_id)) for on, invoice_id in drafted]
    for on, invoice_id, invoice in documents:
        if invoice is None:
            continue
        totals = invoice.totals
        out.print(
            f"  draft #{invoice_id} (run of {on}) to {invoice.buyer.legal_name}: net {totals.tax_exclusive:,.2f} "
            f"+ VAT {totals.tax:,.2f} = {totals.tax_inclusive:,.2f} {invoice.currency}",
            highlight=False,
        )
        for ln in invoice.lines:
            out.print(f"    {ln.contract_line} {ln.description}: {ln.net_amount:,.2f}", highlight=False)
    out.print(
        "the drafts wait for finance to review and issue them (`handoff invoice issue --id N`); "
        "the worker's daily billing run drafts what falls due next"
    )
