"""Delivery health of projects (`projects.domain.health` does the arithmetic) and its alerts.

`project_health` gathers what the metrics need: the plan, the time entries (deleted ones left out),
the milestones' acceptances (the contracts service keeps them), and the unbilled work, which is
(a) approved work not posted at its current revision: time at its role's rate (hours not posted
yet: an edited entry counts its change), expenses in the project currency with the plan's markup
(an expense in another currency is left out: it converts only when it is posted), and (b) delivery
posted to the contract's schedule that no invoice billed yet (`time:`, `time-adjust:`, `expenses:`
and `retainer-topup:` items still planned), dated by their period's first day.

`raise_alerts` (the worker's daily `delivery_health` job) evaluates every open project and, in one
transaction, stores each alert not raised before in `project_alerts` (unique per project, kind and
key: the repository skips those there) and queues its notice through the outbox to the project's
owner, its manager and finance, on finance's task channels (`notifications.task_channels`: e-mail,
log, Slack): an alert raised once is never sent again. The Slack channel escapes the text for
mrkdwn at delivery (`kernel.escaping.slack_mrkdwn`); the e-mail's HTML part is escaped here.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.service import queries as contract_queries
from handoff.kernel.money import ZERO, round2
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices
from handoff.projects.domain.health import (
    Alert,
    ProjectHealth,
    UnbilledItem,
    WorkEntry,
    alerts,
    milestone_dates,
)
from handoff.projects.domain.health import project_health as health_of
from handoff.projects.domain.model import Project, ProjectError
from handoff.projects.repository.delivery import DeliveryRepository, ExpenseRow, TimeRow
from handoff.projects.repository.projects import AlertRow, ProjectRepository, ProjectRow
from handoff.projects.service.projects import load_project

__all__ = [
    "Awaiting",
    "PostingLine",
    "ProjectFlags",
    "ProjectHealth",
    "ProjectPage",
    "health_with_alerts",
    "overview",
    "people",
    "project_health",
    "project_page",
    "raise_alerts",
]

log = logging.getLogger("handoff.projects.health")
DELIVERY_PREFIXES = ("time:", "time-adjust:", "expenses:", "retainer-topup:")
ALERT_TITLES = {
    "burn": "hours run above the plan",
    "wip_amount": "unbilled work above its limit",
    "wip_age": "unbilled work is getting old",
}
ACTOR = "automation:delivery_health"
RECENT_POSTINGS = 20


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A time entry or an expense waiting for the manager's approval."""

    kind: str  # time | expense
    id: int
    day: date
    person: str
    what: str  # the role, or the expense's category
    hours: Decimal | None
    amount: Decimal | None
    currency: str
    notes: str


@dataclass(frozen=True, slots=True)
class PostingLine:
    """One schedule item a posting made: what it billed and whether an invoice has billed it."""

    posting: int
    kind: str
    line_key: str
    period_key: str
    entries: int
    hours: Decimal
    amount: Decimal
    posted_at: datetime
    status: str  # planned | billed | superseded | "" (not found in the schedule)
    invoice_number: str


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """What the project page shows."""

    project: Project
    status: str
    health: ProjectHealth
    flags: tuple[Alert, ...]  # the alerts its state calls for today
    awaiting: tuple[Awaiting, ...]
    unbilled: tuple[UnbilledItem, ...]
    postings: tuple[PostingLine, ...]
    alerts: tuple[AlertRow, ...]  # raised so far


@dataclass(frozen=True, slots=True)
class ProjectFlags:
    """A project in the list: its health in short and the alerts its state calls for."""

    project_id: str
    name: str
    customer_id: str
    currency: str
    status: str
    owner_email: str
    manager_email: str
    health: ProjectHealth | None
    flags: tuple[Alert, ...]
    problem: str = ""  # why no health could be worked out (a stored plan that no longer reads)


def _load(ctx: AppContext, project_id: str) -> tuple[ProjectRow, Project]:
    row = ProjectRepository(ctx.engine).get(project_id)
    if row is None:
        raise ProjectError.at(f"project {project_id}", "project_id", "does not exist")
    return row, load_project(row)


def _counted_statuses(project: Project) -> tuple[str, ...]:
    """The statuses that bill: approved only when the project requires approval."""
    return ("approved",) if project.settings.approval_required else ("approved", "submitted")


def _unbilled_time(project: Project, rows: Sequence[TimeRow]) -> list[UnbilledItem]:
    rates = {r.role: r.rate for r in project.roles}
    billing = _counted_statuses(project)
    items = []
    for r in rows:
        if r.deleted or not r.billable or r.status not in billing or r.revision == r.posted_revision:
            continue
        posted = r.posted_hours if r.posted_revision and r.posted_role == r.role else ZERO
        todo = r.hours - posted
        if todo > 0:
            items.append(
                UnbilledItem("time", f"{r.source}:{r.external_id}", r.work_date, round2(todo * rates.get(r.role, ZERO)))
            )
    return items


