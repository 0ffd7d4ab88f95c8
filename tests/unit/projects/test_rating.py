"""The rating rules against hand-computed numbers: rounding, grouping, adjustments, cap, expenses, retainer."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.projects.domain.model import Project, ProjectError, Retainer, project_from_contract
from handoff.projects.domain.rating import (
    EntryState,
    ExpenseState,
    PostingPlan,
    rate_delivery,
    round_hours,
)

D = Decimal
START = date(2027, 1, 1)
THROUGH = date(2027, 2, 15)


def make_project(developer_rate: str = "95.00", **settings: Any) -> Project:
    lines = (
        ContractLine("L1", "architect", "Architect", D(100), D(150), BillingRule(BillingKind.TIME_AND_MATERIALS)),
        ContractLine("L2", "developer", "Developer", D(200), D(0), BillingRule(BillingKind.TIME_AND_MATERIALS)),
    )
    terms = ContractTerms("CUST-1", "acme-de", "EUR", "net30", START, owner_email="owner@example.com")
    project = project_from_contract(ContractVersion("C-1", 1, START, terms, lines), {"developer": D(developer_rate)})
    return replace(project, settings=replace(project.settings, **settings))


def entry(id: int, hours: str, day: date = date(2027, 1, 12), role: str = "architect", **changes: Any) -> EntryState:
    base = EntryState(
        id=id,
        external_id=f"h-{id}",
        source="harvest",
        role=role,
        person="ana@example.com",
        work_date=day,
        hours=D(hours),
        notes=f"work {id}",
    )
    return replace(base, **changes)


def posted(e: EntryState, billed: str, *, drawn: str = "0", rate: str = "150", **changes: Any) -> EntryState:
    """`e` as posted at revision 1 with `billed` hours billed, then changed to `changes` at revision 2."""
    at_one = replace(
        e,
        posted_revision=1,
        posted_hours=D(billed),
        posted_amount=D(billed) * D(rate),
        posted_drawn_hours=D(drawn),
        posted_role=e.role,
        posted_month=e.work_date.replace(day=1),
    )
    return replace(at_one, revision=2, **changes) if changes else replace(at_one, revision=2)


def items(plan: PostingPlan) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    return [(i.line_key, i.period_key, i.quantity, i.unit_price, i.amount) for i in plan.items]


def test_one_item_per_role_and_month_with_descriptions_a_finance_person_reads() -> None:
    entries = [
        entry(1, "3.1"),
        entry(2, "4.2", date(2027, 1, 20)),
        entry(3, "8", role="developer"),
        entry(4, "2", date(2027, 2, 3)),
        entry(5, "5", THROUGH),  # on `through`: not yet
    ]
    plan = rate_delivery(make_project(), entries, number=3, through=THROUGH)
    assert items(plan) == [
        ("L1", "time:2027-01:3", D("7.3"), D(150), D("1095.00")),
        ("L2", "time:2027-01:3", D(8), D("95.00"), D("760.00")),
        ("L1", "time:2027-02:3", D(2), D(150), D("300.00")),
    ]
    first = plan.items[0]
    assert first.description == "Architect, January 2027: 7.30 h at 150.00"
    assert first.note == "project PRJ-C-1: 2 time entries (harvest), January 2027"
    assert (first.period_start, first.period_end, first.bill_date) == (START, date(2027, 2, 1), THROUGH)
    assert plan.items[2].period_end == THROUGH  # the month is not over yet
    assert (first.trigger, first.supply, first.tax_category, first.product) == (
        "time",
        "services",
        "standard",
        "architect",
    )
    assert [(r.day, r.quantity, r.amount, r.reference, r.role) for r in first.detail] == [
        (date(2027, 1, 12), D("3.1"), D("465.00"), "h-1", "architect"),
        (date(2027, 1, 20), D("4.2"), D("630.00"), "h-2", "architect"),
    ]
    by_id = {p.entry_id: p for p in plan.postings}
    assert set(by_id) == {1, 2, 3, 4}
    assert (by_id[3].hours, by_id[3].amount, by_id[3].period_key, by_id[3].line_key) == (
        D(8),
        D("760.00"),
        "time:2027-01:3",
        "L2",
    )
    assert plan.time_amount == D("2155.00") and plan.total == D("2155.00")


def test_rounding_per_entry_up_and_nearest() -> None:
    assert round_hours(D("3.1"), D("0.25"), "up") == D("3.25")
    assert round_hours(D("3.1"), D("0.25"), "nearest") == D("3.00")
    assert round_hours(D("3.125"), D("0.25"), "nearest") == D("3.25")  # half up
    assert round_hours(D("3.0"), D("0.25"), "up") == D("3.00")
    assert round_hours(D("0.01"), D("0.1"), "up") == D("0.1")
    assert round_hours(D("3.1"), D(0), "up") == D("3.1")
    up = rate_delivery(
        make_project(rounding_increment=D("0.25")), [entry(1, "3.1"), entry(2, "4.2")], number=1, through=THROUGH
    )
    assert items(up) == [("L1", "time:2027-01:1", D("7.50"), D(150), D("1125.00"))]  # 3.25 + 4.25
    nearest = rate_delivery(
        make_project(rounding_increment=D("0.25"), rounding="nearest"),
        [entry(1, "3.1"), entry(2, "4.2")],
        number=1,
        through=THROUGH,
    )
    assert items(nearest) == [("L1", "time:2027-01:1", D("7.25"), D(150), D("1087.50"))]  # 3.00 + 4.25


def test_group_amount_rounds_half_up_once_per_group() -> None:
    plan = rate_delivery(
        make_project(developer_rate="100.05"), [entry(1, "0.5", role="developer")], number=1, through=THROUGH
    )
    assert plan.items[0].amount == D("50.03")  # 50.025 half-up (banker's rounding would give 50.02)
    plan = rate_delivery(
        make_project(developer_rate="100.05"),
        [entry(1, "0.5", role="developer"), entry(2, "0.5", role="developer")],
        number=1,
        through=THROUGH,
    )
    assert plan.items[0].amount == D("100.05")  # not 2 x 50.03


def test_work_that_does_not_bill_gives_no_item_and_no_record() -> None:
    entries = [
        entry(1, "2", billable=False),
        entry(2, "2", status="rejected"),
        entry(3, "2", deleted=True),
        entry(4, "2", status="submitted"),  # approval required: waits
    ]
    plan = rate_delivery(make_project(approval_required=True), entries, number=1, through=THROUGH)
    assert plan.items == [] and plan.postings == []
    # without approval required, submitted work is approved on arrival
    plan = rate_delivery(make_project(), entries, number=1, through=THROUGH)
    assert items(plan) == [("L1", "time:2027-01:1", D(2), D(150), D("300.00"))]


def test_unknown_role_is_an_error_naming_it() -> None:
    with pytest.raises(ProjectError, match="project PRJ-C-1: role 'tester' is unknown"):
        rate_delivery(make_project(), [entry(1, "2", role="tester")], number=1, through=THROUGH)


def test_edit_and_deletion_after_invoicing_become_adjustments() -> None:
    edited = posted(entry(1, "4"), "4", hours=D(2))
    deleted = posted(entry(2, "3", date(2027, 1, 20)), "3", deleted=True)
    notes_only = posted(entry(3, "1"), "1", notes="fixed a typo")
    plan = rate_delivery(make_project(), [edited, deleted, notes_only], number=4, through=date(2027, 3, 1))
    assert items(plan) == [("L1", "time-adjust:2027-01:4", D(-5), D(150), D("-750.00"))]
    item = plan.items[0]
    assert (
        item.description == "Adjustment: Architect, January 2027: -5.00 h (entries deleted and edited after invoicing)"
    )
    assert [(r.reference, r.quantity, r.amount) for r in item.detail] == [
        ("h-1", D(-2), D("-300.00")),
        ("h-2", D(-3), D("-450.00")),
    ]
    by_id = {p.entry_id: p for p in plan.postings}
    assert (by_id[1].revision, by_id[1].hours, by_id[1].amount) == (2, D(2), D(300))
    assert (by_id[2].hours, by_id[2].amount) == (D(0), D(0))
    assert (by_id[3].revision, by_id[3].period_key, by_id[3].parts) == (2, "", ())  # recorded, nothing billed
    assert [(p.period_key, p.hours) for p in by_id[1].parts] == [("time-adjust:2027-01:4", D(-2))]


def test_single_edit_reads_like_the_spec() -> None:
    plan = rate_delivery(make_project(), [posted(entry(1, "4"), "4", hours=D(2))], number=4, through=date(2027, 3, 1))
    assert plan.items[0].description == "Adjustment: Architect, January 2027: -2.00 h (entries edited after invoicing)"
    plan = rate_delivery(make_project(), [posted(entry(1, "4"), "4", hours=D(5))], number=4, through=date(2027, 3, 1))
    assert items(plan) == [("L1", "time-adjust:2027-01:4", D(1), D(150), D("150.00"))]


def test_moved_to_another_month_or_role_reverses_and_reposts() -> None:
    moved = posted(entry(1, "4"), "4", work_date=date(2027, 2, 2))
    recast = posted(entry(2, "2"), "2", role="developer")
    rejected = posted(entry(3, "1"), "1", status="rejected")
    plan = rate_delivery(make_project(), [moved, recast, rejected], number=5, through=date(2027, 3, 1))
    assert items(plan) == [
        ("L1", "time-adjust:2027-01:5", D(-7), D(150), D("-1050.00")),
        ("L2", "time-adjust:2027-01:5", D(2), D("95.00"), D("190.00")),
        ("L1", "time-adjust:2027-02:5", D(4), D(150), D("600.00")),
    ]
    assert "moved and rejected" in plan.items[0].description
    by_id = {p.entry_id: p for p in plan.postings}
    assert (by_id[1].month, by_id[1].hours, by_id[1].period_key) == (date(2027, 2, 1), D(4), "time-adjust:2027-02:5")
    assert (by_id[2].role, by_id[2].line_key, by_id[2].amount) == ("developer", "L2", D("190.00"))


def test_posted_entries_fed_back_post_nothing() -> None:
    project = make_project()
    entries = [entry(1, "3"), entry(2, "2", role="developer")]
    plan = rate_delivery(project, entries, number=1, through=THROUGH)
    state = {e.id: e for e in entries}
    for p in plan.postings:
        state[p.entry_id] = replace(
            state[p.entry_id],
            posted_revision=p.revision,
            posted_hours=p.hours,
            posted_amount=p.amount,
            posted_role=p.role,
            posted_month=p.month,
        )
    again = rate_delivery(project, list(state.values()), number=2, through=THROUGH)
    assert again.items == [] and again.postings == []


def test_cap_cuts_the_crossing_group_and_alerts() -> None:
    project = make_project(cap=D(1000))
    plan = rate_delivery(
        project,
        [entry(1, "1.5"), entry(2, "1.5", date(2027, 1, 13))],
        number=2,
        through=THROUGH,
        posted_time_amount=D(700),
    )
    assert items(plan) == [("L1", "time:2027-01:2", D("2.00"), D(150), D("300.00"))]
    assert plan.items[0].description == (
        "Architect, January 2027: 2.00 h at 150.00, capped at not-to-exceed 1,000.00: 1.00 h not billed"
    )
    assert [(o.role, o.hours, o.amount) for o in plan.over_cap] == [("architect", D("1.00"), D("150.00"))]
    by_id = {p.entry_id: p for p in plan.postings}
    assert (by_id[1].hours, by_id[1].over_cap_hours) == (D("1.5"), D(0))
    assert (by_id[2].hours, by_id[2].over_cap_hours) == (D("0.50"), D("1.00"))
    assert [(a.kind, a.key) for a in plan.alerts] == [("cap", "80"), ("cap_reached", "100")]
    assert "115 % of the not-to-exceed 1,000.00 EUR" in plan.alerts[0].message


def test_cap_alert_counts_approved_work_not_yet_posted() -> None:
    project = make_project(cap=D(1000))
    plan = rate_delivery(project, [entry(1, "1.5", THROUGH)], number=2, through=THROUGH, posted_time_amount=D(600))
    assert plan.items == []
    assert [(a.kind, a.key) for a in plan.alerts] == [("cap", "80")]  # 600 + 225 = 82.5 %
    plan = rate_delivery(project, [entry(1, "1", THROUGH)], number=2, through=THROUGH, posted_time_amount=D(600))
    assert plan.alerts == []  # 750 = 75 %


def test_a_negative_adjustment_frees_room_under_the_cap() -> None:
    project = make_project(cap=D(1000))
    entries = [posted(entry(1, "4"), "4", hours=D(2)), entry(2, "1", date(2027, 2, 1))]
    plan = rate_delivery(project, entries, number=3, through=THROUGH, posted_time_amount=D(1000))
    assert items(plan) == [
        ("L1", "time-adjust:2027-01:3", D(-2), D(150), D("-300.00")),
        ("L1", "time:2027-02:3", D(1), D(150), D("150.00")),
    ]
    assert plan.over_cap == []


def expense(id: int, amount: str, **changes: Any) -> ExpenseState:
    base = ExpenseState(
        id=id,
        external_id=f"x-{id}",
        source="harvest",
        person="ana@example.com",
        spent_on=date(2027, 1, 14),
        amount=D(amount),
        currency="EUR",
        converted_amount=D(amount),
        category="travel",
        receipt_ref=f"r-{id}",
    )
    return replace(base, **changes)


def test_expenses_one_item_per_month_and_tax_category_with_markup() -> None:
    expenses = [
        expense(1, "100.00"),
        expense(2, "23.45", category="meals"),
        expense(3, "55.00", currency="USD", converted_amount=D("50.00")),
        expense(4, "40.00", tax_category="reduced", category="books"),
        expense(5, "10.00", currency="CHF", converted_amount=None),
    ]
    plan = rate_delivery(make_project(expense_markup_percent=D(10)), [], expenses, number=3, through=THROUGH)
    assert items(plan) == [
        ("expenses", "expenses:2027-01:3", D(1), D("190.80"), D("190.80")),  # 173.45 x 1.10 = 190.795
        ("expenses", "expenses:2027-01:3:reduced", D(1), D("44.00"), D("44.00")),
    ]
    first = plan.items[0]
    assert first.description == "Expenses, January 2027: 3 expenses (meals, travel), incl. 10 % markup"
    assert first.trigger == "expense" and plan.items[1].tax_category == "reduced"
    assert [(r.reference, r.amount, r.description) for r in first.detail] == [
        ("r-1", D("110.00"), "travel"),
        ("r-2", D("25.80"), "meals"),
        ("r-3", D("55.00"), "travel (55.00 USD)"),
    ]
    assert [(s.expense_id, s.reason) for s in plan.skipped] == [
        (5, "expense x-5: no exchange rate from CHF to EUR on 2027-01-14")
    ]
    assert {p.entry_id for p in plan.postings} == {1, 2, 3, 4}
    assert plan.time_amount == D(0)


def test_expense_edit_after_invoicing_is_an_adjustment() -> None:
    before = replace(expense(1, "100.00"), posted_revision=1, posted_amount=D("110.00"), revision=2)
    plan = rate_delivery(
        make_project(expense_markup_percent=D(10)),
        [],
        [replace(before, amount=D(80), converted_amount=D(80))],
        number=4,
        through=date(2027, 3, 1),
    )
    assert items(plan) == [("expenses", "expenses-adjust:2027-01:4", D(1), D("-22.00"), D("-22.00"))]
    assert plan.items[0].description.startswith("Adjustment: Expenses, January 2027: -22.00 (1 expense edited")
    assert plan.postings[0].amount == D("88.0")


def test_retainer_funds_draws_bills_the_rest_and_tops_up() -> None:
    project = make_project(retainer=Retainer(D(10), "architect", D(4), D(10)))
    plan = rate_delivery(project, [entry(1, "6"), entry(2, "6", date(2027, 1, 13))], number=1, through=THROUGH)
    assert items(plan) == [
        ("retainer", "retainer-prepaid:1", D(10), D(150), D("1500.00")),
        ("L1", "time:2027-01:1", D(2), D(150), D("300.00")),
        ("retainer", "retainer:2027-01:1", D(10), D(0), D(0)),
        ("retainer", "retainer-topup:1", D(10), D(150), D("1500.00")),
    ]
    assert plan.retainer_balance == D(10)
    assert plan.items[2].description == "Retainer, January 2027: 10.00 h drawn from retainer (0.00 h left)"
    assert plan.items[3].description == "Retainer top-up: 10.00 h at 150.00 (balance 0.00 h)"
    by_id = {p.entry_id: p for p in plan.postings}
    assert (by_id[1].drawn_hours, by_id[1].hours) == (D(6), D(0))
    assert (by_id[2].drawn_hours, by_id[2].hours) == (D(4), D(2))


def test_retainer_balance_above_threshold_draws_without_top_up() -> None:
    project = make_project(retainer=Retainer(D(10), "architect", D(4), D(10)))
    plan = rate_delivery(project, [entry(1, "3")], number=2, through=THROUGH, retainer_balance=D(8))
    assert items(plan) == [("retainer", "retainer:2027-01:2", D(3), D(0), D(0))]
    assert plan.retainer_balance == D(5)


def test_retainer_hours_come_back_when_a_drawn_entry_shrinks() -> None:
    project = make_project(retainer=Retainer(D(10), "architect", D(1), D(10)))
    shrunk = posted(entry(1, "5"), "1", drawn="4", hours=D(2))  # 4 drawn + 1 billed, now 2 h
    plan = rate_delivery(project, [shrunk], number=3, through=THROUGH, retainer_balance=D(3))
    assert items(plan) == [
        ("L1", "time-adjust:2027-01:3", D(-1), D(150), D("-150.00")),
        ("retainer", "retainer:2027-01:3", D(-2), D(0), D(0)),
    ]
    assert plan.retainer_balance == D(5)
    assert "returned to retainer" in plan.items[1].description
    (p,) = plan.postings
    assert (p.hours, p.drawn_hours) == (D(0), D(2))
