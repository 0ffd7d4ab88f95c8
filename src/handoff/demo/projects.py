"""The demo's services project: a time-and-materials contract delivered, imported from Harvest, billed.

Nordlicht Logistik GmbH signs for the rollout of a transport management system: four roles billed
by the hour (architect 160, senior consultant 130, consultant 110, analyst 90 EUR), travel and
other expenses re-invoiced with a 10 % markup, and two fixed-fee milestones. The project is opened
from the contract, planned in three phases (Discovery, Build, Rollout) with a budget in hours per
role, each entry rounded up to a quarter hour, a not-to-exceed cap, the manager's approval required.
Three months of the team's Harvest exports (`services_time.csv`: about 300 time entries;
`services_expenses.csv`: 20 expenses) are imported and approved; milestone 1 is accepted with its
evidence; each month's delivery is posted to the contract's schedule and billed by the billing run.
Then the Harvest export changes after invoicing (one entry's hours corrected, one entry deleted):
re-imported, the changes become adjustment lines on the next invoice; the same file once more
changes nothing.

`services_contract`, `PLAN`, `changed_time_file` and `run_project_story` are shared with the test
that checks the invoices against a hand calculation (`tests/integration/projects/
test_services_demo_invoices.py`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Milestone,
)
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import ItemRow, lock, show_contract
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.ledger import invoice_document
from handoff.kernel.parties import Address, Customer
from handoff.projects.domain.model import project_id_for
from handoff.projects.domain.signals import AcceptanceInput, TimeEntryInput
from handoff.projects.formats.timesheets import read_expense_file, read_time_file
from handoff.projects.service.delivery import SignalReport, approve, record_acceptances, record_expenses, record_time
from handoff.projects.service.posting import PostingResult, post_delivery
from handoff.projects.service.projects import link_external, open_projects, set_plan

HERE = Path(__file__).parent
TIME_FILE = HERE / "services_time.csv"
EXPENSE_FILE = HERE / "services_expenses.csv"
CONTRACT_ID = "CTR-4800-2027"
PROJECT_ID = project_id_for(CONTRACT_ID)
START = date(2027, 2, 1)
FINANCE = "finance@acme.example"
HARVEST_PROJECT = "NL-TMS"  # the project's code in Harvest (the export's "Project Code")
# The team's Harvest roles name the contract's rate-card roles (Harvest's Task is the activity)
ROLE_COLUMN = {"role": "Roles"}
CHANGED_NAME = "services_time_2027-04-30.csv"  # the export taken again after the April invoice
BUYER = Customer(
    "C-4800",
    "Nordlicht Logistik GmbH",
    "DE",
    True,
    "DE814729361",
    billing_email="kreditoren@nordlicht-logistik.example",
    billing_contact_name="Katrin Vogel",
    address=Address("Am Sandtorkai 12", "Hamburg", "20457", "DE"),
)
# The months billed: each posting takes the work dated before its day, and the billing run of the
# same day drafts it (with what else fell due: the accepted milestone).
BILLING_DAYS = (date(2027, 3, 1), date(2027, 4, 1), date(2027, 5, 1))
MILESTONE_1 = AcceptanceInput(
    source="demo",
    external_id="NL-TMS-M1",
    project=PROJECT_ID,
    milestone="M1",
    accepted_on=date(2027, 2, 26),
    accepted_by="Katrin Vogel (Nordlicht Logistik, head of logistics IT)",
    evidence="signed blueprint acceptance, https://nordlicht.atlassian.example/wiki/TMS/blueprint-sign-off",
)
# After the April invoice, Harvest changes: an entry invoiced in March is corrected and one invoiced
# in April is deleted (both found by their ticket reference in the notes)
EDITED = ("NL-103", "7.04", "8.10")  # Jonas Weber, 2027-02-01: 7.04 h (7.25 billed) -> 8.10 h (8.25)
DELETED = "NL-198"  # Lea Schmidt, 2027-03-01: 2.58 h (2.75 billed)
ROLE_LINES = ("L1", "L2", "L3", "L4")
ROLES = ("architect", "senior consultant", "consultant", "analyst")

PLAN: dict[str, Any] = {
    "manager_email": FINANCE,
    "phases": [
        {
            "key": "discovery",
            "name": "Discovery",
            "start": "2027-02-01",
            "end": "2027-02-28",
            "milestone": "M1",
            "budget": {"architect": "80", "senior-consultant": "80", "consultant": "40", "analyst": "80"},
        },
        {
            "key": "build",
            "name": "Build",
            "start": "2027-03-01",
            "end": "2027-04-18",
            "milestone": "",
            "budget": {"architect": "70", "senior-consultant": "140", "consultant": "160", "analyst": "100"},
        },
        {
            "key": "rollout",
            "name": "Rollout",
            "start": "2027-04-19",
            "end": "2027-05-31",
            "milestone": "M2",
            "budget": {"architect": "40", "senior-consultant": "40", "consultant": "40", "analyst": "40"},
        },
    ],
    "settings": {
        "approval_required": True,
        "rounding_increment": "0.25",
        "rounding": "up",
        "cap": "150000.00",
        "cap_alert_percent": "80",
        "expense_markup_percent": "10",
    },
}


def services_contract() -> ContractVersion:
    """Version 1 of the services contract, as signed: four T&M roles (budgets in hours), expenses
    and a milestone line with two fixed fees."""
    terms = ContractTerms(
        BUYER.customer_id,
        "ACME-DE",
        "EUR",
        "net30",
        START,
        po_number="PO-NL-2027-117",
        signatory="Katrin Vogel",
        owner_email="ben.carter@acme.example",
    )
    tm = BillingRule(BillingKind.TIME_AND_MATERIALS)

    def role(key: str, product: str, name: str, hours: int, rate: str) -> ContractLine:
        return ContractLine(key, product, name, Decimal(hours), Decimal(rate), tm, unit_code="HUR")

    milestones = ContractLine(
        "L5",
        "TMS-MILESTONES",
        "TMS rollout milestones",
        Decimal(1),
        Decimal("24000.00"),
        BillingRule(
            BillingKind.MILESTONE,
            milestones=(
                Milestone("M1", "Blueprint accepted", amount=Decimal("9000.00")),
                Milestone("M2", "Go-live accepted", amount=Decimal("15000.00")),
            ),
        ),
    )
    lines = (
        role("L1", "architect", "Solution architect, per hour", 190, "160.00"),
        role("L2", "senior-consultant", "Senior consultant, per hour", 260, "130.00"),
        role("L3", "consultant", "Consultant, per hour", 240, "110.00"),
        role("L4", "analyst", "Analyst, per hour", 220, "90.00"),
        milestones,
    )
    return ContractVersion(CONTRACT_ID, 1, START, terms, lines)


def changed_time_file(original: Path = TIME_FILE) -> str:
    """The Harvest export taken again after the April invoice: entry `EDITED` with its hours
    corrected (and its rounded hours and amounts with them), entry `DELETED` no longer in it."""
    with original.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    notes, hours, rounded = header.index("Notes"), header.index("Hours"), header.index("Hours Rounded")
    rate, amount = header.index("Billable Rate"), header.index("Billable Amount")
    cost, cost_amount = header.index("Cost Rate"), header.index("Cost Amount")
    ticket, before, after = EDITED
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    found = {"edited": False, "deleted": False}
    for row in body:
        if row[notes].startswith(DELETED + ":"):
            found["deleted"] = True
            continue
        if row[notes].startswith(ticket + ":"):
            assert row[hours] == before, row
            up = _quarter_up(Decimal(after))
            row = list(row)
            row[hours], row[rounded] = after, f"{up:.2f}"
            row[amount] = f"{up * Decimal(row[rate]):.2f}"
            row[cost_amount] = f"{up * Decimal(row[cost]):.2f}"
            found["edited"] = True
        writer.writerow(row)
    assert all(found.values()), found
    return out.getvalue()


def _quarter_up(hours: Decimal) -> Decimal:
    quarters = -((-hours * 4) // 1)
    return quarters / 4


@dataclass
class Story:
    """What the project story did, for the demo to print and the test to check."""

    opened: list[str] = field(default_factory=list)
    time_import: SignalReport | None = None
    expense_import: SignalReport | None = None
    approved: int = 0
    accepted: SignalReport | None = None
    postings: list[PostingResult] = field(default_factory=list)
    drafts: list[tuple[date, int]] = field(default_factory=list)  # (billing day, invoice id)
    reimport: SignalReport | None = None  # the changed export
    deletion: SignalReport | None = None  # the deleted entry
    again: SignalReport | None = None  # the changed export once more


def import_time(ctx: AppContext, data: bytes, name: str, actor: str) -> SignalReport:
    """A Harvest time export stored (the role from its Roles column), the file named in the audit."""
    entries = read_time_file(data, name, format="harvest", mapping=ROLE_COLUMN)
    return record_time(ctx, entries, actor, file_name=name, sha256=hashlib.sha256(data).hexdigest())


def import_expenses(ctx: AppContext, data: bytes, name: str, actor: str) -> SignalReport:
    """A Harvest expense export stored."""
    expenses = read_expense_file(data, name, format="harvest")
    return record_expenses(ctx, expenses, actor, file_name=name, sha256=hashlib.sha256(data).hexdigest())


def deletion_of(ticket: str = DELETED) -> TimeEntryInput:
    """The deletion of the entry whose notes start with `ticket`, as the source reports it (an
    export leaves a deleted entry out, which says nothing: the deletion comes as a signal)."""
    entries = read_time_file(TIME_FILE.read_bytes(), TIME_FILE.name, format="harvest", mapping=ROLE_COLUMN)
    entry = next(e for e in entries if e.notes.startswith(ticket + ":"))
    return replace(entry, deleted=True, row=f"harvest deletion of {ticket}")


def run_project_story(ctx: AppContext, actor: str = FINANCE) -> Story:
    """Lock, open, plan, import, approve, accept M1, post and bill each month; then the export's
    correction and deletion after invoicing, billed as adjustments; then the same export again."""
    story = Story()
    lock(ctx, services_contract(), BUYER, actor, "won quote: TMS rollout, time and materials")
    story.opened = open_projects(ctx, actor)
    set_plan(ctx, PROJECT_ID, PLAN, actor, "kick-off: three phases, budgets per role")
    link_external(ctx, PROJECT_ID, "harvest", HARVEST_PROJECT, actor)
    story.time_import = import_time(ctx, TIME_FILE.read_bytes(), TIME_FILE.name, actor)
    story.expense_import = import_expenses(ctx, EXPENSE_FILE.read_bytes(), EXPENSE_FILE.name, actor)
    story.approved = approve(ctx, PROJECT_ID, actor)
    story.accepted = record_acceptances(ctx, [MILESTONE_1], actor)
    for day in BILLING_DAYS[:-1]:
        _post_and_bill(ctx, day, actor, story)
    changed = changed_time_file().encode()
    story.reimport = import_time(ctx, changed, CHANGED_NAME, actor)
    story.deletion = record_time(ctx, [deletion_of()], actor)
    story.approved += approve(ctx, PROJECT_ID, actor)
    _post_and_bill(ctx, BILLING_DAYS[-1], actor, story)
    story.again = import_time(ctx, changed, CHANGED_NAME, actor)
    return story


def _post_and_bill(ctx: AppContext, day: date, actor: str, story: Story) -> None:
    story.postings.append(post_delivery(ctx, day, actor, project_id=PROJECT_ID))
    result = run_billing(ctx, day, "demo")
    story.drafts.extend((day, invoice_id) for invoice_id in result.invoice_ids)


def project_invoices(ctx: AppContext, drafts: Sequence[tuple[date, int]]) -> list[tuple[date, int, Invoice]]:
    """The drafts' documents that bill the services contract, in billing order."""
    with ctx.unit_of_work() as uow:  # reads only
        documents = [(day, invoice_id, invoice_document(uow, invoice_id)) for day, invoice_id in drafts]
    return [
        (day, invoice_id, doc)
        for day, invoice_id, doc in documents
        if doc is not None and any(ln.order_ref == CONTRACT_ID for ln in doc.lines)
    ]


