"""Customer master storage: the only SQL for `customer_versions` and `customer_external_ids`, and
for the `customers` row the master keeps as its current record's flat form (customer id, legal
name, country, VAT id, business or consumer, billing e-mail). Intake also writes `customers`, in
bulk, from the deals it applies (`deals/repository/orders.py`); see docs/architecture.md.

Versions are only ever inserted. A link of an external id is inserted with ON CONFLICT DO NOTHING,
so that of two transactions linking the same id at once one wins and the other sees who did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from handoff.customers.domain import CustomerRecord, CustomerVersion, from_content, from_intake, to_content
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, upsert_many
from handoff.kernel.storage.paging import Page, fetch_page, like
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

_v, _x, _c = schema.customer_versions, schema.customer_external_ids, schema.customers


class CustomerRepository(OnUnitOfWorkOrEngine):
    # -- reads

    def exists(self, customer_id: str) -> bool:
        with self._connect() as conn:
            in_master = conn.execute(select(_v.c.id).where(_v.c.customer_id == customer_id).limit(1)).first()
            return (
                in_master is not None
                or conn.execute(select(_c.c.id).where(_c.c.customer_id == customer_id)).first() is not None
            )

    def external_ids(self, customer_id: str) -> dict[str, str]:
        with self._connect() as conn:
            q = select(_x.c.source, _x.c.external_id).where(_x.c.customer_id == customer_id).order_by(_x.c.source)
            return {r.source: r.external_id for r in conn.execute(q)}

    def versions(self, customer_id: str, *, lock: bool = False) -> list[CustomerVersion]:
        """Every version of the customer, oldest first, each record with the customer's external ids.
        `lock` (PostgreSQL): the rows stay locked until the unit of work ends."""
        q = select(_v).where(_v.c.customer_id == customer_id).order_by(_v.c.version)
        if lock:
            q = q.with_for_update()
        ids = self.external_ids(customer_id)
        with self._connect() as conn:
            return [
                CustomerVersion(
                    r.customer_id,
                    r.version,
                    r.valid_from,
                    from_content(r.customer_id, r.content, ids),
                    r.changed_by,
                    r.reason,
                    r.recorded_at,
                )
                for r in conn.execute(q)
            ]

    def latest_versions(self, customer_ids: Iterable[str]) -> dict[str, CustomerVersion]:
        """The latest version of each of these customers that has one (one query; a customer
        without versions is simply absent). Records carry no external ids: what a version stores."""
        ids = sorted(set(customer_ids))
        if not ids:
            return {}
        last = (
            select(_v.c.customer_id, func.max(_v.c.version).label("version"))
            .where(_v.c.customer_id.in_(ids))
            .group_by(_v.c.customer_id)
            .subquery()
        )
        q = select(_v).join(last, and_(_v.c.customer_id == last.c.customer_id, _v.c.version == last.c.version))
        with self._connect() as conn:
            return {
                r.customer_id: CustomerVersion(
                    r.customer_id,
                    r.version,
                    r.valid_from,
                    from_content(r.customer_id, r.content),
                    r.changed_by,
                    r.reason,
                    r.recorded_at,
                )
                for r in conn.execute(q)
            }

    def intake_record(self, customer_id: str) -> CustomerRecord | None:
        """The record the `customers` row stands for (a customer intake stored that the master has
        no version of yet), with its external ids."""
        q = select(_c).where(_c.c.customer_id == customer_id)
        with self._connect() as conn:
            r = conn.execute(q).one_or_none()
        if r is None:
            return None
        record = from_intake(r.customer_id, r.legal_name, r.country, r.vat_id, r.is_business, r.billing_email)
        ids = self.external_ids(customer_id)
        return CustomerRecord(**{**_fields(record), "external_ids": ids})

    def linked_customer(self, source: str, external_id: str) -> str | None:
        """The customer `external_id` of `source` is linked to, if any."""
        q = select(_x.c.customer_id).where(_x.c.source == source, _x.c.external_id == external_id)
        with self._connect() as conn:
            return conn.execute(q).scalar_one_or_none()

    def listing(self, *, text: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Customers by id, with their latest version's number (None: not versioned yet)."""
        latest = select(func.max(_v.c.version)).where(_v.c.customer_id == _c.c.customer_id).scalar_subquery()
        q: Select[Any] = select(
            _c.c.customer_id,
            _c.c.legal_name,
            _c.c.country,
            _c.c.billing_email,
            _c.c.updated_at,
            latest.label("version"),
        ).order_by(_c.c.customer_id)
        if text:
            pattern = like(text)
            q = q.where(
                or_(
                    _c.c.customer_id.ilike(pattern, escape="\\"),
                    _c.c.legal_name.ilike(pattern, escape="\\"),
                )
            )
        return fetch_page(self._engine, q, limit, offset)

    # -- writes (in the unit of work's transaction)

    def add_version(self, v: CustomerVersion) -> bool:
        """Insert the version; False (nothing written) when that number was written meanwhile by
        another transaction (PostgreSQL: a lock cannot hold rows that did not exist yet)."""
        conn = self._tx
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        done = conn.execute(
            dialect_insert(_v)
            .values(
                customer_id=v.customer_id,
                version=v.version,
                valid_from=v.valid_from,
                content=to_content(v.record),
                changed_by=v.changed_by,
                reason=v.reason,
                recorded_at=v.recorded_at,
            )
            .on_conflict_do_nothing(index_elements=["customer_id", "version"])
            .returning(_v.c.id)
        )
        return done.first() is not None

    def add_versions(self, versions: Sequence[CustomerVersion]) -> None:
        """Insert the versions in bulk. A number written meanwhile by another transaction fails
        the insert (an integrity error): the caller's transaction is rolled back and redone."""
        insert_many(
            self._tx,
            _v,
            [
                {
                    "customer_id": v.customer_id,
                    "version": v.version,
                    "valid_from": v.valid_from,
                    "content": to_content(v.record),
                    "changed_by": v.changed_by,
                    "reason": v.reason,
                    "recorded_at": v.recorded_at,
                }
                for v in versions
            ],
        )

    def link(self, customer_id: str, source: str, external_id: str, at: Any) -> str | None:
        """Link `external_id` of `source` to the customer, in place of the customer's earlier id of
        that source. Nothing is written when the id is linked to another customer: that customer's id
        is the answer (None: linked now, or already to this customer)."""
        conn = self._tx
        owner = self.linked_customer(source, external_id)
        if owner is not None:
            return None if owner == customer_id else owner
        conn.execute(delete(_x).where(and_(_x.c.customer_id == customer_id, _x.c.source == source)))
        values = {"source": source, "external_id": external_id, "customer_id": customer_id, "linked_at": at}
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        done = conn.execute(
            dialect_insert(_x)
            .values(values)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(_x.c.id)
        )
        if done.first() is None:  # linked meanwhile by another transaction
            owner = self.linked_customer(source, external_id)
            return None if owner == customer_id else owner
        return None

    def project(self, record: CustomerRecord, at: Any) -> None:
        """The `customers` row as the record in force says (what intake and outside checks read)."""
        upsert_many(
            self._tx,
            _c,
            [
                {
                    "customer_id": record.customer_id,
                    "legal_name": record.legal_name[:300],
                    "country": record.country,
                    "vat_id": record.vat_id[:40],
                    "is_business": record.is_business,
                    "billing_email": record.billing_email,
                    "updated_at": at,
                }
            ],
            ["customer_id"],
            ["legal_name", "country", "vat_id", "is_business", "billing_email", "updated_at"],
        )


def _fields(record: CustomerRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in CustomerRecord.__dataclass_fields__}
