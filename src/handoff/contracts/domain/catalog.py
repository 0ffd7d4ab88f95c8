"""The product / service catalog, pure: what is sold (products), at what list price (price lists)
and at what hourly rate per role (rate cards), each effective-dated.

A change never rewrites history: a product is a chain of versions (1, 2, ...), each valid from a
day on; a later version starts on or after the day the one before it started, and `product_as_of`
gives the version in force on a day. Price-list entries and rate-card entries are keyed by their
`valid_from` day too (sku + currency + day, role + currency + day), so a new price is a new entry
from its day on, and the entries before it keep answering for the days before it.

A product carries what an invoice line needs: its unit of measure as a UN/ECE Recommendation 20
code (EN 16931 BT-130, rule BR-CL-23; `unit_codes`), its VAT category (one of
`invoicing.domain.tax.PRODUCT_CATEGORIES`, the basis of BT-151), the general-ledger account its
revenue is booked to, and how its revenue is recognised (IFRS 15 / ASC 606: at a point in time,
ratably over the service period, on milestones, or as used).

Every refusal is a `CatalogError` whose message names the record and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pycountry

from handoff.contracts.domain.unit_codes import REC20_CODES
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES
from handoff.kernel.money import D, MoneyError

REVENUE_RULES = ("point_in_time", "ratable", "milestone", "usage")
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,99}$")
MAX_NAME = 300
MAX_TEXT = 2000
# A price may carry more decimals than an invoice amount (unit prices of metered usage); storage
# keeps six (`kernel.storage.types.Amount`).
PRICE_PLACES = 6


class CatalogError(ValueError):
    """Refused catalog input; the message names the record and the field."""

    def __init__(self, record: str, field: str, problem: str) -> None:
        super().__init__(f"{record}: {field} {problem}" if field else f"{record}: {problem}")
        self.record, self.field, self.problem = record, field, problem


@dataclass(frozen=True, slots=True)
class Product:
    """One product or service as sold, in one version."""

    sku: str
    name: str
    unit_code: str = "C62"  # UN/ECE Rec 20 (BT-130): C62 "one"
    tax_category: str = "standard"  # invoicing.domain.tax.PRODUCT_CATEGORIES
    gl_account: str = ""  # the revenue account in the ledger
    revenue_rule: str = "point_in_time"  # REVENUE_RULES
    active: bool = True
    description: str = ""

    def content(self) -> dict[str, Any]:
        """The fields as stored in a version's content (JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_content(cls, doc: Mapping[str, Any]) -> Product:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


@dataclass(frozen=True, slots=True)
class ProductVersion:
    """A product as it was from `valid_from` on, until the next version starts."""

    version: int
    valid_from: date
    product: Product


@dataclass(frozen=True, slots=True)
class PriceListEntry:
    """The list price of one unit of `sku` in `currency`, from `valid_from` on (net of VAT)."""

    sku: str
    currency: str
    unit_price: Decimal
    valid_from: date


@dataclass(frozen=True, slots=True)
class RateCardEntry:
    """The hourly rate of a role (time and materials) in `currency`, from `valid_from` on."""

    role: str
    currency: str
    hourly_rate: Decimal
    valid_from: date


