"""Project use cases: open the projects of services contracts, change a plan, close a period, link
a project to its id elsewhere, and read projects.

`open_projects` opens one project per contract with time-and-materials or milestone lines that has
none yet (idempotent: the worker runs it with its periodic jobs). The contract is read through the
contracts service; a role whose line has no unit price takes the rate card's hourly rate for it in
the contract's currency on the billing start (`contracts.service.catalog.rate_for`). A project is
stored whole (`projects.domain.model.project_to_json`: roles, rates, milestones and plan) in
`projects.plan`; `closed_through` and `plan_version` are columns of their own and win over the JSON.
A new project's push to the project tool (`project_tool.queue_push`) is queued in the transaction
that stores it: an opened project is never left unpushed, whatever crashes after.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.catalog import CatalogError
from handoff.contracts.domain.model import BillingKind, ContractError, ContractVersion
from handoff.contracts.service import catalog, contracts
from handoff.contracts.service import queries as contract_queries
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.projects.domain.model import (
    Project,
    ProjectError,
    apply_plan,
    plan_to_json,
    project_from_contract,
    project_from_json,
    project_id_for,
    project_to_json,
)
from handoff.projects.repository.delivery import DeliveryRepository
from handoff.projects.repository.projects import AlertRow, AlreadyWritten, ProjectRepository, ProjectRow
from handoff.projects.service import project_tool
from handoff.projects.service.access import check_finance

OPEN = "open"
PAGE = 500
log = logging.getLogger(__name__)

__all__ = [
    "AlertRow",
    "ProjectError",
    "ProjectSummary",
    "ProjectView",
    "close_period",
    "get_project",
    "link_external",
    "list_projects",
    "load_project",
    "open_project",
    "open_projects",
    "set_plan",
]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project in a list: `owner_email` is its contract's owner, `manager_email` the plan's manager."""

    project_id: str
    contract_id: str
    customer_id: str
    name: str
    currency: str
    status: str
    manager_email: str
    owner_email: str
    plan_version: int
    closed_through: date | None
    postings: int
    posted_time_amount: Decimal


@dataclass(frozen=True, slots=True)
class ProjectView:
    """One project for people: the project with its plan, its ids elsewhere, its entries counted
    (`entries["time"]` / `["expenses"]`: by status, "deleted", "unposted"), hours by role and
    status, the retainer balance and the alerts raised."""

    project: Project
    status: str
    postings: int
    posted_time_amount: Decimal
    retainer_hours: Decimal | None  # the retainer's balance (None: not funded yet)
    external_ids: dict[str, str]
    entries: dict[str, dict[str, Any]]
    hours: dict[tuple[str, str], Decimal]
    alerts: list[AlertRow] = field(default_factory=list)

    @property
    def plan(self) -> dict[str, Any]:
        return plan_to_json(self.project)


def load_project(row: ProjectRow) -> Project:
    """The project a stored row holds (its columns `closed_through`, `plan_version` and `manager_email` win)."""
    project = project_from_json(row.plan)
    return replace(
        project, closed_through=row.closed_through, plan_version=row.plan_version, manager_email=row.manager_email
    )


def _summary(row: ProjectRow) -> ProjectSummary:
    return ProjectSummary(
        row.project_id,
        row.contract_id,
        row.customer_id,
        row.name,
        row.currency,
        row.status,
        row.manager_email,
        str(row.plan.get("owner_email") or ""),
        row.plan_version,
        row.closed_through,
        row.postings,
        row.posted_time_amount,
    )


# ---- opening ----


def _is_services(version: ContractVersion) -> bool:
    kinds = (BillingKind.TIME_AND_MATERIALS, BillingKind.MILESTONE)
    return any(line.rule.kind in kinds for line in version.lines)


def _rates(ctx: AppContext, version: ContractVersion) -> dict[str, Decimal]:
    """The rate card's rate of each role whose T&M line has no unit price (those the card lacks are
    left out: `project_from_contract` names them)."""
    rates: dict[str, Decimal] = {}
    for line in version.lines:
        if line.rule.kind is BillingKind.TIME_AND_MATERIALS and line.unit_price <= ZERO:
            role = line.product.strip() or line.key
            with contextlib.suppress(CatalogError):
                rates[role] = catalog.rate_for(ctx, role, version.terms.currency, version.terms.billing_start)
    return rates


def _project_row(project: Project, now: Any) -> dict[str, Any]:
    return {
        "project_id": project.project_id,
        "contract_id": project.contract_id,
        "customer_id": project.customer_id,
        "name": project.name[:300],
        "currency": project.currency,
        "status": OPEN,
        "manager_email": project.manager_email,
        "plan": project_to_json(project),
        "plan_version": project.plan_version,
        "closed_through": project.closed_through,
        "postings": 0,
        "posted_time_amount": ZERO,
        "retainer_hours": None,  # the first posting funds a retainer
        "topups": 0,
        "created_at": now,
        "updated_at": now,
    }


