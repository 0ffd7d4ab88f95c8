"""Builders for test deals and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handoff.deals.domain.orders import DealEvent, DealInput

GOOD: dict[str, str] = {
    "deal_id": "D-1", "deal_name": "Kestrel Labs — Platform licence", "stage": "closedwon",
    "close_date": "2026-10-30", "amount": "12000.00", "currency": "EUR", "customer_id": "C-1",
    "customer_legal_name": "Kestrel Labs GmbH", "customer_type": "business", "country": "DE",
    "vat_id": "DE136695976", "po_number": "PO-1", "requires_po": "true", "billing_email": "ap@kestrel.de",
    "billing_contact_name": "Anna Müller", "billing_street": "Hauptstraße 1", "billing_city": "Berlin",
    "billing_postal_code": "10115", "payment_terms": "net30", "legal_entity": "ACME-DE",
    "owner_email": "anna@acme.example",
}  # fmt: skip


def deal(**changes: Any) -> DealInput:
    return DealInput.from_mapping({**GOOD, **changes})


def event(event_id: str, at: datetime, source: str = "crm", **changes: Any) -> DealEvent:
    return DealEvent(source, event_id, at, deal(**changes))
