"""The catalog file: products, their list prices and rate cards, as YAML or CSV.

YAML (`.yaml` / `.yml`)::

    products:
      - sku: SUP-STD
        name: Standard support
        unit_code: MON            # UN/ECE Rec 20 (default C62)
        tax_category: standard    # invoicing.domain.tax.PRODUCT_CATEGORIES (default standard)
        gl_account: "4000"
        revenue_rule: ratable     # point_in_time | ratable | milestone | usage
        active: true
        valid_from: 2027-01-01    # default: today
        prices:
          - {currency: EUR, unit_price: "100.00", valid_from: 2027-01-01}
    rates:
      - {role: consultant, currency: EUR, hourly_rate: "150", valid_from: 2027-01-01}

CSV (header names; one product per row, optionally with one price; a SKU repeated on several
rows must say the same of the product each time)::

    sku,name,unit_code,tax_category,gl_account,revenue_rule,active,description,valid_from,currency,unit_price,price_from

Numbers are read exactly (YAML floats as Decimal, from their text). Every problem is reported
with its row (CSV: the line; YAML: `products[N]`, `rates[N]`, counted from 1) and field, all of
them at once: a file is taken whole or not at all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from handoff.contracts.domain.catalog import (
    CatalogError,
    PriceListEntry,
    Product,
    RateCardEntry,
    check_price,
    check_product,
    check_rate,
)

PRODUCT_FIELDS = ("sku", "name", "unit_code", "tax_category", "gl_account", "revenue_rule", "active", "description")
CSV_COLUMNS = (*PRODUCT_FIELDS, "valid_from", "currency", "unit_price", "price_from")
TRUE = {"true", "yes", "y", "1", "on"}
FALSE = {"false", "no", "n", "0", "off"}
MAX_ERRORS = 50


class CatalogFileError(ValueError):
    """A catalog file refused: every problem found, each with its row and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = problems[:MAX_ERRORS]
        more = f"\n  ... and {len(problems) - MAX_ERRORS} more" if len(problems) > MAX_ERRORS else ""
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(shown) + more)
        self.source, self.problems = source, problems


