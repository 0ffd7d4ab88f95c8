"""Deals storage: the only SQL for the inbox, orders, exceptions and tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from handoff.deals.domain.orders import DealInput, LineInput

# Failures of the database rather than of an event (another worker created the same new order
# concurrently, a lock, a deadlock): the transaction is rolled back and its events are still pending.
DATABASE_ERRORS: tuple[type[Exception], ...] = (IntegrityError, OperationalError)
# The database could not be reached or was busy (down, locked, a deadlock, no pooled connection):
# trying again later may work, whatever was being written.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def deal_from_json(data: dict[str, Any]) -> DealInput:
    """The deal stored as `data` (an order's `data` column, an inbox event's payload)."""
    lines = tuple(LineInput(**ln) for ln in data.get("lines") or ())
    return DealInput.from_mapping(data, lines)
