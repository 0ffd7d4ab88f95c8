"""Delivery-health metrics against numbers worked out by hand (see each test's comments)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from handoff.projects.domain.health import (
    MilestoneDates,
    UnbilledItem,
    WeekPoint,
    WorkEntry,
    alerts,
    estimate_at_completion,
    milestone_dates,
    project_health,
)
from handoff.projects.domain.model import Milestone, Phase, Project, ProjectRole, ProjectSettings

D = Decimal
ON = date(2027, 1, 23)  # a Saturday
# design: 10 planned days, all elapsed on ON; build: 30 days, 10 elapsed (1/3)
DESIGN = Phase("design", "Design", date(2027, 1, 4), date(2027, 1, 13), "M1", {"dev": D(40), "pm": D(10)})
BUILD = Phase("build", "Build", date(2027, 1, 14), date(2027, 2, 12), "M2", {"dev": D(120)})
PLAN = Project(
    project_id="PRJ-D-1",
    contract_id="D-1",
    customer_id="C-1",
    name="Delivery",
    currency="EUR",
    manager_email="pm@acme.example",
    owner_email="sales@acme.example",
    roles=(ProjectRole("dev", "L1", D(100), D(160)), ProjectRole("pm", "L2", D(150), D(10))),
    phases=(DESIGN, BUILD),
    milestones=(
        Milestone("M1", "Design", "L3"),
        Milestone("M2", "Build", "L3", date(2027, 2, 20)),
        Milestone("M9", "Other", "L3"),
    ),
    settings=ProjectSettings(),
    start=date(2027, 1, 4),
    end=date(2027, 2, 12),
)


def _e(role: str, day: str, h: str, phase: str = "", status: str = "approved") -> WorkEntry:
    return WorkEntry(role, date.fromisoformat(day), D(h), phase, status)


ENTRIES = [
    # design, by date: dev 8+8+8+8+8+6 = 46, pm 4+4 = 8
    *(_e("dev", d, "8") for d in ("2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08", "2027-01-11")),
    _e("dev", "2027-01-12", "6"),
    _e("pm", "2027-01-05", "4"),
    _e("pm", "2027-01-12", "4", status="submitted"),
    # build: dev 10+8*5 = 50; pm 2 booked to build by key although dated in design (no budget for pm)
    _e("dev", "2027-01-14", "10"),
    *(_e("dev", d, "8") for d in ("2027-01-15", "2027-01-18", "2027-01-19", "2027-01-20", "2027-01-21")),
    _e("pm", "2027-01-13", "2", phase="build"),
    # not counted: rejected, and after the day
    _e("dev", "2027-01-19", "5", status="rejected"),
    _e("dev", "2027-01-25", "8"),
    # outside every phase: 3 h inside the 4-week window, 1 h before it
    _e("dev", "2026-12-30", "3"),
    _e("dev", "2026-12-20", "1"),
]
MILESTONES = [
    MilestoneDates("M0", "Kick-off", date(2027, 1, 8), date(2027, 1, 7)),  # 1 day early: -1
    MilestoneDates("M1", "Design", date(2027, 1, 13), date(2027, 1, 18)),  # 5 days late
    MilestoneDates("ML", "Late one", date(2027, 1, 20), None),  # due, not accepted
    MilestoneDates("M2", "Build", date(2027, 2, 12), None),  # not due
    MilestoneDates("MX", "Unplanned", None, date(2027, 1, 30)),  # accepted after ON: not counted
]
UNBILLED = [
    UnbilledItem("time", "e-20", date(2027, 1, 20), D("800.00")),
    UnbilledItem("expense", "x-1", date(2027, 1, 10), D("250.50")),
    UnbilledItem("time", "e-25", date(2027, 1, 25), D("100.00")),  # after ON
]


def Settings(burn: str = "100", amount: str | None = "1000", days: int | None = 10) -> ProjectSettings:
    return ProjectSettings(
        burn_alert_percent=D(burn), wip_alert_amount=None if amount is None else D(amount), wip_alert_days=days
    )


def _health():  # type: ignore[no-untyped-def]
    return project_health(PLAN, ENTRIES, MILESTONES, UNBILLED, ON)


def test_eac_formula() -> None:
    # EAC = AC + (BAC - EV) / CPI, CPI = EV / AC
    assert estimate_at_completion(D(120), D(50), D(40)) == D("150.00")  # 50 + 80 * 50/40
    assert estimate_at_completion(D(100), D(30), D(40)) == D("75.00")  # under plan: 30 + 60 * 30/40
    assert estimate_at_completion(D(100), D(0), D(40)) == D("60.00")  # nothing worked: remaining as planned
    assert estimate_at_completion(D(100), D(10), D(0)) == D("110.00")  # nothing earned yet
    assert estimate_at_completion(D(40), D(46), D(40)) == D("46.00")  # finished phase: its actual


def test_plan_vs_actual_per_phase_and_role() -> None:
    h = _health()
    design, build, stray = h.phases
    assert (design.key, design.percent_complete) == ("design", D(1))
    dev, pm = design.roles
    assert (dev.role, dev.budget, dev.actual, dev.planned_to_date, dev.eac) == ("dev", 40, 46, 40, D("46.00"))
    assert dev.percent_used == D("115.00") and dev.vac == 6 and dev.vac_amount == D("600.00")
    assert (pm.actual, pm.eac, pm.vac, pm.vac_amount) == (8, 8, -2, D("-300.00"))
    assert (design.total.budget, design.total.actual, design.total.eac) == (50, 54, 54)

    assert build.percent_complete == D(10) / D(30)
    bdev, bpm = build.roles
    assert (bdev.actual, bdev.planned_to_date, bdev.eac, bdev.vac_amount) == (50, D("40.00"), 150, D("3000.00"))
    assert (bpm.role, bpm.budget, bpm.actual, bpm.eac, bpm.percent_used) == ("pm", 0, 2, 2, None)
    assert (build.total.budget, build.total.actual, build.total.eac) == (120, 52, 152)

    assert stray.key == "" and stray.start is None
    assert [(b.role, b.actual, b.eac, b.vac_amount) for b in stray.roles] == [("dev", 4, 4, D("400.00"))]


def test_project_totals_and_variance() -> None:
    t = _health().total
    assert (t.budget, t.actual, t.planned_to_date, t.eac, t.vac) == (170, 110, 90, 210, 40)
    assert t.percent_used == D("64.71")  # 110 / 170
    assert t.budget_amount == D("17500.00")  # 40*100 + 10*150 + 120*100
    assert t.eac_amount == D("21500.00")  # 46*100 + 8*150 + 150*100 + 2*150 + 4*100
    assert t.vac_amount == D("4000.00")
    assert _health().burn_percent_of_plan == D("122.22")  # 110 / 90


def test_burn_rate_and_weeks_left() -> None:
    h = _health()
    assert h.burn_rate == D("27.25")  # 109 h from 2026-12-27 to 2027-01-23, over 4 weeks
    assert h.weeks_left == D("2.20")  # (170 - 110) / 27.25


def test_milestones_rate_and_lead_time() -> None:
    h = _health()
    assert (h.milestones_due, h.milestones_accepted) == (3, 2)
    assert h.acceptance_rate == D(2) / D(3)
    assert h.lead_time_days == D(2)  # median of -1 and 5


def test_unbilled_wip() -> None:
    h = _health()
    assert (h.wip_amount, h.wip_items, h.wip_oldest, h.wip_age_days) == (D("1050.50"), 2, date(2027, 1, 10), 13)


def test_weekly_cumulative_hours() -> None:
    assert _health().weeks == (
        WeekPoint(date(2026, 12, 14), D("1.00"), D("0.00")),
        WeekPoint(date(2026, 12, 21), D("1.00"), D("0.00")),
        WeekPoint(date(2026, 12, 28), D("4.00"), D("0.00")),
        WeekPoint(date(2027, 1, 4), D("40.00"), D("35.00")),  # design 7/10 of 50
        WeekPoint(date(2027, 1, 11), D("78.00"), D("66.00")),  # 50 + 4/30 of 120
        WeekPoint(date(2027, 1, 18), D("110.00"), D("90.00")),  # through ON: 50 + 10/30 of 120
    )


def test_nothing_yet() -> None:
    h = project_health(PLAN, [], [], [], date(2027, 1, 1))
    assert (h.total.actual, h.total.eac, h.total.vac, h.burn_rate, h.weeks_left) == (0, 170, 0, 0, None)
    assert (h.acceptance_rate, h.lead_time_days, h.wip_oldest, h.burn_percent_of_plan) == (None, None, None, None)
    assert alerts(h, Settings()) == []


def test_milestone_dates_from_the_plan() -> None:
    found = milestone_dates(PLAN, {"M1": date(2027, 1, 15)})
    assert found == (
        MilestoneDates("M1", "Design", date(2027, 1, 13), date(2027, 1, 15)),  # the end of the phase naming it
        MilestoneDates("M2", "Build", date(2027, 2, 20), None),  # the plan's own date wins
        MilestoneDates("M9", "Other", None, None),
    )


def test_alerts_with_stable_keys() -> None:
    found = alerts(_health(), Settings())
    assert [(a.kind, a.key) for a in found] == [
        ("burn", "100%:2027-01"),
        ("wip_amount", "1000:2027-01"),
        ("wip_age", "10d:2027-01-10"),
    ]
    assert "122.22% of the 90.00 h planned" in found[0].message and "+4,000.00 EUR" in found[0].message
    assert "1,050.50 EUR" in found[1].message and "13 days old" in found[2].message
    # the same state a week later (same month, same oldest item): the same keys
    later = project_health(PLAN, ENTRIES, MILESTONES, UNBILLED[:2], date(2027, 1, 30))
    assert {a.key for a in alerts(later, Settings())} >= {"1000:2027-01", "10d:2027-01-10"}


def test_alerts_below_or_off() -> None:
    h = _health()
    assert alerts(h, Settings("122.22", "1050.50", 13)) == []
    assert alerts(h, Settings("1000", None, None)) == []
