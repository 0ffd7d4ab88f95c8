"""API: projects, their plans and periods, approval of delivered work and posting it for billing.

Finance, auditors and admins read every project; sales users read the projects of the contracts
they own or manage. Finance and admins change a plan (versioned, audited with the reason), close a
period (no entry dated on or before it may be added, changed or deleted any more) and post approved
work to the contracts' billing schedules (the worker does it monthly). Approving or rejecting time
and expenses is for finance, admins and the project's manager. Amounts and hours are exact decimal
strings. The delivery signals themselves arrive through `api_signals`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from handoff.projects.domain.model import ProjectError
from handoff.projects.service import delivery, posting
from handoff.projects.service import projects as project_service
from handoff.users.service import Role, User
from handoff.web.auth import ALL, api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, Email, In, Out, ShortText, Text, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["projects"])
WRITERS = (Role.FINANCE, Role.ADMIN)
MAX_POST_AHEAD_DAYS = 366  # posting further ahead would bill work on a day years away (a mistyped year)
MAX_IDS = 10_000

ProjectId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
Hours = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,7}(\.[0-9]{1,4})?$")]
Amount = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
Percent = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}(\.[0-9]{1,4})?$")]
NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"  # printable, and not only spaces
Key = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]


def _day_text(value: Any) -> Any:
    """A day as YYYY-MM-DD, not also the seconds since 1970 pydantic would take."""
    if not isinstance(value, str | dt.date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_day_text)]


# ---- responses ----


class ProjectSummary(Out):
    project_id: str
    contract_id: str
    customer_id: str
    name: str
    currency: str
    status: str
    manager_email: str
    owner_email: str = Field(description="the contract's owner")
    plan_version: int
    closed_through: dt.date | None = Field(description="entries dated on or before it are locked")


class ProjectList(Out):
    items: list[ProjectSummary]


class RoleOut(Out):
    role: str
    line_key: str = Field(description="the contract's time-and-materials line it bills on")
    rate: str = Field(description="per hour, in the project's currency")
    budget_hours: str


class PhaseOut(Out):
    key: str
    name: str
    start: dt.date
    end: dt.date = Field(description="inclusive")
    milestone: str
    budget: dict[str, str] = Field(description="hours per role")


class MilestoneOut(Out):
    key: str
    name: str
    line_key: str
    planned_on: dt.date | None


class ProjectDetail(ProjectSummary):
    start: dt.date
    end: dt.date
    roles: list[RoleOut]
    phases: list[PhaseOut]
    milestones: list[MilestoneOut]
    settings: dict[str, Any] = Field(description="approval, rounding, cap, markup, retainer and alert thresholds")
    external_ids: dict[str, str] = Field(description="the project's ids in other systems (crm, project_tool, ...)")
    delivery: dict[str, Any] = Field(
        description="entries by kind and status, hours by role:status, postings, posted time amount, "
        "retainer hours left, alerts raised"
    )


# ---- requests ----


class PhaseIn(In):
    key: Key
    name: Text = ""
    start: Day
    end: Day = Field(description="inclusive")
    milestone: ShortText = Field("", description="the key of the milestone that closes the phase")
    budget: dict[Key, Hours] = Field(default_factory=dict, description="hours per role")


class PlannedMilestone(In):
    key: Key
    planned_on: Day | None = None


class RetainerIn(In):
    hours: Hours
    rate_role: Key
    topup_below_hours: Hours
    topup_hours: Hours


class SettingsIn(In):
    """Send only what changes; null clears cap, retainer and the WIP thresholds."""

    approval_required: StrictBool = False
    rounding_increment: Hours = "0"
    rounding: str = Field("up", pattern="^(up|nearest)$")
    cap: Amount | None = None
    cap_alert_percent: Percent = "80"
    expense_markup_percent: Percent = "0"
    retainer: RetainerIn | None = None
    burn_alert_percent: Percent = "100"
    wip_alert_amount: Amount | None = None
    wip_alert_days: Annotated[int, Field(ge=0, le=3650), BeforeValidator(_number)] | None = None


class PlanIn(In):
    """A plan document: a part left out keeps its current value."""

    manager_email: Email | None = None
    phases: list[PhaseIn] | None = Field(None, min_length=1, max_length=200)
    milestones: list[PlannedMilestone] | None = Field(None, max_length=200)
    settings: SettingsIn | None = None


class PlanChange(In):
    plan: PlanIn
    reason: Text = Field(min_length=1, description="why (audited)")


class ClosePeriodIn(In):
    through: Day = Field(description="the last day of the closed period")


def _number(value: Any) -> Any:
    """A JSON number (2004.0 is the integer 2004, as JSON Schema says), not text or true/false."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a whole number is written as a JSON number")
    return value


EntryIds = list[Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_number)]]


class ApproveIn(In):
    through: Day | None = Field(None, description="approve what was worked or spent up to this day (default: all)")
    ids: EntryIds = Field(default_factory=list, max_length=MAX_IDS, description="only these time entries")
    expense_ids: EntryIds = Field(default_factory=list, max_length=MAX_IDS, description="only these expenses")