def _build(ctx: AppContext, contract_id: str, buyer: Mapping[str, Any], version: ContractVersion) -> Project:
    legal_name = str(buyer.get("legal_name") or version.terms.customer_id)
    return project_from_contract(version, _rates(ctx, version), name=f"{legal_name}: {contract_id}")


def _store_new(uow: UnitOfWork, ctx: AppContext, projects: Sequence[Project], actor: str, now: Any) -> None:
    """Store new projects, their audit entries and (when a project tool is configured) their push
    to it, all in the caller's transaction."""
    uow.repository(ProjectRepository).add([_project_row(p, now) for p in projects])
    for p in projects:
        project_tool.queue_push(uow, ctx, p, now)
        uow.audit(
            at=now,
            actor=actor,
            action="project.opened",
            entity_type="project",
            entity_id=p.project_id,
            reason=f"contract {p.contract_id} has services lines",
            after={
                "contract_id": p.contract_id,
                "roles": {
                    r.role: {"line": r.line_key, "rate": r.rate, "budget_hours": r.budget_hours} for r in p.roles
                },
                "milestones": [m.key for m in p.milestones],
                "plan": plan_to_json(p),
            },
        )


def open_projects(ctx: AppContext, actor: str, *, problems: list[ProjectError] | None = None) -> list[str]:
    """Open a project for every active contract with time-and-materials or milestone lines that has
    none yet; the ids opened, in order. A contract that cannot open one (a role without a rate) is
    skipped and its ProjectError, naming contract, line and field, added to `problems` (and logged);
    the others open all the same. Running it again opens nothing. Each project opened is queued
    for the project tool (when one is configured) in the transaction that stores it."""
    check_finance(ctx, actor, "projects")
    now = ctx.clock()
    have = ProjectRepository(ctx.engine).contract_ids()
    opened: list[str] = []
    after = ""
    while True:
        page = contract_queries.current_versions(ctx, after=after, limit=PAGE)
        if not page:
            break
        after = page[-1][0]
        new: list[Project] = []
        for contract_id, status, buyer, version in page:
            if contract_id in have or status != "active" or not _is_services(version):
                continue
            try:
                new.append(_build(ctx, contract_id, buyer, version))
            except ProjectError as exc:
                log.warning("project not opened: %s", exc)
                if problems is not None:
                    problems.append(exc)
        if new:
            try:
                with ctx.unit_of_work() as uow:
                    _store_new(uow, ctx, new, actor, now)
                    uow.commit()
            except AlreadyWritten:  # opened meanwhile by another run: open the rest one by one
                for project in new:
                    try:
                        with ctx.unit_of_work() as uow:
                            _store_new(uow, ctx, [project], actor, now)
                            uow.commit()
                    except AlreadyWritten:
                        continue
                    opened.append(project.project_id)
                continue
            opened.extend(p.project_id for p in new)
    return opened


def open_project(ctx: AppContext, contract_id: str, actor: str) -> Project:
    """Open the project of one contract (or return the one it has); ProjectError naming contract,
    line and field when it has no services lines or a role has no rate."""
    check_finance(ctx, actor, f"contract {contract_id}")
    found = ProjectRepository(ctx.engine).get(project_id_for(contract_id))
    if found is not None:
        return load_project(found)
    try:
        view = contracts.show_contract(ctx, contract_id)
    except ContractError as exc:
        raise ProjectError(str(exc), record=f"contract {contract_id}", field="contract_id") from None
    status, buyer, version = view.contract.status, view.contract.buyer, view.current
    if status != "active":
        raise ProjectError.at(f"contract {contract_id}", "status", f"is {status!r}: projects open for active contracts")
    if not _is_services(version):
        raise ProjectError.at(f"contract {contract_id}", "lines", "hold no time-and-materials or milestone line")
    project = _build(ctx, contract_id, buyer, version)
    try:
        with ctx.unit_of_work() as uow:
            _store_new(uow, ctx, [project], actor, ctx.clock())
            uow.commit()
    except AlreadyWritten:
        row = ProjectRepository(ctx.engine).get(project.project_id)
        assert row is not None
        return load_project(row)
    return project


# ---- changes ----


def _locked(uow: UnitOfWork, project_id: str) -> ProjectRow:
    row = uow.repository(ProjectRepository).get(project_id, lock=True)
    if row is None:
        raise ProjectError.at(f"project {project_id}", "project_id", "does not exist")
    return row