def _unbilled_expenses(project: Project, rows: Sequence[ExpenseRow]) -> list[UnbilledItem]:
    billing = _counted_statuses(project)
    markup = 1 + project.settings.expense_markup_percent / 100
    return [
        UnbilledItem("expense", f"{r.source}:{r.external_id}", r.spent_on, round2(r.amount * markup))
        for r in rows
        if not r.deleted
        and r.billable
        and r.status in billing
        and r.posted_revision == 0
        and r.currency.upper() == project.currency.upper()
    ]


def _schedule(ctx: AppContext, contract_id: str) -> list[dict[str, Any]]:
    detail = contract_queries.contract_detail(ctx, contract_id)
    return [] if detail is None else list(detail["schedule"])


def _posted_unbilled(schedule: Sequence[dict[str, Any]]) -> list[UnbilledItem]:
    return [
        UnbilledItem("posted", str(i["period_key"]), i["period_start"], i["amount"])
        for i in schedule
        if i["status"] == "planned" and str(i["period_key"]).startswith(DELIVERY_PREFIXES)
    ]


@dataclass(frozen=True, slots=True)
class _Gathered:
    health: ProjectHealth
    time: list[TimeRow]
    expenses: list[ExpenseRow]
    unbilled: list[UnbilledItem]
    schedule: list[dict[str, Any]]


def _gather(ctx: AppContext, project: Project, on: date) -> _Gathered:
    delivery = DeliveryRepository(ctx.engine)
    time_rows = delivery.time_of(project.project_id)
    expense_rows = delivery.expenses_of(project.project_id)
    entries = [WorkEntry(r.role, r.work_date, r.hours, r.phase, r.status) for r in time_rows if not r.deleted]
    accepted = {k: a.accepted_on for k, a in contract_queries.acceptances(ctx, project.contract_id).items()}
    schedule = _schedule(ctx, project.contract_id)
    unbilled = _unbilled_time(project, time_rows) + _unbilled_expenses(project, expense_rows)
    unbilled += _posted_unbilled(schedule)
    health = health_of(project, entries, milestone_dates(project, accepted), unbilled, on)
    return _Gathered(health, time_rows, expense_rows, unbilled, schedule)


def people(ctx: AppContext, project_id: str) -> tuple[str, str]:
    """The project's owner (its deal's) and manager e-mails, to check who may see it; ProjectError
    if there is no such project."""
    _, project = _load(ctx, project_id)
    return project.owner_email, project.manager_email


def project_health(ctx: AppContext, project_id: str, on: date) -> ProjectHealth:
    """The project's delivery health as of the end of `on`; ProjectError if there is no such project."""
    _, project = _load(ctx, project_id)
    return _gather(ctx, project, on).health


def health_with_alerts(ctx: AppContext, project_id: str, on: date) -> tuple[ProjectHealth, tuple[Alert, ...]]:
    """The project's health as of `on` and the alerts its thresholds call for (raised or not)."""
    _, project = _load(ctx, project_id)
    health = _gather(ctx, project, on).health
    return health, tuple(alerts(health, project.settings))


def _awaiting(project: Project, time_rows: Sequence[TimeRow], expense_rows: Sequence[ExpenseRow]) -> list[Awaiting]:
    found = [
        Awaiting("time", r.id, r.work_date, r.person, r.role, r.hours, None, project.currency, r.notes)
        for r in time_rows
        if r.status == "submitted" and not r.deleted
    ]
    found += [
        Awaiting("expense", r.id, r.spent_on, r.person, r.category, None, r.amount, r.currency, r.description)
        for r in expense_rows
        if r.status == "submitted" and not r.deleted
    ]
    return sorted(found, key=lambda a: (a.day, a.kind, a.id))


def _postings(ctx: AppContext, project_id: str, schedule: Sequence[dict[str, Any]]) -> list[PostingLine]:
    items = {(str(i["line_key"]), str(i["period_key"])): i for i in schedule}
    grouped: dict[tuple[int, str, str, str], list[dict[str, Any]]] = {}
    for p in DeliveryRepository(ctx.engine).postings_of(project_id):
        key = (int(p["posting"]), str(p["kind"]), str(p["line_key"]), str(p["period_key"]))
        grouped.setdefault(key, []).append(p)
    lines = []
    for (posting, kind, line_key, period_key), rows in grouped.items():
        item = items.get((line_key, period_key), {})
        lines.append(
            PostingLine(
                posting,
                kind,
                line_key,
                period_key,
                sum(1 for r in rows if r["entry_id"] is not None),
                sum((Decimal(str(r["hours"])) for r in rows), ZERO),
                round2(sum((Decimal(str(r["amount"])) for r in rows), ZERO)),
                max(r["posted_at"] for r in rows),
                str(item.get("status") or ""),
                str(item.get("invoice_number") or ""),
            )
        )
    lines.sort(key=lambda p: (-p.posting, p.line_key, p.period_key))
    return lines[:RECENT_POSTINGS]


