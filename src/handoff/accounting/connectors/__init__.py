"""Accounting connectors: outbox channels that push invoices, credit notes and payments.

Each is a `Channel` (`deliver(key, payload)`) for the payloads built by `app.accounting`:
`{"type": "invoice" | "credit_note", "document": {...}}`, `{"type": "payment", ...}`, or credit
settling an invoice / paid back (`{"type": "credit_allocation" | "credit_refund", ...}`). Every
create is guarded twice against duplicates: a lookup by our document number first (an earlier
attempt may have succeeded without us hearing the answer), and the outbox key as the vendor's
idempotency key (`Idempotency-Key` for Xero and generic REST, `requestid` for QuickBooks).
Failures raise `DeliveryError`: transient ones are retried by the outbox, permanent ones
(validation refused) are dead-lettered for an operator to fix and replay.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from handoff.kernel.delivery import DeliveryError


def number(value: str) -> float:
    """Decimal text as a JSON number (the vendors' schemas say `number`); amounts here have at most
    a few decimals, which a double carries exactly enough to round-trip."""
    return float(Decimal(value))


def idempotency_key(key: str, limit: int) -> str:
    """The outbox key, or a stable digest of it when the vendor allows fewer characters."""
    return key if len(key) <= limit else hashlib.sha256(key.encode()).hexdigest()[:limit]


def unknown_type(name: str, kind: object) -> DeliveryError:
    return DeliveryError(f"{name}: cannot push a {kind!r} payload", permanent=True)
