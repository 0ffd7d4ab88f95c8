"""Delivery health of a project, as of a day: pure arithmetic over the plan and the work done.

- **Plan vs actual** per phase and role: the budget hours, the hours worked (every entry not
  rejected or deleted, billable or not: effort burns the budget either way), the plan to date
  (the budget spread evenly over the phase's planned days, inclusive), the percent of budget used.
- **Estimate at completion**, the earned-value formula "EAC with the cost performance index"
  (PMBOK: EAC = AC + (BAC - EV) / CPI): per phase and role,
  `earned = budget x percent complete`, where percent complete is the share of the phase's planned
  days elapsed (we have no progress reports, so elapsed planned time is the honest proxy),
  `CPI = earned / actual`, and `EAC = actual + (budget - earned) / CPI`: the remaining plan costs
  what the work so far cost per planned hour. With no hours yet, or nothing earned yet, there is no
  cost performance to scale by, so the remaining plan is taken as planned (`EAC = actual + budget -
  earned`); a finished phase's EAC is its actual hours. Variance at completion `VAC = EAC - budget`
  (positive: over budget), in hours and at the roles' rates.
- **Burn rate**: hours worked in the 28 days ending on the day, divided by 4 (hours per week), and the
  weeks of budget left at that rate.
- **Milestones**: acceptance rate (accepted by the day / planned by the day: a milestone's planned
  date is the plan's, else the end of the phase that names it) and the median lead time (days from
  planned date to acceptance; negative when accepted early).
- **Unbilled WIP**: approved work not yet posted or billed, its amount and the age of the oldest item.

`alerts` turns a health into the alerts to raise, each with a stable key (see `Alert`), so the
service raises each once.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from handoff.kernel.money import ZERO, round2
from handoff.projects.domain.model import Phase, Project, ProjectSettings

HOURS = Decimal("0.01")
BURN_WINDOW_DAYS = 28
UNPLANNED = ""  # the phase of hours no phase of the plan holds
REJECTED = "rejected"


def hours(value: Decimal) -> Decimal:
    """Hours as shown and compared: two decimals, half up."""
    return value.quantize(HOURS, rounding=ROUND_HALF_UP)


# -- inputs -----------------------------------------------------------------------------------------


def percent_complete(phase: Phase, on: date) -> Decimal:
    """Share of the phase's planned days (start to end, inclusive) elapsed by the end of `on` (0..1)."""
    if on < phase.start:
        return ZERO
    days = max((phase.end - phase.start).days + 1, 1)
    return Decimal((min(on, phase.end) - phase.start).days + 1) / Decimal(days)


@dataclass(frozen=True, slots=True)
class WorkEntry:
    """A time entry as health sees it (deleted ones left out by the caller)."""

    role: str
    work_date: date
    hours: Decimal
    phase: str = ""  # the entry's phase key; "" = the phase whose dates hold work_date
    status: str = "approved"  # submitted | approved | rejected


@dataclass(frozen=True, slots=True)
class MilestoneDates:
    """A milestone: its planned date (None: no phase names it) and when it was accepted (None: not yet)."""

    key: str
    name: str
    planned: date | None
    accepted: date | None = None


@dataclass(frozen=True, slots=True)
class UnbilledItem:
    """Approved work not yet billed: a time entry at its role's rate or an expense, with its day."""

    kind: str  # time | expense
    reference: str
    day: date
    amount: Decimal


# -- outputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burn:
    """Plan vs actual of one role in one phase (or of a whole phase / project, `role` "")."""

    role: str
    budget: Decimal
    actual: Decimal
    planned_to_date: Decimal  # = earned: budget x percent complete
    eac: Decimal
    budget_amount: Decimal
    eac_amount: Decimal

    @property
    def percent_used(self) -> Decimal | None:
        """Actual as a percent of the budget (None: no budget)."""
        return hours(self.actual * 100 / self.budget) if self.budget else None

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.actual

    @property
    def vac(self) -> Decimal:
        """Variance at completion in hours: EAC - budget (positive: over budget)."""
        return self.eac - self.budget

    @property
    def vac_amount(self) -> Decimal:
        return self.eac_amount - self.budget_amount


@dataclass(frozen=True, slots=True)
class PhaseHealth:
    key: str
    name: str
    start: date | None
    end: date | None
    percent_complete: Decimal  # elapsed planned time, 0..1
    total: Burn
    roles: tuple[Burn, ...]


@dataclass(frozen=True, slots=True)
class WeekPoint:
    """Cumulative hours at the end of a week (Monday `week`): worked, and planned by then."""

    week: date
    actual: Decimal
    planned: Decimal