def project_page(ctx: AppContext, project_id: str, on: date) -> ProjectPage:
    """The project page's content as of `on`; ProjectError if there is no such project."""
    row, project = _load(ctx, project_id)
    got = _gather(ctx, project, on)
    return ProjectPage(
        project=project,
        status=row.status,
        health=got.health,
        flags=tuple(alerts(got.health, project.settings)),
        awaiting=tuple(_awaiting(project, got.time, got.expenses)),
        unbilled=tuple(sorted((u for u in got.unbilled if u.day <= on), key=lambda u: (u.day, u.reference))),
        postings=tuple(_postings(ctx, project_id, got.schedule)),
        alerts=tuple(ProjectRepository(ctx.engine).alerts(project_id)),
    )


def overview(ctx: AppContext, on: date, *, visible_to: str | None = None, limit: int = 200) -> list[ProjectFlags]:
    """Projects by id with their health in short (at most `limit`); `visible_to`: only those this
    person owns or manages (sales users)."""
    found = []
    for row in ProjectRepository(ctx.engine).rows(limit):
        try:
            project = load_project(row)
        except ProjectError as exc:
            found.append(
                ProjectFlags(
                    row.project_id,
                    row.name,
                    row.customer_id,
                    row.currency,
                    row.status,
                    "",
                    row.manager_email,
                    None,
                    (),
                    str(exc),
                )
            )
            continue
        if visible_to is not None and visible_to.lower() not in (
            project.owner_email.lower(),
            project.manager_email.lower(),
        ):
            continue
        health = _gather(ctx, project, on).health
        found.append(
            ProjectFlags(
                row.project_id,
                row.name,
                row.customer_id,
                row.currency,
                row.status,
                project.owner_email,
                project.manager_email,
                health,
                tuple(alerts(health, project.settings)),
            )
        )
    return found


def _recipients(ctx: AppContext, project: Project) -> list[str]:
    people = [project.owner_email, project.manager_email, ctx.config.model.notifications.finance_email]
    return list(dict.fromkeys(p.strip().lower() for p in people if p and p.strip()))


def _notice_key(project_id: str, alert: Alert) -> str:
    """The notice's outbox key (with the channel in front, at most 200 characters): readable, or a
    digest of it for a long project id."""
    key = f"project_alert:{project_id}:{alert.kind}:{alert.key}"
    if len(key) <= 180:
        return key
    return "project_alert:" + hashlib.sha256(key.encode()).hexdigest()


def _notify(uow: UnitOfWork, ctx: AppContext, at: datetime, project: Project, alert: Alert) -> None:
    title = ALERT_TITLES.get(alert.kind, alert.kind.replace("_", " "))
    page = f"/projects/{project.project_id}"
    text = f"{alert.message}\nProject {project.project_id} ({project.name}): {page}\n"
    body = (
        f"<p>{html.escape(alert.message)}</p>"
        f"<p>Project {html.escape(project.project_id)} ({html.escape(project.name)}): "
        f"<code>{html.escape(page)}</code></p>"
    )
    notices.send(
        uow,
        ctx,
        at,
        key=_notice_key(project.project_id, alert),
        topic="project_alert",
        to=_recipients(ctx, project),
        subject=f"[handoff] Project {project.project_id}: {title}",
        text=text,
        html=body,
        channels=list(ctx.config.model.notifications.task_channels),
        extra={"project_id": project.project_id, "kind": alert.kind, "alert_key": alert.key},
    )


def raise_alerts(ctx: AppContext, on: date, actor: str = ACTOR) -> int:
    """Raise the alerts every open project's health calls for on `on` that were not raised before:
    stored, audited and queued to its owner, manager and finance in one transaction. How many were
    raised (0 the second time)."""
    repo = ProjectRepository(ctx.engine)
    wanted: list[tuple[Project, list[Alert]]] = []
    after = ""
    while True:
        ids = repo.ids(after)
        if not ids:
            break
        after = ids[-1]
        for row in repo.many(ids).values():
            try:
                project = load_project(row)
            except ProjectError as exc:  # one unreadable plan must not stop the others' alerts
                log.error("delivery health of %s not evaluated: %s", row.project_id, exc)
                continue
            found = alerts(_gather(ctx, project, on).health, project.settings)
            if found:
                wanted.append((project, found))
    if not wanted:
        return 0
    now = ctx.clock()
    raised: list[tuple[Project, Alert]] = []
    with ctx.unit_of_work() as uow:
        store = uow.repository(ProjectRepository)
        for project, found in wanted:
            rows = [
                {
                    "project_id": project.project_id,
                    "kind": a.kind,
                    "key": a.key,
                    "message": a.message,
                    "detail": {"on": on.isoformat()},
                    "raised_at": now,
                }
                for a in found
            ]
            new = store.raise_alerts(rows)
            raised.extend((project, a) for a in found if (a.kind, a.key) in new)
        for project, alert in raised:
            uow.audit(
                at=now,
                actor=actor,
                action="project.alert_raised",
                entity_type="project",
                entity_id=project.project_id,
                reason=alert.message,
                after={"kind": alert.kind, "key": alert.key, "on": on.isoformat()},
            )
            _notify(uow, ctx, now, project, alert)
        uow.commit()
    return len(raised)
