"""Posting delivered work to the contract schedule, for the billing run to invoice.

`post_delivery(ctx, through)` takes every project with time or expenses dated before `through`
that are not posted at their current revision (and every retainer not funded yet) and, in one
transaction per project: loads the project and those entries (locked), rates them
(`projects.domain.rating.rate_delivery`: rounding, cap, markup, retainer, adjustments), adds the
resulting items to the contract's schedule (`contracts.service.delivery.add_delivery_items`, due on
`through`), records what each entry is now posted at (its `posted_*` columns and one
`delivery_postings` row per share of an item), advances the project's running state (postings made,
time billed against the cap, retainer balance), raises the cap alerts once each (`project_alerts`,
the notice through the outbox to the project's manager and finance) and writes one audit entry.
Exactly once: a second run finds every entry posted at its revision and posts nothing; two runs at
the same moment serialise on the project's row (PostgreSQL `FOR UPDATE`, SQLite's one writer), and
an item or an entry revision posted already is refused by its unique key (the project's
transaction rolls back, nothing half-written).

An expense in another currency than the contract's converts at the ECB rate of its day
(`invoicing.service.exchange_rates.rate_in`); without one it waits, and the result names it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractError
from handoff.contracts.service.delivery import AlreadyWritten, DeliveryItem, add_delivery_items
from handoff.invoicing.service.exchange_rates import rate_in
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices
from handoff.projects.domain.model import Project, ProjectError
from handoff.projects.domain.rating import (
    EntryPosting,
    EntryState,
    ExpenseState,
    PostingPlan,
    rate_delivery,
)
from handoff.projects.repository.delivery import AlreadyStored, DeliveryRepository, ExpenseRow, TimeRow
from handoff.projects.repository.projects import ProjectRepository
from handoff.projects.service.access import check_finance
from handoff.projects.service.projects import load_project

ACTOR = "automation:posting"
log = logging.getLogger(__name__)

__all__ = ["PostingResult", "ProjectPosting", "post_delivery"]


@dataclass(frozen=True, slots=True)
class ProjectPosting:
    """What one project's posting added."""

    project_id: str
    contract_id: str
    number: int  # the project's posting number (in the items' period keys)
    items: int
    amount: Decimal  # net of the items added (adjustments included; may be negative)
    entries: int  # time entries and expenses posted at their current revision
    period_keys: tuple[str, ...] = ()
    over_cap_hours: Decimal = ZERO
    over_cap_amount: Decimal = ZERO
    skipped: tuple[str, ...] = ()  # expenses not posted, and why
    alerts: tuple[str, ...] = ()  # alerts raised now (messages)


@dataclass
class PostingResult:
    """A posting run: per project what it added, and the projects that failed (id, message)."""

    through: date
    projects: list[ProjectPosting] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(p.items for p in self.projects)

    @property
    def amount(self) -> Decimal:
        return sum((p.amount for p in self.projects), ZERO)

    @property
    def skipped(self) -> list[str]:
        return [s for p in self.projects for s in p.skipped]


def _entry_state(r: TimeRow) -> EntryState:
    return EntryState(
        id=r.id,
        external_id=r.external_id,
        source=r.source,
        role=r.role,
        person=r.person,
        work_date=r.work_date,
        hours=r.hours,
        billable=r.billable,
        status=r.status,
        deleted=r.deleted,
        revision=r.revision,
        posted_revision=r.posted_revision,
        posted_hours=r.posted_hours,
        posted_amount=r.posted_amount,
        notes=r.notes,
        posted_drawn_hours=r.posted_drawn_hours,
        posted_role=r.posted_role,
        posted_month=r.posted_month,
    )


def _expense_state(uow: UnitOfWork, currency: str, r: ExpenseRow, rates: dict[tuple[str, date], Any]) -> ExpenseState:
    converted: Decimal | None = r.amount
    if r.currency != currency and not r.deleted:
        key = (r.currency, r.spent_on)
        if key not in rates:
            rates[key] = rate_in(uow, r.currency, currency, r.spent_on)
        fx = rates[key]
        converted = None if fx is None else r.amount * fx.rate
    return ExpenseState(
        id=r.id,
        external_id=r.external_id,
        source=r.source,
        person=r.person,
        spent_on=r.spent_on,
        amount=r.amount,
        currency=r.currency,
        converted_amount=converted,
        category=r.category,
        tax_category=r.tax_category,
        receipt_ref=r.receipt_ref,
        description=r.description,
        billable=r.billable,
        status=r.status,
        deleted=r.deleted,
        revision=r.revision,
        posted_revision=r.posted_revision,
        posted_amount=r.posted_amount,
        posted_month=r.posted_month,
        posted_tax_category=r.posted_tax_category,
    )


