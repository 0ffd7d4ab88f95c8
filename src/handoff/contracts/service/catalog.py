"""Catalog use cases: keep products, list prices and rate cards, effective-dated and audited.

Each change is one transaction with its audit entry (who, why, before and after): a product
gets a new version only when something changed (`domain.catalog.next_version`), a price or a rate
a new entry from its day on (`price_change`, `rate_change`); nothing already in force on a past
day is ever rewritten. A catalog file is imported whole or not at all; products a CRM gives
(`connectors.crm_products`, already mapped) are synced the same way, the CRM setting only the
fields it owns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain import catalog as domain
from handoff.contracts.domain.catalog import (
    CatalogError,
    CrmProduct,
    PriceListEntry,
    Product,
    ProductVersion,
    RateCardEntry,
)
from handoff.contracts.formats.catalog_file import CatalogFileError, read_catalog_file
from handoff.contracts.repository.catalog import CatalogRepository
from handoff.kernel.storage.paging import Page
from handoff.kernel.storage.unit_of_work import UnitOfWork

CRM_SOURCES = ("hubspot", "salesforce", "pipedrive")

__all__ = [
    "CRM_SOURCES",
    "CatalogError",
    "CatalogFileError",
    "ImportReport",
    "SyncReport",
    "Upserted",
    "change_product",
    "import_catalog",
    "list_products",
    "price_for",
    "product_as_of",
    "set_price",
    "set_rate",
    "show_product",
    "sync_products",
    "upsert_product",
]


@dataclass(frozen=True, slots=True)
class Upserted:
    sku: str
    version: int
    changed: bool  # a new version was stored (a first one too)
    created: bool


@dataclass
class ImportReport:
    products_added: int = 0
    products_changed: int = 0
    products_unchanged: int = 0
    prices_set: int = 0
    rates_set: int = 0


@dataclass
class SyncReport:
    source: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    prices_set: int = 0


def _upsert(
    uow: UnitOfWork,
    repo: CatalogRepository,
    product: Product,
    valid_from: date,
    at: datetime,
    actor: str,
    reason: str,
    source: str,
    external_id: str = "",
) -> Upserted:
    stored = repo.current(product.sku, lock=True)
    history = repo.versions(product.sku) if stored is not None else []
    new = domain.next_version(history, product, valid_from, at.date())
    if new is None:
        assert stored is not None
        return Upserted(product.sku, stored.version, changed=False, created=False)
    repo.append_version(new, source=source, external_id=external_id, at=at, actor=actor, reason=reason)
    before = stored.product if stored is not None else None
    uow.audit(
        at=at,
        actor=actor,
        action="catalog.product_added" if before is None else "catalog.product_changed",
        entity_type="product",
        entity_id=product.sku,
        reason=reason,
        before=None if before is None else {"version": stored.version if stored else 0, **before.content()},
        after={"version": new.version, "valid_from": new.valid_from.isoformat(), **new.product.content()},
    )
    return Upserted(product.sku, new.version, changed=True, created=before is None)


def _put_price(
    uow: UnitOfWork, repo: CatalogRepository, entry: PriceListEntry, at: datetime, actor: str, reason: str
) -> bool:
    entry = domain.check_price(entry)
    if repo.current(entry.sku) is None:
        raise CatalogError(f"price {entry.sku} {entry.currency}", "sku", f"{entry.sku} is not in the catalog")
    existing = repo.prices(entry.sku, entry.currency)
    change = domain.price_change(existing, entry, at.date())
    if change == "unchanged":
        return False
    repo.put_price(entry, replace=change == "replace", at=at, actor=actor)
    before = next((e.unit_price for e in existing if e.valid_from == entry.valid_from), None)
    uow.audit(
        at=at,
        actor=actor,
        action="catalog.price_set",
        entity_type="product",
        entity_id=entry.sku,
        reason=reason,
        before=None
        if before is None
        else {"currency": entry.currency, "valid_from": entry.valid_from, "unit_price": before},
        after={"currency": entry.currency, "valid_from": entry.valid_from, "unit_price": entry.unit_price},
    )
    return True


def _put_rate(
    uow: UnitOfWork, repo: CatalogRepository, entry: RateCardEntry, at: datetime, actor: str, reason: str
) -> bool:
    entry = domain.check_rate(entry)
    existing = repo.rates(entry.role)
    change = domain.rate_change(existing, entry, at.date())
    if change == "unchanged":
        return False
    repo.put_rate(entry, replace=change == "replace", at=at, actor=actor)
    uow.audit(
        at=at,
        actor=actor,
        action="catalog.rate_set",
        entity_type="rate_card",
        entity_id=entry.role,
        reason=reason,
        after={"currency": entry.currency, "valid_from": entry.valid_from, "hourly_rate": entry.hourly_rate},
    )
    return True


# -- use cases -------------------------------------------------------------------------------------


def upsert_product(
    ctx: AppContext, product: Product, actor: str, reason: str, valid_from: date | None = None
) -> Upserted:
    """Add a product, or append a version when anything of it changed (from `valid_from`, default
    today; never before today for a change). Audited with `actor` and `reason`."""
    now = ctx.clock()
    today = now.date()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        done = _upsert(uow, repo, product, valid_from or today, now, actor, reason or "catalog edit", "manual")
        uow.commit()
    return done


def change_product(
    ctx: AppContext,
    sku: str,
    changes: Mapping[str, Any],
    actor: str,
    reason: str,
    valid_from: date | None = None,
) -> Upserted:
    """Change the fields in `changes` of a product, the others kept as its latest version has them
    (a new product: as given, the rest defaults; it needs a `name`). See `upsert_product`."""
    known = {f.name for f in fields(Product)} - {"sku"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise CatalogError(f"product {sku}", unknown[0], "is not a product field")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        stored = repo.current(domain.check_sku(sku), lock=True)
        if stored is None:
            if not changes.get("name"):
                raise CatalogError(f"product {sku}", "name", "is missing (a new product needs one)")
            product = Product(sku=sku, **changes)
        else:
            product = replace(stored.product, **changes)
        done = _upsert(uow, repo, product, valid_from or now.date(), now, actor, reason or "catalog edit", "manual")
        uow.commit()
    return done


def set_price(
    ctx: AppContext,
    sku: str,
    currency: str,
    unit_price: Decimal | str,
    valid_from: date | None,
    actor: str,
    reason: str = "",
) -> bool:
    """Set the list price of `sku` in `currency` from `valid_from` on (default today). False when
    that price was already set from that day."""
    now = ctx.clock()
    today = now.date()
    entry = PriceListEntry(sku, currency, unit_price, valid_from or today)  # type: ignore[arg-type]  # checked
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        changed = _put_price(uow, repo, entry, now, actor, reason or "price set")
        uow.commit()
    return changed


def set_rate(
    ctx: AppContext,
    role: str,
    currency: str,
    hourly_rate: Decimal | str,
    valid_from: date | None,
    actor: str,
    reason: str = "",
) -> bool:
    """Set the hourly rate of a role from `valid_from` on (default today)."""
    now = ctx.clock()
    today = now.date()
    entry = RateCardEntry(role, currency, hourly_rate, valid_from or today)  # type: ignore[arg-type]  # checked
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        changed = _put_rate(uow, repo, entry, now, actor, reason or "rate set")
        uow.commit()
    return changed


def import_catalog(ctx: AppContext, data: bytes, name: str, actor: str) -> ImportReport:
    """Import a catalog file (YAML or CSV, `formats.catalog_file`) in one transaction: all or
    nothing. CatalogFileError lists every problem, each naming its row and field, including those
    only the stored catalog reveals (a change from a past day)."""
    now = ctx.clock()
    today = now.date()
    found = read_catalog_file(data, name, today)
    report = ImportReport()
    problems: list[str] = []
    reason = f"catalog import {name}"
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        for row, product, valid_from in found.products:
            try:
                done = _upsert(uow, repo, product, valid_from, now, actor, reason, "import")
            except CatalogError as exc:
                problems.append(f"{row}: {exc}")
                continue
            if done.created:
                report.products_added += 1
            elif done.changed:
                report.products_changed += 1
            else:
                report.products_unchanged += 1
        for row, entry in found.prices:
            try:
                report.prices_set += _put_price(uow, repo, entry, now, actor, reason)
            except CatalogError as exc:
                problems.append(f"{row}: {exc}")
        for row, rate in found.rates:
            try:
                report.rates_set += _put_rate(uow, repo, rate, now, actor, reason)
            except CatalogError as exc:
                problems.append(f"{row}: {exc}")
        if problems:
            raise CatalogFileError(name, problems)  # rolled back: nothing is kept
        uow.commit()
    return report


def sync_products(ctx: AppContext, source: str, products: Sequence[CrmProduct], actor: str = "") -> SyncReport:
    """Take products a CRM gives (already mapped by `connectors.crm_products`): each is added or
    gets a new version from today when a field the CRM owns changed, and its prices become the
    list prices from today when they differ from those in force. One transaction: a product the
    catalog refuses fails the sync, naming it, and nothing is kept."""
    if source not in CRM_SOURCES:
        raise CatalogError("sync", "source", f"{source!r} is not one of {', '.join(CRM_SOURCES)}")
    actor = actor or f"sync:{source}"
    report = SyncReport(source)
    now = ctx.clock()
    today = now.date()
    reason = f"synced from {source}"
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CatalogRepository)
        for item in products:
            if item.source != source:
                raise CatalogError(f"{source} product {item.external_id}", "source", f"is {item.source!r}")
            stored = repo.current(item.sku, lock=True)
            product = item.merged(stored.product if stored is not None else None)
            try:
                done = _upsert(uow, repo, product, today, now, actor, reason, source, item.external_id)
                for currency, price in item.prices:
                    entry = PriceListEntry(item.sku, currency, price, today)
                    in_force = [e for e in repo.prices(item.sku, currency.upper()) if e.valid_from <= today]
                    if in_force and max(in_force, key=lambda e: e.valid_from).unit_price == price:
                        continue
                    report.prices_set += _put_price(uow, repo, entry, now, actor, reason)
            except CatalogError as exc:
                raise CatalogError(f"{source} product {item.external_id}", "", str(exc)) from None
            (report.added if done.created else report.changed if done.changed else report.unchanged).append(item.sku)
        uow.commit()
    return report


# -- reads -----------------------------------------------------------------------------------------


def list_products(
    ctx: AppContext, *, text: str | None = None, active: bool | None = None, limit: int = 50, offset: int = 0
) -> Page:
    """Products (their current versions), by SKU."""
    return CatalogRepository(ctx.engine).page(text=text, active=active, limit=limit, offset=offset)


def show_product(ctx: AppContext, sku: str) -> dict[str, Any] | None:
    """A product's current version with every version (who, when, why) and its price list; None if unknown."""
    repo = CatalogRepository(ctx.engine)
    stored = repo.current(sku)
    if stored is None:
        return None
    return {
        **stored.product.content(),
        "version": stored.version,
        "valid_from": stored.valid_from,
        "source": stored.source,
        "external_id": stored.external_id,
        "updated_at": stored.updated_at,
        "versions": repo.version_log(sku),
        "prices": [{**p, "unit_price": domain.shown(p["unit_price"])} for p in repo.price_log(sku)],  # type: ignore[arg-type]
    }


def versions(ctx: AppContext, sku: str) -> list[ProductVersion]:
    return CatalogRepository(ctx.engine).versions(sku)


def product_as_of(ctx: AppContext, sku: str, on: date) -> Product:
    """The product as it was on `on` (CatalogError naming the sku and day when it did not exist yet)."""
    found = CatalogRepository(ctx.engine).versions(sku)
    if not found:
        raise CatalogError(f"product {sku}", "sku", "is not in the catalog")
    return domain.product_as_of(found, on)


def price_for(ctx: AppContext, sku: str, currency: str, on: date) -> Decimal:
    """The list unit price of `sku` in `currency` on `on` (CatalogError naming sku, currency and day)."""
    entries = CatalogRepository(ctx.engine).prices(sku, currency.upper())
    return domain.price_for(entries, sku, currency, on).unit_price


def rate_for(ctx: AppContext, role: str, currency: str, on: date) -> Decimal:
    """The hourly rate of `role` in `currency` on `on`."""
    return domain.rate_for(CatalogRepository(ctx.engine).rates(role), role, currency, on).hourly_rate


def rates(ctx: AppContext) -> list[RateCardEntry]:
    return CatalogRepository(ctx.engine).rates()
