"""The CRMs' product catalogs mapped to catalog products (`domain.catalog.CrmProduct`), for
`service.catalog.sync_products`. One function per CRM reads one product record; one per CRM reads
a whole answer (a page), keeping the products it can map and naming those it cannot.

Payloads are the decoded JSON answers, numbers as Decimal (`kernel.connectors.http.decode_json`);
a float is refused, never rounded through binary. Shapes follow the CRMs' public API docs:

- HubSpot CRM v3 products, `GET /crm/v3/objects/products?properties=...`: `{"results": [{"id",
  "properties": {...}, "createdAt", "updatedAt", "archived"}], "paging": {"next": {"after"}}}`.
  Every property value is a string: `name`, `description`, `price` (in the account's company
  currency, which the caller passes), `hs_sku`, `hs_recurring_billing_period` (ISO 8601 `P12M`)
  and `recurringbillingfrequency` (`monthly`, `quarterly`, `annually`, ...) for recurring products.
  HubSpot products carry no unit of measure; an archived product is inactive.
- Salesforce, a SOQL query on `PricebookEntry` (`GET /services/data/vXX.X/query`), for example
  `SELECT Id, UnitPrice, CurrencyIsoCode, IsActive, Product2Id, Product2.Name, Product2.ProductCode,
  Product2.Description, Product2.IsActive, Product2.QuantityUnitOfMeasure FROM PricebookEntry WHERE
  Pricebook2.IsStandard = true`: `{"totalSize", "done", "records": [{"attributes", "Id", "UnitPrice",
  "CurrencyIsoCode", "IsActive", "Product2Id", "Product2": {"attributes", "Name", "ProductCode",
  ...}}]}`. `CurrencyIsoCode` is there only in multi-currency orgs (else the caller's currency);
  the entries of one product (one per currency) become one product with several prices; an
  inactive entry gives no price.
- Pipedrive v1 products, `GET /api/v1/products`: `{"success": true, "data": [{"id", "name", "code",
  "description", "unit", "tax", "active_flag", "selectable", "prices": [{"id", "product_id",
  "price", "currency", "cost", "overhead_cost"}], ...}], "additional_data": {"pagination": {...}}}`:
  one price per currency; `unit` is free text.

The SKU is the CRM's product code (`hs_sku`, `Product2.ProductCode`, `code`): a product without
one cannot be matched to the catalog and is refused. Free-text units ("hour", "Each", "pcs") are
read as UN/ECE Rec 20 codes by `UNIT_WORDS`; a code itself is taken as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from handoff.contracts.domain.catalog import (
    CatalogError,
    CrmProduct,
    check_amount,
    check_currency,
    check_sku,
    check_unit_code,
)
from handoff.contracts.domain.unit_codes import REC20_CODES

# Free-text units as CRMs let people type them, to UN/ECE Rec 20 codes.
UNIT_WORDS: dict[str, str] = {
    **dict.fromkeys(("each", "ea", "unit", "units", "item", "items", "license", "licence", "seat", "user"), "C62"),
    **dict.fromkeys(("piece", "pieces", "pc", "pcs", "stk", "stück"), "H87"),
    **dict.fromkeys(("hour", "hours", "hr", "hrs", "h", "stunde", "stunden"), "HUR"),
    **dict.fromkeys(("minute", "minutes", "min"), "MIN"),
    **dict.fromkeys(("day", "days", "tag", "tage"), "DAY"),
    **dict.fromkeys(("working day", "man-day", "person-day", "person day"), "E49"),
    **dict.fromkeys(("week", "weeks", "wk"), "WEE"),
    **dict.fromkeys(("month", "months", "mo", "monthly", "monat"), "MON"),
    **dict.fromkeys(("quarter", "quarters", "quarterly"), "QAN"),
    **dict.fromkeys(("year", "years", "yr", "annual", "annually", "yearly", "jahr"), "ANN"),
    **dict.fromkeys(("kg", "kilogram", "kilograms"), "KGM"),
    **dict.fromkeys(("m", "metre", "meter", "metres", "meters"), "MTR"),
    **dict.fromkeys(("l", "litre", "liter", "litres", "liters"), "LTR"),
    **dict.fromkeys(("lump sum", "flat", "flat fee"), "LS"),
    **dict.fromkeys(("set", "sets"), "SET"),
    **dict.fromkeys(("gb", "gigabyte", "gigabytes"), "E34"),
}
RECURRING_WORDS = {
    "weekly",
    "biweekly",
    "monthly",
    "quarterly",
    "per_six_months",
    "annually",
    "per_two_years",
    "per_three_years",
    "per_four_years",
    "per_five_years",
}


@dataclass
class Mapped:
    """A page of CRM products: those mapped, and the ones refused, each named with why."""

    products: list[CrmProduct] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def unit_code(text: object, record: str, field_name: str) -> str:
    """A CRM's unit (free text or a Rec 20 code) as a Rec 20 code; CatalogError when unknown."""
    value = str(text or "").strip()
    if value in REC20_CODES:
        return value
    code = UNIT_WORDS.get(value.lower().rstrip("."))
    if code is None:
        raise CatalogError(record, field_name, f"{value!r} is not a unit handoff knows (use a UN/ECE Rec 20 code)")
    return check_unit_code(code, record)


def _number(value: object, record: str, field_name: str) -> Decimal:
    if isinstance(value, float):
        raise CatalogError(record, field_name, "was read as a float: decode the answer with numbers as Decimal")
    return check_amount(value, record, field_name)


def _str(value: object) -> str:
    return "" if value is None else str(value).strip()


# -- HubSpot ---------------------------------------------------------------------------------------