def _text(record: str, field: str, value: object, limit: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CatalogError(record, field, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise CatalogError(record, field, "is missing")
    if len(value) > limit:
        raise CatalogError(record, field, f"is longer than {limit} characters")
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
        raise CatalogError(record, field, "contains control characters")
    return value


def check_sku(sku: object, record: str = "product") -> str:
    """A SKU: 1 to 100 characters, letters, digits and `. _ : / + -`, starting with a letter or digit."""
    value = _text(record, "sku", sku, 100, True)
    if not SKU.match(value):
        raise CatalogError(record, "sku", f"{value!r} may hold only letters, digits and . _ : / + -")
    return value


def check_currency(value: object, record: str) -> str:
    """An ISO 4217 alphabetic currency code (upper-cased)."""
    code = _text(record, "currency", value, 3, True).upper()
    if len(code) != 3 or not code.isalpha() or pycountry.currencies.get(alpha_3=code) is None:
        raise CatalogError(record, "currency", f"{value!r} is not an ISO 4217 currency code")
    return code


def check_unit_code(value: object, record: str) -> str:
    """A UN/ECE Rec 20 (or Rec 21) unit code as EN 16931 accepts it (BR-CL-23)."""
    code = _text(record, "unit_code", value, 40, True)
    if code not in REC20_CODES:
        hint = f" (did you mean {code.upper()}?)" if code.upper() in REC20_CODES else ""
        raise CatalogError(record, "unit_code", f"{code!r} is not a UN/ECE Rec 20 unit code{hint}")
    return code


def check_amount(value: object, record: str, field: str, *, positive: bool = False) -> Decimal:
    """An exact decimal amount, not negative (positive: above zero), at most six decimals."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise CatalogError(record, field, "is missing")
    if not isinstance(value, str | int | Decimal):
        raise CatalogError(record, field, f"must be a decimal number as text, got {type(value).__name__}")
    try:
        amount = D(value)
    except MoneyError:
        raise CatalogError(record, field, f"{value!r} is not a decimal number") from None
    if amount < 0 or (positive and amount == 0):
        raise CatalogError(record, field, f"{value} must be {'above' if positive else 'at least'} zero")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PRICE_PLACES:
        raise CatalogError(record, field, f"{value} has more than {PRICE_PLACES} decimals")
    if amount.adjusted() >= 14:
        raise CatalogError(record, field, f"{value} is too large")
    return amount


def shown(amount: Decimal) -> Decimal:
    """A price as people read it, the same from either database: at least two decimals, no
    trailing zeros beyond (`99.5` and `99.500000` -> `99.50`, `0.125` stays)."""
    normal = amount.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal("0.01")) if isinstance(exponent, int) and exponent > -2 else normal


def check_product(product: Product) -> Product:
    """The product with its text trimmed, or CatalogError naming `product SKU` and the field."""
    sku = check_sku(product.sku)
    record = f"product {sku}"
    if product.tax_category not in PRODUCT_CATEGORIES:
        raise CatalogError(
            record, "tax_category", f"{product.tax_category!r} is not one of {', '.join(sorted(PRODUCT_CATEGORIES))}"
        )
    if product.revenue_rule not in REVENUE_RULES:
        raise CatalogError(record, "revenue_rule", f"{product.revenue_rule!r} is not one of {', '.join(REVENUE_RULES)}")
    if not isinstance(product.active, bool):
        raise CatalogError(record, "active", "must be true or false")
    return replace(
        product,
        sku=sku,
        name=_text(record, "name", product.name, MAX_NAME, True),
        unit_code=check_unit_code(product.unit_code, record),
        gl_account=_text(record, "gl_account", product.gl_account, 40, False),
        description=_text(record, "description", product.description, MAX_TEXT, False),
    )


def check_price(entry: PriceListEntry) -> PriceListEntry:
    """The entry normalised (currency upper-cased), or CatalogError naming `price SKU CUR` and the field."""
    sku = check_sku(entry.sku, "price")
    record = f"price {sku}"
    currency = check_currency(entry.currency, record)
    record = f"price {sku} {currency}"
    if not isinstance(entry.valid_from, date):
        raise CatalogError(record, "valid_from", "is missing")
    return PriceListEntry(sku, currency, check_amount(entry.unit_price, record, "unit_price"), entry.valid_from)


def check_rate(entry: RateCardEntry) -> RateCardEntry:
    """The entry normalised, or CatalogError naming `rate ROLE CUR` and the field."""
    role = _text("rate", "role", entry.role, 100, True)
    record = f"rate {role}"
    currency = check_currency(entry.currency, record)
    record = f"rate {role} {currency}"
    if not isinstance(entry.valid_from, date):
        raise CatalogError(record, "valid_from", "is missing")
    return RateCardEntry(
        role, currency, check_amount(entry.hourly_rate, record, "hourly_rate", positive=True), entry.valid_from
    )


def next_version(
    history: Iterable[ProductVersion], product: Product, valid_from: date, today: date
) -> ProductVersion | None:
    """The version to append for `product` (checked) from `valid_from` on, or None when the latest
    version says the same (nothing changed). History is only ever added to: a change is refused
    from before the latest version's start, and from a day already past (before `today`); the
    first version of a product may start on any day."""
    product = check_product(product)
    versions = sorted(history, key=lambda v: v.version)
    if not versions:
        return ProductVersion(1, valid_from, product)
    latest = versions[-1]
    if latest.product == product:
        return None
    if valid_from < today:
        raise CatalogError(
            f"product {product.sku}",
            "valid_from",
            f"{valid_from.isoformat()} is past: a change never rewrites history (make it valid from today or later)",
        )
    if valid_from < latest.valid_from:
        raise CatalogError(
            f"product {product.sku}",
            "valid_from",
            f"{valid_from.isoformat()} is before version {latest.version} (valid from "
            f"{latest.valid_from.isoformat()}): a change never rewrites history",
        )
    return ProductVersion(latest.version + 1, valid_from, product)


def product_as_of(versions: Iterable[ProductVersion], on: date) -> Product:
    """The product as it was on `on`: the latest version started on or before that day."""
    every = list(versions)
    found = [v for v in every if v.valid_from <= on]
    if not found:
        sku = every[0].product.sku if every else "?"
        first = f" (the first is valid from {min(v.valid_from for v in every).isoformat()})" if every else ""
        raise CatalogError(f"product {sku}", "", f"has no version valid on {on.isoformat()}{first}")
    return max(found, key=lambda v: (v.valid_from, v.version)).product


def price_for(entries: Iterable[PriceListEntry], sku: str, currency: str, on: date) -> PriceListEntry:
    """The list price of `sku` in `currency` in force on `on` (the latest entry from on or before it)."""
    currency = currency.upper()
    mine = [e for e in list(entries) if e.sku == sku and e.currency == currency]
    found = [e for e in mine if e.valid_from <= on]
    if not found:
        if not mine:
            problem = f"has no price in {currency}"
        else:
            first = min(e.valid_from for e in mine)
            problem = f"has no price in {currency} on {on.isoformat()} (the first is valid from {first.isoformat()})"
        raise CatalogError(f"product {sku}", "price", problem)
    return max(found, key=lambda e: e.valid_from)


def rate_for(entries: Iterable[RateCardEntry], role: str, currency: str, on: date) -> RateCardEntry:
    """The hourly rate of `role` in `currency` in force on `on`."""
    currency = currency.upper()
    found = [e for e in entries if e.role == role and e.currency == currency and e.valid_from <= on]
    if not found:
        raise CatalogError(f"rate {role}", "hourly_rate", f"has no rate in {currency} on {on.isoformat()}")
    return max(found, key=lambda e: e.valid_from)


def changed_fields(before: Product | None, after: Product) -> dict[str, dict[str, Any]]:
    """What differs between two versions, field by field (for the audit entry)."""
    if before is None:
        return {k: {"before": None, "after": v} for k, v in after.content().items()}
    old = before.content()
    return {k: {"before": old[k], "after": v} for k, v in after.content().items() if old[k] != v}


def _dated_change(stored: dict[date, Decimal], day: date, value: Decimal, today: date, record: str) -> str:
    if stored.get(day) == value:
        return "unchanged"
    if day < today and any(d <= day for d in stored):
        raise CatalogError(
            record,
            "valid_from",
            f"{day.isoformat()} is past and a value was in force then: "
            "a change never rewrites history (make it valid from today or later)",
        )
    return "replace" if day in stored else "new"


def price_change(existing: Iterable[PriceListEntry], entry: PriceListEntry, today: date) -> str:
    """What setting `entry` (checked) does: `unchanged` (the same price is already set from that
    day), `new` (a new entry) or `replace` (another price was set from the same day, not yet in
    force). Refused when it would change the price of a day already past: an entry from before
    `today` when that day (or an earlier one) already has a price of the same sku and currency."""
    stored = {e.valid_from: e.unit_price for e in existing if e.sku == entry.sku and e.currency == entry.currency}
    return _dated_change(stored, entry.valid_from, entry.unit_price, today, f"price {entry.sku} {entry.currency}")


def rate_change(existing: Iterable[RateCardEntry], entry: RateCardEntry, today: date) -> str:
    """As `price_change`, for a rate-card entry."""
    stored = {e.valid_from: e.hourly_rate for e in existing if e.role == entry.role and e.currency == entry.currency}
    return _dated_change(stored, entry.valid_from, entry.hourly_rate, today, f"rate {entry.role} {entry.currency}")


@dataclass(frozen=True, slots=True)
class CrmProduct:
    """A product as a CRM gives it, already mapped (`contracts.connectors.crm_products`): the
    product fields that CRM owns (`fields`, by Product field name: a CRM knows names, prices and
    often units, rarely VAT categories or ledger accounts, which stay as finance set them), and
    its list prices by currency."""

    source: str  # hubspot | salesforce | pipedrive
    external_id: str  # the CRM's id of the product
    sku: str
    fields: Mapping[str, Any]
    prices: tuple[tuple[str, Decimal], ...] = ()  # (currency, unit price), net

    def merged(self, current: Product | None) -> Product:
        """The product as the CRM has it, over the current version (or the defaults for a new one)."""
        known = {f.name for f in fields(Product)} - {"sku"}
        given = {k: v for k, v in self.fields.items() if k in known}
        if current is None:
            return Product(sku=self.sku, **{"name": self.sku, **given})
        return replace(current, **given)
