"""Invoicing storage: the only SQL for invoices, their lines' documents, numbering and tasks."""

from __future__ import annotations

from typing import Any

from handoff.invoicing.domain.invoices import Invoice
from handoff.kernel.storage.codec import from_jsonable


def invoice_from_json(doc: dict[str, Any]) -> Invoice:
    """The invoice stored as `doc` (the `document` column)."""
    invoice: Invoice = from_jsonable(Invoice, doc)
    return invoice