def run_project_demo(ctx: AppContext, out: Console) -> None:
    """Section 11 of the demo: the services project from contract to invoices and adjustments."""
    story = run_project_story(ctx)
    assert story.time_import and story.expense_import and story.reimport and story.deletion and story.again
    out.print(
        f"contract {CONTRACT_ID} locked for {BUYER.legal_name}: 4 roles by the hour (architect 160, senior "
        "consultant 130, consultant 110, analyst 90 EUR), expenses at cost + 10 %, 2 milestones (9,000 + "
        f"15,000 EUR); projects opened: {', '.join(story.opened) or 'none new'}"
    )
    out.print(
        f"{PROJECT_ID} planned: Discovery, Build, Rollout with budgets per role; each entry rounded up to "
        "0.25 h, not-to-exceed 150,000.00 EUR on time, the manager's approval required"
    )
    out.print(
        f"Harvest exports imported: {TIME_FILE.name} {_counts(story.time_import)}; "
        f"{EXPENSE_FILE.name} {_counts(story.expense_import)}; approved by the manager"
    )
    out.print(
        f"milestone M1 accepted on {MILESTONE_1.accepted_on} by {MILESTONE_1.accepted_by}; evidence: "
        f"{MILESTONE_1.evidence}",
        highlight=False,
    )
    for posting in story.postings:
        for p in posting.projects:
            out.print(
                f"delivery posted through {posting.through}: {p.items} schedule items, {p.amount:,.2f} EUR net "
                f"({p.entries} entries)" + (f"; alerts: {'; '.join(p.alerts)}" if p.alerts else ""),
                highlight=False,
            )
    billed = [item for item in show_contract(ctx, CONTRACT_ID).items if item.invoice_id is not None]
    for day, invoice_id, invoice in project_invoices(ctx, story.drafts):
        _print_invoice(out, day, invoice_id, invoice, [i for i in billed if i.invoice_id == invoice_id])
        if day == BILLING_DAYS[-2]:
            out.print(
                f"then Harvest changes after invoicing: {EDITED[0]} corrected from {EDITED[1]} to {EDITED[2]} h; "
                f"the export taken again ({CHANGED_NAME}): {_counts(story.reimport)}; {DELETED} deleted in "
                f"Harvest (an export just leaves it out, so the deletion arrives as a signal): "
                f"{_counts(story.deletion)}",
                highlight=False,
            )
    changed = story.again.created + story.again.updated + story.again.deleted
    out.print(
        f"the same export imported once more: {_counts(story.again)}: "
        + ("nothing changed" if changed == 0 and not story.again.errors else "CHANGED"),
        highlight=False,
    )


