"""The base of every API model (pydantic v2): responses carry amounts as exact decimal strings,
requests refuse unknown fields, and free-text inputs refuse control characters, which no field
needs. Each capability keeps its own request and response models beside its routes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

LINE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(max_length=500, pattern=LINE)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=LINE)]
# A positive amount in cents, as text (`0` and `0.00` are not): what payments and credit take.
POSITIVE_AMOUNT = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"


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


def _email(value: str) -> str:
    """Syntax only (no DNS; the reserved `.test` domain allowed), as readiness checks a deal's
    billing e-mail; the value is kept as given (the service normalises where it compares)."""
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from exc
    return value


# An e-mail address, documented as `format: email` and checked as readiness checks one.
Email = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]


def _sent_fields(schema: dict[str, Any]) -> None:
    """As documented: every field optional but never null, and at least one sent."""
    schema["minProperties"] = 1
    for name, prop in schema.get("properties", {}).items():
        given = [s for s in prop.pop("anyOf", []) if s.get("type") != "null"]
        prop.pop("default", None)
        schema["properties"][name] = {**prop, **(given[0] if given else {})}


# Shared by the deals API and the deals pages (their fix form), which may not import each other.
class BillingFix(In):
    """Billing fields a person may correct. Send only what changes (at least one field; none may
    be null); the deal is re-checked at once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("send a value, or leave the field out")
        return value

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
    billing_state: ShortText | None = None
    payment_terms: ShortText | None = None
    legal_entity: ShortText | None = None
    owner_email: Email | None = Field(None, description="an active sales, finance or admin user")
    invoice_format: ShortText | None = None  # what the invoice e-mail carries: pdf, facturx, ubl, cii
    peppol_id: ShortText | None = None  # the customer's Peppol address (BT-49), "scheme:identifier"
    public_sector: ShortText | None = None  # yes for a public body (German ones: XRechnung)
    leitweg_id: ShortText | None = None  # a German public buyer's Leitweg-ID (BT-10)
