"""Stripe Tax as a US sales tax engine: `POST /v1/tax/calculations`, as Stripe's API reference
describes it (form-encoded, amounts in the currency's smallest unit, a bearer secret key).

The request carries the ship-to address as the customer's (`customer_details[address]`,
`address_source=billing`) and one line item per taxable invoice line: its net amount, the invoice
line number as `reference`, the product tax code, `tax_behavior=exclusive`. It asks Stripe to expand
`line_items.data.tax_breakdown`, so the answer (a `tax.calculation` object) gives each line's tax
(`amount_tax`) and the jurisdictions it is made of (`jurisdiction.level`, `display_name`,
`tax_rate_details.percentage_decimal`). A calculation records nothing at Stripe (only a tax
transaction would), so asking again is harmless.

Failures are never a tax of 0: a key that is missing, an answer that is not a calculation, a 4xx
(Stripe's `error.code` and `message` are kept) or a location Stripe does not support
(`taxability_reason: not_supported`) are refusals (`engine_refused`); a timeout, a dropped
connection, a 429 or a 5xx is `engine_unavailable` (transient: the deal waits and is retried).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from handoff.invoicing.domain.sales_tax import STRIPE_TAX, LineTax, SalesTaxRequest, SalesTaxResult
from handoff.invoicing.domain.tax import Jurisdiction, TaxUndetermined
from handoff.kernel.connectors.http import HttpSender, excerpt
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.money import ZERO

API_URL = "https://api.stripe.com"
FIELD = "tax.engine"  # no answer (or no key): the workers try again (`deals.service.tax_holds`)
REFUSED = "tax.engine_refused"  # an answer that refuses: the deal's data or the account needs a fix
# a deal waits for the answer while its batch is applied: fail fast, the retry comes later
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
PATH = "/v1/tax/calculations"
# Currencies Stripe counts in whole units (its "zero-decimal currencies"); the others in cents.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())  # noqa: SIM905


def _exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit, as Stripe takes it (exact: never rounded here)."""
    minor = amount.scaleb(_exponent(currency))
    if minor != minor.to_integral_value():
        raise TaxUndetermined("engine_refused", REFUSED, f"{amount} {currency} has more decimals than Stripe takes")
    return int(minor)


def from_minor(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-_exponent(currency))


def form(request: SalesTaxRequest) -> list[tuple[str, str]]:
    """The calculation request as Stripe's form parameters, in order."""
    ship_to, currency = request.ship_to, request.currency
    pairs = [("currency", currency.lower())]
    address = {
        "line1": ship_to.street,
        "city": ship_to.city,
        "state": ship_to.state,
        "postal_code": ship_to.postal_code,
        "country": ship_to.country,
    }
    pairs += [(f"customer_details[address][{k}]", v) for k, v in address.items() if v]
    pairs.append(("customer_details[address_source]", "billing"))
    for i, line in enumerate(request.lines):
        item = f"line_items[{i}]"
        pairs += [(f"{item}[amount]", str(to_minor(line.amount, currency))), (f"{item}[reference]", line.reference)]
        if line.product_tax_code:
            pairs.append((f"{item}[tax_code]", line.product_tax_code))
        if line.quantity >= 1 and line.quantity == line.quantity.to_integral_value():
            pairs.append((f"{item}[quantity]", str(int(line.quantity))))
        pairs.append((f"{item}[tax_behavior]", "exclusive"))
    pairs.append(("expand[0]", "line_items.data.tax_breakdown"))
    return pairs


class StripeTax:
    """The Stripe Tax engine; `api_key` None: not configured (every calculation is refused)."""

    def __init__(self, sender: HttpSender, api_key: Secret | None, api_version: str = "") -> None:
        self._sender, self._key, self._version = sender, api_key, api_version

    @property
    def name(self) -> str:
        return STRIPE_TAX

    def close(self) -> None:
        self._sender.client.close()

    def calculate(self, request: SalesTaxRequest) -> SalesTaxResult:
        if not self._key:
            raise TaxUndetermined("engine_not_configured", FIELD, "Stripe Tax has no API key (HANDOFF_STRIPE_API_KEY)")
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if self._version:
            headers["Stripe-Version"] = self._version
        try:
            response = self._sender.request("POST", PATH, content=urlencode(form(request)), headers=headers)
        except DeliveryError as exc:
            raise TaxUndetermined(
                "engine_unavailable", FIELD, f"Stripe Tax did not answer: {exc}", transient=True
            ) from exc
        if response.status_code != 200:
            raise TaxUndetermined("engine_refused", REFUSED, _refusal(response.status_code, response))
        try:
            calculation = response.json()
        except ValueError:
            raise TaxUndetermined("engine_refused", REFUSED, "Stripe Tax answered something that is not JSON") from None
        return _result(calculation, request.currency)


def _refusal(status: int, response: Any) -> str:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict) or not error:
        return f"Stripe Tax refused the calculation: HTTP {status} {excerpt(response, 200)}".rstrip()
    code = error.get("code") or error.get("type") or ""
    param = f" (parameter {error['param']})" if error.get("param") else ""
    return f"Stripe Tax refused the calculation: HTTP {status} {code}: {error.get('message', '')}{param}".strip()


def _result(calculation: Any, currency: str) -> SalesTaxResult:
    if not isinstance(calculation, dict) or calculation.get("object") != "tax.calculation":
        raise TaxUndetermined("engine_refused", REFUSED, "Stripe Tax answered something that is not a tax calculation")
    items = (calculation.get("line_items") or {}).get("data")
    if not isinstance(items, list):
        raise TaxUndetermined("engine_refused", REFUSED, "Stripe Tax's calculation has no line items")
    lines = tuple(_line(item, currency) for item in items)
    return SalesTaxResult(STRIPE_TAX, "Stripe Tax", lines, str(calculation.get("id") or ""))


def _line(item: dict[str, Any], currency: str) -> LineTax:
    reference = str(item.get("reference") or "")
    breakdown = item.get("tax_breakdown")
    if not isinstance(breakdown, list):
        raise TaxUndetermined("engine_refused", REFUSED, f"Stripe Tax gave no tax breakdown for line {reference}")
    rate, jurisdictions, reasons = ZERO, [], []
    for part in breakdown:
        reasons.append(str(part.get("taxability_reason") or ""))
        details = part.get("tax_rate_details") or {}
        percentage = Decimal(str(details.get("percentage_decimal") or "0"))
        if percentage and part.get("taxable_amount"):
            where = part.get("jurisdiction") or {}
            jurisdictions.append(
                Jurisdiction(str(where.get("level") or ""), str(where.get("display_name") or ""), percentage)
            )
            rate += percentage
    if "not_supported" in reasons:
        raise TaxUndetermined(
            "engine_refused", REFUSED, f"Stripe Tax does not support taxes in this location (line {reference})"
        )
    amount = from_minor(int(item.get("amount_tax") or 0), currency)
    if rate > 0:
        return LineTax(reference, rate, amount, tuple(jurisdictions))
    reason = next((r for r in reasons if r and r != "standard_rated"), "not_subject_to_tax")
    return LineTax(reference, ZERO, amount, (), reason, f"No sales tax (Stripe Tax: {reason.replace('_', ' ')})")