def _counts(report: SignalReport) -> str:
    return f"{report.created} new, {report.updated} changed, {report.deleted} deleted, {report.unchanged} unchanged" + (
        f", {len(report.errors)} refused" if report.errors else ""
    )


def _what(item: ItemRow) -> str:
    """A billed item in a few words: the role (or expenses, or the milestone), and whether it adjusts."""
    if item.line_key in ROLE_LINES:
        what = dict(zip(ROLE_LINES, ROLES, strict=True))[item.line_key]
        return f"{what} (adjustment)" if "-adjust:" in item.period_key else what
    if item.line_key == "expenses":
        return "expenses + 10 %"
    return item.description.split(": ", 1)[-1]  # the milestone's name


def _print_invoice(out: Console, day: date, invoice_id: int, invoice: Invoice, items: Sequence[ItemRow]) -> None:
    """The draft's totals, and its lines as the schedule items it bills: role, month, hours x rate."""
    totals = invoice.totals
    out.print(
        f"draft #{invoice_id}, billing run of {day}: net {totals.tax_exclusive:,.2f} + VAT 19 % {totals.tax:,.2f} "
        f"= {totals.tax_inclusive:,.2f} EUR; annex: {len(invoice.annex)} entries",
        highlight=False,
    )
    table = Table("line", "role", "month", "hours", "rate", "amount EUR", box=None, padding=(0, 1, 0, 2))
    for column in (3, 4, 5):
        table.columns[column].justify = "right"
    table.columns[1].no_wrap = True
    for item in sorted(items, key=lambda i: (i.line_key == "L5", "-adjust:" in i.period_key, i.line_key)):
        hourly = item.line_key in ROLE_LINES
        table.add_row(
            item.line_key,
            _what(item),
            item.period_start.strftime("%Y-%m") if item.trigger != "milestone" else "",
            f"{item.quantity:,.2f}" if hourly else "",
            f"{item.unit_price:,.2f}" if hourly else "",
            f"{item.amount:,.2f}",
        )
    out.print(table)
