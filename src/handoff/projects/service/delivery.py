"""Delivery signals in: time entries, expenses and milestone acceptances; approval and rejection.

Each signal is named for good by (source, external id). `record_time` / `record_expenses` take a
batch (a file, an API call, a webhook) in one transaction, in chunks of `CHUNK`: the rows of a
chunk stored already are loaded in one query, new rows inserted and changed rows updated with one
`executemany` each, so a million entries stay fast. For every signal:

- new: stored (status `approved` on arrival, or `submitted` when the project requires approval);
- the same again: unchanged, nothing written;
- a later version (its `updated_at` after the stored one's, or, without one, different content):
  an edit, revision + 1 (back to `submitted` when approval is required); a version not newer than
  the stored one never overwrites it (out-of-order delivery), and a deletion marks the entry deleted;
- an entry posted already that is edited or deleted gets an audit entry of its own (before and
  after); the next posting bills the difference as an adjustment, never a silent change.

Sync (`record_time(..., sync=SyncScope(...))`, never the default): Harvest, Toggl and Clockify
exports say nothing of an entry deleted at the source, they just leave it out. A batch that is a
complete export of a period may say so: every stored entry of the scope's source, projects and days
that the batch no longer holds is then marked deleted, in the same transaction (an entry posted
already is reversed at the next posting, as after a `deleted` signal), counted in `deleted` and
named in the batch's audit entry. `SyncScope.of(entries)` is the scope a file covers: its source,
the projects its entries name, the days from the first entry's to the last's.

Refused, naming the record and the field (`SignalError`): an unknown project or role (or an entry
recorded for one project arriving for another), hours not
above 0 or above 24, a day in a closed period (for a new entry, an edit or a deletion, the stored
day and the new one), a missing or unknown currency, an amount not above 0. With `all_or_nothing`
(files) one bad record means nothing is written and every bad record is reported; without it (API
batches) the good ones are stored and the bad ones named. One audit entry per batch (counts, file
name, SHA-256), none per entry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pycountry

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractError
from handoff.contracts.service import contracts
from handoff.contracts.service import queries as contract_queries
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.projects.domain.model import Project, ProjectError
from handoff.projects.domain.signals import AcceptanceInput, ExpenseInput, SignalError, TimeEntryInput
from handoff.projects.repository.delivery import CHUNK, AlreadyStored, DeliveryRepository, ExpenseRow, TimeRow
from handoff.projects.repository.projects import ProjectRepository
from handoff.projects.service.access import check_finance, check_manager
from handoff.projects.service.projects import load_project

SUBMITTED, APPROVED, REJECTED = "submitted", "approved", "rejected"
MAX_HOURS = Decimal(24)
TIME_CHANGES = (
    "role",
    "person",
    "work_date",
    "hours",
    "billable",
    "notes",
    "phase",
    "status",
    "deleted",
    "revision",
    "source_updated_at",
    "decided_by",
    "reason",
    "updated_at",
)
EXPENSE_CHANGES = (
    "person",
    "spent_on",
    "amount",
    "currency",
    "category",
    "description",
    "receipt_ref",
    "tax_category",
    "billable",
    "status",
    "deleted",
    "revision",
    "source_updated_at",
    "decided_by",
    "reason",
    "updated_at",
)

__all__ = [
    "SignalError",
    "SignalReport",
    "SyncScope",
    "approve",
    "record_acceptances",
    "record_expenses",
    "record_time",
    "reject",
]


@dataclass
class SignalReport:
    """What a batch of signals did: counts, and every record refused (naming record and field).
    With `all_or_nothing` and any error, the counts are 0: nothing was written."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[SignalError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "errors": len(self.errors),
        }


