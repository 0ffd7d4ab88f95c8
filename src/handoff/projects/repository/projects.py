"""Projects storage: the projects, their ids in other systems and the alerts raised on them.

A project's row keeps its plan as JSON (`projects.domain.model.plan_to_json`) with a version counted
up by every change, the day through which its periods are closed, and the running state its
postings draw on (the time amount billed so far against the cap, the retainer balance in hours,
the postings and top-ups made). Reads may run on an engine; writes need a unit of work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork

_p, _x, _a = schema.projects, schema.project_external_ids, schema.project_alerts

# a unique key refusing a row: SQLAlchemy's error, or the driver's own from the SQLite fast path
# of `kernel.storage.bulk` (which hands rows to sqlite3 directly)
REFUSED = (IntegrityError, sqlite3.IntegrityError)


class AlreadyWritten(Exception):
    """A unique key refused the write (a project or an external id that exists already, written
    meanwhile by another transaction): the transaction must be rolled back."""


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """A project as stored."""

    project_id: str
    contract_id: str
    customer_id: str
    name: str
    currency: str
    status: str
    manager_email: str
    plan: dict[str, Any]
    plan_version: int
    closed_through: date | None
    postings: int
    posted_time_amount: Decimal
    retainer_hours: Decimal | None  # None: the retainer was never funded
    topups: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRow:
    project_id: str
    kind: str
    key: str
    message: str
    detail: dict[str, Any]
    raised_at: datetime


def _row(r: Any) -> ProjectRow:
    return ProjectRow(
        r.project_id,
        r.contract_id,
        r.customer_id,
        r.name,
        r.currency,
        r.status,
        r.manager_email,
        dict(r.plan),
        r.plan_version,
        r.closed_through,
        r.postings,
        r.posted_time_amount,
        r.retainer_hours,
        r.topups,
        r.created_at,
        r.updated_at,
    )


class ProjectRepository(OnUnitOfWorkOrEngine):
    """Projects on a unit of work (reads and writes) or on an engine (reads only)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)
        self._postgres = self._engine.dialect.name == "postgresql"

    # -- reads -------------------------------------------------------------------------------

    def get(self, project_id: str, *, lock: bool = False) -> ProjectRow | None:
        """The project (locked until the transaction ends when `lock`, on PostgreSQL)."""
        q = select(_p).where(_p.c.project_id == project_id)
        if lock and self._postgres:
            q = q.with_for_update()
        with self._connect() as conn:
            row = conn.execute(q).one_or_none()
        return None if row is None else _row(row)

    def many(self, project_ids: Iterable[str]) -> dict[str, ProjectRow]:
        ids = sorted(set(project_ids))
        if not ids:
            return {}
        with self._connect() as conn:
            return {r.project_id: _row(r) for r in conn.execute(select(_p).where(_p.c.project_id.in_(ids)))}

    def contract_ids(self) -> set[str]:
        """The contracts that have a project."""
        with self._connect() as conn:
            return set(conn.execute(select(_p.c.contract_id)).scalars())

    def rows(self, limit: int = 500, status: str | None = None, *, after: str = "") -> list[ProjectRow]:
        """Up to `limit` projects by id (those after `after`; of one status)."""
        q = select(_p).where(_p.c.project_id > after).order_by(_p.c.project_id).limit(limit)
        if status is not None:
            q = q.where(_p.c.status == status)
        with self._connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def ids(self, after: str = "", limit: int = 1000) -> list[str]:
        """Up to `limit` open project ids after `after`, in order (for walking every project)."""
        q = (
            select(_p.c.project_id)
            .where(_p.c.project_id > after, _p.c.status == "open")
            .order_by(_p.c.project_id)
            .limit(limit)
        )
        with self._connect() as conn:
            return list(conn.execute(q).scalars())

    def unfunded_retainers(self) -> list[str]:
        """Open projects whose plan has a retainer that no posting funded yet."""
        q = select(_p.c.project_id, _p.c.plan).where(_p.c.status == "open", _p.c.retainer_hours.is_(None))
        with self._connect() as conn:
            return [
                r.project_id
                for r in conn.execute(q)
                if ((r.plan or {}).get("plan") or {}).get("settings", {}).get("retainer") is not None
            ]

    def resolve(self, system: str, refs: Iterable[str]) -> dict[str, str]:
        """Project id by reference, for references that are a project id or the id of a project
        in `system` (`project_external_ids`)."""
        wanted = sorted(set(refs))
        if not wanted:
            return {}
        found: dict[str, str] = {}
        with self._connect() as conn:
            for start in range(0, len(wanted), 5000):
                part = wanted[start : start + 5000]
                q = select(_x.c.external_id, _x.c.project_id).where(_x.c.system == system, _x.c.external_id.in_(part))
                found.update({r.external_id: r.project_id for r in conn.execute(q)})
                q2 = select(_p.c.project_id).where(_p.c.project_id.in_(part))
                found.update({pid: pid for pid in conn.execute(q2).scalars()})  # its own id wins
        return found

    def external_ids(self, project_id: str) -> dict[str, str]:
        """system -> the project's id there."""
        q = select(_x.c.system, _x.c.external_id).where(_x.c.project_id == project_id).order_by(_x.c.system)
        with self._connect() as conn:
            return {r.system: r.external_id for r in conn.execute(q)}

    def external_owner(self, system: str, external_id: str) -> str | None:
        """The project that id of `system` names, if any."""
        q = select(_x.c.project_id).where(_x.c.system == system, _x.c.external_id == external_id)
        with self._connect() as conn:
            return conn.execute(q).scalar_one_or_none()

    def alerts(self, project_id: str) -> list[AlertRow]:
        q = select(_a).where(_a.c.project_id == project_id).order_by(_a.c.raised_at, _a.c.id)
        with self._connect() as conn:
            return [
                AlertRow(r.project_id, r.kind, r.key, r.message, dict(r.detail), r.raised_at) for r in conn.execute(q)
            ]

    def alert_keys(self, project_id: str) -> set[tuple[str, str]]:
        """(kind, key) of the alerts raised on the project already."""
        q = select(_a.c.kind, _a.c.key).where(_a.c.project_id == project_id)
        with self._connect() as conn:
            return {(r.kind, r.key) for r in conn.execute(q)}

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_p)).scalar_one())

    # -- writes ------------------------------------------------------------------------------

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """New projects (the caller checked they are new; the unique keys refuse a second one)."""
        try:
            insert_many(self._tx, _p, rows)
        except REFUSED as exc:
            raise AlreadyWritten(str(getattr(exc, "orig", exc))) from None

    def set_plan(self, project_id: str, plan: dict[str, Any], version: int, manager_email: str, now: datetime) -> None:
        self._tx.execute(
            update(_p)
            .where(_p.c.project_id == project_id)
            .values(plan=plan, plan_version=version, manager_email=manager_email, updated_at=now)
        )

    def close_through(self, project_id: str, through: date, now: datetime) -> None:
        self._tx.execute(update(_p).where(_p.c.project_id == project_id).values(closed_through=through, updated_at=now))

    def posted(
        self,
        project_id: str,
        *,
        postings: int,
        posted_time_amount: Decimal,
        retainer_hours: Decimal | None,
        topups: int,
        now: datetime,
    ) -> None:
        """The running state after a posting."""
        self._tx.execute(
            update(_p)
            .where(_p.c.project_id == project_id)
            .values(
                postings=postings,
                posted_time_amount=posted_time_amount,
                retainer_hours=retainer_hours,
                topups=topups,
                updated_at=now,
            )
        )

    def link(self, project_id: str, system: str, external_id: str, now: datetime) -> None:
        """The project's id in `system` (replacing an earlier one of that system)."""
        conn = self._tx
        conn.execute(_x.delete().where(_x.c.project_id == project_id, _x.c.system == system))
        try:
            insert_many(
                conn, _x, [{"project_id": project_id, "system": system, "external_id": external_id, "linked_at": now}]
            )
        except REFUSED as exc:
            raise AlreadyWritten(str(getattr(exc, "orig", exc))) from None

    def raise_alerts(self, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
        """Store the alerts not raised yet (by project, kind and key); (kind, key) of those new."""
        if not rows:
            return set()
        conn = self._tx
        pids = sorted({r["project_id"] for r in rows})
        q = select(_a.c.project_id, _a.c.kind, _a.c.key).where(_a.c.project_id.in_(pids))
        known = {(r.project_id, r.kind, r.key) for r in conn.execute(q)}
        new = [r for r in rows if (r["project_id"], r["kind"], r["key"]) not in known]
        insert_many(conn, _a, new, ignore_conflicts_on=["project_id", "kind", "key"])
        return {(r["kind"], r["key"]) for r in new}
