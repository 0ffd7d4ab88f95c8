"""A Stripe Tax stand-in: `POST /v1/tax/calculations` as Stripe's API reference describes it.

Requests are checked (form-encoded, a bearer secret key, only the documented parameters, the
required ones present, amounts whole numbers of the smallest currency unit), and the answer is a
`tax.calculation` object made from Stripe's own example of one (`fixtures3.json` of
stripe/openapi): every key of the example kept, the values computed from the request, and the
expanded `line_items` (each shaped like the example `tax.calculation_line_item`) with their
`tax_breakdown`. Rates come from a small table by ZIP code, in Stripe's words (jurisdiction levels,
display names); a ZIP code it does not know is refused as Stripe refuses an address it cannot place.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from tests.contract.standin import Reply, Seen

PATH = "/v1/tax/calculations"
API_KEY = "sk_test_handoff"

# The parameters of "Create a Tax Calculation" (docs.stripe.com/api/tax/calculations/create); `N` an index.
DOCUMENTED = [
    r"currency",
    r"customer",
    r"customer_details\[address\]\[(city|country|line1|line2|postal_code|state)\]",
    r"customer_details\[address_source\]",
    r"customer_details\[ip_address\]",
    r"customer_details\[tax_ids\]\[N\]\[(type|value)\]",
    r"customer_details\[taxability_override\]",
    r"expand\[N\]",
    r"line_items\[N\]\[(amount|product|quantity|reference|tax_behavior|tax_code)\]",
    r"line_items\[N\]\[metadata\]\[[^\]]+\]",
    r"ship_from_details\[address\]\[(city|country|line1|line2|postal_code|state)\]",
    r"shipping_cost\[(amount|shipping_rate|tax_behavior|tax_code)\]",
    r"tax_date",
]
_DOCUMENTED = [re.compile(p.replace("N", r"\d+") + "$") for p in DOCUMENTED]
ENUMS = {
    "customer_details[address_source]": {"billing", "shipping"},
    "customer_details[taxability_override]": {"customer_exempt", "none", "reverse_charge"},
}
LINE_ENUMS = {"tax_behavior": {"exclusive", "inclusive"}}

# ZIP code -> the jurisdictions Stripe names for it: (level, display name, percentage, state)
AUSTIN_TX = [
    ("state", "Texas", "6.25", "TX"),
    ("city", "AUSTIN", "1.0", "TX"),
    ("district", "CAPITAL METROPOLITAN TRANSPORTATION AUTHORITY", "1.0", "TX"),
]
RATES: dict[str, list[tuple[str, str, str, str]]] = {"78701": AUSTIN_TX}


@cache
def fixtures(oracles: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((oracles / "vendors/stripe-openapi/openapi/fixtures3.json").read_text())
    return data["resources"]


def form(seen: Seen) -> dict[str, str]:
    return dict(parse_qsl(seen.body.decode(), keep_blank_values=True))


def check(seen: Seen) -> str | None:
    """What in a request Stripe's API would not take, or None."""
    if (seen.method, seen.path) != ("POST", PATH):
        return f"no such endpoint: {seen.method} {seen.path}"
    if seen.headers.get("authorization") != f"Bearer {API_KEY}":
        return "not authenticated with the secret key as a bearer token"
    if seen.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        return f"body is {seen.headers.get('content-type')}, not form-encoded"
    params = form(seen)
    for name, value in params.items():
        if not any(p.match(name) for p in _DOCUMENTED):
            return f"undocumented parameter {name}"
        if name in ENUMS and value not in ENUMS[name]:
            return f"{name}={value!r} is not one of {sorted(ENUMS[name])}"
        item = re.fullmatch(r"line_items\[\d+\]\[(\w+)\]", name)
        if item and item[1] in ("amount", "quantity") and not value.isdigit():
            return f"{name}={value!r} is not a non-negative integer"
        if item and item[1] in LINE_ENUMS and value not in LINE_ENUMS[item[1]]:
            return f"{name}={value!r} is not one of {sorted(LINE_ENUMS[item[1]])}"
    if "currency" not in params or params["currency"] != params["currency"].lower():
        return "currency is required, a lower-case ISO code"
    if not any(k.startswith("line_items[") for k in params):
        return "line_items is required"
    if "customer" not in params and not any(k.startswith("customer_details[") for k in params):
        return "customer or customer_details is required"
    return None


def _error(code: str, message: str, param: str) -> Reply:
    return 400, {}, {"error": {"type": "invalid_request_error", "code": code, "message": message, "param": param}}