@dataclass
class CatalogFile:
    """What a catalog file holds, each item with the row it came from."""

    products: list[tuple[str, Product, date]] = field(default_factory=list)
    prices: list[tuple[str, PriceListEntry]] = field(default_factory=list)
    rates: list[tuple[str, RateCardEntry]] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """Safe YAML with floats as exact Decimals (from the text written, never through float)."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)


def _text(value: object) -> object:
    """Numbers and dates a YAML author wrote bare where text is meant (a ledger account `4000`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _flag(value: object, row: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text == "":
        return True
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CatalogError(row, "active", f"{value!r} is not true or false")


def _day(value: object, row: str, field_name: str, today: date) -> date:
    if isinstance(value, date):
        return value
    text = str(value if value is not None else "").strip()
    if not text:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CatalogError(row, field_name, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _product(doc: Mapping[str, Any], row: str, today: date) -> tuple[Product, date]:
    unknown = sorted(set(doc) - {*PRODUCT_FIELDS, "valid_from", "prices"})
    if unknown:
        raise CatalogError(row, unknown[0], "is not a product field")
    values: dict[str, Any] = {
        k: _text(doc[k]) for k in PRODUCT_FIELDS if k in doc and doc[k] is not None and doc[k] != ""
    }
    values["active"] = _flag(doc.get("active"), row)
    if "sku" not in values:
        raise CatalogError(row, "sku", "is missing")
    if "name" not in values:
        raise CatalogError(row, "name", "is missing")
    try:
        product = check_product(Product(**values))
    except CatalogError as exc:
        raise CatalogError(row, exc.field, exc.problem) from None
    return product, _day(doc.get("valid_from"), row, "valid_from", today)


def _price(doc: Mapping[str, Any], sku: str, row: str, today: date, from_key: str = "valid_from") -> PriceListEntry:
    if not isinstance(doc, Mapping):
        raise CatalogError(row, "prices", "each price must be a mapping (currency, unit_price, valid_from)")
    unknown = sorted(set(doc) - {"currency", "unit_price", "valid_from"}) if from_key == "valid_from" else []
    if unknown:
        raise CatalogError(row, unknown[0], "is not a price field")
    unit_price: Any = doc.get("unit_price")  # checked next
    entry = PriceListEntry(
        sku, str(doc.get("currency") or ""), unit_price, _day(doc.get(from_key), row, from_key, today)
    )
    try:
        return check_price(entry)
    except CatalogError as exc:
        raise CatalogError(row, exc.field, exc.problem) from None


def _rate(doc: object, row: str, today: date) -> RateCardEntry:
    if not isinstance(doc, Mapping):
        raise CatalogError(row, "", "must be a mapping (role, currency, hourly_rate, valid_from)")
    unknown = sorted(set(doc) - {"role", "currency", "hourly_rate", "valid_from"})
    if unknown:
        raise CatalogError(row, unknown[0], "is not a rate field")
    entry = RateCardEntry(
        str(_text(doc.get("role")) or ""),
        str(doc.get("currency") or ""),
        doc.get("hourly_rate"),  # type: ignore[arg-type]  # checked next
        _day(doc.get("valid_from"), row, "valid_from", today),
    )
    try:
        return check_rate(entry)
    except CatalogError as exc:
        raise CatalogError(row, exc.field, exc.problem) from None


def _read_yaml(data: bytes, today: date, problems: list[str]) -> CatalogFile:
    out = CatalogFile()
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=_Loader)  # a SafeLoader
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"not readable as UTF-8 YAML: {exc}")
        return out
    if not isinstance(doc, Mapping) or not set(doc) <= {"products", "rates"}:
        problems.append("the file must be a mapping with `products` and/or `rates` lists")
        return out
    products, rates = doc.get("products") or [], doc.get("rates") or []
    if not isinstance(products, list) or not isinstance(rates, list):
        problems.append("`products` and `rates` must be lists")
        return out
    for i, item in enumerate(products, 1):
        row = f"products[{i}]"
        try:
            if not isinstance(item, Mapping):
                raise CatalogError(row, "", "must be a mapping of product fields")
            product, valid_from = _product(item, row, today)
            out.products.append((row, product, valid_from))
            prices = item.get("prices") or []
            if not isinstance(prices, list):
                raise CatalogError(row, "prices", "must be a list")
            for j, p in enumerate(prices, 1):
                out.prices.append((f"{row}.prices[{j}]", _price(p, product.sku, f"{row}.prices[{j}]", today)))
        except CatalogError as exc:
            problems.append(str(exc))
    for i, item in enumerate(rates, 1):
        try:
            out.rates.append((f"rates[{i}]", _rate(item, f"rates[{i}]", today)))
        except CatalogError as exc:
            problems.append(str(exc))
    return out


def _read_csv(data: bytes, today: date, problems: list[str]) -> CatalogFile:
    out = CatalogFile()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"not readable as UTF-8: {exc}")
        return out
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if "sku" not in header or unknown:
        problems.append(f"header: unknown column {unknown[0]!r}" if unknown else "header: the column `sku` is missing")
        return out
    seen: dict[str, tuple[str, Product]] = {}
    for record in reader:
        row = f"row {reader.line_num}"
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        if None in record:
            problems.append(f"{row}: more cells than the header has columns")
            continue
        try:
            own = {k: v for k, v in values.items() if k in PRODUCT_FIELDS or k == "valid_from"}
            product, valid_from = _product(own, row, today)
            if product.sku in seen:
                first_row, first = seen[product.sku]
                if first != product:
                    raise CatalogError(row, "sku", f"{product.sku} is described differently on {first_row}")
            else:
                seen[product.sku] = (row, product)
                out.products.append((row, product, valid_from))
            if values.get("currency") or values.get("unit_price"):
                price = _price(values, product.sku, row, today, from_key="price_from")
                out.prices.append((row, price))
        except CatalogError as exc:
            problems.append(str(exc))
    return out


def read_catalog_file(data: bytes, name: str, today: date) -> CatalogFile:
    """The catalog in `data` (YAML when `name` ends in .yaml/.yml, else CSV); dates left out mean
    `today`. CatalogFileError lists every problem, each naming its row and field."""
    problems: list[str] = []
    is_yaml = name.lower().endswith((".yaml", ".yml"))
    found = _read_yaml(data, today, problems) if is_yaml else _read_csv(data, today, problems)
    keys: dict[tuple[str, str, date], str] = {}
    for row, p in found.prices:
        key = (p.sku, p.currency, p.valid_from)
        if key in keys:
            problems.append(
                f"{row}: valid_from: a {p.currency} price of {p.sku} from {p.valid_from} is also on {keys[key]}"
            )
        keys[key] = row
    skus: dict[str, str] = {}
    if is_yaml:
        for row, product, _ in found.products:
            if product.sku in skus:
                problems.append(f"{row}: sku {product.sku} is also on {skus[product.sku]}")
            skus[product.sku] = row
    if problems:
        raise CatalogFileError(name, problems)
    if not found.products and not found.rates:
        raise CatalogFileError(name, ["the file holds no products and no rates"])
    return found