def _some_ids(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"required": ["ids"]}, {"required": ["expense_ids"]}]


class RejectIn(In):
    """Name the time entries, the expenses or both (at least one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_some_ids)

    ids: EntryIds = Field(default_factory=list, min_length=1, max_length=MAX_IDS, description="time entries")
    expense_ids: EntryIds = Field(default_factory=list, min_length=1, max_length=MAX_IDS, description="expenses")
    reason: Text = Field(min_length=1, description="why (audited)")

    @model_validator(mode="after")
    def _named(self) -> RejectIn:
        if not self.ids and not self.expense_ids:
            raise ValueError("name the entries to reject (ids or expense_ids)")
        return self


class Decided(Out):
    project_id: str
    count: int = Field(description="entries approved or rejected")


class PostingIn(In):
    through: Day = Field(description=f"post work dated before this day (at most {MAX_POST_AHEAD_DAYS} days ahead)")
    project_id: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE)] | None = Field(
        None, description="one project only (default: every project)"
    )


class ProjectPostingOut(Out):
    project_id: str
    contract_id: str
    number: int = Field(description="the project's posting number (in the items' period keys)")
    items: int = Field(description="schedule items added")
    amount: str = Field(description="net of the items added (adjustments included; may be negative)")
    entries: int = Field(description="time entries and expenses posted")
    period_keys: list[str]
    over_cap_hours: str = Field(description="hours not billed: beyond the not-to-exceed cap")
    over_cap_amount: str
    skipped: list[str] = Field(description="expenses not posted, and why")
    alerts: list[str] = Field(description="alerts raised by this posting")


class PostingFailure(Out):
    project_id: str
    reason: str


class PostingOut(Out):
    through: dt.date
    items: int
    amount: str
    projects: list[ProjectPostingOut]
    failures: list[PostingFailure] = Field(description="projects not posted, and why (nothing of them written)")


# ---- helpers ----


def _data(value: Any) -> Any:
    """A service result as plain JSON-ready data (dataclasses as dicts, Decimals as strings)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_data(v) for v in value]
    return plain(value)


def _view(ctx: Any, project_id: str) -> Any:
    try:
        view = project_service.get_project(ctx, project_id)
    except ProjectError as exc:
        raise ApiError(404, "not_found", str(exc), "project_id") from exc
    if view is None:
        raise ApiError(404, "not_found", f"no project {project_id}", "project_id")
    return view


def _project(view: Any) -> Any:
    return getattr(view, "project", view)


def _may_read(user: User, view: Any) -> bool:
    if user.role is not Role.SALES:
        return True
    project = _project(view)
    people = {getattr(project, "owner_email", "") or "", getattr(project, "manager_email", "") or ""}
    return user.email in {p.lower() for p in people if p}


def _refused(exc: ProjectError, status: int = 422) -> ApiError:
    """A service refusal: the actor may not (403), or what the request asks cannot be (status)."""
    if exc.field == "actor":
        return ApiError(403, "forbidden", str(exc))
    return ApiError(status, "invalid_request" if status == 422 else "conflict", str(exc), exc.field or None)


def _summary(view: Any) -> dict[str, Any]:
    p = _project(view)
    return {
        "project_id": p.project_id,
        "contract_id": p.contract_id,
        "customer_id": p.customer_id,
        "name": p.name,
        "currency": p.currency,
        "status": getattr(view, "status", None) or getattr(p, "status", "open"),
        "manager_email": p.manager_email,
        "owner_email": p.owner_email,
        "plan_version": p.plan_version,
        "closed_through": p.closed_through,
    }


def _detail(view: Any) -> dict[str, Any]:
    from handoff.projects.domain.model import settings_to_json

    p = _project(view)
    return {
        **_summary(view),
        "start": p.start,
        "end": p.end,
        "roles": [
            {"role": r.role, "line_key": r.line_key, "rate": str(r.rate), "budget_hours": str(r.budget_hours)}
            for r in p.roles
        ],
        "phases": [
            {
                "key": ph.key,
                "name": ph.name,
                "start": ph.start,
                "end": ph.end,
                "milestone": ph.milestone,
                "budget": {k: str(v) for k, v in ph.budget.items()},
            }
            for ph in p.phases
        ],
        "milestones": [
            {"key": m.key, "name": m.name, "line_key": m.line_key, "planned_on": m.planned_on} for m in p.milestones
        ],
        "settings": settings_to_json(p.settings),
        "external_ids": dict(getattr(view, "external_ids", {}) or {}),
        "delivery": _data(
            {
                "entries": getattr(view, "entries", {}),
                "hours": {f"{role}:{status}": h for (role, status), h in getattr(view, "hours", {}).items()},
                "postings": getattr(view, "postings", 0),
                "posted_time_amount": getattr(view, "posted_time_amount", None),
                "retainer_hours": getattr(view, "retainer_hours", None),
                "alerts": [
                    {"kind": a.kind, "key": a.key, "message": a.message, "raised_at": a.raised_at.isoformat()}
                    for a in getattr(view, "alerts", ())
                ],
            }
        ),
    }


