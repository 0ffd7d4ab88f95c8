"""Projects on SQLite and PostgreSQL: a locked services contract opens its project; time recorded twice
changes nothing and an older version never overwrites a newer one; time posted and invoiced that is
edited or deleted afterwards becomes an adjustment of the right amount on the next invoice; approval,
closed periods, bad input (named, nothing written), expenses with markup, posting twice."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Milestone,
)
from handoff.contracts.service import contracts
from handoff.contracts.service.billing_run import run_billing
from handoff.invoicing.domain.invoices import InvoiceKind, invoice_from_json
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.projects.domain.model import ProjectError
from handoff.projects.domain.signals import AcceptanceInput, ExpenseInput, TimeEntryInput
from handoff.projects.repository.delivery import TIME_FIELDS, AlreadyStored, DeliveryRepository
from handoff.projects.service import delivery, posting, projects
from handoff.users import service as users
from handoff.users.service import Role

FINANCE = "finance@acme.example"
MANAGER = "pm@acme.example"
SALES = "sales@acme.example"
START = date(2027, 1, 1)
PID = "PRJ-C-P1"
BUYER = Customer(
    "CUST-9",
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)
T1 = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
T2 = datetime(2027, 1, 21, 9, 0, tzinfo=UTC)


def _version(contract_id: str = "C-P1", *, rate: str = "100.00") -> ContractVersion:
    terms = ContractTerms("CUST-9", "ACME-DE", "EUR", "net30", START, owner_email=MANAGER)
    tm = BillingRule(BillingKind.TIME_AND_MATERIALS)
    return ContractVersion(
        contract_id,
        1,
        START,
        terms,
        (
            ContractLine("L1", "architect", "Architecture", Decimal(100), Decimal("150.00"), tm),
            ContractLine("L2", "developer", "Development", Decimal(200), Decimal(rate), tm),
            ContractLine(
                "L3",
                "GOLIVE",
                "Go-live",
                Decimal(1),
                Decimal("5000.00"),
                BillingRule(BillingKind.MILESTONE, milestones=(Milestone("M1", "Go-live", percent=Decimal(100)),)),
            ),
        ),
    )


@pytest.fixture
def opened(ctx: AppContext) -> AppContext:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    users.add_user(ctx, MANAGER, Role.SALES, "pw-manager-12345", actor="test")
    users.add_user(ctx, SALES, Role.SALES, "pw-sales-123456", actor="test")
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-1")
    assert projects.open_projects(ctx, FINANCE) == [PID]
    return ctx


def _time(ext: str, role: str, day: date, hours: str, **kw: Any) -> TimeEntryInput:
    return TimeEntryInput(
        "harvest", ext, kw.pop("project", PID), role, kw.pop("person", "ann@acme.example"), day, Decimal(hours), **kw
    )


def _count(ctx: AppContext, table: Any, *where: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _entries(ctx: AppContext) -> dict[str, Any]:
    t = schema.time_entries
    with ctx.engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(select(t))}


def _lines(ctx: AppContext, ids: list[int]) -> list[tuple[str, Decimal, Decimal, str]]:
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        docs = conn.execute(select(inv.c.document).where(inv.c.id.in_(ids)).order_by(inv.c.id)).scalars().all()
    return [
        (ln.contract_line, ln.quantity, ln.net_amount, ln.trigger)
        for doc in docs
        for ln in invoice_from_json(doc).lines
    ]


def test_a_services_contract_opens_one_project_and_a_missing_rate_is_named(ctx: AppContext) -> None:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-1")
    contracts.lock(ctx, _version("C-P2", rate="0"), BUYER, FINANCE, "won quote Q-2")  # no rate card entry
    problems: list[ProjectError] = []
    assert projects.open_projects(ctx, FINANCE, problems=problems) == [PID]
    assert [str(p) for p in problems] == ["contract C-P2 line L2: rate for role 'developer' is missing"]
    assert projects.open_projects(ctx, FINANCE) == []  # idempotent
    view = projects.get_project(ctx, PID)
    assert {(r.role, r.line_key, r.rate) for r in view.project.roles} == {
        ("architect", "L1", Decimal("150.00")),
        ("developer", "L2", Decimal("100.00")),
    }
    assert [m.key for m in view.project.milestones] == ["M1"] and view.project.manager_email == MANAGER
    with pytest.raises(ProjectError, match="actor"):
        projects.open_projects(ctx, "nobody@acme.example")


def test_recording_the_same_time_twice_changes_nothing(opened: AppContext) -> None:
    ctx = opened
    batch = [
        _time("h-1", "architect", date(2027, 1, 4), "8", row="harvest.csv row 2"),
        _time("h-2", "developer", date(2027, 1, 4), "7.5", row="harvest.csv row 3"),
    ]
    first = delivery.record_time(ctx, batch, FINANCE, file_name="harvest.csv", sha256="ab" * 32)
    assert (first.created, first.updated, first.unchanged, first.errors) == (2, 0, 0, [])
    audits = _count(ctx, schema.audit_log)
    again = delivery.record_time(ctx, batch, FINANCE, file_name="harvest.csv")
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 2, [])
    assert _count(ctx, schema.time_entries) == 2 and _count(ctx, schema.audit_log) == audits
    assert {k: (r.hours, r.revision, r.status) for k, r in _entries(ctx).items()} == {
        "h-1": (Decimal(8), 1, "approved"),
        "h-2": (Decimal("7.5"), 1, "approved"),
    }


def test_an_older_version_arriving_late_never_overwrites_a_newer_one(opened: AppContext) -> None:
    ctx = opened
    newer = _time("h-1", "architect", date(2027, 1, 4), "5", updated_at=T2)
    older = _time("h-1", "architect", date(2027, 1, 4), "3", updated_at=T1)
    assert delivery.record_time(ctx, [newer], FINANCE).created == 1
    report = delivery.record_time(ctx, [older], FINANCE)
    assert (report.updated, report.unchanged) == (0, 1)
    later = _time("h-1", "architect", date(2027, 1, 4), "6", updated_at=datetime(2027, 1, 22, tzinfo=UTC))
    assert delivery.record_time(ctx, [later, older], FINANCE).updated == 1
    row = _entries(ctx)["h-1"]
    assert (row.hours, row.revision) == (Decimal(6), 2)


def test_edits_and_deletions_after_invoicing_become_adjustments_on_the_next_invoice(opened: AppContext) -> None:
    ctx = opened
    january = [
        _time("h-1", "architect", date(2027, 1, 11), "8", updated_at=T1),
        _time("h-2", "architect", date(2027, 1, 12), "4", updated_at=T1),
        _time("h-3", "developer", date(2027, 1, 12), "6", updated_at=T1),
        _time("h-4", "developer", date(2027, 2, 3), "5", updated_at=T1),  # after `through`: next month
    ]
    assert delivery.record_time(ctx, january, FINANCE).created == 4
    first = posting.post_delivery(ctx, date(2027, 2, 1))
    assert (first.items, first.amount, first.failures) == (2, Decimal("2400.00"), [])
    assert posting.post_delivery(ctx, date(2027, 2, 1)).items == 0  # posting twice posts nothing
    billed = run_billing(ctx, date(2027, 2, 1), "w1")
    assert sorted(_lines(ctx, billed.invoice_ids)) == [
        ("L1", Decimal(12), Decimal("1800.00"), "time"),
        ("L2", Decimal(6), Decimal("600.00"), "time"),
    ]

    changes = [
        _time("h-1", "architect", date(2027, 1, 11), "10", updated_at=T2),  # 8 -> 10 h
        _time("h-3", "developer", date(2027, 1, 12), "6", updated_at=T2, deleted=True),
    ]
    report = delivery.record_time(ctx, changes, FINANCE)
    assert (report.updated, report.deleted) == (1, 1)
    assert _count(ctx, schema.audit_log, schema.audit_log.c.action == "project.posted_time_changed") == 2
    second = posting.post_delivery(ctx, date(2027, 3, 1))
    assert posting.post_delivery(ctx, date(2027, 3, 1)).items == 0
    assert second.amount == Decimal("300.00") - Decimal("600.00") + Decimal("500.00")
    billed = run_billing(ctx, date(2027, 3, 1), "w1")
    # (the invoice shows a credit line as quantity -1 of its amount)
    assert sorted((line, net, trigger) for line, _, net, trigger in _lines(ctx, billed.invoice_ids)) == [
        ("L1", Decimal("300.00"), "time"),
        ("L2", Decimal("-600.00"), "time"),
        ("L2", Decimal("500.00"), "time"),
    ]
    rows = _entries(ctx)
    assert (rows["h-1"].posted_hours, rows["h-1"].posted_revision) == (Decimal(10), 2)
    assert (rows["h-3"].posted_hours, rows["h-3"].deleted) == (Decimal(0), True)
    dp = schema.delivery_postings
    with ctx.engine.connect() as conn:
        adjust = conn.execute(select(dp.c.period_key, dp.c.hours).where(dp.c.posting == 2).order_by(dp.c.id)).all()
    assert sorted((k, Decimal(h)) for k, h in adjust) == [
        ("time-adjust:2027-01:2", Decimal(-6)),
        ("time-adjust:2027-01:2", Decimal(2)),
        ("time:2027-02:2", Decimal(5)),
    ]


def test_with_approval_required_only_approved_time_posts(opened: AppContext) -> None:
    ctx = opened
    with pytest.raises(ProjectError, match="actor"):  # the manager approves, but only finance changes the plan
        projects.set_plan(ctx, PID, {"settings": {"approval_required": True}}, MANAGER, "needs approval")
    plan = projects.set_plan(ctx, PID, {"settings": {"approval_required": True}}, FINANCE, "client asks for it")
    assert plan.settings.approval_required and plan.plan_version == 2
    delivery.record_time(ctx, [_time("h-1", "architect", date(2027, 1, 11), "8")], FINANCE)
    assert _entries(ctx)["h-1"].status == "submitted"
    assert posting.post_delivery(ctx, date(2027, 2, 1)).items == 0
    with pytest.raises(ProjectError, match="actor"):
        delivery.approve(ctx, PID, SALES)
    assert delivery.approve(ctx, PID, MANAGER, through=date(2027, 1, 31)) == 1
    assert delivery.approve(ctx, PID, MANAGER) == 0  # nothing left to approve
    result = posting.post_delivery(ctx, date(2027, 2, 1))
    assert (result.items, result.amount) == (1, Decimal("1200.00"))
    entry_id = _entries(ctx)["h-1"].id
    assert delivery.reject(ctx, PID, FINANCE, [entry_id], "not agreed work") == 1
    reversal = posting.post_delivery(ctx, date(2027, 3, 1))
    assert reversal.amount == Decimal("-1200.00")


def test_a_closed_period_refuses_new_entries_edits_and_deletions(opened: AppContext) -> None:
    ctx = opened
    delivery.record_time(ctx, [_time("h-1", "architect", date(2027, 2, 11), "8")], FINANCE)
    with pytest.raises(ProjectError, match="actor"):
        projects.close_period(ctx, PID, date(2027, 2, 28), SALES)
    projects.close_period(ctx, PID, date(2027, 2, 28), FINANCE)
    report = delivery.record_time(
        ctx,
        [
            _time("h-2", "architect", date(2027, 2, 15), "2", row="t.csv row 2"),
            _time("h-1", "architect", date(2027, 3, 2), "8", row="t.csv row 3"),  # moved out of the closed month
            _time("h-3", "architect", date(2027, 3, 2), "1", row="t.csv row 4"),
        ],
        FINANCE,
    )
    assert [str(e) for e in report.errors] == [
        "t.csv row 2: work_date 2027-02-15 is in a closed period (closed through 2027-02-28)",
        "t.csv row 3: work_date 2027-02-11 is in a closed period (closed through 2027-02-28)",
    ]
    assert report.created == 0 and set(_entries(ctx)) == {"h-1"}
    with pytest.raises(ProjectError, match="closed_through"):
        projects.close_period(ctx, PID, date(2027, 1, 31), FINANCE)


def test_bad_records_are_each_named_and_nothing_is_written(opened: AppContext) -> None:
    ctx = opened
    batch = [
        _time("h-1", "architect", date(2027, 1, 4), "8", row="harvest.csv row 2"),
        _time("h-2", "architect", date(2027, 1, 4), "8", project="ACME-X", row="harvest.csv row 3"),
        _time("h-3", "tester", date(2027, 1, 4), "8", row="harvest.csv row 4"),
        _time("h-4", "developer", date(2027, 1, 4), "-2", row="harvest.csv row 5"),
        _time("h-5", "developer", date(2027, 1, 4), "25", row="harvest.csv row 6"),
    ]
    report = delivery.record_time(ctx, batch, FINANCE)
    assert [str(e) for e in report.errors] == [
        "harvest.csv row 3: project 'ACME-X' is unknown",
        "harvest.csv row 4: role 'tester' is not a role of project PRJ-C-P1 (architect, developer)",
        "harvest.csv row 5: hours must be above 0 (is -2)",
        "harvest.csv row 6: hours must be at most 24 (is 25)",
    ]
    assert [e.field for e in report.errors] == ["project", "role", "hours", "hours"]
    assert report.created == 0 and _count(ctx, schema.time_entries) == 0
    partial = delivery.record_time(ctx, batch, FINANCE, all_or_nothing=False)
    assert (partial.created, len(partial.errors)) == (1, 4) and _count(ctx, schema.time_entries) == 1
    with pytest.raises(ProjectError, match="actor"):
        delivery.record_time(ctx, batch, SALES)
    bad_money = delivery.record_expenses(
        ctx,
        [
            ExpenseInput("api", "x-1", PID, "ann", date(2027, 1, 5), Decimal("10"), "", "travel", row="api item 1"),
            ExpenseInput("api", "x-2", PID, "ann", date(2027, 1, 5), Decimal("10"), "EURO", "travel", row="api item 2"),
            ExpenseInput("api", "x-3", PID, "ann", date(2027, 1, 5), Decimal("0"), "EUR", "travel", row="api item 3"),
        ],
        FINANCE,
    )
    assert [(e.record, e.field) for e in bad_money.errors] == [
        ("api item 1", "currency"),
        ("api item 2", "currency"),
        ("api item 3", "amount"),
    ]
    assert _count(ctx, schema.expenses) == 0


def test_expenses_bill_with_markup_and_one_without_an_exchange_rate_waits(opened: AppContext) -> None:
    ctx = opened
    projects.set_plan(ctx, PID, {"settings": {"expense_markup_percent": "10"}}, FINANCE, "10 % handling")
    report = delivery.record_expenses(
        ctx,
        [
            ExpenseInput("harvest", "e-1", PID, "ann", date(2027, 1, 5), Decimal("100.00"), "EUR", "travel"),
            ExpenseInput("harvest", "e-2", PID, "ann", date(2027, 1, 6), Decimal("20.50"), "EUR", "meals"),
            ExpenseInput("harvest", "e-3", PID, "ann", date(2027, 1, 7), Decimal("30.00"), "XAU", "lodging"),
        ],
        FINANCE,
    )
    assert report.created == 3
    result = posting.post_delivery(ctx, date(2027, 2, 1))
    assert (result.items, result.amount) == (1, Decimal("132.55"))  # (100 + 20.50) x 1.10
    assert [s for s in result.skipped] == ["expense e-3: no exchange rate from XAU to EUR on 2027-01-07"]
    billed = run_billing(ctx, date(2027, 2, 1), "w1")
    assert _lines(ctx, billed.invoice_ids) == [("expenses", Decimal(1), Decimal("132.55"), "expense")]


def test_a_milestone_acceptance_makes_its_item_due_once(opened: AppContext) -> None:
    ctx = opened
    accepted = AcceptanceInput("api", "acc-1", PID, "M1", date(2027, 2, 10), "cfo@kestrel.example", "signed PDF")
    assert delivery.record_acceptances(ctx, [accepted], FINANCE).created == 1
    assert delivery.record_acceptances(ctx, [accepted], FINANCE).unchanged == 1
    other = AcceptanceInput("api", "acc-2", PID, "M1", date(2027, 2, 11), "cfo@kestrel.example", row="api item 1")
    assert [str(e) for e in delivery.record_acceptances(ctx, [other], FINANCE).errors] == [
        "api item 1: milestone M1 is accepted already (event api:acc-1)"
    ]
    billed = run_billing(ctx, date(2027, 2, 10), "w1")
    assert _lines(ctx, billed.invoice_ids) == [("L3", Decimal(1), Decimal("5000.00"), "milestone")]


def test_the_cap_cuts_billed_time_and_alerts_once_through_the_outbox(opened: AppContext) -> None:
    ctx = opened
    projects.set_plan(ctx, PID, {"settings": {"cap": "1000.00", "cap_alert_percent": "80"}}, FINANCE, "NTE 1,000")
    delivery.record_time(ctx, [_time("h-1", "architect", date(2027, 1, 11), "8")], FINANCE)
    result = posting.post_delivery(ctx, date(2027, 2, 1))
    (posted,) = result.projects
    assert (posted.amount, posted.over_cap_hours) == (Decimal("999.00"), Decimal("1.34"))  # 6.66 h billed
    assert sorted(a.kind for a in projects.get_project(ctx, PID).alerts) == ["cap", "cap_reached", "over_cap"]
    outbox = schema.outbox
    assert _count(ctx, outbox, outbox.c.topic == "project_alert") == 2 * len(
        ctx.config.model.notifications.task_channels
    )
    delivery.record_time(ctx, [_time("h-2", "architect", date(2027, 1, 12), "1")], FINANCE)
    again = posting.post_delivery(ctx, date(2027, 2, 1))
    assert again.amount == Decimal("0") and again.projects[0].alerts[0].startswith(f"project {PID}: 1")
    assert _count(ctx, outbox, outbox.c.topic == "project_alert") == 2 * len(
        ctx.config.model.notifications.task_channels
    )  # cap alerts are raised once


def test_a_retainer_is_funded_drawn_down_and_topped_up(opened: AppContext) -> None:
    ctx = opened
    retainer = {"hours": "10", "rate_role": "architect", "topup_below_hours": "2", "topup_hours": "10"}
    projects.set_plan(ctx, PID, {"settings": {"retainer": retainer}}, FINANCE, "prepaid hours")
    delivery.record_time(ctx, [_time("h-1", "architect", date(2027, 1, 11), "9")], FINANCE)
    result = posting.post_delivery(ctx, date(2027, 2, 1))
    assert sorted(result.projects[0].period_keys) == ["retainer-prepaid:1", "retainer-topup:1", "retainer:2027-01:1"]
    assert result.amount == Decimal("3000.00")  # 10 h prepaid + 10 h top-up at 150.00; the 9 h drawn bill 0
    assert projects.get_project(ctx, PID).retainer_hours == Decimal(11)
    assert posting.post_delivery(ctx, date(2027, 2, 1)).items == 0


def test_two_postings_at_the_same_moment_post_each_entry_once(opened: AppContext) -> None:
    ctx = opened
    delivery.record_time(ctx, [_time(f"h-{n}", "architect", date(2027, 1, 4 + n), "2") for n in range(5)], FINANCE)
    results: list[posting.PostingResult] = []
    runners = [
        threading.Thread(target=lambda: results.append(posting.post_delivery(ctx, START.replace(month=2))))
        for _ in range(2)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert sorted(r.items for r in results) == [0, 1]
    assert sum((r.amount for r in results), Decimal(0)) == Decimal("1500.00")
    assert _count(ctx, schema.delivery_postings) == 5
    si = schema.schedule_items
    assert _count(ctx, si, si.c.contract_id == "C-P1", si.c.trigger == "time") == 1


def _audits(ctx: AppContext, action: str) -> list[Any]:
    log = schema.audit_log
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(log).where(log.c.action == action).order_by(log.c.seq)))


def test_a_synced_reimport_deletes_what_the_file_left_out_and_credits_it(opened: AppContext) -> None:
    ctx = opened
    export = [
        _time("h-1", "architect", date(2027, 1, 11), "8", row="harvest.csv row 2"),
        _time("h-2", "architect", date(2027, 1, 12), "4", row="harvest.csv row 3"),
        _time("h-3", "developer", date(2027, 1, 12), "6", row="harvest.csv row 4"),
        _time("h-4", "developer", date(2027, 1, 20), "5", row="harvest.csv row 5"),
    ]
    assert delivery.record_time(ctx, export, FINANCE, file_name="harvest.csv").created == 4
    assert posting.post_delivery(ctx, date(2027, 2, 1)).amount == Decimal("2900.00")  # 12 h x 150 + 11 h x 100
    (february,) = run_billing(ctx, date(2027, 2, 1), "w1").invoice_ids
    issue_draft(ctx, february, FINANCE, on=date(2027, 2, 1))  # a credit corrects an issued invoice

    without_h3 = [e for e in export if e.external_id != "h-3"]
    plain = delivery.record_time(ctx, without_h3, FINANCE, file_name="harvest.csv")  # no sync: says nothing
    assert (plain.unchanged, plain.deleted) == (3, 0) and not _entries(ctx)["h-3"].deleted

    scope = delivery.SyncScope.of(without_h3, "harvest.csv")
    assert (scope.source, scope.projects, scope.first_day, scope.last_day) == (
        "harvest",
        frozenset({PID}),
        date(2027, 1, 11),
        date(2027, 1, 20),
    )
    synced = delivery.record_time(ctx, without_h3, FINANCE, file_name="harvest.csv", sync=scope)
    assert (synced.created, synced.updated, synced.unchanged, synced.deleted, synced.errors) == (0, 0, 3, 1, [])
    rows = _entries(ctx)
    assert (rows["h-3"].deleted, rows["h-3"].revision) == (True, 2)
    assert not any(rows[k].deleted for k in ("h-1", "h-2", "h-4"))
    batch_audit = _audits(ctx, "project.time_recorded")[-1]
    assert batch_audit.after["sync"]["deleted_ids"] == ["h-3"] and batch_audit.after["deleted"] == 1
    assert "1 deleted" in batch_audit.reason
    assert len(_audits(ctx, "project.posted_time_changed")) == 1  # posted already: audited on its own
    again = delivery.record_time(ctx, without_h3, FINANCE, file_name="harvest.csv", sync=scope)
    assert (again.unchanged, again.deleted) == (3, 0)  # the same sync again changes nothing

    credit = posting.post_delivery(ctx, date(2027, 3, 1))
    assert credit.amount == Decimal("-600.00")
    billed = run_billing(ctx, date(2027, 3, 1), "w1")
    assert billed.failures == [] and _lines(ctx, billed.invoice_ids) == [("L2", Decimal(1), Decimal("600.00"), "time")]
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        (doc,) = conn.execute(select(inv.c.document).where(inv.c.id.in_(billed.invoice_ids))).scalars().all()
    credit_note = invoice_from_json(doc)
    assert credit_note.kind is InvoiceKind.CREDIT_NOTE and credit_note.corrects


def test_a_sync_deletes_nothing_outside_its_days_source_or_projects(opened: AppContext) -> None:
    ctx = opened
    delivery.record_time(
        ctx,
        [
            _time("h-1", "architect", date(2027, 1, 11), "8"),
            _time("h-2", "architect", date(2027, 1, 12), "4"),
            _time("h-3", "developer", date(2027, 1, 20), "6"),  # after the narrower file's last day
            _time("h-0", "developer", date(2027, 1, 4), "6"),  # before its first
            TimeEntryInput("toggl", "t-1", PID, "developer", "bo", date(2027, 1, 12), Decimal(2)),  # another source
        ],
        FINANCE,
    )
    narrower = [_time("h-1", "architect", date(2027, 1, 11), "8"), _time("h-9", "architect", date(2027, 1, 12), "1")]
    report = delivery.record_time(ctx, narrower, FINANCE, sync=delivery.SyncScope.of(narrower, "week.csv"))
    assert (report.created, report.unchanged, report.deleted) == (1, 1, 1)
    assert {k for k, r in _entries(ctx).items() if r.deleted} == {"h-2"}  # only the day the file covers

    # a scope given explicitly: all of January, for this one project
    scope = delivery.SyncScope("harvest", frozenset({PID}), date(2027, 1, 1), date(2027, 1, 31), "january.csv")
    assert delivery.record_time(ctx, narrower, FINANCE, sync=scope).deleted == 2  # h-0 and h-3
    assert {k for k, r in _entries(ctx).items() if r.deleted} == {"h-0", "h-2", "h-3"}  # t-1 is toggl's


def test_a_sync_is_refused_whole_for_a_closed_day_another_source_or_an_unknown_project(opened: AppContext) -> None:
    ctx = opened
    delivery.record_time(
        ctx,
        [_time("h-1", "architect", date(2027, 1, 11), "8"), _time("h-2", "architect", date(2027, 2, 3), "4")],
        FINANCE,
    )
    projects.close_period(ctx, PID, date(2027, 1, 31), FINANCE)
    february = [_time("h-3", "architect", date(2027, 2, 4), "1", row="feb.csv row 2")]
    scope = delivery.SyncScope("harvest", frozenset({PID}), date(2027, 1, 1), date(2027, 2, 28), "feb.csv")
    report = delivery.record_time(ctx, february, FINANCE, sync=scope)
    assert [str(e) for e in report.errors] == [
        "harvest time entry h-1 (not in feb.csv): work_date 2027-01-11 is in a closed period "
        "(closed through 2027-01-31)"
    ]
    assert (report.created, report.deleted) == (0, 0) and set(_entries(ctx)) == {"h-1", "h-2"}  # nothing written

    mixed = [
        *february,
        TimeEntryInput("toggl", "t-1", PID, "architect", "bo", date(2027, 2, 4), Decimal(1), row="feb.csv row 3"),
    ]
    with pytest.raises(delivery.SignalError, match=r"feb\.csv row 3: source is 'toggl'"):
        delivery.SyncScope.of(mixed)
    refused = delivery.record_time(ctx, mixed, FINANCE, sync=delivery.SyncScope.of(february))
    assert [(e.record, e.field) for e in refused.errors] == [("feb.csv row 3", "source")]
    unknown = delivery.SyncScope("harvest", frozenset({"ACME-X"}), date(2027, 2, 1), date(2027, 2, 28), "feb.csv")
    assert [str(e) for e in delivery.record_time(ctx, february, FINANCE, sync=unknown).errors] == [
        "feb.csv: projects 'ACME-X' is unknown"
    ]
    stray = [_time("h-5", "architect", date(2027, 2, 4), "1", project="ACME-X", row="feb.csv row 2")]
    named_once = delivery.record_time(ctx, stray, FINANCE, sync=delivery.SyncScope.of(stray))
    assert [str(e) for e in named_once.errors] == ["feb.csv row 2: project 'ACME-X' is unknown"]
    assert set(_entries(ctx)) == {"h-1", "h-2"} and not _entries(ctx)["h-2"].deleted
    ok = delivery.record_time(ctx, february, FINANCE, sync=delivery.SyncScope.of(february, "feb.csv"))
    assert (ok.created, ok.deleted) == (1, 0)  # h-2 (3 Feb) is before the file's first day (4 Feb)


def test_a_new_row_stored_meanwhile_is_refused_as_already_stored(opened: AppContext) -> None:
    """The repository's bulk insert (COPY on PostgreSQL) reports a unique key refusing a row as
    AlreadyStored, and its transaction writes nothing."""
    ctx = opened
    delivery.record_time(ctx, [_time("h-1", "architect", date(2027, 1, 11), "8")], FINANCE)
    (stored,) = _entries(ctx).values()
    row = {c: getattr(stored, c) for c in TIME_FIELDS if c != "id"}
    fresh = {**row, "external_id": "h-2"}
    with pytest.raises(AlreadyStored), ctx.unit_of_work() as uow:
        uow.repository(DeliveryRepository).add_time([fresh, row])
    assert set(_entries(ctx)) == {"h-1"}
    with ctx.unit_of_work() as uow:
        uow.repository(DeliveryRepository).add_time([fresh])
        uow.commit()
    again = _entries(ctx)["h-2"]
    assert (again.hours, again.recorded_at, again.billable, again.posted_month) == (
        Decimal(8),
        stored.recorded_at,
        True,
        None,
    )