def calculation(oracles: Path, seen: Seen, number: int = 1) -> Reply:
    """The answer to a (checked) calculation request, in the shape of Stripe's example object."""
    params = form(seen)
    postal_code = params.get("customer_details[address][postal_code]", "")
    rates = RATES.get(postal_code)
    if rates is None:
        return _error(
            "customer_tax_location_invalid",
            "We could not determine the customer's tax location based on the provided customer address.",
            "customer_details[address]",
        )
    examples = fixtures(oracles)
    answer = copy.deepcopy(examples["tax.calculation"])
    currency = params["currency"]
    indexes = sorted({int(m[1]) for k in params if (m := re.match(r"line_items\[(\d+)\]", k))})
    items, total_tax, total_amount, breakdown = [], 0, 0, {}
    for i in indexes:
        amount = int(params[f"line_items[{i}][amount]"])
        parts = []
        for level, name, percentage, state in rates:
            tax = int((Decimal(amount) * Decimal(percentage) / 100).quantize(Decimal(1)))
            parts.append(
                {
                    "amount": tax,
                    "jurisdiction": {"country": "US", "display_name": name, "level": level, "state": state},
                    "sourcing": "destination",
                    "tax_rate_details": {
                        "display_name": "Sales Tax",
                        "percentage_decimal": percentage,
                        "tax_type": "sales_tax",
                    },
                    "taxability_reason": "standard_rated",
                    "taxable_amount": amount,
                }
            )
            key = (level, name)
            breakdown[key] = breakdown.get(key, 0) + tax
        item = copy.deepcopy(examples["tax.calculation_line_item"])
        item.update(
            id=f"tax_li_{number}_{i}",
            amount=amount,
            amount_tax=sum(p["amount"] for p in parts),
            quantity=int(params.get(f"line_items[{i}][quantity]", "1")),
            reference=params.get(f"line_items[{i}][reference]"),
            tax_behavior=params.get(f"line_items[{i}][tax_behavior]", "exclusive"),
            tax_code=params.get(f"line_items[{i}][tax_code]", "txcd_10000000"),
            tax_breakdown=parts,
        )
        items.append(item)
        total_tax += item["amount_tax"]
        total_amount += amount
    answer.update(
        id=f"taxcalc_standin{number:06d}",
        currency=currency,
        amount_total=total_amount + total_tax,
        tax_amount_exclusive=total_tax,
        tax_amount_inclusive=0,
        shipping_cost=None,
        ship_from_details=None,
        line_items={
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"{PATH}/taxcalc_standin{number:06d}/line_items",
        },
    )
    answer["customer_details"]["address"] = {
        "city": params.get("customer_details[address][city]"),
        "country": params.get("customer_details[address][country]"),
        "line1": params.get("customer_details[address][line1]"),
        "line2": None,
        "postal_code": postal_code,
        "state": params.get("customer_details[address][state]"),
    }
    answer["customer_details"]["address_source"] = params.get("customer_details[address_source]")
    answer["tax_breakdown"] = [
        {
            "amount": tax,
            "inclusive": False,
            "tax_rate_details": {
                "country": "US",
                "percentage_decimal": next(p for lv, n, p, _ in rates if (lv, n) == key),
                "state": "TX",
                "tax_type": "sales_tax",
                "flat_amount": None,
                "rate_type": "percentage",
            },
            "taxability_reason": "standard_rated",
            "taxable_amount": total_amount,
        }
        for key, tax in breakdown.items()
    ]
    return 200, {}, answer


def shape_problems(value: Any, example: Any, where: str = "") -> list[str]:
    """Where `value` departs from Stripe's example object: a key of the example missing, or a value
    of another JSON type (null is allowed wherever Stripe documents a field as nullable)."""
    if value is None or example is None:
        return []
    if isinstance(example, dict):
        if not isinstance(value, dict):
            return [f"{where or '.'}: an object expected"]
        problems = [f"{where}.{k}: missing" for k in example if k not in value]
        for k in example:
            if k in value:
                problems += shape_problems(value[k], example[k], f"{where}.{k}")
        return problems
    if isinstance(example, list):
        if not isinstance(value, list):
            return [f"{where}: a list expected"]
        return [p for item in value[:1] for p in shape_problems(item, example[0], f"{where}[0]")] if example else []
    kinds = (bool,) if isinstance(example, bool) else (int,) if isinstance(example, int) else (type(example),)
    if not isinstance(value, kinds) or (isinstance(value, bool) and not isinstance(example, bool)):
        return [f"{where}: {type(value).__name__} where Stripe has {type(example).__name__}"]
    return []