# ---- routes ----


@router.get("/projects", response_model=ProjectList)
def list_projects(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many, by id")] = 500,
    user: User = api_user(*ALL),
) -> Any:
    """Projects by id; sales users get those of the contracts they own or manage (as the detail
    page lets them read), up to `limit` of those."""
    visible_to = user.email if user.role is Role.SALES else None
    found = project_service.list_projects(ctx, limit=limit, visible_to=visible_to)
    return {"items": [_summary(v) for v in found if _may_read(user, v)]}


@router.get("/projects/{project_id}", response_model=ProjectDetail)
def get_project(ctx: Ctx, project_id: ProjectId, user: User = api_user(*ALL)) -> Any:
    """A project: roles and rates, the plan's phases and budgets, milestones, settings, its ids in
    other systems and what was delivered (received, approved, posted)."""
    view = _view(ctx, project_id)
    if not _may_read(user, view):
        raise ApiError(403, "forbidden", "sales users see only the projects of their own contracts")
    return _detail(view)


@router.put("/projects/{project_id}/plan", response_model=ProjectDetail)
def put_plan(ctx: Ctx, project_id: ProjectId, body: PlanChange, user: User = api_user(*WRITERS)) -> Any:
    """Change the plan (phases, budgets, manager, settings): a new plan version, audited with the
    reason. 422 naming the field for a plan the project cannot take (an unknown role or milestone,
    overlapping phases)."""
    _view(ctx, project_id)
    doc = body.plan.model_dump(mode="json", exclude_unset=True)
    if doc.get("manager_email", "") is None:  # null: keep the manager (a project always has one)
        del doc["manager_email"]
    try:
        project_service.set_plan(ctx, project_id, doc, user.email, body.reason)
    except ProjectError as exc:
        raise _refused(exc) from exc
    return _detail(_view(ctx, project_id))


@router.post("/projects/{project_id}/close-period", response_model=ProjectSummary)
def close_period(ctx: Ctx, project_id: ProjectId, body: ClosePeriodIn, user: User = api_user(*WRITERS)) -> Any:
    """Close the project's periods through `through`: entries dated on or before it can no longer
    be added, changed or deleted. 409 when it would reopen a closed period."""
    _view(ctx, project_id)
    try:
        project_service.close_period(ctx, project_id, body.through, user.email)
    except ProjectError as exc:
        raise _refused(exc, 409) from exc
    return _summary(_view(ctx, project_id))


def _approver(ctx: Any, user: User, project_id: str) -> None:
    view = _view(ctx, project_id)
    manager = (getattr(_project(view), "manager_email", "") or "").lower()
    if user.role not in WRITERS and not (manager and user.email == manager):
        raise ApiError(403, "forbidden", "only finance, admins and the project's manager approve its delivery")


@router.post("/projects/{project_id}/approve", response_model=Decided)
def approve(ctx: Ctx, project_id: ProjectId, body: ApproveIn, user: User = api_user(*ALL)) -> Any:
    """Approve the project's submitted time and expenses (up to `through`, or the given ids): they
    become billable. For finance, admins and the project's manager."""
    _approver(ctx, user, project_id)
    try:
        count = delivery.approve(
            ctx, project_id, user.email, through=body.through, ids=body.ids, expense_ids=body.expense_ids
        )
    except ProjectError as exc:
        raise _refused(exc, 409) from exc
    return {"project_id": project_id, "count": count}


@router.post("/projects/{project_id}/reject", response_model=Decided)
def reject(ctx: Ctx, project_id: ProjectId, body: RejectIn, user: User = api_user(*ALL)) -> Any:
    """Reject the given submitted entries, with the reason: they do not bill (an entry already
    posted is taken back on the next invoice)."""
    _approver(ctx, user, project_id)
    try:
        count = delivery.reject(ctx, project_id, user.email, body.ids, body.reason, expense_ids=body.expense_ids)
    except ProjectError as exc:
        raise _refused(exc, 409) from exc
    return {"project_id": project_id, "count": count}


@router.post("/delivery/postings", response_model=PostingOut, tags=["billing"])
def post_delivery(ctx: Ctx, body: PostingIn, user: User = api_user(*WRITERS)) -> Any:
    """Post approved work dated before `through` to the contracts' billing schedules (run again, it
    posts nothing twice); the billing run on or after `through` invoices it."""
    today = ctx.clock().date()
    if body.through > today + dt.timedelta(days=MAX_POST_AHEAD_DAYS):
        raise ApiError(
            422,
            "invalid_request",
            f"through: {body.through} is more than {MAX_POST_AHEAD_DAYS} days after today",
            "through",
        )
    if body.project_id is not None:
        _view(ctx, body.project_id)
    try:
        result = posting.post_delivery(ctx, body.through, actor=user.email, project_id=body.project_id)
    except ProjectError as exc:
        raise _refused(exc, 409) from exc
    return {
        "through": result.through,
        "items": result.items,
        "amount": str(result.amount),
        "projects": [_data(p) for p in result.projects],
        "failures": [{"project_id": pid, "reason": why} for pid, why in result.failures],
    }
