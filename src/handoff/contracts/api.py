"""API: the product catalog. Everyone signed in reads it (sales sell from it); finance and
admins change it. A change is a new version from its first day valid (never a rewrite of a day
already past), audited with the calling user."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from handoff.contracts.domain import catalog as domain
from handoff.contracts.service import catalog
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, Filter, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import In, Out, Page, ShortText, Text, page_out, plain

router = APIRouter(prefix="/api/v1/catalog", responses=ERROR_RESPONSES, tags=["catalog"])
READERS = (Role.SALES, Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)

Sku = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")]
Currency = Annotated[str, Path(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")]
PRICE = r"^[0-9]{1,13}(\.[0-9]{1,6})?$"


def _choice(values: Iterable[str]) -> str:
    return "^(" + "|".join(sorted(values)) + ")$"


class ProductOut(Out):
    sku: str
    name: str
    unit_code: str
    tax_category: str
    gl_account: str
    revenue_rule: str
    active: bool
    version: int
    valid_from: date
    source: str
    updated_at: datetime


class ProductPage(Page):
    items: list[ProductOut]


class VersionOut(Out):
    version: int
    valid_from: date
    content: dict[str, Any]
    created_at: datetime
    created_by: str
    reason: str


class PriceOut(Out):
    currency: str
    unit_price: str
    valid_from: date
    created_at: datetime
    created_by: str


class ProductDetail(ProductOut):
    description: str
    external_id: str
    versions: list[VersionOut]
    prices: list[PriceOut]


class ProductIn(In):
    """The product's fields; those left out keep their current value (a new product: the
    defaults, and it needs a name)."""

    name: Text | None = Field(None, min_length=1, max_length=domain.MAX_NAME)
    unit_code: ShortText | None = Field(
        None, min_length=1, max_length=3, description="UN/ECE Rec 20 code (EN 16931 BT-130), e.g. C62, HUR, MON"
    )
    tax_category: ShortText | None = Field(None, pattern=_choice(PRODUCT_CATEGORIES), description="VAT category")
    gl_account: ShortText | None = Field(None, max_length=40, description="revenue account in the ledger")
    revenue_rule: ShortText | None = Field(None, pattern=_choice(domain.REVENUE_RULES))
    active: bool | None = None
    description: Text | None = None
    valid_from: date | None = Field(None, description="first day of the new version (default today)")
    reason: Text = ""


class ProductChanged(Out):
    sku: str
    version: int
    changed: bool
    created: bool


class PriceIn(In):
    unit_price: str = Field(pattern=PRICE, description="net unit price, e.g. 100 or 99.50")
    valid_from: date | None = Field(None, description="first day valid (default today)")
    reason: Text = ""


class PriceSet(Out):
    sku: str
    currency: str
    unit_price: str
    valid_from: date
    changed: bool


def _refused(exc: catalog.CatalogError) -> ApiError:
    unknown = exc.field == "sku" and "not in the catalog" in exc.problem
    return ApiError(404 if unknown else 422, "not_found" if unknown else "invalid_request", str(exc), exc.field or None)


@router.get("/products", response_model=ProductPage)
def list_products(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    text: Filter = None,
    active: Annotated[bool | None, Query(description="only active (true) or inactive (false) products")] = None,
    user: User = api_user(*READERS),
) -> Any:
    return page_out(catalog.list_products(ctx, text=text, active=active, limit=limit, offset=offset))


@router.get("/products/{sku}", response_model=ProductDetail)
def show_product(ctx: Ctx, sku: Sku, user: User = api_user(*READERS)) -> Any:
    """A product with every version (who, when, why) and its price list."""
    found = catalog.show_product(ctx, sku)
    if found is None:
        raise ApiError(404, "not_found", f"no product {sku}")
    return plain(found)


@router.put("/products/{sku}", response_model=ProductChanged)
def put_product(ctx: Ctx, sku: Sku, body: ProductIn, user: User = api_user(*WRITERS)) -> Any:
    """Add a product or change it: a new version only when something changed."""
    changes = body.model_dump(exclude_unset=True, exclude={"valid_from", "reason"})
    if any(v is None for v in changes.values()):
        field = next(k for k, v in changes.items() if v is None)
        raise ApiError(422, "invalid_request", f"{field}: send a value, or leave the field out", field)
    try:
        done = catalog.change_product(
            ctx, sku, changes, user.actor, body.reason or "changed in the API", body.valid_from
        )
    except catalog.CatalogError as exc:
        raise _refused(exc) from exc
    return {"sku": done.sku, "version": done.version, "changed": done.changed, "created": done.created}


@router.put("/products/{sku}/prices/{currency}", response_model=PriceSet)
def put_price(ctx: Ctx, sku: Sku, currency: Currency, body: PriceIn, user: User = api_user(*WRITERS)) -> Any:
    """Set the product's list price in `currency` from `valid_from` on (earlier days keep theirs)."""
    day = body.valid_from or ctx.clock().date()
    try:
        changed = catalog.set_price(
            ctx, sku, currency, body.unit_price, day, user.actor, body.reason or "set in the API"
        )
    except catalog.CatalogError as exc:
        raise _refused(exc) from exc
    return {
        "sku": sku,
        "currency": currency.upper(),
        "unit_price": body.unit_price,
        "valid_from": day,
        "changed": changed,
    }