@dataclass(frozen=True, slots=True)
class SyncScope:
    """What a complete export covers: every stored time entry of `source`, of these `projects`
    (handoff project ids or the projects' ids in `source`, as entries name them), worked from
    `first_day` through `last_day` (inclusive), that the batch does not hold was deleted at the
    source. `record` names the scope in errors (the file)."""

    source: str
    projects: frozenset[str]
    first_day: date
    last_day: date
    record: str = "sync"

    @classmethod
    def of(
        cls,
        entries: Sequence[TimeEntryInput],
        record: str = "",
        *,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> SyncScope:
        """The scope `entries` (a whole file) cover: their one source, the projects they name, and
        the days from the earliest entry's to the latest's (or `first_day` / `last_day` when given).
        SignalError naming `record` for no entries or entries of more than one source."""
        record = record or _file_of(e.row for e in entries[:1]) or "sync"
        if not entries:
            raise SignalError(record, "sync", "needs entries to tell the period and projects it covers")
        source = entries[0].source.strip()
        other = next((e for e in entries if e.source.strip() != source), None)
        if other is not None:
            raise SignalError(
                other.row or record, "source", f"is {other.source!r}: a synced file holds one source ({source!r})"
            )
        days = [e.work_date for e in entries]
        return cls(
            source,
            frozenset(e.project for e in entries),
            first_day if first_day is not None else min(days),
            last_day if last_day is not None else max(days),
            record,
        )


@dataclass(frozen=True, slots=True)
class _Target:
    """What intake needs of a project, looked up once per batch."""

    project: Project
    status: str
    roles: frozenset[str]
    known_roles: str
    approval_required: bool
    closed_through: date | None

    def phase_of(self, given: str, day: date) -> str | None:
        """The phase key: `given` if the plan has it (None if not), else the phase holding `day` ("" if none)."""
        phases = self.project.phases
        if given:
            return given if any(p.key == given for p in phases) else None
        for p in phases:
            if p.start <= day <= p.end:
                return p.key
        return ""


def _target(row: Any) -> _Target:
    project = load_project(row)
    roles = frozenset(r.role for r in project.roles)
    return _Target(
        project,
        row.status,
        roles,
        ", ".join(sorted(roles)) or "none",
        project.settings.approval_required,
        row.closed_through,
    )


@functools.cache
def _currency_known(code: str) -> bool:
    return len(code) == 3 and code.isalpha() and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def _file_of(rows: Iterable[str]) -> str:
    """The file a batch came from, as its rows name it ("harvest.csv row 12" -> "harvest.csv")."""
    for row in rows:
        if " row " in row:
            return row.rsplit(" row ", 1)[0]
        return row
    return ""


class _Batch:
    """One batch of signals of one kind in one unit of work: resolves projects once, walks chunks."""

    def __init__(self, uow: UnitOfWork, now: datetime, all_or_nothing: bool, actor: str) -> None:
        self.uow, self.now, self.all_or_nothing, self.actor = uow, now, all_or_nothing, actor
        self.projects = uow.repository(ProjectRepository)
        self.delivery = uow.repository(DeliveryRepository)
        self.refs: dict[tuple[str, str], str | None] = {}
        self.targets: dict[str, _Target] = {}
        self.report = SignalReport()
        self.touched: set[str] = set()
        self.sources: set[str] = set()

    @property
    def writing(self) -> bool:
        return not (self.all_or_nothing and self.report.errors)

    def resolve(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Look up the projects of (source, project reference) pairs not seen yet in this batch."""
        by_source: dict[str, set[str]] = {}
        for source, ref in pairs:
            if (source, ref) not in self.refs:
                by_source.setdefault(source, set()).add(ref)
        new_ids: set[str] = set()
        for source, refs in by_source.items():
            found = self.projects.resolve(source, refs)
            for ref in refs:
                pid = found.get(ref)
                self.refs[(source, ref)] = pid
                if pid is not None and pid not in self.targets:
                    new_ids.add(pid)
        for pid, row in self.projects.many(new_ids).items():
            self.targets[pid] = _target(row)

    def target(self, record: str, source: str, ref: str) -> _Target:
        if not ref.strip():
            raise SignalError(record, "project", "is missing")
        pid = self.refs.get((source, ref))
        if pid is None:
            raise SignalError(record, "project", f"{ref!r} is unknown")
        target = self.targets[pid]
        if target.status != "open":
            raise SignalError(record, "project", f"{pid} is {target.status}")
        return target

    @staticmethod
    def check_open(record: str, target: _Target, name: str, day: date) -> None:
        closed = target.closed_through
        if closed is not None and day <= closed:
            raise SignalError(
                record, name, f"{day.isoformat()} is in a closed period (closed through {closed.isoformat()})"
            )

    @staticmethod
    def check_stamp(record: str, stamp: datetime | None) -> None:
        if stamp is not None and stamp.tzinfo is None:
            raise SignalError(record, "updated_at", f"{stamp.isoformat()} has no time zone")

    def fail(self, error: SignalError) -> None:
        self.report.errors.append(error)

    def posted_changed(self, kind: str, key: tuple[str, str], before: dict[str, Any], after: dict[str, Any]) -> None:
        """The audit entry of an edit or deletion of an entry posted already."""
        self.uow.audit(
            at=self.now,
            actor=self.actor,
            action=f"project.posted_{kind}_changed",
            entity_type="time_entry" if kind == "time" else "expense",
            entity_id=f"{key[0]}:{key[1]}",
            reason="deleted after posting: the next posting reverses it"
            if after.get("deleted")
            else "changed after posting: the next posting bills the difference",
            before=before,
            after=after,
        )

    def audit_batch(self, kind: str, file_name: str, sha256: str, rows: Iterable[str]) -> None:
        name = file_name or _file_of(rows) or "batch"
        counts = self.report.counts()
        touched = sorted(self.touched)
        synced = getattr(self, "synced", None)
        self.uow.audit(
            at=self.now,
            actor=self.actor,
            action=f"project.{kind}_recorded",
            entity_type=f"{kind}_import",
            entity_id=name[:200],
            reason=f"{name}: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['deleted']} deleted, {counts['unchanged']} unchanged",
            after={
                **counts,
                "file": name,
                "sha256": sha256,
                "sources": sorted(self.sources),
                "projects": touched[:100],
                "project_count": len(touched),
                **({"sync": synced} if synced is not None else {}),
            },
        )


def _stale(stamp: datetime | None, stored: datetime | None) -> bool:
    """A version not newer than the stored one (by the source's `updated_at`) never overwrites it."""
    return stamp is not None and stored is not None and stamp <= stored


# ---- time ----


def _time_posted(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("role", "work_date", "hours", "billable", "deleted", "status", "revision")}


class _TimeBatch(_Batch):
    scope: SyncScope | None = None
    held: set[str]  # with a scope: the external ids of the scope's source the batch holds
    synced: dict[str, Any] | None = None  # with a scope: what it covered and deleted, for the audit entry

    def chunk(self, entries: Sequence[TimeEntryInput]) -> None:
        scope = self.scope
        if scope is not None:
            for e in entries:
                if e.source.strip() == scope.source:
                    self.held.add(e.external_id.strip())
                else:
                    self.fail(
                        SignalError(
                            e.row or f"{e.source} time entry {e.external_id}",
                            "source",
                            f"is {e.source!r}, but the sync covers source {scope.source!r}",
                        )
                    )
            entries = [e for e in entries if e.source.strip() == scope.source]
        self.resolve((e.source, e.project) for e in entries)
        stored = self.delivery.time_by_key((e.source, e.external_id.strip()) for e in entries)
        inserts: dict[tuple[str, str], dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        rows: dict[tuple[str, str], dict[str, Any]] = {}  # the chunk's current state of each key touched
        report = self.report
        for e in entries:
            record = e.row or f"{e.source} time entry {e.external_id}"
            try:
                key, change = self._decide(e, record, stored, rows)
            except SignalError as exc:
                self.fail(exc)
                continue
            if change is None:
                report.unchanged += 1
                continue
            rows[key] = change
            self.touched.add(change["project_id"])
            self.sources.add(key[0])
            if "id" in change:
                updates[change["id"]] = change
                if change["deleted"]:
                    report.deleted += 1
                else:
                    report.updated += 1
            else:
                inserts[key] = change
                if change["deleted"]:
                    report.deleted += 1
                else:
                    report.created += 1
        if not self.writing:
            return
        if inserts:
            self.delivery.add_time(list(inserts.values()))
        if updates:
            self.delivery.change_time([{"_id": i, **{c: row[c] for c in TIME_CHANGES}} for i, row in updates.items()])

    def sync(self, scope: SyncScope) -> None:
        """Mark deleted every stored entry in `scope` the batch does not hold (see `SyncScope`);
        refused, naming the entry, when its day is in a closed period or its project is not open."""
        record = scope.record
        if not scope.source or len(scope.source) > 40:
            self.fail(SignalError(record, "source", "is missing" if not scope.source else "is too long"))
            return
        if scope.first_day > scope.last_day:
            self.fail(
                SignalError(
                    record, "sync", f"period {scope.first_day.isoformat()} to {scope.last_day.isoformat()} is empty"
                )
            )
            return
        if not scope.projects:
            self.fail(SignalError(record, "projects", "are missing: the sync names no project"))
            return
        named = set(self.refs)  # references the batch's entries named (an unknown one is reported already)
        self.resolve((scope.source, ref) for ref in scope.projects)
        pids: set[str] = set()
        for ref in sorted(scope.projects):
            pid = self.refs.get((scope.source, ref))
            if pid is not None:
                pids.add(pid)
            elif (scope.source, ref) not in named:
                self.fail(SignalError(record, "projects", f"{ref!r} is unknown"))
        if not pids:
            return
        gone = self.delivery.time_in_scope(scope.source, pids, scope.first_day, scope.last_day, leaving_out=self.held)
        updates: list[dict[str, Any]] = []
        deleted: list[str] = []
        for r in gone:
            entry = f"{r.source} time entry {r.external_id} (not in {record})"
            target = self.targets[r.project_id]
            try:
                if target.status != "open":
                    raise SignalError(entry, "project", f"{r.project_id} is {target.status}")
                self.check_open(entry, target, "work_date", r.work_date)
            except SignalError as exc:
                self.fail(exc)
                continue
            cur = {f: getattr(r, f) for f in TimeRow.__slots__}
            new = {**cur, "deleted": True, "revision": r.revision + 1, "updated_at": self.now}
            if r.posted_revision:
                self.posted_changed("time", (r.source, r.external_id), _time_posted(cur), _time_posted(new))
            updates.append({"_id": r.id, **{c: new[c] for c in TIME_CHANGES}})
            deleted.append(r.external_id)
            self.touched.add(r.project_id)
        self.sources.add(scope.source)
        self.report.deleted += len(deleted)
        self.synced = {
            "source": scope.source,
            "projects": sorted(pids),
            "first_day": scope.first_day,
            "last_day": scope.last_day,
            "deleted": len(deleted),
            "deleted_ids": deleted[:1000],  # the external ids (the first 1,000)
        }
        if updates and self.writing:
            self.delivery.change_time(updates)

    def _decide(
        self,
        e: TimeEntryInput,
        record: str,
        stored: dict[tuple[str, str], TimeRow],
        rows: dict[tuple[str, str], dict[str, Any]],
    ) -> tuple[tuple[str, str], dict[str, Any] | None]:
        """(key, the row to write, None if the entry is unchanged); SignalError naming record and field."""
        source, external_id = e.source.strip(), e.external_id.strip()
        if not source:
            raise SignalError(record, "source", "is missing")
        if len(source) > 40:
            raise SignalError(record, "source", "is longer than 40 characters")
        if not external_id:
            raise SignalError(record, "external_id", "is missing")
        if len(external_id) > 200:
            raise SignalError(record, "external_id", "is longer than 200 characters")
        target = self.target(record, e.source, e.project)
        pid = target.project.project_id
        self.check_stamp(record, e.updated_at)
        key = (source, external_id)
        cur = rows.get(key)
        if cur is None:
            found = stored.get(key)
            if found is not None:
                cur = {f: getattr(found, f) for f in TimeRow.__slots__}
        phase = ""
        if not e.deleted:
            if e.role not in target.roles:
                raise SignalError(record, "role", f"{e.role!r} is not a role of project {pid} ({target.known_roles})")
            hours = e.hours
            if not isinstance(hours, Decimal) or not hours.is_finite():
                raise SignalError(record, "hours", f"is not a number: {hours!r}")
            if hours <= ZERO:
                raise SignalError(record, "hours", f"must be above 0 (is {hours})")
            if hours > MAX_HOURS:
                raise SignalError(record, "hours", f"must be at most 24 (is {hours})")
            found_phase = target.phase_of(e.phase.strip(), e.work_date)
            if found_phase is None:
                raise SignalError(record, "phase", f"{e.phase!r} is not a phase of project {pid}")
            phase = found_phase
            self.check_open(record, target, "work_date", e.work_date)
        if cur is None:
            if e.deleted:
                self.check_open(record, target, "work_date", e.work_date)
            return key, {
                "project_id": pid,
                "source": source,
                "external_id": external_id,
                "role": e.role[:100],
                "person": e.person[:330],
                "work_date": e.work_date,
                "hours": e.hours if isinstance(e.hours, Decimal) and e.hours.is_finite() else ZERO,
                "billable": bool(e.billable),
                "notes": e.notes,
                "phase": phase,
                "status": SUBMITTED if target.approval_required else APPROVED,
                "deleted": bool(e.deleted),
                "revision": 1,
                "source_updated_at": e.updated_at,
                "decided_by": "",
                "reason": "",
                "posted_revision": 0,
                "posted_role": "",
                "posted_month": None,
                "posted_hours": ZERO,
                "posted_drawn_hours": ZERO,
                "posted_amount": ZERO,
                "recorded_at": self.now,
                "updated_at": self.now,
            }
        if cur["project_id"] != pid:
            raise SignalError(
                record, "project", f"is {pid}, but the entry was recorded for project {cur['project_id']}"
            )
        if _stale(e.updated_at, cur["source_updated_at"]):
            return key, None
        if e.deleted:
            if cur["deleted"]:
                return key, None
            self.check_open(record, target, "work_date", cur["work_date"])
            new = {**cur, "deleted": True}
        else:
            if (
                not cur["deleted"]
                and cur["role"] == e.role
                and cur["work_date"] == e.work_date
                and cur["hours"] == e.hours
                and cur["billable"] == e.billable
                and cur["person"] == e.person[:330]
                and cur["notes"] == e.notes
                and cur["phase"] == phase
            ):
                return key, None
            self.check_open(record, target, "work_date", cur["work_date"])
            new = {
                **cur,
                "role": e.role,
                "person": e.person[:330],
                "work_date": e.work_date,
                "hours": e.hours,
                "billable": bool(e.billable),
                "notes": e.notes,
                "phase": phase,
                "deleted": False,
                "status": SUBMITTED if target.approval_required else APPROVED,
                "decided_by": "",
                "reason": "",
            }
        new["revision"] = cur["revision"] + 1
        new["source_updated_at"] = e.updated_at or cur["source_updated_at"]
        new["updated_at"] = self.now
        if cur["posted_revision"]:
            self.posted_changed("time", key, _time_posted(cur), _time_posted(new))
        return key, new


def record_time(
    ctx: AppContext,
    entries: Sequence[TimeEntryInput],
    actor: str,
    *,
    all_or_nothing: bool = True,
    file_name: str = "",
    sha256: str = "",
    sync: SyncScope | None = None,
) -> SignalReport:
    """Store a batch of time entries (see the module docstring for what each does). `file_name` and
    `sha256` name the file for the batch's audit entry (default: the file the rows name). With
    `sync` the batch is a complete export of that scope: stored entries in it that the batch does
    not hold are marked deleted, in the same transaction (entries of another source are refused).
    ProjectError for an actor who may not (finance, admin or a system only)."""
    return _record(ctx, entries, actor, all_or_nothing, file_name, sha256, "time", _TimeBatch, sync)


def _record(
    ctx: AppContext,
    signals: Sequence[Any],
    actor: str,
    all_or_nothing: bool,
    file_name: str,
    sha256: str,
    kind: str,
    make: Callable[[UnitOfWork, datetime, bool, str], _TimeBatch | _ExpenseBatch],
    sync: SyncScope | None = None,
) -> SignalReport:
    who = check_finance(ctx, actor, file_name or _file_of(s.row for s in signals[:1]) or f"{kind} batch")
    now = ctx.clock()
    for attempt in (1, 2):
        try:
            with ctx.runtime.bulk(len(signals)), ctx.unit_of_work() as uow:
                batch = make(uow, now, all_or_nothing, who)
                if sync is not None:
                    assert isinstance(batch, _TimeBatch), "only time entries sync"
                    batch.scope, batch.held = sync, set()
                for start in range(0, len(signals), CHUNK):
                    batch.chunk(signals[start : start + CHUNK])
                if sync is not None:
                    assert isinstance(batch, _TimeBatch)
                    batch.sync(sync)
                report = batch.report
                if report.errors and all_or_nothing:
                    return SignalReport(errors=report.errors)  # rolled back: nothing written
                if report.created or report.updated or report.deleted or report.errors:
                    batch.audit_batch(kind, file_name, sha256, (s.row for s in signals[:1]))
                    uow.commit()
            return report
        except AlreadyStored:  # the same signals stored meanwhile by another batch: again, seeing them
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---- expenses ----


def _expense_posted(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("spent_on", "amount", "currency", "tax_category", "billable", "deleted", "status", "revision")
    return {k: row[k] for k in keys}


class _ExpenseBatch(_Batch):
    def chunk(self, expenses: Sequence[ExpenseInput]) -> None:
        self.resolve((x.source, x.project) for x in expenses)
        stored = self.delivery.expenses_by_key((x.source, x.external_id.strip()) for x in expenses)
        inserts: dict[tuple[str, str], dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        report = self.report
        for x in expenses:
            record = x.row or f"{x.source} expense {x.external_id}"
            try:
                key, change = self._decide(x, record, stored, rows)
            except SignalError as exc:
                self.fail(exc)
                continue
            if change is None:
                report.unchanged += 1
                continue
            rows[key] = change
            self.touched.add(change["project_id"])
            self.sources.add(key[0])
            if "id" in change:
                updates[change["id"]] = change
            else:
                inserts[key] = change
            if change["deleted"]:
                report.deleted += 1
            elif "id" in change:
                report.updated += 1
            else:
                report.created += 1
        if not self.writing:
            return
        if inserts:
            self.delivery.add_expenses(list(inserts.values()))
        if updates:
            self.delivery.change_expenses(
                [{"_id": i, **{c: row[c] for c in EXPENSE_CHANGES}} for i, row in updates.items()]
            )

    def _decide(
        self,
        x: ExpenseInput,
        record: str,
        stored: dict[tuple[str, str], ExpenseRow],
        rows: dict[tuple[str, str], dict[str, Any]],
    ) -> tuple[tuple[str, str], dict[str, Any] | None]:
        source, external_id = x.source.strip(), x.external_id.strip()
        if not source:
            raise SignalError(record, "source", "is missing")
        if len(source) > 40:
            raise SignalError(record, "source", "is longer than 40 characters")
        if not external_id:
            raise SignalError(record, "external_id", "is missing")
        if len(external_id) > 200:
            raise SignalError(record, "external_id", "is longer than 200 characters")
        target = self.target(record, x.source, x.project)
        pid = target.project.project_id
        self.check_stamp(record, x.updated_at)
        key = (source, external_id)
        cur = rows.get(key)
        if cur is None:
            found = stored.get(key)
            if found is not None:
                cur = {f: getattr(found, f) for f in ExpenseRow.__slots__}
        currency = (x.currency or "").strip().upper()
        tax_category = (x.tax_category or "").strip().lower() or "standard"
        if not x.deleted:
            amount = x.amount
            if not isinstance(amount, Decimal) or not amount.is_finite():
                raise SignalError(record, "amount", f"is not a number: {amount!r}")
            if amount <= ZERO:
                raise SignalError(record, "amount", f"must be above 0 (is {amount})")
            if not currency:
                raise SignalError(record, "currency", "is missing")
            if not _currency_known(currency):
                raise SignalError(record, "currency", f"{x.currency!r} is not an ISO 4217 currency code")
            if len(tax_category) > 40:
                raise SignalError(record, "tax_category", "is longer than 40 characters")
            if len(x.receipt_ref) > 500:
                raise SignalError(record, "receipt_ref", "is longer than 500 characters")
            self.check_open(record, target, "spent_on", x.spent_on)
        content = {
            "person": x.person[:330],
            "spent_on": x.spent_on,
            "amount": x.amount if isinstance(x.amount, Decimal) and x.amount.is_finite() else ZERO,
            "currency": currency[:3],
            "category": x.category[:100],
            "description": x.description,
            "receipt_ref": x.receipt_ref[:500],
            "tax_category": tax_category[:40],
            "billable": bool(x.billable),
        }
        if cur is None:
            if x.deleted:
                self.check_open(record, target, "spent_on", x.spent_on)
            return key, {
                "project_id": pid,
                "source": source,
                "external_id": external_id,
                **content,
                "status": SUBMITTED if target.approval_required else APPROVED,
                "deleted": bool(x.deleted),
                "revision": 1,
                "source_updated_at": x.updated_at,
                "decided_by": "",
                "reason": "",
                "posted_revision": 0,
                "posted_month": None,
                "posted_tax_category": "",
                "posted_amount": ZERO,
                "recorded_at": self.now,
                "updated_at": self.now,
            }
        if cur["project_id"] != pid:
            raise SignalError(
                record, "project", f"is {pid}, but the expense was recorded for project {cur['project_id']}"
            )
        if _stale(x.updated_at, cur["source_updated_at"]):
            return key, None
        if x.deleted:
            if cur["deleted"]:
                return key, None
            self.check_open(record, target, "spent_on", cur["spent_on"])
            new = {**cur, "deleted": True}
        else:
            if not cur["deleted"] and all(cur[k] == v for k, v in content.items()):
                return key, None
            self.check_open(record, target, "spent_on", cur["spent_on"])
            new = {
                **cur,
                **content,
                "deleted": False,
                "status": SUBMITTED if target.approval_required else APPROVED,
                "decided_by": "",
                "reason": "",
            }
        new["revision"] = cur["revision"] + 1
        new["source_updated_at"] = x.updated_at or cur["source_updated_at"]
        new["updated_at"] = self.now
        if cur["posted_revision"]:
            self.posted_changed("expense", key, _expense_posted(cur), _expense_posted(new))
        return key, new


def record_expenses(
    ctx: AppContext,
    expenses: Sequence[ExpenseInput],
    actor: str,
    *,
    all_or_nothing: bool = True,
    file_name: str = "",
    sha256: str = "",
) -> SignalReport:
    """Store a batch of expenses, as `record_time` does time entries (the amount as spent, in its own
    currency: the posting converts it)."""
    return _record(ctx, expenses, actor, all_or_nothing, file_name, sha256, "expenses", _ExpenseBatch)


# ---- milestone acceptances ----


def record_acceptances(ctx: AppContext, acceptances: Sequence[AcceptanceInput], actor: str) -> SignalReport:
    """Milestones the customer accepted: each makes its contract's milestone item due on the day
    (`contracts.service.contracts.accept_milestone`, event id "source:external_id", the evidence as
    its reason, `accepted_by` as who accepted). All are checked first: any bad one (unknown project
    or milestone, accepted already by another event, no one who accepted) and none is recorded.
    The same acceptance again is unchanged."""
    who = check_finance(ctx, actor, _file_of(a.row for a in acceptances[:1]) or "acceptances")
    report = SignalReport()
    repo = ProjectRepository(ctx.engine)
    plans: list[tuple[AcceptanceInput, str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for a in acceptances:
        record = a.row or f"{a.source} acceptance {a.external_id}"
        try:
            if not a.external_id.strip():
                raise SignalError(record, "external_id", "is missing")
            pid = repo.resolve(a.source, [a.project]).get(a.project)
            row = repo.get(pid) if pid is not None else None
            if row is None:
                raise SignalError(record, "project", f"{a.project!r} is unknown")
            project = load_project(row)
            try:
                project.milestone(a.milestone)
            except ProjectError:
                known = ", ".join(m.key for m in project.milestones) or "none"
                raise SignalError(
                    record, "milestone", f"{a.milestone!r} is not a milestone of project {pid} ({known})"
                ) from None
            if not a.accepted_by.strip():
                raise SignalError(record, "accepted_by", "is missing")
            event_id = f"{a.source.strip()}:{a.external_id.strip()}"[:200]
            earlier = seen.get((project.contract_id, a.milestone))
            if earlier == event_id:  # the same acceptance twice in the batch
                report.unchanged += 1
                continue
            done = contract_queries.acceptances(ctx, project.contract_id).get(a.milestone)
            by = done.event_id if done is not None else earlier
            if by is not None and by != event_id:
                raise SignalError(record, "milestone", f"{a.milestone} is accepted already (event {by})")
            seen[(project.contract_id, a.milestone)] = event_id
            if done is not None:
                report.unchanged += 1
                continue
            plans.append((a, project.contract_id, event_id))
        except SignalError as exc:
            report.errors.append(exc)
    if report.errors:
        return SignalReport(errors=report.errors)
    for a, contract_id, event_id in plans:
        reason = f"accepted by {a.accepted_by.strip()}" + (f": {a.evidence.strip()}" if a.evidence.strip() else "")
        try:
            contracts.accept_milestone(
                ctx,
                contract_id,
                a.milestone,
                a.accepted_on,
                a.accepted_by.strip(),
                event_id,
                reason=f"{reason} (recorded by {who})",
            )
        except ContractError as exc:
            report.errors.append(SignalError(a.row or f"{a.source} acceptance {a.external_id}", "milestone", str(exc)))
            continue
        report.created += 1
    return report


# ---- approval ----


def _decide_entries(
    ctx: AppContext,
    project_id: str,
    actor: str,
    *,
    status: str,
    ids: Sequence[int],
    expense_ids: Sequence[int],
    through: date | None,
    reason: str,
) -> int:
    record = f"project {project_id}"
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        row = uow.repository(ProjectRepository).get(project_id, lock=True)
        if row is None:
            raise ProjectError.at(record, "project_id", "does not exist")
        who = check_manager(ctx, actor, row.manager_email, record, uow)
        repo = uow.repository(DeliveryRepository)
        chosen = bool(ids or expense_ids)
        picks: list[tuple[str, list[int], list[int]]] = []
        for table, wanted, rows_of in (
            ("time_entries", ids, repo.time_of),
            ("expenses", expense_ids, repo.expenses_of),
        ):
            if chosen and not wanted:
                continue
            found = rows_of(project_id, ids=list(wanted), lock=True) if chosen else rows_of(project_id, lock=True)
            if chosen:
                missing = sorted(set(wanted) - {r.id for r in found})
                if missing:
                    what = "time entries" if table == "time_entries" else "expenses"
                    raise ProjectError.at(
                        record, "ids", f"{', '.join(map(str, missing))} are not {what} of the project"
                    )
            take: list[int] = []
            posted: list[int] = []
            for r in found:
                day = r.work_date if isinstance(r, TimeRow) else r.spent_on
                if r.deleted or r.status == status or (through is not None and day > through):
                    continue
                if status == APPROVED and r.status == REJECTED and not chosen:
                    continue  # a rejected entry is approved only when named
                take.append(r.id)
                if r.posted_revision:
                    posted.append(r.id)
            picks.append((table, take, posted))
        values = {"status": status, "decided_by": who, "reason": reason, "updated_at": now}
        changed = sum(repo.decide(table, take, values) for table, take, _ in picks)
        if not changed:
            return 0
        uow.audit(
            at=now,
            actor=who,
            action="project.delivery_approved" if status == APPROVED else "project.delivery_rejected",
            entity_type="project",
            entity_id=project_id,
            reason=reason or f"{changed} entries approved",
            after={
                "status": status,
                "through": through,
                **{f"{table}": take for table, take, _ in picks},
                **{f"{table}_posted_already": posted for table, _, posted in picks if posted},
            },
        )
        uow.commit()
    return changed


def approve(
    ctx: AppContext,
    project_id: str,
    actor: str,
    *,
    through: date | None = None,
    ids: Sequence[int] = (),
    expense_ids: Sequence[int] = (),
) -> int:
    """Approve the project's submitted time entries and expenses (those dated on or before `through`;
    only the time entries `ids` and expenses `expense_ids` when given, a rejected one included): they
    bill at the next posting. The number approved. The project's manager, finance or admin only
    (ProjectError naming the actor); one audit entry per approval."""
    return _decide_entries(
        ctx, project_id, actor, status=APPROVED, ids=ids, expense_ids=expense_ids, through=through, reason=""
    )


def reject(
    ctx: AppContext,
    project_id: str,
    actor: str,
    ids: Sequence[int],
    reason: str,
    *,
    expense_ids: Sequence[int] = (),
) -> int:
    """Reject the time entries `ids` (and expenses `expense_ids`) of the project, saying why: they do
    not bill, and one billed already is reversed at the next posting. The number rejected."""
    if not reason.strip():
        raise ProjectError.at(f"project {project_id}", "reason", "is missing")
    if not ids and not expense_ids:
        raise ProjectError.at(f"project {project_id}", "ids", "are missing: name the entries to reject")
    return _decide_entries(
        ctx, project_id, actor, status=REJECTED, ids=ids, expense_ids=expense_ids, through=None, reason=reason.strip()
    )
