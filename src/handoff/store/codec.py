"""Domain objects to and from the JSON stored in the database (Decimals as strings, exactly)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from handoff.domain.invoices import (
    DocumentStatus, Invoice, InvoiceKind, InvoiceLine, Totals, VatBreakdown,
)  # fmt: skip
from handoff.domain.orders import DealInput, LineInput
from handoff.domain.parties import Address, Customer, LegalEntity
from handoff.domain.tax import TaxDecision


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict | MappingProxyType):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


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
