"""The project pages: projects with their health flags, and one project's delivery health: plan vs
actual hours per phase (bars) and cumulative hours by week (lines), both SVG drawn on the server
(`projects.charts`), the phases and roles with estimate and variance at completion, milestones with
planned and accepted dates, unbilled work and its age, entries awaiting approval with the approve
form (finance, admins and the project's manager), recent postings and the alerts raised. Finance,
auditors and admins see every project; sales users those they own or manage. Plain HTML, no script;
every user text goes through Jinja's autoescape."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from handoff.projects import charts
from handoff.projects.domain.model import ProjectError
from handoff.projects.service import delivery
from handoff.projects.service import health as health_service
from handoff.users.service import Role, User
from handoff.web.auth import ALL, context, ui_user
from handoff.web.pages import WRITERS, error_page, flash_message, render, see_other
from handoff.web.schemas import LINE

router = APIRouter(include_in_schema=False)

ProjectId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
MAX_IDS = 5000


def _may_see(user: User, owner: str, manager: str) -> bool:
    """Sales users see the projects they own or manage; every other role sees all."""
    return user.role is not Role.SALES or user.email.lower() in (owner.lower(), manager.lower())


def _may_approve(user: User, manager: str) -> bool:
    """Finance and admins approve any project's delivery; its manager their own."""
    return user.role in WRITERS or (bool(manager) and user.email.lower() == manager.lower())


def _back(project_id: str) -> str:
    return "/projects/" + quote(project_id, safe="")


def _people(request: Request, project_id: str, user: User) -> tuple[str, str] | Response:
    """The project's owner and manager, or the error page when it is unknown or hidden from `user`."""
    try:
        owner, manager = health_service.people(context(request), project_id)
    except ProjectError:
        return error_page(request, 404, f"There is no project {project_id}.")
    if not _may_see(user, owner, manager):
        return error_page(request, 403, "Sales users see only the projects they own or manage.")
    return owner, manager


@router.get("/projects")
def projects_page(request: Request, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    found = health_service.overview(ctx, ctx.clock().date(), visible_to=user.email if user.role is Role.SALES else None)
    return render(request, "projects.html", user, projects=found, today=ctx.clock().date())


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: ProjectId, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    people = _people(request, project_id, user)
    if isinstance(people, Response):
        return people
    page = health_service.project_page(ctx, project_id, ctx.clock().date())
    return render(
        request,
        "project.html",
        user,
        p=page,
        h=page.health,
        cur=page.project.currency,
        can_approve=_may_approve(user, page.project.manager_email),
    )


@router.get("/projects/{project_id}/charts/{name}.svg")
def project_chart(request: Request, project_id: ProjectId, name: str, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    people = _people(request, project_id, user)
    if isinstance(people, Response):
        return people
    health = health_service.project_health(ctx, project_id, ctx.clock().date())
    if name == "plan-vs-actual":
        svg = charts.plan_vs_actual(health.phases)
    elif name == "burn":
        svg = charts.burn_up(health.weeks, float(health.total.budget))
    else:
        return error_page(request, 404, f"There is no chart {name}.")
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=30"})


@router.post("/projects/{project_id}/approve")
async def approve_page(request: Request, project_id: ProjectId, user: User = ui_user(*ALL)) -> Response:
    """Finance, an admin or the project's manager approves the entries ticked (the same use case as
    the API and the CLI): they bill from the next posting on."""
    people = _people(request, project_id, user)
    if isinstance(people, Response):
        return people
    back = _back(project_id)
    if not _may_approve(user, people[1]):
        return error_page(request, 403, "Only finance, an admin or the project's manager approves its entries.")
    form = await request.form()
    ticked: dict[str, set[int]] = {"time": set(), "expense": set()}
    for value in [str(v) for v in form.getlist("entry")][:MAX_IDS]:
        kind, _, number = value.partition(":")
        if kind not in ticked or not number.isdigit() or len(number) > 12:
            flash_message(request, "error", f"Nothing approved: {value[:40]!r} names no time entry or expense.")
            return see_other(back)
        ticked[kind].add(int(number))
    if not ticked["time"] and not ticked["expense"]:
        flash_message(request, "error", "Nothing approved: tick the entries to approve.")
        return see_other(back)
    try:
        done = delivery.approve(
            context(request),
            project_id,
            user.email,  # the projects service names people by their address (access.check_manager)
            ids=sorted(ticked["time"]),
            expense_ids=sorted(ticked["expense"]),
        )
    except ProjectError as exc:
        flash_message(request, "error", f"Nothing approved: {exc}")
        return see_other(back)
    flash_message(request, "ok", f"{done} entr{'y' if done == 1 else 'ies'} approved: they bill from the next posting.")
    return see_other(back)