def set_plan(ctx: AppContext, project_id: str, plan: Mapping[str, Any], actor: str, reason: str) -> Project:
    """Apply the plan document `plan` (`domain.model.apply_plan`: keys left out keep their value) as
    the project's next plan version, audited with the plan before and after. ProjectError naming
    the field, nothing written, for a bad plan; finance and admin only."""
    record = f"project {project_id}"
    if not reason.strip():
        raise ProjectError.at(record, "reason", "is missing")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = _locked(uow, project_id)
        who = check_finance(ctx, actor, record, uow)
        before = load_project(row)
        after = apply_plan(before, plan)
        stored = project_to_json(after)
        uow.repository(ProjectRepository).set_plan(project_id, stored, after.plan_version, after.manager_email, now)
        uow.audit(
            at=now,
            actor=who,
            action="project.plan_changed",
            entity_type="project",
            entity_id=project_id,
            reason=reason.strip(),
            before={"plan_version": before.plan_version, "plan": plan_to_json(before)},
            after={"plan_version": after.plan_version, "plan": plan_to_json(after)},
        )
        uow.commit()
    return after


def close_period(ctx: AppContext, project_id: str, through: date, actor: str) -> None:
    """Finance closes the project's periods through `through`: time and expenses dated on or before
    it can no longer be added, changed or deleted. A period once closed stays closed (an earlier
    day is refused); finance and admin only."""
    record = f"project {project_id}"
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        who = check_finance(ctx, actor, record, uow)
        row = _locked(uow, project_id)
        if row.closed_through is not None and through < row.closed_through:
            raise ProjectError.at(
                record,
                "closed_through",
                f"{through.isoformat()} is before the day already closed through ({row.closed_through.isoformat()})",
            )
        if row.closed_through == through:
            return
        uow.repository(ProjectRepository).close_through(project_id, through, now)
        uow.audit(
            at=now,
            actor=who,
            action="project.period_closed",
            entity_type="project",
            entity_id=project_id,
            reason=f"periods closed through {through.isoformat()}",
            before={"closed_through": row.closed_through},
            after={"closed_through": through},
        )
        uow.commit()


def link_external(ctx: AppContext, project_id: str, system: str, external_id: str, actor: str) -> None:
    """The project's id in `system` (the project tool, a time tracker): time entries from that
    system may name the project by it. Replaces an earlier id of that system; an id another project
    has already is refused."""
    record = f"project {project_id}"
    system, external_id = system.strip().lower(), external_id.strip()
    if not system or len(system) > 40:
        raise ProjectError.at(record, "system", "is missing" if not system else "is longer than 40 characters")
    if not external_id or len(external_id) > 200:
        raise ProjectError.at(
            record, "external_id", "is missing" if not external_id else "is longer than 200 characters"
        )
    now = ctx.clock()
    try:
        with ctx.unit_of_work() as uow:
            who = check_finance(ctx, actor, record, uow)
            _locked(uow, project_id)
            repo = uow.repository(ProjectRepository)
            owner = repo.external_owner(system, external_id)
            if owner == project_id:
                return
            if owner is not None:
                raise ProjectError.at(
                    record, "external_id", f"{system} id {external_id!r} is project {owner}'s already"
                )
            before = repo.external_ids(project_id).get(system)
            repo.link(project_id, system, external_id, now)
            uow.audit(
                at=now,
                actor=who,
                action="project.linked",
                entity_type="project",
                entity_id=project_id,
                reason=f"{system} id {external_id}",
                before={"system": system, "external_id": before},
                after={"system": system, "external_id": external_id},
            )
            uow.commit()
    except AlreadyWritten:
        raise ProjectError.at(record, "external_id", f"{system} id {external_id!r} was linked meanwhile") from None


# ---- reads ----


def get_project(ctx: AppContext, project_id: str) -> ProjectView:
    """The project with its plan, its ids elsewhere, its entries counted and its alerts; ProjectError if none."""
    repo = ProjectRepository(ctx.engine)
    row = repo.get(project_id)
    if row is None:
        raise ProjectError.at(f"project {project_id}", "project_id", "does not exist")
    delivery = DeliveryRepository(ctx.engine)
    return ProjectView(
        project=load_project(row),
        status=row.status,
        postings=row.postings,
        posted_time_amount=row.posted_time_amount,
        retainer_hours=row.retainer_hours,
        external_ids=repo.external_ids(project_id),
        entries=delivery.summary(project_id),
        hours=delivery.hours_by_role(project_id),
        alerts=repo.alerts(project_id),
    )


def list_projects(ctx: AppContext, limit: int = 500, *, visible_to: str | None = None) -> list[ProjectSummary]:
    """Projects by id (at most `limit`); with `visible_to`, only those that person owns (the
    contract's owner) or manages (the plan's manager), as a sales user may read them."""
    repo = ProjectRepository(ctx.engine)
    if visible_to is None:
        return [_summary(r) for r in repo.rows(limit)]
    who = visible_to.strip().lower()
    found: list[ProjectSummary] = []
    after = ""
    while len(found) < limit:
        page = repo.rows(PAGE, after=after)
        if not page:
            break
        after = page[-1].project_id
        for row in page:
            summary = _summary(row)
            if who and who in (summary.owner_email.strip().lower(), summary.manager_email.strip().lower()):
                found.append(summary)
    return found[:limit]
