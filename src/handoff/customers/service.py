"""Customer master use cases: read a customer's record (in force today or on a given day) with its
versions, change it (a new version, audited with who and why), link a source system's id to it,
and take a deal's customer data into it (`sync_from_deal`, in the caller's transaction).

Who may change the master (finance or admin) is checked by the adapters, as everywhere (the API's
`api_user`, the commands' `--actor`); the service records who did. A customer intake stored before
the master versioned it is shown as its `customers` row; its first change first writes that row as
version 1, so its history starts where the master's knowledge does. Every write also brings the
`customers` row in line with the record in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.customers.domain import (
    SINCE_ALWAYS,
    CustomerError,
    CustomerRecord,
    CustomerVersion,
    apply_changes,
    as_of,
    from_deal,
    latest,
    next_version,
    to_content,
)
from handoff.customers.repository import CustomerRepository
from handoff.deals.domain.orders import DealInput
from handoff.invoicing.service import ledger
from handoff.kernel.storage.paging import Page
from handoff.kernel.storage.unit_of_work import UnitOfWork

INTAKE_ACTOR = "intake"  # who the first version of a customer intake stored is recorded as
_NOT_CRM = ("tax-retry",)


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer's record on a day, the version it comes from (None: not versioned yet, or not in
    force yet on that day) and every version, oldest first."""

    record: CustomerRecord | None
    version: CustomerVersion | None
    versions: list[CustomerVersion]


