"""`GET /api/v1/projects/{project_id}/health`: a project's delivery health as of a day (today by
default): plan vs actual hours per phase and role, estimate and variance at completion, burn rate,
milestone acceptance rate and lead time, unbilled work and its age, and the alerts its state calls
for. Finance, auditors and admins see every project; sales users those they own or manage.
Hours and amounts are exact decimal strings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from handoff.projects.domain.health import Alert, Burn, ProjectHealth
from handoff.projects.domain.model import ProjectError
from handoff.projects.service import health as health_service
from handoff.users.service import Role, User
from handoff.web.auth import ALL, api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, Out

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["projects"])

SHARE = Decimal("0.0001")  # shares (0 to 1) to four places
ProjectId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]


class BurnOut(Out):
    role: str = Field(description="the role; empty for a phase's or the project's total")
    budget_hours: str
    actual_hours: str = Field(description="hours worked through the day, rejected entries left out")
    planned_to_date_hours: str = Field(description="budget x share of the phase's planned days elapsed (earned)")
    percent_used: str | None = Field(description="actual / budget in percent; null without a budget")
    eac_hours: str = Field(description="estimate at completion: AC + (BAC - EV) / CPI, CPI = EV / AC")
    vac_hours: str = Field(description="variance at completion: EAC - budget (positive: over budget)")
    budget_amount: str
    eac_amount: str
    vac_amount: str = Field(description="variance at completion at the roles' rates")


class PhaseOut(Out):
    key: str = Field(description="the phase's key; empty for hours outside every phase")
    name: str
    start: dt.date | None
    end: dt.date | None
    percent_complete: str = Field(description="share of the planned days elapsed, 0 to 1")
    total: BurnOut
    roles: list[BurnOut]


class MilestoneOut(Out):
    key: str
    name: str
    planned: dt.date | None
    accepted: dt.date | None


class WeekOut(Out):
    week: dt.date = Field(description="the Monday starting the week")
    actual_hours: str = Field(description="cumulative hours worked by the week's end")
    planned_hours: str = Field(description="cumulative hours planned by the week's end")


class AlertOut(Out):
    kind: str = Field(description="burn | wip_amount | wip_age")
    key: str = Field(description="stable: the alert is raised once per project, kind and key")
    message: str


class HealthOut(Out):
    project_id: str
    on: dt.date
    currency: str
    total: BurnOut
    phases: list[PhaseOut]
    burn_percent_of_plan: str | None = Field(description="actual / plan to date in percent")
    burn_rate_hours_per_week: str = Field(description="hours of the last 28 days / 4")
    weeks_left: str | None = Field(description="budget left / burn rate; null when nothing burns")
    milestones: list[MilestoneOut]
    milestones_due: int
    milestones_accepted: int
    acceptance_rate: str | None = Field(description="accepted / due by the day")
    lead_time_days_median: str | None = Field(description="days from planned date to acceptance")
    wip_amount: str = Field(description="approved work not billed yet, in the project currency")
    wip_items: int
    wip_oldest: dt.date | None
    wip_age_days: int | None
    weeks: list[WeekOut]
    alerts: list[AlertOut] = Field(description="what the project's thresholds call for on the day")


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _burn(b: Burn) -> dict[str, Any]:
    return {
        "role": b.role,
        "budget_hours": str(b.budget),
        "actual_hours": str(b.actual),
        "planned_to_date_hours": str(b.planned_to_date),
        "percent_used": _s(b.percent_used),
        "eac_hours": str(b.eac),
        "vac_hours": str(b.vac),
        "budget_amount": str(b.budget_amount),
        "eac_amount": str(b.eac_amount),
        "vac_amount": str(b.vac_amount),
    }


def health_json(h: ProjectHealth, flagged: Sequence[Alert]) -> dict[str, Any]:
    """The health as `HealthOut` takes it (Decimals as exact strings)."""
    rate = h.acceptance_rate
    return {
        "project_id": h.project_id,
        "on": h.on,
        "currency": h.currency,
        "total": _burn(h.total),
        "phases": [
            {
                "key": p.key,
                "name": p.name,
                "start": p.start,
                "end": p.end,
                "percent_complete": str(p.percent_complete.quantize(SHARE)),
                "total": _burn(p.total),
                "roles": [_burn(b) for b in p.roles],
            }
            for p in h.phases
        ],
        "burn_percent_of_plan": _s(h.burn_percent_of_plan),
        "burn_rate_hours_per_week": str(h.burn_rate),
        "weeks_left": _s(h.weeks_left),
        "milestones": [
            {"key": m.key, "name": m.name, "planned": m.planned, "accepted": m.accepted} for m in h.milestones
        ],
        "milestones_due": h.milestones_due,
        "milestones_accepted": h.milestones_accepted,
        "acceptance_rate": None if rate is None else str(rate.quantize(SHARE)),
        "lead_time_days_median": _s(h.lead_time_days),
        "wip_amount": str(h.wip_amount),
        "wip_items": h.wip_items,
        "wip_oldest": h.wip_oldest,
        "wip_age_days": h.wip_age_days,
        "weeks": [{"week": w.week, "actual_hours": str(w.actual), "planned_hours": str(w.planned)} for w in h.weeks],
        "alerts": [{"kind": a.kind, "key": a.key, "message": a.message} for a in flagged],
    }


@router.get("/projects/{project_id}/health", response_model=HealthOut)
def project_health(
    ctx: Ctx,
    project_id: ProjectId,
    on: Annotated[dt.date | None, Query(description="the day (default today)")] = None,
    user: User = api_user(*ALL),
) -> Any:
    """The project's delivery health as of the end of `on`."""
    try:
        owner, manager = health_service.people(ctx, project_id)
    except ProjectError:
        raise ApiError(404, "not_found", f"no project {project_id}", "project_id") from None
    if user.role is Role.SALES and user.email.lower() not in (owner.lower(), manager.lower()):
        raise ApiError(403, "forbidden", "sales users see only the projects they own or manage")
    health, flagged = health_service.health_with_alerts(ctx, project_id, on or ctx.clock().date())
    return health_json(health, flagged)
