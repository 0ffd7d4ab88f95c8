"""Domain objects to and from the JSON stored in the database (Decimals as strings, exactly)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson

from handoff.domain.invoices import (
    DocumentStatus, Invoice, InvoiceKind, InvoiceLine, Totals, VatBreakdown,
)  # fmt: skip
from handoff.domain.orders import DealInput, LineInput
from handoff.domain.parties import Address, Customer, LegalEntity
from handoff.domain.tax import TaxDecision


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any domain value (dataclasses, Decimals as exact strings, enums, dates)."""
    if value is None or isinstance(value, str | int | bool):
        return value
    return orjson.loads(orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS))


def invoice_from_json(doc: dict[str, Any]) -> Invoice:
    def dec(v: str) -> Decimal:
        return Decimal(v)

    def tax(d: dict[str, Any]) -> TaxDecision:
        return TaxDecision(d["category"], dec(d["rate"]), d["rule"], d["note"], d["exemption_code"], d["evidence"])

    seller = dict(doc["seller"])
    seller["address"] = Address(**seller["address"])
    buyer = dict(doc["buyer"])
    buyer["address"] = Address(**buyer["address"])
    return Invoice(
        kind=InvoiceKind(doc["kind"]),
        seller=LegalEntity(**seller),
        buyer=Customer(**buyer),
        currency=doc["currency"],
        payment_terms=doc["payment_terms"],
        payment_terms_days=doc["payment_terms_days"],
        po_number=doc["po_number"],
        order_refs=tuple(doc["order_refs"]),
        lines=tuple(InvoiceLine(ln["line_no"], ln["description"], dec(ln["quantity"]), dec(ln["unit_price"]),
                                dec(ln["net_amount"]), tax(ln["tax"]), ln["order_ref"])
                    for ln in doc["lines"]),
        breakdown=tuple(VatBreakdown(b["category"], dec(b["rate"]), dec(b["taxable_amount"]),
                                     dec(b["tax_amount"]), b["note"], b["exemption_code"])
                        for b in doc["breakdown"]),
        totals=Totals(**{k: dec(v) for k, v in doc["totals"].items()}),
        number=doc["number"],
        issue_date=date.fromisoformat(doc["issue_date"]) if doc["issue_date"] else None,
        due_date=date.fromisoformat(doc["due_date"]) if doc["due_date"] else None,
        payment_reference=doc["payment_reference"],
        corrects=doc["corrects"],
        status=DocumentStatus(doc["status"]),
        notes=tuple(doc["notes"]),
    )  # fmt: skip


def deal_from_json(data: dict[str, Any]) -> DealInput:
    lines = tuple(LineInput(**ln) for ln in data.get("lines") or ())
    return DealInput.from_mapping(data, lines)
