"""The demo's services project billed on SQLite and PostgreSQL: its invoices equal a hand calculation.

The story is the demo's (`handoff.demo.projects.run_project_story`): the Nordlicht Logistik T&M
contract locked, its project opened and planned (entries rounded up to 0.25 h each, expenses + 10 %,
the manager's approval required), the Harvest exports imported (`src/handoff/demo/services_time.csv`,
299 rows; `services_expenses.csv`, 20 rows), approved, milestone M1 accepted, and each month posted
and billed on the 1st of the next. The expected lines below were worked out by hand from the files
(per role and month: the billable entries' hours, each rounded up to the next quarter hour, summed,
times the role's rate; expenses: the billable amounts of the month summed, times 1.10, rounded half
up to the cent; VAT 19 % of the net, German B2B). `test_expected_lines_are_the_files_sums` checks the
hand-written hours against the committed files, so a regenerated file cannot silently change them.
Then the export changes after invoicing (an entry invoiced in March corrected, one invoiced in April
deleted): the May invoice carries the adjustments. Importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.contracts.service import contracts
from handoff.demo import projects as demo
from handoff.invoicing.domain.invoices import Invoice
from handoff.kernel.storage import schema
from handoff.projects.service.delivery import record_time
from handoff.projects.service.posting import post_delivery
from handoff.projects.service.projects import link_external, open_projects, set_plan
from handoff.users import service as users
from handoff.users.service import Role

D = Decimal
ROLE_OF_LINE = {"L1": "architect", "L2": "senior-consultant", "L3": "consultant", "L4": "analyst"}
RATE = {"L1": D("160.00"), "L2": D("130.00"), "L3": D("110.00"), "L4": D("90.00")}

# (contract line, month worked, hours, rate, net amount) per invoice, worked out by hand:
MARCH_1 = [
    # architect, February: 31 entries, 85.92 h as recorded, 90.00 h rounded up per entry x 160 = 14,400.00
    ("L1", "2027-02", D("90.00"), D("160.00"), D("14400.00")),
    # senior consultant, February: 26 entries, 73.44 h recorded, 76.50 h rounded x 130 = 9,945.00
    ("L2", "2027-02", D("76.50"), D("130.00"), D("9945.00")),
    # consultant, February: 15 entries, 35.73 h recorded, 37.75 h rounded x 110 = 4,152.50
    ("L3", "2027-02", D("37.75"), D("110.00"), D("4152.50")),
    # analyst, February: 21 entries, 84.92 h recorded, 87.25 h rounded x 90 = 7,852.50
    ("L4", "2027-02", D("87.25"), D("90.00"), D("7852.50")),
    # expenses, February: 7 billable (the team dinner is not), 917.95 x 1.10 = 1,009.745 -> 1,009.75
    ("expenses", "2027-02", D("1"), D("1009.75"), D("1009.75")),
    # milestone M1 "Blueprint accepted", accepted 2027-02-26: its fixed fee
    ("L5", "", D("1"), D("9000.00"), D("9000.00")),
]
# net 14,400.00 + 9,945.00 + 4,152.50 + 7,852.50 + 1,009.75 + 9,000.00 = 46,359.75
# VAT 19 % = 8,808.3525 -> 8,808.35; gross 55,168.10
MARCH_1_TOTALS = (D("46359.75"), D("8808.35"), D("55168.10"))

APRIL_1 = [
    # architect, March: 13 entries, 35.92 h recorded, 37.50 h rounded x 160 = 6,000.00
    ("L1", "2027-03", D("37.50"), D("160.00"), D("6000.00")),
    # senior consultant, March: 21 entries, 68.67 h recorded, 71.25 h rounded x 130 = 9,262.50
    ("L2", "2027-03", D("71.25"), D("130.00"), D("9262.50")),
    # consultant, March: 27 entries, 86.38 h recorded, 90.00 h rounded x 110 = 9,900.00
    ("L3", "2027-03", D("90.00"), D("110.00"), D("9900.00")),
    # analyst, March: 24 entries, 71.30 h recorded, 74.50 h rounded x 90 = 6,705.00
    ("L4", "2027-03", D("74.50"), D("90.00"), D("6705.00")),
    # expenses, March: 5 billable, 608.20 x 1.10 = 669.02
    ("expenses", "2027-03", D("1"), D("669.02"), D("669.02")),
]
# net 32,536.52; VAT 19 % = 6,181.9388 -> 6,181.94; gross 38,718.46
APRIL_1_TOTALS = (D("32536.52"), D("6181.94"), D("38718.46"))

MAY_1 = [
    # architect, April: 23 entries, 65.73 h recorded, 68.75 h rounded x 160 = 11,000.00
    ("L1", "2027-04", D("68.75"), D("160.00"), D("11000.00")),
    # senior consultant, April: 24 entries, 81.04 h recorded, 84.25 h rounded x 130 = 10,952.50
    ("L2", "2027-04", D("84.25"), D("130.00"), D("10952.50")),
    # consultant, April: 36 entries, 95.23 h recorded, 99.50 h rounded x 110 = 10,945.00
    ("L3", "2027-04", D("99.50"), D("110.00"), D("10945.00")),
    # analyst, April: 26 entries, 78.78 h recorded, 81.75 h rounded x 90 = 7,357.50
    ("L4", "2027-04", D("81.75"), D("90.00"), D("7357.50")),
    # expenses, April: 7 billable, 1,384.70 x 1.10 = 1,523.17
    ("expenses", "2027-04", D("1"), D("1523.17"), D("1523.17")),
    # adjustment: NL-103 (Jonas Weber, 2027-02-01, billed in March as 7.04 -> 7.25 h) corrected to
    # 8.10 h -> 8.25 h: +1.00 h x 130 = +130.00
    ("L2", "2027-02", D("1.00"), D("130.00"), D("130.00")),
    # adjustment: NL-198 (Lea Schmidt, 2027-03-01, billed in April as 2.58 -> 2.75 h) deleted:
    # -2.75 h x 110 = -302.50 (the hours taken back: quantity -2.75 at the role's rate)
    ("L3", "2027-03", D("-2.75"), D("110.00"), D("-302.50")),
]
# net 11,000.00 + 10,952.50 + 10,945.00 + 7,357.50 + 1,523.17 + 130.00 - 302.50 = 41,605.67
# VAT 19 % = 7,905.0773 -> 7,905.08; gross 49,510.75
MAY_1_TOTALS = (D("41605.67"), D("7905.08"), D("49510.75"))

EXPECTED = {
    date(2027, 3, 1): (MARCH_1, MARCH_1_TOTALS),
    date(2027, 4, 1): (APRIL_1, APRIL_1_TOTALS),
    date(2027, 5, 1): (MAY_1, MAY_1_TOTALS),
}


def _lines(invoice: Invoice) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    return sorted(
        (
            ln.contract_line,
            ln.period_start.strftime("%Y-%m") if ln.period_start else "",
            ln.quantity,
            ln.unit_price,
            ln.net_amount,
        )
        for ln in invoice.lines
    )


def _counts(ctx: AppContext) -> dict[str, int]:
    tables = (
        schema.time_entries,
        schema.expenses,
        schema.delivery_postings,
        schema.schedule_items,
        schema.invoices,
        schema.audit_log,
    )
    with ctx.engine.connect() as conn:
        counted = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}
        counted["revisions"] = conn.execute(select(func.sum(schema.time_entries.c.revision))).scalar_one()
    return counted


@pytest.fixture
def finance(ctx: AppContext) -> str:
    users.add_user(ctx, demo.FINANCE, Role.FINANCE, "finance-password-long", actor="test")
    return demo.FINANCE


def test_invoices_equal_the_hand_calculation(ctx: AppContext, finance: str) -> None:
    story = demo.run_project_story(ctx, finance)
    assert demo.PROJECT_ID in story.opened
    assert story.time_import is not None and story.expense_import is not None
    assert (story.time_import.created, story.time_import.errors) == (299, [])
    assert (story.expense_import.created, story.expense_import.errors) == (20, [])
    invoices = demo.project_invoices(ctx, story.drafts)
    assert [day for day, _, _ in invoices] == list(EXPECTED)
    for day, _, invoice in invoices:
        lines, (net, vat, gross) = EXPECTED[day]
        assert _lines(invoice) == sorted(lines), day
        assert (invoice.totals.tax_exclusive, invoice.totals.tax, invoice.totals.tax_inclusive) == (net, vat, gross)
        assert invoice.buyer.legal_name == "Nordlicht Logistik GmbH" and invoice.currency == "EUR"
    # the annex lists every entry an invoice bills: March 1 93 time entries + 7 expenses; the May
    # invoice April's 109 + 7 and the two adjusted entries
    annexes = [len(invoice.annex) for _, _, invoice in invoices]
    assert annexes == [93 + 7, 85 + 5, 109 + 7 + 2]


def test_adjustments_and_a_duplicate_import(ctx: AppContext, finance: str) -> None:
    story = demo.run_project_story(ctx, finance)
    assert story.reimport is not None and story.deletion is not None and story.again is not None
    # the export taken again: one entry changed, the other 297 as they were (the deleted one is absent)
    assert story.reimport.counts() == {"created": 0, "updated": 1, "unchanged": 297, "deleted": 0, "errors": 0}
    assert story.deletion.counts() == {"created": 0, "updated": 0, "unchanged": 0, "deleted": 1, "errors": 0}
    # ... and imported once more, it changes nothing
    assert story.again.counts() == {"created": 0, "updated": 0, "unchanged": 298, "deleted": 0, "errors": 0}
    # the adjustments were posted once, by the May posting: +1.00 h senior consultant (February),
    # -2.75 h consultant (March)
    may = story.postings[-1].projects
    assert len(may) == 1 and may[0].amount == D("41605.67")
    items = schema.schedule_items.c
    with ctx.engine.connect() as conn:
        adjusted = conn.execute(
            select(items.line_key, items.period_key, items.quantity, items.unit_price, items.amount)
            .where(items.contract_id == demo.CONTRACT_ID, items.period_key.like("time-adjust:%"))
            .order_by(items.line_key)
        ).all()
    assert [tuple(r) for r in adjusted] == [
        ("L2", "time-adjust:2027-02:3", D("1.00"), D("130.00"), D("130.00")),
        ("L3", "time-adjust:2027-03:3", D("-2.75"), D("110.00"), D("-302.50")),
    ]
    before = _counts(ctx)
    assert before["time_entries"] == 299  # the deleted entry is kept, marked deleted
    # the same files yet again, time and expenses, and the deletion: no row, revision, posting,
    # schedule item, invoice or audit entry more
    changed = demo.changed_time_file().encode()
    assert demo.import_time(ctx, changed, demo.CHANGED_NAME, finance).counts()["unchanged"] == 298
    data = demo.EXPENSE_FILE.read_bytes()
    assert demo.import_expenses(ctx, data, demo.EXPENSE_FILE.name, finance).counts()["unchanged"] == 20
    assert record_time(ctx, [demo.deletion_of()], finance).counts()["unchanged"] == 1
    assert _counts(ctx) == before
    assert not post_delivery(ctx, date(2027, 6, 1), finance, project_id=demo.PROJECT_ID).projects
    assert _counts(ctx) == before


def test_the_same_export_twice_changes_nothing(ctx: AppContext, finance: str) -> None:
    data = demo.TIME_FILE.read_bytes()
    _open_project(ctx, finance)
    first = demo.import_time(ctx, data, demo.TIME_FILE.name, finance)
    assert first.counts()["created"] == 299
    before = _counts(ctx)
    again = demo.import_time(ctx, data, demo.TIME_FILE.name, finance)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 299, "deleted": 0, "errors": 0}
    assert _counts(ctx) == before


def _open_project(ctx: AppContext, actor: str) -> None:
    contracts.lock(ctx, demo.services_contract(), demo.BUYER, actor, "test")
    assert demo.PROJECT_ID in open_projects(ctx, actor)
    set_plan(ctx, demo.PROJECT_ID, demo.PLAN, actor, "test plan")
    link_external(ctx, demo.PROJECT_ID, "harvest", demo.HARVEST_PROJECT, actor)


def test_expected_lines_are_the_files_sums() -> None:
    """The hand-written hours and expense amounts are what the committed files hold."""
    quarter = D("0.25")
    hours: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with demo.TIME_FILE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Billable?"] == "Yes":
                rounded = (D(row["Hours"]) / quarter).to_integral_value(ROUND_CEILING) * quarter
                hours[(row["Roles"], row["Date"][:7])] += rounded
    spent: dict[str, Decimal] = defaultdict(Decimal)
    with demo.EXPENSE_FILE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Billable?"] == "Yes":
                spent[row["Date"][:7]] += D(row["Amount"])
    adjustments = 2
    for day, (lines, _) in EXPECTED.items():
        regular = lines[:-adjustments] if day == date(2027, 5, 1) else lines
        for line, month, quantity, rate, amount in regular:
            if line in ROLE_OF_LINE:
                assert quantity == hours[(ROLE_OF_LINE[line], month)], (line, month)
                assert amount == quantity * rate == quantity * RATE[line]
            elif line == "expenses":
                assert amount == (spent[month] * D("1.10")).quantize(D("0.01"), ROUND_HALF_UP), month