def _time_update(p: EntryPosting) -> dict[str, Any]:
    return {
        "_id": p.entry_id,
        "posted_revision": p.revision,
        "posted_role": p.role,
        "posted_month": p.month,
        "posted_hours": p.hours,
        "posted_drawn_hours": p.drawn_hours,
        "posted_amount": p.amount,
    }


def _expense_update(p: EntryPosting) -> dict[str, Any]:
    return {
        "_id": p.entry_id,
        "posted_revision": p.revision,
        "posted_month": p.month,
        "posted_tax_category": p.tax_category,
        "posted_amount": p.amount,
    }


def _delivery_item(item: Any) -> DeliveryItem:
    return DeliveryItem(
        line_key=item.line_key,
        period_key=item.period_key,
        period_start=item.period_start,
        period_end=item.period_end,
        bill_date=item.bill_date,
        quantity=item.quantity,
        unit_price=item.unit_price,
        amount=item.amount,
        description=item.description,
        product=item.product,
        tax_category=item.tax_category,
        supply=item.supply,
        trigger=item.trigger,
        note=item.note,
        detail=item.detail,
    )


def _postings_rows(project: Project, number: int, plan: PostingPlan, now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for posting in plan.postings:
        for part in posting.parts:
            rows.append(
                {
                    "project_id": project.project_id,
                    "posting": number,
                    "kind": part.kind,
                    "entry_id": posting.entry_id,
                    "revision": posting.revision,
                    "contract_id": project.contract_id,
                    "line_key": part.line_key,
                    "period_key": part.period_key,
                    "hours": part.hours,
                    "amount": part.amount,
                    "posted_at": now,
                }
            )
    for item in plan.items:  # retainer funding and top-ups bill no entry
        if item.trigger == "retainer" and item.period_key.startswith(("retainer-topup:", "retainer-prepaid:")):
            rows.append(
                {
                    "project_id": project.project_id,
                    "posting": number,
                    "kind": "retainer",
                    "entry_id": None,
                    "revision": 0,
                    "contract_id": project.contract_id,
                    "line_key": item.line_key,
                    "period_key": item.period_key,
                    "hours": item.quantity,
                    "amount": item.amount,
                    "posted_at": now,
                }
            )
    return rows


def _alerts(
    uow: UnitOfWork, ctx: AppContext, project: Project, number: int, plan: PostingPlan, now: datetime
) -> list[str]:
    """Raise the plan's cap alerts and its over-cap leakage once each; notify the new cap alerts to the
    project's manager and finance through the outbox. The messages raised now."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for alert in plan.alerts:
        rows[(alert.kind, alert.key)] = {
            "project_id": project.project_id,
            "kind": alert.kind,
            "key": alert.key,
            "message": alert.message,
            "detail": {"posting": number},
            "raised_at": now,
        }
    for over in plan.over_cap:
        key = f"{number}:{over.role}:{over.month:%Y-%m}"
        rows[("over_cap", key)] = {
            "project_id": project.project_id,
            "kind": "over_cap",
            "key": key,
            "message": f"project {project.project_id}: {over.hours} h of {over.role} in {over.month:%Y-%m} "
            f"not billed (over the not-to-exceed cap): {over.amount} {project.currency}",
            "detail": {
                "posting": number,
                "role": over.role,
                "month": over.month.isoformat(),
                "hours": str(over.hours),
                "amount": str(over.amount),
            },
            "raised_at": now,
        }
    new = uow.repository(ProjectRepository).raise_alerts(list(rows.values()))
    raised = []
    finance = ctx.config.model.notifications.finance_email
    to = sorted({a for a in (project.manager_email, finance) if a})
    for kind, key in sorted(new):
        row = rows[(kind, key)]
        raised.append(row["message"])
        if kind == "over_cap":
            continue  # leakage, shown on the project; the cap_reached alert told people already
        notices.send(
            uow,
            ctx,
            now,
            key=f"project-alert:{project.project_id}:{kind}:{key}",
            topic="project_alert",
            to=to,
            subject=f"[handoff] Project {project.project_id}: {kind.replace('_', ' ')}",
            text=row["message"] + "\n",
            channels=list(ctx.config.model.notifications.task_channels),
            extra={"project_id": project.project_id, "kind": kind, "key": key},
        )
    return raised


def _post_one(ctx: AppContext, project_id: str, through: date, actor: str) -> ProjectPosting | None:
    """Post one project in its own transaction; None when there was nothing to post."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        projects = uow.repository(ProjectRepository)
        row = projects.get(project_id, lock=True)
        if row is None:
            raise ProjectError.at(f"project {project_id}", "project_id", "does not exist")
        project = load_project(row)
        repo = uow.repository(DeliveryRepository)
        entries = [_entry_state(r) for r in repo.time_of(project_id, unposted=True, lock=True)]
        rates: dict[tuple[str, date], Any] = {}
        expenses = [
            _expense_state(uow, project.currency, r, rates)
            for r in repo.expenses_of(project_id, before=through, unposted=True, lock=True)
        ]
        number = row.postings + 1
        plan = rate_delivery(
            project,
            entries,
            expenses,
            number=number,
            through=through,
            posted_time_amount=row.posted_time_amount,
            retainer_balance=row.retainer_hours,
        )
        if not plan.items and not plan.postings and plan.retainer_balance == row.retainer_hours:
            if _alerts(uow, ctx, project, number, plan, now):  # approved work dated later reached the cap
                uow.commit()
            return None
        if plan.items:
            add_delivery_items(uow, project.contract_id, [_delivery_item(i) for i in plan.items], actor, now=now)
        repo.change_posted(
            [_time_update(p) for p in plan.postings if p.kind == "time"],
            [_expense_update(p) for p in plan.postings if p.kind == "expense"],
        )
        repo.add_postings(_postings_rows(project, number, plan, now))
        topups = sum(1 for i in plan.items if i.period_key.startswith("retainer-topup:"))
        projects.posted(
            project_id,
            postings=number if plan.items else row.postings,
            posted_time_amount=row.posted_time_amount + plan.time_amount,
            retainer_hours=plan.retainer_balance,
            topups=row.topups + topups,
            now=now,
        )
        raised = _alerts(uow, ctx, project, number, plan, now)
        result = ProjectPosting(
            project_id=project_id,
            contract_id=project.contract_id,
            number=number if plan.items else row.postings,
            items=len(plan.items),
            amount=plan.total,
            entries=len(plan.postings),
            period_keys=tuple(i.period_key for i in plan.items),
            over_cap_hours=sum((o.hours for o in plan.over_cap), ZERO),
            over_cap_amount=sum((o.amount for o in plan.over_cap), ZERO),
            skipped=tuple(s.reason for s in plan.skipped),
            alerts=tuple(raised),
        )
        uow.audit(
            at=now,
            actor=actor,
            action="project.delivery_posted",
            entity_type="project",
            entity_id=project_id,
            reason=f"posting {result.number} through {through.isoformat()}: {result.items} item(s), "
            f"{result.amount} {project.currency}",
            before={
                "postings": row.postings,
                "posted_time_amount": row.posted_time_amount,
                "retainer_hours": row.retainer_hours,
            },
            after={
                "through": through,
                "items": [[i.line_key, i.period_key, i.amount] for i in plan.items],
                "total": result.amount,
                "entries": result.entries,
                "over_cap_hours": result.over_cap_hours,
                "skipped": list(result.skipped),
                "alerts": list(raised),
                "posted_time_amount": row.posted_time_amount + plan.time_amount,
                "retainer_hours": plan.retainer_balance,
            },
        )
        uow.commit()
    return result


def _candidates(ctx: AppContext, through: date) -> list[str]:
    repo = DeliveryRepository(ctx.engine)
    found = set(repo.projects_with_unposted(through))
    found.update(ProjectRepository(ctx.engine).unfunded_retainers())
    return sorted(found)


def post_delivery(ctx: AppContext, through: date, actor: str = ACTOR, project_id: str | None = None) -> PostingResult:
    """Post every project's (or only `project_id`'s) approved work dated before `through` that is not
    posted at its current revision as contract schedule items due on `through`, one transaction per
    project (see the module docstring). A project that fails (a role the contract lacks, a contract
    not active) is named in `failures` with nothing of it written; the others post all the same.
    ProjectError for an actor who may not (finance, admin or a system only)."""
    check_finance(ctx, actor, "posting")
    result = PostingResult(through)
    ids: Sequence[str] = [project_id] if project_id is not None else _candidates(ctx, through)
    for pid in ids:
        try:
            posted = _post_one(ctx, pid, through, actor)
        except (ProjectError, ContractError) as exc:
            if project_id is not None:
                raise
            log.warning("project %s not posted: %s", pid, exc)
            result.failures.append((pid, str(exc)))
            continue
        except (AlreadyWritten, AlreadyStored) as exc:  # posted meanwhile by another run
            result.failures.append((pid, f"posted meanwhile by another run: {exc}"))
            continue
        if posted is not None:
            result.projects.append(posted)
    return result