def list_customers(ctx: AppContext, *, text: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    """Customers by id (a page), with the number of their latest version."""
    return CustomerRepository(ctx.engine).listing(text=text, limit=limit, offset=offset)


def get_customer(ctx: AppContext, customer_id: str, on: date | None = None) -> CustomerView | None:
    """The customer's record in force on `on` (default: today), or None for an unknown customer."""
    repo = CustomerRepository(ctx.engine)
    versions = repo.versions(customer_id)
    if not versions:
        record = repo.intake_record(customer_id)
        return None if record is None else CustomerView(record, None, [])
    found = as_of(versions, on or ctx.clock().date())
    return CustomerView(found.record if found else None, found, versions)


def open_balance(ctx: AppContext, customer_id: str) -> dict[str, Decimal]:
    """What the customer owes, by currency: the open amount (gross - paid - credited) of all its
    issued invoices, from invoicing's ledger, where every open amount comes from (none: nothing open)."""
    return ledger.customer_open_balances(ctx, customer_id)


def _versions(repo: CustomerRepository, uow: UnitOfWork, customer_id: str, at: datetime) -> list[CustomerVersion]:
    """The customer's versions, locked; a customer known only from intake gets its version 1 first."""
    versions = repo.versions(customer_id, lock=uow.is_postgres)
    if versions:
        return versions
    record = repo.intake_record(customer_id)
    if record is None:
        raise CustomerError(customer_id, "customer_id", "no such customer", "not_found")
    first = CustomerVersion(customer_id, 1, SINCE_ALWAYS, record, INTAKE_ACTOR, "as intake stored it", at)
    _add(repo, first)
    return [first]


def _add(repo: CustomerRepository, version: CustomerVersion) -> None:
    if not repo.add_version(version):
        raise CustomerError(
            version.customer_id, "version", "the customer was changed meanwhile: read it again and retry", "conflict"
        )


def _record_version(
    uow: UnitOfWork,
    repo: CustomerRepository,
    versions: list[CustomerVersion],
    new: CustomerVersion,
    action: str,
    today: date,
) -> None:
    before = latest(versions)
    _add(repo, new)
    uow.audit(
        at=new.recorded_at,
        actor=new.changed_by,
        action=action,
        entity_type="customer",
        entity_id=new.customer_id,
        reason=new.reason,
        before=None if before is None else {"version": before.version, **to_content(before.record)},
        after={"version": new.version, "valid_from": new.valid_from.isoformat(), **to_content(new.record)},
    )
    in_force = as_of([*versions, new], today)
    if in_force is not None and in_force.version == new.version:
        repo.project(new.record, new.recorded_at)


def update_customer(
    ctx: AppContext,
    customer_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    reason: str,
    valid_from: date | None = None,
) -> CustomerVersion:
    """Change the customer's record (field -> value, see `customers.domain.FIELDS`) from
    `valid_from` (default: today) on, as a new version over the latest; audited. The latest version
    when nothing changes (nothing is written). Refused with CustomerError (nothing written)."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CustomerRepository)
        versions = _versions(repo, uow, customer_id, now)
        last = latest(versions)
        assert last is not None
        record = apply_changes(last.record, changes)
        new = next_version(versions, record, valid_from=valid_from, changed_by=actor, reason=reason, at=now)
        if new is None:
            return last  # nothing changed: nothing written (not even an intake row's version 1)
        _record_version(uow, repo, versions, new, "customer.updated", now.date())
        uow.commit()
    return new


def link_external_id(ctx: AppContext, customer_id: str, source: str, external_id: str, *, actor: str) -> None:
    """Link the customer's id in a source system (`hubspot`, `salesforce`, ...), in place of its
    earlier id there; audited. An id linked to another customer is refused, naming both."""
    source, external_id = source.strip().lower(), external_id.strip()
    if not source or len(source) > 40:
        raise CustomerError(customer_id, "source", "must be 1 to 40 characters")
    if not external_id or len(external_id) > 200:
        raise CustomerError(customer_id, "external_id", "must be 1 to 200 characters")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CustomerRepository)
        if not repo.exists(customer_id):
            raise CustomerError(customer_id, "customer_id", "no such customer", "not_found")
        before = repo.external_ids(customer_id)
        if before.get(source) == external_id:
            return
        _link(uow, repo, customer_id, source, external_id, now, actor, before)
        uow.commit()


def _link(
    uow: UnitOfWork,
    repo: CustomerRepository,
    customer_id: str,
    source: str,
    external_id: str,
    at: datetime,
    actor: str,
    before: dict[str, str],
) -> None:
    owner = repo.link(customer_id, source, external_id, at)
    if owner is not None:
        raise CustomerError(
            customer_id,
            "external_id",
            f"{source} id {external_id!r} is already linked to customer {owner!r}",
            "conflict",
        )
    uow.audit(
        at=at,
        actor=actor,
        action="customer.linked",
        entity_type="customer",
        entity_id=customer_id,
        reason=f"{source} id {external_id}",
        before={"external_ids": before},
        after={"external_ids": {**before, source: external_id}},
    )


def sync_from_deal(uow: UnitOfWork, deal: DealInput, source: str, at: datetime) -> CustomerVersion | None:
    """Take the customer data of a deal that passed readiness into the master, in the caller's
    transaction: a new version when it changes the record (valid from the day of `at`), and the
    customer's id linked for `source` when that is a CRM (its mapping takes the customer id from
    the CRM's company or account). The new version, or None when nothing changed. Not called by
    bulk intake (see `sync_intake`): one customer, a few queries."""
    customer_id = deal.get("customer_id") or deal.deal_id
    repo = uow.repository(CustomerRepository)
    versions = repo.versions(customer_id, lock=uow.is_postgres)
    current = latest(versions)
    base = current.record if current else repo.intake_record(customer_id)
    record = from_deal(deal, base)
    actor = f"deal:{deal.deal_id}"[:330]
    day = max(at.date(), current.valid_from) if current else at.date()  # after a change dated ahead, too
    new = next_version(
        versions, record, valid_from=day, changed_by=actor, reason=f"deal {deal.deal_id} from {source}", at=at
    )
    if new is not None:
        _record_version(uow, repo, versions, new, "customer.synced", at.date())
    if ":" not in source and source not in _NOT_CRM and source:
        before = repo.external_ids(customer_id)
        if before.get(source) != customer_id:
            _link(uow, repo, customer_id, source, customer_id, at, actor, before)
    return new


def sync_intake(uow: UnitOfWork, deals: Iterable[DealInput], at: datetime) -> list[CustomerVersion]:
    """Bulk intake's side of the master, in the batch's transaction: of the ready deals the batch
    stored customers from (the last deal per customer), those whose customer has versions already
    and whose data changes its latest record get a new version (valid from the day of `at`, or the
    latest's day if dated ahead), written in bulk with a `customer.synced` audit entry each (actor
    `deal:<id>`). A customer without versions keeps its `customers` row as its record (see
    `intake_record`): nothing is written for it. One query for the whole batch, none without deals.
    A deal whose data the master would refuse (`domain.check`) adds no version: intake has stored
    it already, and one bad customer must not fail the batch; the customer's next change shows it."""
    by_customer = {deal.get("customer_id") or deal.deal_id: deal for deal in deals}
    if not by_customer:
        return []
    repo = uow.repository(CustomerRepository)
    current = repo.latest_versions(by_customer)
    new: list[CustomerVersion] = []
    for customer_id, last in sorted(current.items()):
        deal = by_customer[customer_id]
        actor = f"deal:{deal.deal_id}"[:330]
        day = max(at.date(), last.valid_from)
        try:
            version = next_version(
                [last],
                from_deal(deal, last.record),
                valid_from=day,
                changed_by=actor,
                reason=f"deal {deal.deal_id}",
                at=at,
            )
        except CustomerError:
            continue
        if version is not None:
            new.append(version)
            uow.audit(
                at=at,
                actor=actor,
                action="customer.synced",
                entity_type="customer",
                entity_id=customer_id,
                reason=version.reason,
                before={"version": last.version, **to_content(last.record)},
                after={"version": version.version, "valid_from": day.isoformat(), **to_content(version.record)},
            )
    repo.add_versions(new)
    return new


def sync_deal(ctx: AppContext, deal: DealInput, source: str) -> CustomerVersion | None:
    """`sync_from_deal` in a transaction of its own."""
    with ctx.unit_of_work() as uow:
        new = sync_from_deal(uow, deal, source, ctx.clock())
        uow.commit()
    return new


__all__ = [
    "CustomerError",
    "CustomerRecord",
    "CustomerVersion",
    "CustomerView",
    "get_customer",
    "link_external_id",
    "list_customers",
    "open_balance",
    "sync_deal",
    "sync_from_deal",
    "sync_intake",
    "update_customer",
]