def from_hubspot(obj: Mapping[str, Any], currency: str) -> CrmProduct:
    """One HubSpot product (CRM v3 object); `price` is in `currency`, the account's company currency."""
    pid = _str(obj.get("id"))
    record = f"hubspot product {pid or '?'}"
    props = obj.get("properties")
    if not isinstance(props, Mapping):
        raise CatalogError(record, "properties", "is missing")
    sku = check_sku(_str(props.get("hs_sku")) or None, record)
    fields: dict[str, Any] = {"name": _str(props.get("name")) or sku, "active": not bool(obj.get("archived"))}
    if props.get("description") is not None:
        fields["description"] = _str(props.get("description"))
    frequency = _str(props.get("recurringbillingfrequency")).lower()
    if frequency in RECURRING_WORDS or _str(props.get("hs_recurring_billing_period")):
        fields["revenue_rule"] = "ratable"  # a subscription: earned over its service period
    prices: tuple[tuple[str, Decimal], ...] = ()
    if _str(props.get("price")):
        prices = ((check_currency(currency, record), _number(_str(props["price"]), record, "price")),)
    return CrmProduct("hubspot", pid, sku, fields, prices)


def hubspot_products(page: Mapping[str, Any], currency: str) -> Mapped:
    """A page of `GET /crm/v3/objects/products` (its `results`)."""
    out = Mapped()
    for obj in page.get("results") or []:
        try:
            out.products.append(from_hubspot(obj, currency))
        except CatalogError as exc:
            out.problems.append(str(exc))
    return out


# -- Salesforce ------------------------------------------------------------------------------------


def _salesforce_entry(record: Mapping[str, Any], currency: str) -> CrmProduct:
    eid = _str(record.get("Id"))
    name = f"salesforce PricebookEntry {eid or '?'}"
    product = record.get("Product2")
    if not isinstance(product, Mapping):
        raise CatalogError(name, "Product2", "is missing (select Product2.ProductCode, Product2.Name, ...)")
    pid = _str(record.get("Product2Id")) or _str(product.get("Id"))
    sku = check_sku(_str(product.get("ProductCode")) or None, name)
    fields: dict[str, Any] = {
        "name": _str(product.get("Name")) or _str(record.get("Name")) or sku,
        "active": product.get("IsActive") is not False,
    }
    if "Description" in product:
        fields["description"] = _str(product.get("Description"))
    if _str(product.get("QuantityUnitOfMeasure")):
        fields["unit_code"] = unit_code(product["QuantityUnitOfMeasure"], name, "Product2.QuantityUnitOfMeasure")
    prices: tuple[tuple[str, Decimal], ...] = ()
    if record.get("IsActive") is not False and record.get("UnitPrice") is not None:
        code = check_currency(_str(record.get("CurrencyIsoCode")) or currency, name)
        prices = ((code, _number(record["UnitPrice"], name, "UnitPrice")),)
    return CrmProduct("salesforce", pid, sku, fields, prices)


def from_salesforce(record: Mapping[str, Any], currency: str = "") -> CrmProduct:
    """One `PricebookEntry` with its `Product2`; `currency`: the org's when the record has no `CurrencyIsoCode`."""
    return _salesforce_entry(record, currency)


def salesforce_products(result: Mapping[str, Any], currency: str = "") -> Mapped:
    """A SOQL query result of price-book entries (`records`): one product per Product2, with a
    price per currency from its active entries."""
    out = Mapped()
    by_sku: dict[str, CrmProduct] = {}
    for record in result.get("records") or []:
        try:
            entry = _salesforce_entry(record, currency)
        except CatalogError as exc:
            out.problems.append(str(exc))
            continue
        first = by_sku.get(entry.sku)
        if first is None:
            by_sku[entry.sku] = entry
            continue
        if first.external_id != entry.external_id:
            out.problems.append(
                f"salesforce Product2 {entry.external_id}: ProductCode {entry.sku} is also that of {first.external_id}"
            )
            continue
        currencies = {c for c, _ in first.prices}
        extra = tuple(p for p in entry.prices if p[0] not in currencies)
        by_sku[entry.sku] = CrmProduct(first.source, first.external_id, first.sku, first.fields, first.prices + extra)
    out.products.extend(by_sku.values())
    return out


# -- Pipedrive -------------------------------------------------------------------------------------


def from_pipedrive(product: Mapping[str, Any]) -> CrmProduct:
    """One Pipedrive product (`/api/v1/products` item) with its `prices` (one per currency)."""
    pid = _str(product.get("id"))
    record = f"pipedrive product {pid or '?'}"
    sku = check_sku(_str(product.get("code")) or None, record)
    fields: dict[str, Any] = {
        "name": _str(product.get("name")) or sku,
        "active": product.get("active_flag") is not False,
    }
    if product.get("description") is not None:
        fields["description"] = _str(product.get("description"))
    if _str(product.get("unit")):
        fields["unit_code"] = unit_code(product["unit"], record, "unit")
    prices: list[tuple[str, Decimal]] = []
    for i, p in enumerate(product.get("prices") or []):
        where = f"prices[{i}]"
        if not isinstance(p, Mapping):
            raise CatalogError(record, where, "is not an object")
        code = check_currency(_str(p.get("currency")), f"{record} {where}")
        if code in {c for c, _ in prices}:
            raise CatalogError(record, f"{where}.currency", f"{code} has two prices")
        prices.append((code, _number(p.get("price"), record, f"{where}.price")))
    return CrmProduct("pipedrive", pid, sku, fields, tuple(prices))


def pipedrive_products(body: Mapping[str, Any]) -> Mapped:
    """A page of `GET /api/v1/products` (its `data`, null when there are none)."""
    out = Mapped()
    for product in body.get("data") or []:
        try:
            out.products.append(from_pipedrive(product))
        except CatalogError as exc:
            out.problems.append(str(exc))
    return out
