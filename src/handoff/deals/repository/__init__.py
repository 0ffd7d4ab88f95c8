"""Deals storage: the only SQL for the inbox, orders, exceptions and tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from handoff.deals.domain.orders import DealInput, LineInput

# Failures of the database rather than of an event (another worker created the same new order
# concurrently, a lock, a deadlock): the transaction is rolled back and its events are still pending.
DATABASE_ERRORS: tuple[type[Exception], ...] = (IntegrityError, OperationalError)


def deal_from_json(data: dict[str, Any]) -> DealInput:
    """The deal stored as `data` (an order's `data` column, an inbox event's payload)."""
    lines = tuple(LineInput(**ln) for ln in data.get("lines") or ())
    return DealInput.from_mapping(data, lines)
