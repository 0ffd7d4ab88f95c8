"""The base of every API model (pydantic v2): responses carry amounts as exact decimal strings,
requests refuse unknown fields, and free-text inputs refuse control characters, which no field
needs. Each capability keeps its own request and response models beside its routes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

LINE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(max_length=500, pattern=LINE)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=LINE)]


class Out(BaseModel):
    """Response models. Amounts are exact decimal strings (see `plain`)."""


def plain(value: Any) -> Any:
    """Rows as the response models take them: Decimals as exact strings, recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(Out):
    total: int = Field(description="matching items, counted up to 10,000")
    total_capped: bool = Field(description="more than `total` items match")
    limit: int
    offset: int


def page_out(page: Any) -> dict[str, Any]:
    """A `Page` of a read model as the paged response models take it."""
    return {
        "items": plain(page.items),
        "total": page.total,
        "total_capped": page.total_capped,
        "limit": page.limit,
        "offset": page.offset,
    }


# Shared by the deals API and the deals pages (their fix form), which may not import each other.
class BillingFix(In):
    """Billing fields a person may correct. Send only what changes; the deal is re-checked at once."""

    deal_name: Text | None = None
    customer_id: ShortText | None = None
    customer_legal_name: Text | None = None
    customer_type: ShortText | None = None
    country: ShortText | None = None
    vat_id: ShortText | None = None
    po_number: ShortText | None = None
    requires_po: ShortText | None = None
    billing_email: ShortText | None = None
    billing_contact_name: Text | None = None
    billing_street: Text | None = None
    billing_city: Text | None = None
    billing_postal_code: ShortText | None = None
    payment_terms: ShortText | None = None
    legal_entity: ShortText | None = None
    owner_email: ShortText | None = None