@dataclass(frozen=True, slots=True)
class ProjectHealth:
    project_id: str
    on: date
    currency: str
    total: Burn
    phases: tuple[PhaseHealth, ...]
    burn_rate: Decimal  # hours per week over the last 4 weeks
    weeks_left: Decimal | None  # budget left / burn rate; None when nothing burns
    milestones: tuple[MilestoneDates, ...]
    milestones_due: int
    milestones_accepted: int  # of those due
    lead_time_days: Decimal | None  # median, of milestones accepted by `on`
    wip_amount: Decimal
    wip_items: int
    wip_oldest: date | None
    weeks: tuple[WeekPoint, ...]

    @property
    def acceptance_rate(self) -> Decimal | None:
        """Milestones accepted / planned by the day (None: none due yet)."""
        return Decimal(self.milestones_accepted) / Decimal(self.milestones_due) if self.milestones_due else None

    @property
    def wip_age_days(self) -> int | None:
        return (self.on - self.wip_oldest).days if self.wip_oldest else None

    @property
    def burn_percent_of_plan(self) -> Decimal | None:
        """Hours worked as a percent of the plan to date (None: nothing planned yet)."""
        planned = self.total.planned_to_date
        return hours(self.total.actual * 100 / planned) if planned else None


# -- the arithmetic ---------------------------------------------------------------------------------


def estimate_at_completion(budget: Decimal, actual: Decimal, earned: Decimal) -> Decimal:
    """EAC = AC + (BAC - EV) / CPI with CPI = EV / AC; the remaining plan as planned when there is
    no cost performance yet (AC or EV zero). Hours, two decimals."""
    remaining = budget - earned
    if actual > 0 and earned > 0:
        return hours(actual + remaining * actual / earned)
    return hours(actual + remaining)


def phase_of(entry: WorkEntry, phases: Sequence[Phase]) -> str:
    """The entry's phase key: its own when the plan has it, else the phase holding its day, else ""."""
    keys = {p.key for p in phases}
    if entry.phase in keys:
        return entry.phase
    for p in phases:
        if p.start <= entry.work_date <= p.end:
            return p.key
    return UNPLANNED


def _burn(role: str, budget: Decimal, actual: Decimal, earned: Decimal, rate: Decimal) -> Burn:
    eac = estimate_at_completion(budget, actual, earned)
    return Burn(role, hours(budget), hours(actual), hours(earned), eac, round2(budget * rate), round2(eac * rate))


def _sum(role: str, parts: Iterable[Burn]) -> Burn:
    items = list(parts)
    return Burn(
        role,
        sum((b.budget for b in items), ZERO),
        sum((b.actual for b in items), ZERO),
        sum((b.planned_to_date for b in items), ZERO),
        sum((b.eac for b in items), ZERO),
        sum((b.budget_amount for b in items), ZERO),
        sum((b.eac_amount for b in items), ZERO),
    )


def _weeks(project: Project, counted: Sequence[WorkEntry], on: date) -> tuple[WeekPoint, ...]:
    """Cumulative actual and planned hours at the end of each week (Monday to Sunday) from the
    first planned or worked day through the week holding `on`."""
    starts = [p.start for p in project.phases] + [e.work_date for e in counted]
    if not starts:
        return ()
    week = min(starts) - timedelta(days=min(starts).weekday())
    points = []
    while week <= on:
        last = min(week + timedelta(days=6), on)
        actual = sum((e.hours for e in counted if e.work_date <= last), ZERO)
        planned = sum(
            (p.budget_hours * percent_complete(p, last) for p in project.phases),
            ZERO,
        )
        points.append(WeekPoint(week, hours(actual), hours(planned)))
        week += timedelta(days=7)
    return tuple(points)


