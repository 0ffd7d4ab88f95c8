"""Telling the project tool of opened projects, through the outbox.

When a project opens, a message naming it goes to the outbox (channel `project_tool`), in the
transaction that opened it (`queue_push`, called by `projects.service.projects`) or, for projects
opened before a tool was configured, in one of its own (`push_projects`); the outbox key
`project_tool:<project id>` makes queueing twice harmless. The worker delivers it with
`ProjectToolChannel`: the connector posts the project, signed, and the tool's id of it is kept
beside the CRM's and the accounting system's (`link_external`, system `project_tool`). Nothing is
queued unless `connectors.project_tool` is configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from handoff.kernel.delivery import DeliveryError
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork
from handoff.projects.domain.model import Project

if TYPE_CHECKING:
    from handoff.context import AppContext

CHANNEL = "project_tool"
TOPIC = "project.opened"
SYSTEM = "project_tool"  # the system name of the tool's id in project_external_ids
ACTOR = "automation:project_tool"


class Pusher(Protocol):
    def push(self, key: str, project: Mapping[str, Any]) -> str: ...


def push_key(project_id: str) -> str:
    """The outbox key of a project's push: one push per project, ever."""
    return f"{CHANNEL}:{project_id}"


def enabled(ctx: AppContext) -> bool:
    return ctx.config.model.connectors.project_tool is not None


def project_payload(project: Project) -> dict[str, Any]:
    """What the tool is told of a project: id, name, customer, dates (inclusive), manager, phases
    (with their budgets in hours per role), milestones and roles (rate, budget hours)."""
    return {
        "project_id": project.project_id,
        "contract_id": project.contract_id,
        "name": project.name,
        "customer_id": project.customer_id,
        "currency": project.currency,
        "start": project.start.isoformat(),
        "end": project.end.isoformat(),
        "manager_email": project.manager_email,
        "phases": [
            {
                "key": p.key,
                "name": p.name,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "milestone": p.milestone,
                "budget": {role: hours for role, hours in p.budget.items()},
            }
            for p in project.phases
        ],
        "milestones": [
            {"key": m.key, "name": m.name, "planned_on": m.planned_on.isoformat() if m.planned_on else None}
            for m in project.milestones
        ],
        "roles": [
            {"role": r.role, "line_key": r.line_key, "rate": r.rate, "budget_hours": r.budget_hours}
            for r in project.roles
        ],
    }


def queue_push(uow: UnitOfWork, ctx: AppContext, project: Project, at: datetime) -> bool:
    """In the caller's transaction: queue telling the tool of `project` (see `project_payload`);
    False when no project tool is configured."""
    if not enabled(ctx):
        return False
    payload = project_payload(project)
    uow.notify(Notice(push_key(str(payload["project_id"])), CHANNEL, TOPIC, {"project": payload}), at)
    return True


def push_projects(ctx: AppContext, project_ids: Iterable[str]) -> int:
    """Queue the push of each of these projects (those queued before change nothing), in one
    transaction; how many were queued (0 when no project tool is configured)."""
    from handoff.projects.service.projects import get_project

    ids = list(dict.fromkeys(project_ids))
    if not ids or not enabled(ctx):
        return 0
    projects = [get_project(ctx, pid).project for pid in ids]
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        for project in projects:
            queue_push(uow, ctx, project, now)
        uow.commit()
    return len(projects)


class ProjectToolChannel:
    """The outbox channel `project_tool`: pushes the project and keeps the tool's id of it."""

    def __init__(self, ctx: AppContext, client: Pusher) -> None:
        self.ctx, self.client = ctx, client

    def __repr__(self) -> str:
        return "ProjectToolChannel()"

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        from handoff.projects.service.projects import link_external

        project = payload.get("project")
        if not isinstance(project, Mapping) or not project.get("project_id"):
            raise DeliveryError("project tool: the message names no project", permanent=True)
        external_id = self.client.push(key, project)
        try:
            link_external(self.ctx, str(project["project_id"]), SYSTEM, external_id, ACTOR)
        except ValueError as exc:  # the project is linked to another id of the tool: an operator decides
            raise DeliveryError(f"project tool: {exc}", permanent=True) from exc
