"""Storage of the product catalog: the only SQL on `products`, `product_versions`,
`price_list_entries` and `rate_cards`. Nothing here commits.

`products` holds each SKU's current version (the latest appended, for lists and lookups);
`product_versions` keeps every version as JSON content and is only ever appended to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import Select, and_, or_, select, update

from handoff.contracts.domain.catalog import PriceListEntry, Product, ProductVersion, RateCardEntry
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page, like
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

_p, _v, _e, _r = schema.products, schema.product_versions, schema.price_list_entries, schema.rate_cards
_PRODUCT_COLUMNS = ("sku", "name", "unit_code", "tax_category", "gl_account", "revenue_rule", "active", "description")


class StoredProduct(NamedTuple):
    product: Product
    version: int
    valid_from: date
    source: str
    external_id: str
    updated_at: datetime


def _stored(row: object) -> StoredProduct:
    m = row._mapping  # type: ignore[attr-defined]
    product = Product(**{k: m[k] for k in _PRODUCT_COLUMNS})
    return StoredProduct(product, m["current_version"], m["valid_from"], m["source"], m["external_id"], m["updated_at"])


class CatalogRepository(OnUnitOfWorkOrEngine):
    """The catalog on a unit of work (reads and writes) or an engine (reads)."""

    # -- products --------------------------------------------------------------------------------

    def current(self, sku: str, lock: bool = False) -> StoredProduct | None:
        """The product's current version; `lock` (PostgreSQL): its row until the commit, so that
        changes to one product take turns."""
        q = select(_p).where(_p.c.sku == sku)
        if lock and self._engine.dialect.name == "postgresql":
            q = q.with_for_update()
        with self._connect() as conn:
            row = conn.execute(q).first()
        return _stored(row) if row is not None else None

    def currents(self, skus: Sequence[str]) -> dict[str, StoredProduct]:
        if not skus:
            return {}
        with self._connect() as conn:
            rows = conn.execute(select(_p).where(_p.c.sku.in_(sorted(set(skus))))).all()
        return {r.sku: _stored(r) for r in rows}

    def versions(self, sku: str) -> list[ProductVersion]:
        """Every version of the product, oldest first."""
        q = select(_v.c.version, _v.c.valid_from, _v.c.content).where(_v.c.sku == sku).order_by(_v.c.version)
        with self._connect() as conn:
            rows = conn.execute(q).all()
        return [ProductVersion(r.version, r.valid_from, Product.from_content(r.content)) for r in rows]

    def version_log(self, sku: str) -> list[dict[str, object]]:
        """Every version with who made it, when and why, oldest first."""
        q = (
            select(_v.c.version, _v.c.valid_from, _v.c.content, _v.c.created_at, _v.c.created_by, _v.c.reason)
            .where(_v.c.sku == sku)
            .order_by(_v.c.version)
        )
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def append_version(
        self, v: ProductVersion, *, source: str, external_id: str, at: datetime, actor: str, reason: str
    ) -> None:
        """Store a new version and make it the product's current one (a first version creates the product)."""
        p = v.product
        current = {k: getattr(p, k) for k in _PRODUCT_COLUMNS if k != "sku"}
        tx = self._tx
        if v.version == 1:
            tx.execute(
                _p.insert().values(
                    sku=p.sku,
                    **current,
                    current_version=1,
                    valid_from=v.valid_from,
                    source=source,
                    external_id=external_id,
                    created_at=at,
                    updated_at=at,
                )
            )
        else:
            values = {**current, "current_version": v.version, "valid_from": v.valid_from, "updated_at": at}
            if external_id:
                values |= {"source": source, "external_id": external_id}
            tx.execute(update(_p).where(_p.c.sku == p.sku).values(**values))
        tx.execute(
            _v.insert().values(
                sku=p.sku,
                version=v.version,
                valid_from=v.valid_from,
                content=p.content(),
                created_at=at,
                created_by=actor,
                reason=reason,
            )
        )

    def page(self, *, text: str | None = None, active: bool | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Products (current versions) by SKU, filtered by a text in SKU or name and by `active`."""
        q: Select[tuple[object, ...]] = select(
            _p.c.sku,
            _p.c.name,
            _p.c.unit_code,
            _p.c.tax_category,
            _p.c.gl_account,
            _p.c.revenue_rule,
            _p.c.active,
            _p.c.current_version.label("version"),
            _p.c.valid_from,
            _p.c.source,
            _p.c.updated_at,
        ).order_by(_p.c.sku)
        if text:
            pattern = like(text.lower())
            q = q.where(or_(_p.c.sku.ilike(pattern, escape="\\"), _p.c.name.ilike(pattern, escape="\\")))
        if active is not None:
            q = q.where(_p.c.active == active)
        return fetch_page(self._engine, q, limit, offset)

    # -- prices ----------------------------------------------------------------------------------

    def prices(self, sku: str, currency: str | None = None) -> list[PriceListEntry]:
        """The product's price-list entries (of one currency), by currency and day."""
        q = select(_e.c.sku, _e.c.currency, _e.c.unit_price, _e.c.valid_from).where(_e.c.sku == sku)
        if currency is not None:
            q = q.where(_e.c.currency == currency)
        with self._connect() as conn:
            rows = conn.execute(q.order_by(_e.c.currency, _e.c.valid_from)).all()
        return [PriceListEntry(r.sku, r.currency, r.unit_price, r.valid_from) for r in rows]

    def price_log(self, sku: str) -> list[dict[str, object]]:
        q = (
            select(_e.c.currency, _e.c.unit_price, _e.c.valid_from, _e.c.created_at, _e.c.created_by)
            .where(_e.c.sku == sku)
            .order_by(_e.c.currency, _e.c.valid_from)
        )
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def put_price(self, entry: PriceListEntry, *, replace: bool, at: datetime, actor: str) -> None:
        """Add the entry, or (`replace`) put its price over the entry of the same sku, currency and day."""
        if replace:
            key = and_(_e.c.sku == entry.sku, _e.c.currency == entry.currency, _e.c.valid_from == entry.valid_from)
            self._tx.execute(update(_e).where(key).values(unit_price=entry.unit_price, created_at=at, created_by=actor))
            return
        self._tx.execute(
            _e.insert().values(
                sku=entry.sku,
                currency=entry.currency,
                unit_price=entry.unit_price,
                valid_from=entry.valid_from,
                created_at=at,
                created_by=actor,
            )
        )

    # -- rate cards ------------------------------------------------------------------------------

    def rates(self, role: str | None = None) -> list[RateCardEntry]:
        q = select(_r.c.role, _r.c.currency, _r.c.hourly_rate, _r.c.valid_from)
        if role is not None:
            q = q.where(_r.c.role == role)
        with self._connect() as conn:
            rows = conn.execute(q.order_by(_r.c.role, _r.c.currency, _r.c.valid_from)).all()
        return [RateCardEntry(r.role, r.currency, r.hourly_rate, r.valid_from) for r in rows]

    def put_rate(self, entry: RateCardEntry, *, replace: bool, at: datetime, actor: str) -> None:
        if replace:
            key = and_(_r.c.role == entry.role, _r.c.currency == entry.currency, _r.c.valid_from == entry.valid_from)
            self._tx.execute(
                update(_r).where(key).values(hourly_rate=entry.hourly_rate, created_at=at, created_by=actor)
            )
            return
        self._tx.execute(
            _r.insert().values(
                role=entry.role,
                currency=entry.currency,
                hourly_rate=entry.hourly_rate,
                valid_from=entry.valid_from,
                created_at=at,
                created_by=actor,
            )
        )