def project_health(
    project: Project,
    entries: Iterable[WorkEntry],
    milestones: Iterable[MilestoneDates],
    unbilled: Iterable[UnbilledItem],
    on: date,
) -> ProjectHealth:
    """The project's delivery health as of the end of `on` (work dated later is not counted)."""
    counted = [e for e in entries if e.status != REJECTED and e.work_date <= on]
    worked: dict[tuple[str, str], Decimal] = {}
    for e in counted:
        key = (phase_of(e, project.phases), e.role)
        worked[key] = worked.get(key, ZERO) + e.hours
    phases: list[PhaseHealth] = []
    rates = {r.role: r.rate for r in project.roles}
    for p in project.phases:
        done = percent_complete(p, on)
        # in the project's role order (a stored plan's budget keys may come back in any order)
        here = set(p.budget) | {r for (k, r) in worked if k == p.key}
        roles = [r for r in rates if r in here] + sorted(here - set(rates))
        burns = tuple(
            _burn(
                r, p.budget.get(r, ZERO), worked.get((p.key, r), ZERO), p.budget.get(r, ZERO) * done, rates.get(r, ZERO)
            )
            for r in roles
        )
        phases.append(PhaseHealth(p.key, p.name, p.start, p.end, done, _sum("", burns), burns))
    stray = sorted(r for (k, r) in worked if k == UNPLANNED)
    if stray:
        burns = tuple(_burn(r, ZERO, worked[(UNPLANNED, r)], ZERO, rates.get(r, ZERO)) for r in stray)
        phases.append(PhaseHealth(UNPLANNED, "outside the plan's phases", None, None, ZERO, _sum("", burns), burns))
    total = _sum("", (ph.total for ph in phases))

    window_start = on - timedelta(days=BURN_WINDOW_DAYS - 1)
    recent = sum((e.hours for e in counted if e.work_date >= window_start), ZERO)
    burn_rate = hours(recent / (BURN_WINDOW_DAYS // 7))
    left = total.budget - total.actual
    weeks_left = None if burn_rate == 0 else hours(max(left, ZERO) / burn_rate)

    ms = tuple(milestones)
    due = [m for m in ms if m.planned is not None and m.planned <= on]
    accepted_due = [m for m in due if m.accepted is not None and m.accepted <= on]
    leads = [(m.accepted - m.planned).days for m in ms if m.planned and m.accepted is not None and m.accepted <= on]
    lead = Decimal(str(statistics.median(leads))) if leads else None

    wip = [u for u in unbilled if u.day <= on]
    return ProjectHealth(
        project_id=project.project_id,
        on=on,
        currency=project.currency,
        total=total,
        phases=tuple(phases),
        burn_rate=burn_rate,
        weeks_left=weeks_left,
        milestones=ms,
        milestones_due=len(due),
        milestones_accepted=len(accepted_due),
        lead_time_days=lead,
        wip_amount=round2(sum((u.amount for u in wip), ZERO)),
        wip_items=len(wip),
        wip_oldest=min((u.day for u in wip), default=None),
        weeks=_weeks(project, counted, on),
    )


def milestone_dates(project: Project, accepted: Mapping[str, date]) -> tuple[MilestoneDates, ...]:
    """Each milestone of the project with its planned date (the plan's, else the end of the last
    phase naming it) and its acceptance day from `accepted` (key -> day)."""
    closing: dict[str, date] = {}
    for p in project.phases:
        if p.milestone:
            closing[p.milestone] = max(p.end, closing.get(p.milestone, p.end))
    return tuple(
        MilestoneDates(m.key, m.name, m.planned_on or closing.get(m.key), accepted.get(m.key))
        for m in project.milestones
    )


# -- alerts -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert to raise once: (project, kind, key) is stored when it is raised.

    Keys: `burn` "<percent>%:<YYYY-MM>" (at most one a month while hours run above the threshold);
    `wip_amount` "<threshold>:<YYYY-MM>" (at most one a month while WIP is above it); `wip_age`
    "<days>d:<day of the oldest item>" (once per item that ages past the threshold: when it is billed,
    the next oldest raises its own when it crosses)."""

    kind: str
    key: str
    message: str


def alerts(health: ProjectHealth, settings: ProjectSettings) -> list[Alert]:
    """The alerts `health` calls for under `settings` (a None threshold is off)."""
    found: list[Alert] = []
    month = health.on.strftime("%Y-%m")
    cur = health.currency
    burn_percent = health.burn_percent_of_plan
    threshold = settings.burn_alert_percent
    if threshold is not None and burn_percent is not None and burn_percent > Decimal(threshold):
        t = health.total
        found.append(
            Alert(
                "burn",
                f"{threshold}%:{month}",
                f"Project {health.project_id}: {t.actual} h worked by {health.on}, {burn_percent}% of the "
                f"{t.planned_to_date} h planned by then (alert above {threshold}%); estimate at completion "
                f"{t.eac} h of {t.budget} h budget ({t.vac:+} h, {round2(t.vac_amount):+,.2f} {cur}).",
            )
        )
    limit = settings.wip_alert_amount
    if limit is not None and health.wip_amount > limit:
        found.append(
            Alert(
                "wip_amount",
                f"{limit}:{month}",
                f"Project {health.project_id}: unbilled work of {health.wip_amount:,.2f} {cur} "
                f"({health.wip_items} items) is above {Decimal(limit):,.2f} {cur}.",
            )
        )
    days, age = settings.wip_alert_days, health.wip_age_days
    if days is not None and age is not None and health.wip_oldest is not None and age > days:
        found.append(
            Alert(
                "wip_age",
                f"{days}d:{health.wip_oldest.isoformat()}",
                f"Project {health.project_id}: the oldest unbilled work is from {health.wip_oldest} "
                f"({age} days old, alert after {days} days); {health.wip_amount:,.2f} {cur} unbilled in all.",
            )
        )
    return found
